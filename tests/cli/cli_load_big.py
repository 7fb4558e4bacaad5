#!/usr/bin/env python3
"""cli_load_big.py STRATA - a generated load stream of 3000 units and 20000
records (sizes from 0 bytes to 64 KiB, four records of exactly 1 MiB; text
versions of files edited from one record to the next, fresh text, random
binary; 500 keys incl. ones with spaces, '@', a tab and UTF-8; empty units,
labels, comments, a final unit without commit) loaded with `load -v`
into a store with the default options (commits repack automatically):

  * -v prints "committed unit N" for exactly 1..3000, the summary counts
  * stats --json: records, keys, units, raw bytes; stored bytes = pack sizes
  * the packs: their ranges tile units 1..3000 (docs/FORMAT.md names), far
    fewer packs than units (automatic repack ran), fewer than 16 one-unit
    packs after the last repacked one; log gives each unit the size of the
    pack file that holds it
  * ls exact; log: labels, record counts and raw sizes of all 3000 units;
    log KEY for some keys: the unit and size of every record
  * verify passes and counts every pack file and the 20000 records
  * stats --json read cost: median <= p99 <= max <= 4 and chain_max <= 4
    (the defaults of --read-cost-max and --chain-max)
  * a sample of 400+ records (incl. all 1 MiB ones, empty ones, first and
    last records of keys) read back with get (stdout and -o) and compared
    byte for byte with files the generator wrote alongside the stream

The same stream loaded into a store made with --repack-after 0: exactly one
pack per unit, 0000000001.pack .. 0000003000.pack, verify counts 3000
packs; ls, log (but times and pack sizes) and stats as the first store.
Then `strata repack` of that store: one pack 0000000001-0000003000.pack,
log unchanged but for the pack sizes, verify passes, the sample reads back
byte for byte, and every sampled get touches exactly one group.
"""
import filecmp
import os
import random
import re
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stratatest import Test, ls_output, human, TextSource  # noqa: E402

NUNITS, NRECORDS, NEMPTY, NKEYS, MIB = 3000, 20000, 30, 500, 1 << 20
SEED = 31337

t = Test("cli_load_big")
D = t.dir
t.log("seed %d" % SEED)
rng = random.Random(SEED)
text = TextSource(rng, 1 << 21)

t.section("generating the stream")
keys = []
for i in range(NKEYS):
    if i % 50 == 1:
        k = b"dir %d/file with spaces %d.txt" % (i % 7, i)
    elif i % 50 == 2:
        k = b"v@%d" % i
    elif i % 50 == 3:
        k = b"tab\there %d" % i
    elif i % 50 == 4:
        k = "caf\u00e9/na\u00efve-%d" % i
        k = k.encode()
    else:
        k = b"src/dir%02d/file%03d.c" % (i % 17, i)
    keys.append(k)

# unit sizes: 2970 non-empty units sharing 20000 records, 30 empty ones
cuts = sorted(rng.sample(range(1, NRECORDS), NUNITS - NEMPTY - 1))
sizes = [b - a for a, b in zip([0] + cuts, cuts + [NRECORDS])]
for _ in range(NEMPTY):
    sizes.insert(rng.randrange(1, len(sizes)), 0)    # never the last (final) unit
assert len(sizes) == NUNITS and sum(sizes) == NRECORDS

mib_at = set(rng.sample(range(NRECORDS), 4))
sample_at = set(rng.sample(range(NRECORDS), 400)) | mib_at

prev = {}          # key -> last content
counts = {}        # key -> records so far
where = {}         # key -> [(unit, size)] for log KEY
unit_info = []     # (label, records, raw)
expected = []      # (key, n, path)
os.mkdir(os.path.join(D, "expected"))
stream_path = os.path.join(D, "big.stream")
raw_total = 0
idx = 0
empties = 0
with open(stream_path, "wb") as f:
    f.write(b"# generated load stream, seed %d\n" % SEED)
    for u, nrec in enumerate(sizes, 1):
        raw = 0
        for _ in range(nrec):
            k = keys[min(int(rng.paretovariate(1.2)) - 1, NKEYS - 1)] if rng.random() < 0.5 else rng.choice(keys)
            if idx in mib_at:
                d = rng.randbytes(MIB) if len(mib_at & set(range(idx))) % 2 else text.text(rng, MIB)
            elif k in prev and rng.random() < 0.5 and len(prev[k]) < 65536:
                d = text.edit(rng, prev[k])
            else:
                c = rng.random()
                n = rng.randint(0, 1024) if c < 0.75 else rng.randint(1025, 8192) if c < 0.97 else rng.randint(8193, 65536)
                d = rng.randbytes(n) if rng.random() < 0.25 else text.text(rng, n)
                if n == 0:
                    empties += 1
            prev[k] = d
            counts[k] = counts.get(k, 0) + 1
            where.setdefault(k, []).append((u, len(d)))
            raw += len(d)
            f.write(b"put %d %s\n" % (len(d), k))
            f.write(d)
            f.write(b"\n")
            # sample: the chosen ones, every empty record, first records of some keys
            if idx in sample_at or not d or (counts[k] == 1 and len(expected) < 600 and rng.random() < 0.1):
                p = os.path.join(D, "expected", "%d.bin" % idx)
                open(p, "wb").write(d)
                expected.append((k, counts[k], p))
            idx += 1
        raw_total += raw
        if u == NUNITS:
            label = b""                      # records after the last commit: the final unit
        else:
            c = rng.random()
            if c < 0.05:
                label = b""
                f.write(b"commit\n")
            elif c < 0.10:
                label = b"label with spaces %d" % u
                f.write(b"commit " + label + b"\n")
            else:
                label = b"u%d" % u
                f.write(b"commit " + label + b"\n")
            if rng.random() < 0.02:
                f.write(b"# a comment after unit %d\n#\n" % u)
        unit_info.append((label, nrec, raw))
# the last record of every 10th key
for k in keys[::10]:
    if k in counts and not any(e[0] == k and e[1] == counts[k] for e in expected):
        p = os.path.join(D, "expected", "last-%d.bin" % keys.index(k))
        open(p, "wb").write(prev[k])
        expected.append((k, counts[k], p))
t.log("stream: %d bytes, %d records, %d units, %d keys, %d raw bytes, %d sampled records"
      % (os.path.getsize(stream_path), NRECORDS, NUNITS, len(counts), raw_total, len(expected)))

t.section("load -v")
S = os.path.join(D, "store")
t.must("init", S)
r = t.expect(0, "load", S, stream_path, "-v", timeout=900)
t.check(r.out == b"".join(b"committed unit %d\n" % u for u in range(1, NUNITS + 1)),
        lambda: "load -v stdout is not 'committed unit 1..%d' (%d lines, last %r)"
        % (NUNITS, r.out.count(b"\n"), r.out[-40:]))
m = re.match(rb"^loaded (\d+) records \(([^)]*)\) in (\d+) units in [\d.]+ s\n"
             rb"pipeline: \d+ workers, .* \(cap [\d.]+ MiB\), \d+ puts waited for room, (\d+) units made durable\n"
             rb"cpu: [\d.]+ s reading, [\d.]+ s coding, [\d.]+ s writing\n$", r.err)
t.check(m and (int(m.group(1)), m.group(2).decode(), int(m.group(3)), int(m.group(4))) ==
        (NRECORDS, human(raw_total), NUNITS, NUNITS), lambda: "load summary: %r" % r.err)

t.section("stats, ls, log")
st = t.stats(S)
t.eq({k: st[k] for k in ("records", "keys", "units", "raw_bytes")},
     {"records": NRECORDS, "keys": len(counts), "units": NUNITS, "raw_bytes": raw_total}, "stats --json")
rc_ = st["read_cost"]
t.check(0 <= rc_["median"] <= rc_["p99"] <= rc_["max"] <= 4 and 1 <= st["chain_max"] <= 4,
        lambda: "stats --json: read cost not within the defaults: %r" % st)
packs = t.pack_layout(S, NUNITS)
t.check(len(packs) <= 64, lambda: "%d packs for %d units: automatic repack did not keep up" % (len(packs), NUNITS))
trail = []
for first, last, name, size in reversed(packs):
    if first != last:
        break
    trail.append(size)
t.check(len(trail) < 16 or any(sz >= 4 << 20 for sz in trail),
        lambda: "%d one-unit packs trail the store (--repack-after 16)" % len(trail))
t.log("%d packs: %s" % (len(packs), " ".join(p[2] for p in packs)))
t.eq(st["stored_bytes"], sum(p[3] for p in packs), "stored bytes")
t.eq(t.ok("ls", S).out, ls_output(counts), "ls")
units = t.units(S)
t.eq([u["unit"] for u in units], list(range(1, NUNITS + 1)), "log: unit numbers")
size_of = {u: human(size).encode() for first, last, _, size in packs for u in range(first, last + 1)}
bad = [u for u in units if u["packed"] != size_of.get(u["unit"])]
t.check(not bad, lambda: "log: %d units whose packed size is not their pack file's, e.g. %r" % (len(bad), bad[:3]))
bad = [(u["unit"], (u["label"], u["records"], u["raw"]), (lab, n, human(raw).encode()))
       for u, (lab, n, raw) in zip(units, unit_info) if (u["label"], u["records"], u["raw"]) != (lab, n, human(raw).encode())]
t.check(not bad, lambda: "log: %d units differ, e.g. %r" % (len(bad), bad[:3]))
for k in keys[:5] + keys[1::50] + keys[::97]:
    if k not in counts:
        continue
    r = t.ok("log", S, k)
    rows = [tuple(int(x) for x in line.split()[:3]) for line in r.out.split(b"\n")[1:] if line]
    t.eq(rows, [(n, u, size) for n, (u, size) in enumerate(where[k], 1)], "log %r: (record, unit, size)" % k)

t.section("verify")
r = t.ok("verify", S, timeout=900)
t.check(re.match(rb"^checked %d packs, %d groups, %d records \(%s\): ok\n$"
                 % (len(packs), st["groups"], NRECORDS, re.escape(human(raw_total).encode())), r.out),
        lambda: "verify output: %r" % r)


def read_back(S, what, groups_per_get=None):
    got = os.path.join(D, "got")
    n_mib = 0
    for i, (k, n, p) in enumerate(expected):
        want = open(p, "rb").read()
        if len(want) == MIB or i % 10 == 0:
            n_mib += len(want) == MIB
            if os.path.exists(got):
                os.unlink(got)
            r = t.run("get", S, k + b"@%d" % n, "-o", got)
            t.check(r.rc == 0 and r.out == b"" and filecmp.cmp(got, p, shallow=False),
                    lambda: "%sget -o %r@%d differs from %s: %r" % (what, k, n, p, r))
        elif groups_per_get is not None:
            out, cost = t.get_stats(S, k + b"@%d" % n)
            t.check(out == want, lambda: "%sget --stats %r@%d: wrong bytes" % (what, k, n))
            t.check(cost and cost["groups"] == groups_per_get and cost["returned"] == len(want),
                    lambda: "%sget --stats %r@%d: %r, expected %d group(s)" % (what, k, n, cost, groups_per_get))
        else:
            t.check_record(S, k, n, want, what)
    t.eq(n_mib, 4, what + "1 MiB records compared")
    t.check(len(expected) >= 400, "fewer than 400 records compared")


t.section("%d records read back" % len(expected))
read_back(S, "")

t.section("the same stream, --repack-after 0")
S0 = os.path.join(D, "store0")
t.must("init", S0, "--repack-after", "0")
r = t.expect(0, "load", S0, stream_path, timeout=900)
st0 = t.stats(S0)
t.eq({k: st0[k] for k in ("records", "keys", "units", "raw_bytes")},
     {k: st[k] for k in ("records", "keys", "units", "raw_bytes")}, "stats --json of both stores")
packs0 = t.pack_layout(S0, NUNITS)
t.eq([p[2] for p in packs0], ["%010d.pack" % u for u in range(1, NUNITS + 1)], "pack files with --repack-after 0")
t.eq(st0["stored_bytes"], sum(p[3] for p in packs0), "stored bytes")
t.eq(t.ok("ls", S0).out, ls_output(counts), "ls")
strip = lambda rows: [(u["unit"], u["records"], u["raw"], u["label"]) for u in rows]
units0 = t.units(S0)
t.eq(strip(units0), strip(units), "log (but times and pack sizes) of both stores")
bad = [u for u in units0 if u["packed"] != human(packs0[u["unit"] - 1][3]).encode()]
t.check(not bad, lambda: "log: %d units whose packed size is not their pack file's, e.g. %r" % (len(bad), bad[:3]))
r = t.ok("verify", S0, timeout=900)
t.check(re.match(rb"^checked %d packs, %d groups, %d records \(%s\): ok\n$"
                 % (NUNITS, st0["groups"], NRECORDS, re.escape(human(raw_total).encode())), r.out),
        lambda: "verify output: %r" % r)

t.section("repack of the --repack-after 0 store")
r = t.ok("repack", S0, timeout=900)
packs1 = t.pack_layout(S0, NUNITS)
t.eq([p[2] for p in packs1], ["%010d-%010d.pack" % (1, NUNITS)], "pack files after repack")
t.check(re.match(rb"^repacked %d packs \(%s\) into 1 \(%s\)\n$"
                 % (NUNITS, re.escape(human(st0["stored_bytes"]).encode()), re.escape(human(packs1[0][3]).encode())),
                 r.out), lambda: "repack output: %r" % r)
units1 = t.units(S0)
t.eq([(u["unit"], u["time"], u["records"], u["raw"], u["label"]) for u in units1],
     [(u["unit"], u["time"], u["records"], u["raw"], u["label"]) for u in units0], "log after repack (but pack sizes)")
t.eq(set(u["packed"] for u in units1), {human(packs1[0][3]).encode()}, "log after repack: pack sizes")
st1 = t.stats(S0)
t.eq({k: st1[k] for k in ("records", "keys", "units", "raw_bytes", "chain_max")},
     dict({k: st0[k] for k in ("records", "keys", "units", "raw_bytes")}, chain_max=1), "stats --json after repack")
r = t.ok("verify", S0, timeout=900)
t.check(re.match(rb"^checked 1 packs, %d groups, %d records \(%s\): ok\n$"
                 % (st1["groups"], NRECORDS, re.escape(human(raw_total).encode())), r.out),
        lambda: "verify output after repack: %r" % r)
t.log("repack: %d packs, %d bytes -> 1 pack, %d bytes" % (NUNITS, st0["stored_bytes"], st1["stored_bytes"]))
read_back(S0, "after repack: ", groups_per_get=1)
t.finish()
