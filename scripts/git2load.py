#!/usr/bin/env python3
"""Turn the history of a git repository into a strata load stream.

Every commit reachable from REV (default HEAD), oldest first, becomes one
unit labelled with its hash; every file the commit adds or changes becomes a
new record of the key <path>. Deleted files are skipped (a record cannot be
deleted). Writes the stream to standard output.

Usage: git2load.py [--repo DIR] [--rev REV] [--max-commits N] [--manifest FILE]

--manifest writes one line per record: "<key>\t<n>\t<commit>\t<blob>", so a
test or demo can compare `strata get KEY@N` with `git cat-file blob BLOB`.
"""
import argparse
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=".")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--max-commits", type=int, default=0)
    ap.add_argument("--manifest")
    a = ap.parse_args()

    git = ["git", "-C", a.repo]
    revs = subprocess.run(git + ["rev-list", "--reverse", "--topo-order", a.rev],
                          check=True, capture_output=True, text=True).stdout.split()
    if a.max_commits:
        revs = revs[-a.max_commits:]
    cat = subprocess.Popen(git + ["cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    out = sys.stdout.buffer
    manifest = open(a.manifest, "w") if a.manifest else None
    counts = {}
    for rev in revs:
        # --raw with -m lists each changed path once with its new blob id;
        # for the root commit, --root lists everything.
        raw = subprocess.run(git + ["diff-tree", "-r", "--root", "--no-renames", "-z", "--raw",
                                    "--first-parent", rev],
                             check=True, capture_output=True).stdout
        fields = raw.split(b"\0")
        i = 1 if fields and len(fields[0]) == 40 else 0  # skip the commit id line
        while i + 1 < len(fields):
            meta, path = fields[i], fields[i + 1]
            i += 2
            parts = meta.split()
            if len(parts) < 5:
                continue
            mode, blob, status = parts[1], parts[3].decode(), parts[4]
            if status.startswith(b"D") or mode == b"160000" or b"\n" in path:
                continue
            cat.stdin.write(blob.encode() + b"\n")
            cat.stdin.flush()
            header = cat.stdout.readline().split()
            size = int(header[2])
            data = cat.stdout.read(size)
            cat.stdout.read(1)
            out.write(b"put %d " % size + path + b"\n")
            out.write(data)
            out.write(b"\n")
            key = path.decode("utf-8", "surrogateescape")
            counts[key] = counts.get(key, 0) + 1
            if manifest:
                manifest.write(f"{key}\t{counts[key]}\t{rev}\t{blob}\n")
        out.write(b"commit " + rev.encode() + b"\n")
    cat.stdin.close()
    cat.wait()
    if manifest:
        manifest.close()


if __name__ == "__main__":
    main()
