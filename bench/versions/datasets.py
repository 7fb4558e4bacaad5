#!/usr/bin/env python3
"""Build the versioned data sets of the strata benchmark (bench/versions).

Every data set lives in its own directory and is described by a strata load
stream, `stream.load`: one unit per version, a `put` for each file whose
content changed since the previous version (key = path), `commit <version>`.
Deleted files are written as `# deleted <path>` comment lines, which strata
ignores and the git fast-import stream turns into `D` lines. From that
stream `derive` writes everything the other tools need.

  datasets.py npm OUT --pkg NAME --count N [--cache DIR]
      fetch the last N stable versions of npm package NAME with `npm pack`,
      unpack them and write OUT/stream.load
  datasets.py git OUT --repo DIR
      OUT/stream.load from every commit of the repository (scripts/git2load.py)
  datasets.py derive OUT
      from OUT/stream.load write:
        OUT/import.fi      git fast-import stream, one commit per unit
                           (modified files inline, D for deleted ones)
        OUT/concat.bin     all records' contents concatenated, in stream order
        OUT/files/NNNNNNN  each record as a file of its own
        OUT/manifest.tsv   one line per record:
                           idx key n unit size offset git-blob-sha1
        OUT/info.json      totals
"""
import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile


def die(msg):
    sys.exit("datasets.py: " + msg)


def stable(v):
    return re.fullmatch(r"\d+\.\d+\.\d+", v) is not None


def vkey(v):
    return tuple(int(x) for x in v.split("."))


def read_tree(tgz):
    """{path inside the package: bytes} of a npm tarball (regular files)."""
    out = {}
    with tarfile.open(tgz, "r:gz") as t:
        for m in t.getmembers():
            if not m.isfile():
                continue
            name = m.name
            # npm tarballs put everything under one top directory, mostly
            # "package/"; strip whatever it is.
            name = name.split("/", 1)[1] if "/" in name else name
            if not name or "\n" in name or "\t" in name:
                continue
            out[name] = t.extractfile(m).read()
    return out


def cmd_npm(a):
    os.makedirs(a.out, exist_ok=True)
    cache = a.cache or os.path.join(a.out, "tarballs")
    os.makedirs(cache, exist_ok=True)
    vs = json.loads(subprocess.run(["npm", "view", a.pkg, "versions", "--json"],
                                   check=True, capture_output=True, text=True).stdout)
    vs = sorted((v for v in vs if stable(v)), key=vkey)
    if a.versions:
        want = a.versions.split(",")
        vs = [v for v in vs if v in want]
    vs = vs[-a.count:]
    if len(vs) < a.count:
        print(f"datasets.py: only {len(vs)} stable versions of {a.pkg}", file=sys.stderr)
    tgzs = []
    for v in vs:
        base = f"{a.pkg.replace('@', '').replace('/', '-')}-{v}.tgz"
        path = os.path.join(cache, base)
        if not os.path.exists(path):
            r = subprocess.run(["npm", "pack", f"{a.pkg}@{v}", "--silent",
                                "--pack-destination", cache],
                               capture_output=True, text=True)
            if r.returncode != 0:
                die(f"npm pack {a.pkg}@{v} failed: {r.stderr.strip()}")
            got = os.path.join(cache, r.stdout.strip().splitlines()[-1])
            if got != path:
                os.replace(got, path)
        tgzs.append((v, path))
    prev = {}
    full = 0
    tmp = os.path.join(a.out, "stream.load.tmp")
    with open(tmp, "wb") as out:
        out.write(f"# npm package {a.pkg}, {len(vs)} versions {vs[0]}..{vs[-1]}\n".encode())
        for v, path in tgzs:
            tree = read_tree(path)
            full += sum(len(b) for b in tree.values())
            for name in sorted(prev):
                if name not in tree:
                    out.write(b"# deleted " + name.encode() + b"\n")
            for name in sorted(tree):
                data = tree[name]
                if prev.get(name) == data:
                    continue
                out.write(b"put %d " % len(data) + name.encode() + b"\n")
                out.write(data)
                out.write(b"\n")
            out.write(b"commit " + v.encode() + b"\n")
            prev = tree
    os.replace(tmp, os.path.join(a.out, "stream.load"))
    with open(os.path.join(a.out, "source.json"), "w") as f:
        json.dump({"kind": "npm", "package": a.pkg, "versions": vs,
                   "full_tree_bytes": full}, f, indent=1)


def cmd_git(a):
    os.makedirs(a.out, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    g2l = a.git2load or os.path.join(here, "..", "..", "scripts", "git2load.py")
    tmp = os.path.join(a.out, "stream.load.tmp")
    with open(tmp, "wb") as out:
        subprocess.run([sys.executable, g2l, "--repo", a.repo], stdout=out, check=True)
    os.replace(tmp, os.path.join(a.out, "stream.load"))
    head = subprocess.run(["git", "-C", a.repo, "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    n = subprocess.run(["git", "-C", a.repo, "rev-list", "--count", "HEAD"], check=True,
                       capture_output=True, text=True).stdout.strip()
    with open(os.path.join(a.out, "source.json"), "w") as f:
        json.dump({"kind": "git", "repo": os.path.abspath(a.repo), "head": head,
                   "commits": int(n)}, f, indent=1)


def parse_stream(path):
    """Yield ("put", key, data) / ("commit", label) / ("deleted", key)."""
    with open(path, "rb") as f:
        while True:
            line = f.readline()
            if not line:
                return
            if line.startswith(b"put "):
                _, ln, key = line.rstrip(b"\n").split(b" ", 2)
                data = f.read(int(ln))
                if f.read(1) != b"\n":
                    die(f"{path}: malformed put for {key!r}")
                yield ("put", key, data)
            elif line.startswith(b"commit"):
                yield ("commit", line[6:].strip())
            elif line.startswith(b"# deleted "):
                yield ("deleted", line[10:].rstrip(b"\n"))
            elif line.startswith(b"#") or line.strip() == b"":
                continue
            else:
                die(f"{path}: unexpected line {line[:60]!r}")


def fi_path(p):
    if p.startswith(b'"') or b"\n" in p:
        return b'"' + p.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n") + b'"'
    return p


def cmd_derive(a):
    d = a.out
    src = os.path.join(d, "stream.load")
    files = os.path.join(d, "files")
    shutil.rmtree(files, ignore_errors=True)
    os.makedirs(files)
    counts = {}
    pending = []
    unit = 0
    idx = 0
    off = 0
    t = 1500000000
    keys = set()
    with open(os.path.join(d, "import.fi.tmp"), "wb") as fi, \
            open(os.path.join(d, "concat.bin.tmp"), "wb") as cat, \
            open(os.path.join(d, "manifest.tsv.tmp"), "w") as man:
        for ev in parse_stream(src):
            if ev[0] == "put":
                _, key, data = ev
                idx += 1
                ks = key.decode("utf-8", "surrogateescape")
                keys.add(ks)
                counts[ks] = counts.get(ks, 0) + 1
                sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                man.write(f"{idx}\t{ks}\t{counts[ks]}\t{unit + 1}\t{len(data)}\t{off}\t{sha}\n")
                cat.write(data)
                off += len(data)
                with open(os.path.join(files, "%07d" % idx), "wb") as f:
                    f.write(data)
                pending.append((b"M", key, data))
            elif ev[0] == "deleted":
                pending.append((b"D", ev[1], None))
            else:
                unit += 1
                label = ev[1] or b"unit %d" % unit
                t += 3600
                fi.write(b"commit refs/heads/master\nmark :%d\n" % unit)
                fi.write(b"committer bench <bench@example.org> %d +0000\n" % t)
                fi.write(b"data %d\n%s\n" % (len(label), label))
                for op, key, data in pending:
                    if op == b"M":
                        fi.write(b"M 100644 inline " + fi_path(key) + b"\n")
                        fi.write(b"data %d\n" % len(data) + data + b"\n")
                    else:
                        fi.write(b"D " + fi_path(key) + b"\n")
                fi.write(b"\n")
                pending = []
        if pending:
            die(f"{src}: records after the last commit")
    for n in ("import.fi", "concat.bin", "manifest.tsv"):
        os.replace(os.path.join(d, n + ".tmp"), os.path.join(d, n))
    info = {"records": idx, "units": unit, "keys": len(keys), "raw_bytes": off}
    srcinfo = os.path.join(d, "source.json")
    if os.path.exists(srcinfo):
        with open(srcinfo) as f:
            info["source"] = json.load(f)
    with open(os.path.join(d, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("npm")
    p.add_argument("out")
    p.add_argument("--pkg", required=True)
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--versions", help="comma-separated explicit version list")
    p.add_argument("--cache")
    p = sub.add_parser("git")
    p.add_argument("out")
    p.add_argument("--repo", required=True)
    p.add_argument("--git2load")
    p = sub.add_parser("derive")
    p.add_argument("out")
    a = ap.parse_args()
    {"npm": cmd_npm, "git": cmd_git, "derive": cmd_derive}[a.cmd](a)


if __name__ == "__main__":
    main()
