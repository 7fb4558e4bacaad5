#!/usr/bin/env python3
"""cli_load.py STRATA - `strata load`: the stream format and its errors.

  * a stream with several units, comments, labels (none, empty, with spaces),
    an empty unit, an empty record, keys with spaces and '@', binary data
    with NUL bytes and text that looks like commands, two records of one key
    in one unit, and records after the last commit (a final unit); from a
    file and from standard input ('-' and absent); -v output exact, summary
    line on stderr; ls/log/stats/verify and every record byte for byte
  * numbering continues across loads; empty streams and comment-only streams
    add nothing; a key of 65535 bytes; a unit spread over many groups
  * malformed or truncated streams at many different offsets (bad command
    word, missing/non-digit/too large length, missing key, truncated data,
    missing newline after the data, overly long line and key, truncated
    command line, empty line, NUL in a label): exit 1, one error line naming
    the exact byte offset, -v lists exactly the units committed before the
    error, those units are intact and nothing of the broken unit is added
    (ls, log, stats, pack files and every record compared with a store that
    loaded only the good part), and the store stays usable
  * streams of 8 MB and more (one of 250 command lines of 10-64 KB, one of
    120 records of 0 bytes to 1.5 MiB), so that commands, records and
    newlines fall across the ends of the parser's 1 MiB read-ahead: every
    record reads back
  * a stream from a pipe kept open: each unit is committed (-v says so, a
    reader sees its record) as soon as its commit has been written, while
    the writer waits before sending the next
  * huge pages: a running load's GLIBC_TUNABLES holds glibc.malloc.hugetlb=1
    where the kernel gives huge pages on request, and not with
    STRATA_HUGEPAGES=0; a user's own setting of it is kept
  * a trace-profile store (chain-max 1: commits need not wait): bad input
    after 6 commits keeps exactly those 6 units (log), a good load adds 6
    more, records read back, verify passes
"""
import os
import random
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stratatest import Test, ls_output, human, TextSource  # noqa: E402

t = Test("cli_load")
D = t.dir


def put(key, data):
    return b"put %d %s\n" % (len(data), key) + data + b"\n"


class Model:
    """What a store should hold: records per key, units."""

    def __init__(self):
        self.records = {}   # key -> [bytes]
        self.units = []     # (label bytes, records, raw bytes)

    def copy(self):
        m = Model()
        m.records = {k: list(v) for k, v in self.records.items()}
        m.units = list(self.units)
        return m

    def add_unit(self, label, recs):
        for k, d in recs:
            self.records.setdefault(k, []).append(d)
        self.units.append((label, len(recs), sum(len(d) for _, d in recs)))

    def counts(self):
        return {k: len(v) for k, v in self.records.items()}

    def nrecords(self):
        return sum(len(v) for v in self.records.values())

    def raw(self):
        return sum(len(d) for v in self.records.values() for d in v)


def check_store(store, model, what, every=True):
    """The store holds exactly the model: ls, log labels/counts, stats, records."""
    r = t.ok("ls", store)
    t.eq(r.out, ls_output(model.counts()), "%s: ls" % what)
    units = t.units(store)
    t.eq([u["unit"] for u in units], list(range(1, len(model.units) + 1)), "%s: unit numbers" % what)
    t.eq([(u["label"], u["records"], u["raw"]) for u in units],
         [(lab, n, human(raw).encode()) for lab, n, raw in model.units], "%s: log (label, records, raw)" % what)
    st = t.stats(store)
    t.eq((st["records"], st["keys"], st["units"], st["raw_bytes"]),
         (model.nrecords(), len(model.records), len(model.units), model.raw()), "%s: stats --json" % what)
    packs = t.packs(store)
    t.eq(packs, ["%010d.pack" % u for u in range(1, len(model.units) + 1)], "%s: pack files" % what)
    t.eq(st["stored_bytes"], sum(os.path.getsize(os.path.join(store, "packs", p)) for p in packs),
         "%s: stored bytes = size of the packs" % what)
    for k, recs in sorted(model.records.items()):
        for n, d in enumerate(recs, 1):
            if every or n == len(recs):
                t.check_record(store, k, n, d, what + ": ")
        # one past the end does not exist
        r = t.get(store, k, len(recs) + 1)
        t.check(r.rc == 1 and r.out == b"", lambda: "%s: get %r@%d: %r" % (what, k, len(recs) + 1, r))
    r = t.ok("verify", store)
    t.check(r.out.endswith(b": ok\n"), lambda: "%s: verify: %r" % (what, r))


SUMMARY = re.compile(rb"^loaded (\d+) records \(([^)]*)\) in (\d+) units in \d+\.\d\d s\n"
                     rb"(pipeline: (\d+) workers, .* in flight at most \(cap [\d.]+ MiB\), \d+ puts waited for room, "
                     rb"(\d+) units made durable\n"
                     rb"cpu: \d+\.\d{3} s reading, \d+\.\d{3} s coding, \d+\.\d{3} s writing\n"
                     rb"|pipeline: not started \(nothing was put\)\n)?$")


def check_summary(r, records, raw, units, what):
    """The summary line; with -v, the pipeline's lines after it."""
    m = SUMMARY.match(r.err)
    if t.check(m, lambda: "%s: summary line on stderr: %r" % (what, r)):
        t.eq((int(m.group(1)), m.group(2).decode(), int(m.group(3))), (records, human(raw), units),
             "%s: summary (records, bytes, units)" % what)
        if m.group(5):
            t.eq((int(m.group(5)) >= 1, int(m.group(6))), (True, units), "%s: pipeline workers, units durable" % what)
        elif m.group(4):
            t.eq(records, 0, "%s: 'pipeline: not started' only when nothing was put" % what)


def committed_lines(first, last):
    return b"".join(b"committed unit %d\n" % u for u in range(first, last + 1))


rng = random.Random(20240611)
text = TextSource(rng, 1 << 20)

# ------------------------------------------------------------ a good stream
t.section("a stream with several units and comments")
S = os.path.join(D, "s")
t.must("init", S)
m = Model()

binary = bytearray(rng.randbytes(5000))
binary[0] = 0
binary[100:200] = bytes(100)
binary[-1] = 0
binary = bytes(binary)
tricky = b"line one\ncommit\nput 3 x\nabc\n# not a comment\n\n"   # data that looks like commands
doc1 = text.text(rng, 30000)
doc2 = text.edit(rng, doc1)
doc3 = text.edit(rng, doc2)

units = [
    (b"first unit", [(b"alpha", b"hello"), (b"empty", b""), (b"key with  spaces", tricky), (b"a@b", b"at")]),
    (b"", []),                                                   # 'commit' alone: an empty unit
    (b"label with spaces", [(b"alpha", doc1), (b"beta", binary), (b"v@2", b"v@2 one")]),
    (b"", [(b"alpha", doc2), (b"alpha", doc3), (b"empty", b"")]),  # 'commit ' : an empty label
    (b"", [(b"gamma", b"g" * 100), (b"alpha", b"last"), (b"v@2", b"v@2 two")]),  # no commit: final unit
]
stream = b"# a load stream\n#\n"
stream += put(b"alpha", b"hello") + put(b"empty", b"") + b"# a comment inside a unit\n"
stream += put(b"key with  spaces", tricky) + put(b"a@b", b"at") + b"commit first unit\n"
stream += b"commit\n"
stream += put(b"alpha", doc1) + b"#\n" + put(b"beta", binary) + put(b"v@2", b"v@2 one") + b"commit label with spaces\n"
stream += b"# comments between units\n# more\n"
stream += put(b"alpha", doc2) + put(b"alpha", doc3) + put(b"empty", b"") + b"commit \n"
stream += put(b"gamma", b"g" * 100) + put(b"alpha", b"last") + b"# a comment before the end\n" + put(b"v@2", b"v@2 two")
f1 = os.path.join(D, "stream1")
open(f1, "wb").write(stream)
r = t.expect(0, "load", S, f1, "-v")
t.eq(r.out, committed_lines(1, 5), "load -v stdout")
for lab, recs in units:
    m.add_unit(lab, recs)
check_summary(r, 13, sum(len(d) for _, recs in units for _, d in recs), 5, "load stream1")
check_store(S, m, "after stream1")
# exact ls, written out once by hand
t.eq(t.ok("ls", S).out, b"       1  a@b\n       5  alpha\n       1  beta\n       2  empty\n       1  gamma\n"
     b"       1  key with  spaces\n       2  v@2\n", "ls after stream1 (literal)")
t.check_record(S, b"v@2", 2, b"v@2 two", "key v@2 record 2 ('v@2@2'): ")

t.section("numbering continues; standard input; no -v")
recs2 = [(b"alpha", text.edit(rng, doc3)), (b"delta", b"d1"), (b"delta", b"d2")]
stream2 = b"".join(put(k, d) for k, d in recs2[:2]) + b"commit two\n" + put(*recs2[2]) + b"commit three\n"
r = t.expect(0, "load", S, "-", input=stream2)
t.eq(r.out, b"", "load without -v: stdout")
check_summary(r, 3, sum(len(d) for _, d in recs2), 2, "load from '-'")
m.add_unit(b"two", recs2[:2])
m.add_unit(b"three", recs2[2:])
r = t.expect(0, "load", S, "--verbose", input=put(b"delta", b"d3") + b"commit four\n")  # FILE absent
t.eq(r.out, b"committed unit 8\n", "load --verbose from stdin")
m.add_unit(b"four", [(b"delta", b"d3")])
t.check_record(S, b"alpha", 6, recs2[0][1])
t.check_record(S, b"delta", 3, b"d3")

for what, s in [("an empty stream", b""), ("a comment-only stream", b"# nothing\n#\n# at all\n")]:
    r = t.expect(0, "load", S, "-v", input=s)
    t.eq(r.out, b"", "%s: stdout" % what)
    check_summary(r, 0, 0, 0, what)
    t.check(r.err.endswith(b"\npipeline: not started (nothing was put)\n"), lambda: "%s: -v: %r" % (what, r.err))
check_store(S, m, "after the second loads")

t.section("load --stats")
# 16 MiB that do not compress: the workers and the writer surely spend
# a measurable millisecond, and the reading thread's share is printed too
ST = os.path.join(D, "stats")
t.must("init", ST)
blob = random.Random(5).randbytes(16 << 20)
r = t.expect(0, "load", ST, "-", "--stats", "--threads", "2", input=put(b"k", blob) + b"commit\n")
t.eq(r.out, b"", "load --stats: stdout (no 'committed unit' lines: that is -v)")
check_summary(r, 1, len(blob), 1, "load --stats")
cpu = re.search(rb"^pipeline: 2 workers, .*\ncpu: (\d+\.\d{3}) s reading, (\d+\.\d{3}) s coding, "
                rb"(\d+\.\d{3}) s writing\n$", r.err, re.M)
if t.check(cpu, lambda: "load --stats: no pipeline and cpu lines: %r" % r.err):
    t.check(float(cpu.group(2)) > 0 and float(cpu.group(3)) > 0,
            lambda: "load --stats: 16 MiB coded and written in no CPU time: %r" % r.err)
t.check_record(ST, b"k", 1, blob, "load --stats: ")
# the default queue: a group cap per worker and two more, within
# 64..256 MiB; --queue-mb wins
T2 = ["--threads", "2"]
for i, (what, init_args, load_args, cap) in enumerate([
        ("archive profile (64 MiB groups), 2 workers", ["--profile", "archive"], T2, b"256.0"),
        ("--group-cap 32M, 2 workers", ["--group-cap", str(32 << 20)], T2, b"128.0"),
        ("--group-cap 32M, 1 worker", ["--group-cap", str(32 << 20)], ["--threads", "1"], b"96.0"),
        ("default (16 MiB groups), 6 workers", [], ["--threads", "6"], b"128.0"),
        ("default (16 MiB groups), 2 workers", [], T2, b"64.0"),
        ("default (16 MiB groups), 64 workers", [], ["--threads", "64"], b"256.0"),
        ("trace profile (4 MiB groups), 2 workers", ["--profile", "trace"], T2, b"64.0"),
        ("--queue-mb 8", [], ["--queue-mb", "8"], b"8.0")]):
    Q = os.path.join(D, "queue%d" % i)
    t.must("init", Q, *init_args)
    r = t.expect(0, "load", Q, "-", "--stats", *load_args, input=put(b"k", b"one record") + b"commit\n")
    t.check(re.search(rb"^pipeline: \d+ workers, .* \(cap " + re.escape(cap) + rb" MiB\)", r.err, re.M),
            lambda: "load --stats, %s: queue cap %s MiB expected: %r" % (what, cap.decode(), r.err))
# without a pipeline, the one thread's CPU
r = t.expect(0, "load", ST, "-", "--stats", "--threads", "0", input=put(b"k", blob[:1 << 20]) + b"commit\n")
cpu = re.search(rb"^pipeline: none \(--threads 0\)\ncpu: (\d+\.\d{3}) s reading, coding and writing\n$", r.err, re.M)
t.check(cpu and float(cpu.group(1)) > 0, lambda: "load --stats --threads 0: %r" % r.err)
t.check_record(ST, b"k", 2, blob[:1 << 20], "load --stats --threads 0: ")

# --durable-mb: a stream of exactly two durable points' worth makes two
# units, not a third, empty one at its end
DU = os.path.join(D, "durable")
t.must("init", DU, "--profile", "trace")
halves = [bytes([65 + i]) * (512 << 10) for i in range(4)]
r = t.expect(0, "load", DU, "-", "-v", "--durable-mb", "1", input=b"".join(put(b"k", d) for d in halves))
check_summary(r, 4, 4 * (512 << 10), 2, "load --durable-mb 1 of 2 MiB")
t.eq([ln.split()[0] for ln in t.ok("log", DU).out.splitlines()[1:]], [b"1", b"2"], "units after --durable-mb 1 of 2 MiB")
for n, d in enumerate(halves, 1):
    t.check_record(DU, b"k", n, d)
# and a remainder after the last durable point is committed at the end
r = t.expect(0, "load", DU, "-", "-v", "--durable-mb", "1", input=b"".join(put(b"k", d) for d in halves[:3]))
check_summary(r, 3, 3 * (512 << 10), 2, "load --durable-mb 1 of 1.5 MiB")
t.check_record(DU, b"k", 7, halves[2])

# a missing input file
r = t.expect(1, "load", S, os.path.join(D, "no-such-file"))
t.check(r.out == b"" and r.err.count(b"\n") == 1 and b"no-such-file" in r.err, lambda: "load of a missing file: %r" % r)

t.section("a key of 65535 bytes; a unit spread over many groups")
big_key = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(65535))
r = t.expect(0, "load", S, "-v", input=put(big_key, b"long key") + b"commit\n")
t.eq(r.out, b"committed unit 9\n", "load of a 65535-byte key")
m.add_unit(b"", [(big_key, b"long key")])
t.check_record(S, big_key, 1, b"long key")
t.eq(t.ok("ls", S).out, ls_output(m.counts()), "ls with a 65535-byte key")

G = os.path.join(D, "g")
t.must("init", G, "--group-cap", "4096")
mg = Model()
recs = []
for i in range(40):
    k = b"file%d" % (i % 7)
    recs.append((k, text.text(rng, rng.randint(0, 3000)) if i % 3 else rng.randbytes(rng.randint(1, 3000))))
r = t.expect(0, "load", G, input=b"".join(put(k, d) for k, d in recs) + b"commit many groups\n")
mg.add_unit(b"many groups", recs)
check_store(G, mg, "4 KiB groups")
t.check(t.stats(G)["groups"] >= 10, lambda: "a 60 KB unit with 4 KiB groups has only %d groups" % t.stats(G)["groups"])

# The parser reads a MiB at a time: commands, records and newlines fall
# across the ends of its read-ahead. Two streams: one mostly long command
# lines (keys of 10-64 KB), where nearly every end of the read-ahead falls
# within a line; one of records up to 1.5 MiB, those of 512 KiB and more
# read around the read-ahead.
t.section("read-ahead: lines and records across buffer ends")
B = os.path.join(D, "b")
t.must("init", B)
mb = Model()


def ahead_stream(recs, label):
    out = []
    for i in range(0, len(recs), 37):
        part = recs[i:i + 37]
        out.append(b"".join(put(k, d) for k, d in part) + b"commit %s %d\n" % (label, i))
        mb.add_unit(b"%s %d" % (label, i), part)
    return b"".join(out)


lines = [(bytes(rng.choice(b"abcdefghij@ ") for _ in range(rng.randint(10000, 65534))) + b"%d" % (i % 10),
          text.text(rng, rng.randint(0, 2000))) for i in range(250)]
data = [(b"r%d" % (i % 9), rng.randbytes(size) if i % 4 == 0 else text.text(rng, size))
        for i, size in enumerate(rng.choice((0, 1, rng.randint(2, 300), rng.randint(1000, 65536),
                                              rng.randint(65536, 400000), rng.randint(1 << 19, 3 << 19)))
                                  for _ in range(120))]
for what, recs in (("lines", lines), ("records", data)):
    stream = ahead_stream(recs, what.encode())
    t.check(len(stream) > 8 << 20, lambda: "the %s stream is only %d bytes" % (what, len(stream)))
    t.expect(0, "load", B, input=stream)
check_store(B, mb, "read-ahead")

# A process that feeds load through a pipe and waits for each "committed
# unit N" before it sends more: the parser must act on what has come, not
# wait for its read-ahead to fill.
t.section("a pipe kept open: each commit acted on as it comes")
P = os.path.join(D, "pipe")
t.must("init", P)
p = subprocess.Popen([t.strata, "load", P, "-", "-v"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
try:
    for i in range(1, 4):
        p.stdin.write(b"put 5 k\nrec %d\ncommit u%d\n" % (i, i))
        p.stdin.flush()
        line = t.readline(p.stdout, "'committed unit %d' after its commit, the pipe still open" % i)
        if not t.eq(line, b"committed unit %d\n" % i, "load -v on a pipe kept open"):
            break
        t.check_record(P, b"k", i, b"rec %d" % i, "a reader while the load goes on: ")
finally:
    p.stdin.close()
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
t.eq(rc, 0, "load exit status after the pipe closed")

t.section("huge pages: the tunable a load runs with")
# strata load runs itself again with glibc.malloc.hugetlb=1 added to
# GLIBC_TUNABLES where the kernel gives huge pages on request (cli/hugepages.h);
# a running load's environment shows what it runs with.
try:
    thp = "[madvise]" in open("/sys/kernel/mm/transparent_hugepage/enabled").read()
except OSError:
    thp = False
glibc = bool(os.confstr("CS_GNU_LIBC_VERSION"))
on = thp and glibc
H = os.path.join(D, "huge")
t.must("init", H)
base_env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "STRATA_HUGEPAGES")}
cases = [
    ({}, "glibc.malloc.hugetlb=1" if on else None),
    ({"STRATA_HUGEPAGES": "0"}, None),
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "glibc.malloc.hugetlb=0"),
    # Another tunable is extended, but glibc cuts the environment block's
    # copy of a list of tunables at the first ':' as it parses it, so
    # /proc shows only the first: the load must work, once, and keep it.
    ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "glibc.malloc.arena_max=2"),
]
for i, (extra, want) in enumerate(cases, 1):
    env = dict(base_env, **extra)
    p = subprocess.Popen([t.strata, "load", H, "-", "-v"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        p.stdin.write(b"put 5 k\nrec %d\ncommit\n" % i)
        p.stdin.flush()
        line = t.readline(p.stdout, "'committed unit %d' with %r" % (i, extra))
        t.eq(line, b"committed unit %d\n" % i, "load -v with %r" % extra)
        got = None
        with open("/proc/%d/environ" % p.pid, "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"GLIBC_TUNABLES="):
                    got = kv.split(b"=", 1)[1].decode()
        t.eq(got, want, "GLIBC_TUNABLES of a load run with %r (huge pages on request: %s)" % (extra, thp))
        # and glibc's heap pad (hugepages_setup): the main heap, grown by
        # what the load asked plus 16 MiB; some hundreds of KiB without.
        # A sanitizer's allocator takes malloc's place: nothing to see.
        heap, sanitized = 0, False
        with open("/proc/%d/maps" % p.pid) as f:
            for ln in f:
                if ln.rstrip().endswith("[heap]"):
                    lo, hi = ln.split()[0].split("-")
                    heap = int(hi, 16) - int(lo, 16)
                sanitized |= "libasan" in ln or "libtsan" in ln
        if glibc and not sanitized:
            padded = extra.get("STRATA_HUGEPAGES") != "0"
            t.check((heap >= 16 << 20) == padded,
                    "heap of a load run with %r: %d bytes (16 MiB pad expected: %s)" % (extra, heap, padded))
    finally:
        p.stdin.close()
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
    t.eq(rc, 0, "load exit status with %r" % extra)
    t.check_record(H, b"k", i, b"rec %d" % i, "after a load with %r: " % extra)

# --------------------------------------------------------- broken streams
t.section("malformed and truncated streams")
BASE = os.path.join(D, "base")
t.must("init", BASE)
mbase = Model()
base_recs = [(b"alpha", b"base alpha 1"), (b"beta", rng.randbytes(3000)), (b"doc", doc1)]
t.must("load", BASE, input=b"".join(put(k, d) for k, d in base_recs) + b"commit base\n")
mbase.add_unit(b"base", base_recs)

# the part of every broken stream that is good: two units
unitA = [(b"alpha", b"A alpha"), (b"doc", doc2), (b"newkey", b"A new")]
unitB = [(b"beta", rng.randbytes(2000)), (b"doc", doc3)]
PREFIX = (b"# good part\n" + b"".join(put(k, d) for k, d in unitA) + b"commit unit A\n"
          + b"".join(put(k, d) for k, d in unitB) + b"commit unit B\n")
# the unit in progress when the error comes: 2 records, one of a new key
PARTIAL = put(b"partial", b"PPPP") + put(b"alpha", b"never stored")
B = len(PREFIX) + len(PARTIAL)      # where the bad part starts
TRAILER = put(b"after", b"after the error") + b"commit after\n"   # must never be loaded

REF = os.path.join(D, "ref")
shutil.copytree(BASE, REF)
t.must("load", REF, input=PREFIX)
mref = mbase.copy()
mref.add_unit(b"unit A", unitA)
mref.add_unit(b"unit B", unitB)
check_store(REF, mref, "reference store")
REF_LS = t.ok("ls", REF).out
REF_LOG = t.log_without_times(REF)
REF_STATS = t.stats(REF)

LINE_MAX = 65535 + 64
# (name, bad bytes, offset of the error relative to the bad part, text the message must contain)
CASES = [
    ("bad command word", b"pot 3 abc\n" + TRAILER, 0, "expected 'put <length> <key>', 'commit [<label>]' or '#', got 'pot 3 abc'"),
    ("'put' alone", b"put\n" + TRAILER, 0, "got 'put'"),
    ("'commit' misspelt", b"commitx\n" + TRAILER, 0, "got 'commitx'"),
    ("empty line", b"\n" + TRAILER, 0, "got ''"),
    ("missing length", b"put  key\nabc\n" + TRAILER, 4, "expected a decimal length after 'put '"),
    ("non-digit length", b"put x5 key\nabcde\n" + TRAILER, 4, "expected a decimal length after 'put '"),
    ("negative length", b"put -5 key\nabcde\n" + TRAILER, 4, "expected a decimal length after 'put '"),
    ("length with a non-digit", b"put 5x key\nabcde\n" + TRAILER, 5, "expected a space and a key after the length"),
    ("length without key", b"put 5\nabcde\n" + TRAILER, 5, "expected a space and a key after the length"),
    ("missing key", b"put 5 \nabcde\n" + TRAILER, 6, "expected a key after the length"),
    ("length too large", b"put 99999999999999999999999 k\n" + TRAILER, 4, "too large"),
    ("truncated data", b"put 10 key\nabc", 11 + 3, "unexpected end of input: expected 10 bytes of data for key 'key', got 3"),
    ("truncated data, nothing", b"put 10 key\n", 11, "expected 10 bytes of data for key 'key', got 0"),
    ("missing newline after the data", b"put 3 key\nabcX\n" + TRAILER, 10 + 3, "expected a newline after the record's data"),
    ("data longer than its length", b"put 3 key\nabcdef\n" + TRAILER, 10 + 3, "expected a newline after the record's data"),
    ("end of input after the data", b"put 3 key\nabc", 10 + 3, "unexpected end of input: expected a newline after the record's data"),
    ("overly long line", b"x" * 70000 + b"\n" + TRAILER, 0, "command line longer than %d bytes" % LINE_MAX),
    ("overly long put line", b"put 1 " + b"k" * 70000 + b"\nZ\n" + TRAILER, 0, "command line longer than"),
    ("key longer than 65535 bytes", b"put 1 " + b"k" * 65536 + b"\nZ\n" + TRAILER, 4, "key longer than 65535 bytes"),
    ("truncated put line", b"put 12", 6, "unexpected end of input: expected a newline to end the line that starts at byte %d" % B),
    ("truncated commit line", b"commit", 6, "expected a newline to end the line that starts at byte %d" % B),
    ("truncated comment", b"# comment", 9, "expected a newline to end the line that starts at byte %d" % B),
    ("NUL in a label", b"commit ab\0cd\n" + TRAILER, 0, "label contains a NUL byte"),
]


def broken(name, stream, offset, text_, in_progress, committed, via_stdin, model):
    """Load a broken stream into a copy of BASE and compare with the model."""
    v = os.path.join(D, "victim")
    if os.path.exists(v):
        shutil.rmtree(v)
    shutil.copytree(BASE, v)
    if via_stdin:
        r = t.run("load", v, "-v", input=stream)
        src = b"standard input"
    else:
        p = os.path.join(D, "broken.stream")
        open(p, "wb").write(stream)
        r = t.run("load", v, p, "-v")
        src = p.encode()
    what = "%s (offset %d)" % (name, offset)
    t.check(r.rc == 1, lambda: "%s: exit %s, expected 1: %r" % (what, r.rc, r))
    t.eq(r.out, committed_lines(len(mbase.units) + 1, len(mbase.units) + committed), "%s: load -v stdout" % what)
    want = re.compile(rb"^strata load: " + re.escape(src) + rb": byte %d: .*" % offset + re.escape(text_.encode())
                      + rb".*; the unit in progress \(%d records\) was discarded, the %d units committed before it are kept\n$"
                      % (in_progress, committed), re.S)
    t.check(want.match(r.err) and r.err.count(b"\n") == 1,
            lambda: "%s: stderr should be one line naming byte %d and '%s', got %r" % (what, offset, text_, r.err[:500]))
    if model is mref:
        t.eq(t.ok("ls", v).out, REF_LS, "%s: ls" % what)
        t.eq(t.log_without_times(v), REF_LOG, "%s: log" % what)
        t.eq(t.stats(v), REF_STATS, "%s: stats --json" % what)
    check_store(v, model, what)
    t.no_stray_packs(v)
    # the store is still usable, and the broken unit used no unit number
    r = t.ok("put", v, "later", input=b"later")
    t.eq(r.out, b"stored later@1 in unit %d\n" % (len(model.units) + 1), "%s: put after the failed load" % what)


for i, (name, bad, rel, text_) in enumerate(CASES):
    broken(name, PREFIX + PARTIAL + bad, B + rel, text_, 2, 2, i % 2 == 1, mref)

# errors at other places: the very first line, right after a commit, in the
# middle of the first unit, inside data that looks like a command
broken("bad first line", b"hello\n" + PREFIX, 0, "got 'hello'", 0, 0, False, mbase)
broken("error right after a commit", PREFIX + b"put 3 k\nab", len(PREFIX) + 10, "expected 3 bytes", 0, 2, True, mref)
first = put(b"alpha", b"x") + put(b"beta", b"yy")
broken("error inside the first unit", first + b"put 7 key\nshort\n", len(first) + 10 + 6,
       "expected 7 bytes of data for key 'key', got 6", 2, 0, False, mbase)
bad_data = put(b"alpha", b"commit\n") + b"put 5 k\ncommit\n"
broken("command-like data, wrong length", PREFIX + bad_data, len(PREFIX) + len(put(b"alpha", b"commit\n")) + 8 + 5,
       "expected a newline after the record's data", 1, 2, True, mref)
mA = mbase.copy()
mA.add_unit(b"unit A", unitA)
half = PREFIX.index(b"commit unit A\n") + len(b"commit unit A\n")
broken("error in the second unit", PREFIX[:half] + put(b"beta", b"b") + b"put 2 k\n", half + len(put(b"beta", b"b")) + 8,
       "expected 2 bytes of data for key 'k', got 0", 1, 1, True, mA)

t.section("asynchronous commits (trace profile, chain-max 1)")
# without -v such a store's load commits without waiting for each unit: at
# the end, and at bad input, it waits until every unit is durable
TR = os.path.join(D, "trace")
t.must("init", TR, "--profile", "trace")
trng = random.Random(77)
tunits = [[(b"events", trng.randbytes(80)) for _ in range(50)] + [(b"data", trng.randbytes(3000))] for _ in range(6)]
tstream = b"".join(b"".join(put(k, d) for k, d in u) + b"commit u%d\n" % i for i, u in enumerate(tunits, 1))
r = t.expect(1, "load", TR, "-", input=tstream + b"put 4 events\nab")
t.check(b"the 6 units committed before it are kept" in r.err, lambda: "async load, bad input: %r" % r.err)
t.eq([(u["unit"], u["records"], u["label"]) for u in t.units(TR)], [(i, 51, b"u%d" % i) for i in range(1, 7)],
     "async load, bad input: log")
r = t.expect(0, "load", TR, "-", input=tstream)
t.check(r.err.startswith(b"loaded 306 records (") and b"in 6 units in" in r.err, lambda: "async load: %r" % r.err)
t.eq(len(t.units(TR)), 12, "async load: units after two loads")
for i, u in enumerate(tunits + tunits):   # unit i + 1: events 50i+1..50i+50, data i+1
    t.check_record(TR, b"events", 50 * i + 1, u[0][1], "async load: ")
    t.check_record(TR, b"events", 50 * i + 50, u[49][1], "async load: ")
    t.check_record(TR, b"data", i + 1, u[50][1], "async load: ")
t.ok("verify", TR)

t.finish()
