#!/usr/bin/env python3
"""Helpers of bench/versions/run.sh (python3 standard library only).

  bench.py sample MANIFEST N SEED OUT      N random record versions: a key
                                           uniform among keys, then a version
                                           uniform among that key's records
  bench.py gitget GITDIR SAMPLE            time `git cat-file --batch` per blob
  bench.py gitchain GITDIR SAMPLE          bytes read per blob, from the packs'
                                           delta chains (git verify-pack -v)
  bench.py brzget BRANCH SAMPLE N          time `brz cat -r REVNO PATH`, N gets
  bench.py solid ARCHIVE SAMPLE RAW        estimated bytes read per get for a
                                           solid archive (no random access)
  bench.py zfiles ZDIR SAMPLE OUT          sample paths for zget
  bench.py zread ZDIR SAMPLE               compressed bytes read per get
  bench.py check-strata STRATA STORE SAMPLE K   compare K strata gets with
                                           the manifest's checksums
  bench.py table RESULTS [--md FILE]       print the table (and append it as
                                           markdown to FILE)

Measurements are printed as "name value" lines, which run.sh stores.
Sample files are manifest lines: idx key n unit size offset sha1.
"""
import glob
import hashlib
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
from benchlib import human_bytes, human_ns, load_results, render, run_main  # noqa: E402  (bench/benchlib.py)


def load_manifest(path):
    rows = []
    with open(path) as f:
        for line in f:
            idx, key, n, unit, size, off, sha = line.rstrip("\n").split("\t")
            rows.append((int(idx), key, int(n), int(unit), int(size), int(off), sha))
    return rows


def rank(v, p):
    """Nearest-rank percentile of a sorted list (as getbench.c)."""
    import math
    r = max(1, min(len(v), math.ceil(p * len(v))))
    return v[r - 1]


def amp(read, size):
    return read / max(size, 4096)


def emit(name, value):
    if isinstance(value, float):
        print(f"{name} {value:.3f}")
    else:
        print(f"{name} {value}")


def emit_times(ns):
    ns = sorted(ns)
    emit("gets", len(ns))
    emit("get_ns_median", rank(ns, 0.5))
    emit("get_ns_p99", rank(ns, 0.99))
    emit("get_ns_max", ns[-1])


def cmd_sample(manifest, n, seed, out):
    rows = load_manifest(manifest)
    bykey = {}
    for r in rows:
        bykey.setdefault(r[1], []).append(r)
    keys = sorted(bykey)
    rng = random.Random(int(seed))
    with open(out, "w") as f:
        for _ in range(int(n)):
            versions = bykey[rng.choice(keys)]
            r = rng.choice(versions)
            f.write("\t".join(str(x) for x in r) + "\n")


def cmd_gitget(gitdir, sample):
    rows = load_manifest(sample)
    p = subprocess.Popen(["git", "--git-dir", gitdir, "cat-file", "--batch"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    w, r = p.stdin, p.stdout

    def get(sha):
        w.write(sha.encode() + b"\n")
        header = r.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            sys.exit(f"bench.py: git cat-file: unexpected {header!r} for {sha}")
        size = int(header[2])
        buf = bytearray()
        while len(buf) < size + 1:
            chunk = r.read(size + 1 - len(buf))
            if not chunk:
                sys.exit("bench.py: git cat-file ended early")
            buf += chunk
        return bytes(buf[:size])

    for row in rows:  # warm pass, and a check of the content
        data = get(row[6])
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != row[6]:
            sys.exit(f"bench.py: git returned wrong data for {row[1]}@{row[2]}")
    ns = []
    for row in rows:
        t0 = time.perf_counter_ns()
        get(row[6])
        ns.append(time.perf_counter_ns() - t0)
    w.close()
    p.wait()
    emit_times(ns)


def cmd_gitchain(gitdir, sample):
    """Bytes git reads to rebuild each sampled blob: its packed size plus its
    delta bases' packed sizes down the chain (verify-pack -v), ignoring the
    delta base cache and the .idx lookups."""
    packed, base = {}, {}
    for idx in glob.glob(os.path.join(gitdir, "objects", "pack", "*.idx")):
        out = subprocess.run(["git", "--git-dir", gitdir, "verify-pack", "-v", idx],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 5 and len(f[0]) == 40 and f[1] in ("blob", "commit", "tree", "tag"):
                packed[f[0]] = int(f[3])
                if len(f) >= 7:
                    base[f[0]] = f[6]
    reads, amps, depths = [], [], []
    for row in load_manifest(sample):
        sha, total, depth = row[6], 0, 0
        while sha is not None:
            total += packed.get(sha, 0)
            sha = base.get(sha)
            depth += 1
        reads.append(total)
        amps.append(amp(total, row[4]))
        depths.append(depth - 1)
    emit("read_median", int(statistics.median(reads)))
    emit("read_p99", rank(sorted(reads), 0.99))
    emit("amp_median", statistics.median(amps))
    emit("amp_p99", rank(sorted(amps), 0.99))
    emit("depth_median", f"{statistics.median(depths):g}")
    emit("depth_max", max(depths))


def brz_env():
    """brz embeds libpython: started from a python that pyenv put first on
    PATH, it looks for its modules in pyenv's python and fails. Give it the
    PATH without pyenv's version directories."""
    env = dict(os.environ)
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":")
                           if "/.pyenv/versions/" not in p)
    for k in list(env):
        if k.startswith("PYENV_") or k in ("PYTHONHOME", "PYTHONPATH"):
            del env[k]
    return env


def cmd_brzget(branch, sample, n):
    rows = load_manifest(sample)[: int(n) + 1]
    env = brz_env()

    def get(row):
        r = subprocess.run(["brz", "cat", "-d", branch, "-r", str(row[3]), row[1]],
                           capture_output=True, env=env)
        if r.returncode != 0:
            sys.exit(f"bench.py: brz cat -r {row[3]} {row[1]}: exit {r.returncode}: "
                     f"{r.stderr.decode(errors='replace').strip()}")
        data = r.stdout
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != row[6]:
            sys.exit(f"bench.py: brz returned wrong data for {row[1]}@{row[2]} (revno {row[3]})")

    get(rows[0])  # one untimed call: page cache, python's imports
    ns = []
    for row in rows[1:]:
        t0 = time.perf_counter_ns()
        get(row)
        ns.append(time.perf_counter_ns() - t0)
    emit_times(ns)


def cmd_solid(archive, sample, raw):
    """A solid archive is one stream: getting a record means decompressing
    from the start up to its end, so the compressed bytes read are about the
    archive's size times the fraction of the raw stream before the record's
    end."""
    size, raw = os.path.getsize(archive), int(raw)
    reads, amps = [], []
    for row in load_manifest(sample):
        r = int(size * (row[5] + row[4]) / raw)
        reads.append(r)
        amps.append(amp(r, row[4]))
    emit("read_median", int(statistics.median(reads)))
    emit("amp_median", statistics.median(amps))


def zpath(zdir, row):
    return os.path.join(zdir, "%07d.zst" % row[0])


def cmd_zfiles(zdir, sample, out):
    with open(out, "w") as f:
        for row in load_manifest(sample):
            f.write(zpath(zdir, row) + "\n")


def cmd_zread(zdir, sample):
    reads, amps = [], []
    for row in load_manifest(sample):
        r = os.path.getsize(zpath(zdir, row))
        reads.append(r)
        amps.append(amp(r, row[4]))
    emit("read_median", int(statistics.median(reads)))
    emit("read_p99", rank(sorted(reads), 0.99))
    emit("amp_median", statistics.median(amps))
    emit("amp_p99", rank(sorted(amps), 0.99))


def cmd_check_strata(strata, store, sample, k):
    rows = load_manifest(sample)[: int(k)]
    bad = 0
    for row in rows:
        r = subprocess.run([strata, "get", store, f"{row[1]}@{row[2]}"], capture_output=True)
        if r.returncode != 0:
            print(f"strata get {row[1]}@{row[2]}: exit {r.returncode}: "
                  f"{r.stderr.decode(errors='replace').strip()}", file=sys.stderr)
            bad += 1
            continue
        data = r.stdout
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != row[6]:
            print(f"strata get {row[1]}@{row[2]}: WRONG DATA ({len(data)} bytes, "
                  f"expected {row[4]})", file=sys.stderr)
            bad += 1
    emit("checked", len(rows))
    emit("bad", bad)


# ---------------------------------------------------------------- table

def cmd_table(results, md=None):
    """RESULTS: lines "dataset<TAB>row<TAB>name<TAB>value", in order."""
    order, data = load_results(results, keys=2)
    head = ["data set", "tool", "stored", "ratio", "ingest s", "MB/s", "peak RSS",
            "get median", "get p99", "read/get", "read amp"]
    table, notes, dsinfo = [], [], []
    for ds, row in order:
        d = data[(ds, row)]
        if row == "_info":
            dsinfo.append((ds, d))
            continue
        raw = float(data[(ds, "_info")]["raw_bytes"])

        def g(name):
            return d.get(name)
        stored = g("stored")
        wall = g("ingest_s")
        cells = [ds, row,
                 human_bytes(stored) if stored else "n/a",
                 f"{raw / float(stored):.2f}" if stored else "n/a",
                 f"{float(wall):.2f}" if wall else "n/a",
                 f"{raw / 1e6 / float(wall):.1f}" if wall and float(wall) > 0 else "n/a",
                 human_bytes(float(g("rss_kb")) * 1024) if g("rss_kb") else "n/a",
                 human_ns(g("get_ns_median")) if g("get_ns_median") else "n/a",
                 human_ns(g("get_ns_p99")) if g("get_ns_p99") else "n/a",
                 (("~" if g("read_estimate") else "") + human_bytes(g("read_median")))
                 if g("read_median") else "n/a",
                 (("~" if g("read_estimate") else "") + f"{float(g('amp_median')):.2f}")
                 if g("amp_median") else "n/a"]
        table.append(cells)
        if g("note"):
            notes.append(f"{ds} / {row}: {g('note')}")
    text, mdlines = render(head, table, right=set(range(2, len(head))))
    lines = []
    for ds, d in dsinfo:
        lines.append(f"{ds}: {d.get('desc', '')}")
    lines.append("")
    lines += text[:2]
    prev = None
    for r, line in zip(table, text[2:]):
        if prev is not None and r[0] != prev:
            lines.append("")  # a blank line between data sets
        prev = r[0]
        lines.append(line)
    if notes:
        lines.append("")
        lines += notes
    print("\n".join(lines))
    if md:
        with open(md, "a") as f:
            for ds, d in dsinfo:
                f.write(f"* **{ds}**: {d.get('desc', '')}\n")
            f.write("\n" + "\n".join(mdlines) + "\n")
            if notes:
                f.write("\n")
                for n in notes:
                    f.write(f"* {n}\n")
            f.write("\n")


def main():
    run_main(__doc__, {"sample": cmd_sample, "gitget": cmd_gitget, "gitchain": cmd_gitchain,
                       "brzget": cmd_brzget, "solid": cmd_solid, "zfiles": cmd_zfiles,
                       "zread": cmd_zread, "check-strata": cmd_check_strata,
                       "table": cmd_table}, md_command="table")


if __name__ == "__main__":
    main()
