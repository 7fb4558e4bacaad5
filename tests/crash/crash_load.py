#!/usr/bin/env python3
"""crash_load.py STRATA [ITERATIONS] - `strata load -v` killed with SIGKILL
at a random moment (5-200 ms after it starts), over and over.

Each iteration has its own seed (printed), which fixes the stream and the
delay. Stores: a fresh one every few iterations, otherwise the store of the
previous iteration, so later loads run on stores that crashed before. A
stream has 90 labelled units (keys and labels unique to the iteration):
units of 1-3 text or binary records of ~150 KB mean (text records are edits
of the key's previous record), units of many small records, empty units and
units with one ~2 MiB record (more than one group's worth).

After each kill the crashed store is first opened by, in turn: verify, a
reader (ls), a writer (a put of another key), or the load of the next
iteration (the checks of the crashed iteration then come after the next
kill). Then:
  * the store opens and `strata verify` passes; no tmp-*.pack or *.damaged
    file is left in packs/
  * the units of this iteration in `strata log` are exactly its first m
    stream units, in order, with consecutive unit numbers, where m is the
    number load reported committed or one more (a commit made durable just
    before the kill, not yet reported); the reported unit numbers match
  * every record of every present unit reads back byte for byte, and one
    past the last record of every key of the iteration does not exist
  * ls and stats --json (records, keys, units, raw bytes) match the model of
    the whole store; a sample of records of earlier iterations still reads
    back byte for byte
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from stratatest import Test, ls_output, TextSource  # noqa: E402

t = Test("crash_load")
ITERATIONS = int(t.args[0]) if t.args else 55
FRESH_EVERY = 6
NUNITS = 90
BASE_SEED = 7000
text = TextSource(random.Random(1), 1 << 22)
NAMES = [b"a", b"b c", b"d@1", b"e", b"f/g.txt", b"h"]


def gen_stream(rng, it):
    """Returns (stream bytes, [(label, [(key, data)])])."""
    prev = {}
    units = []
    parts = []
    for u in range(NUNITS):
        kind = rng.random()
        recs = []
        if kind < 0.55:
            for _ in range(rng.randint(1, 3)):
                k = b"i%d/%s" % (it, rng.choice(NAMES))
                if k in prev and rng.random() < 0.6 and len(prev[k]) < (1 << 20):
                    d = text.edit(rng, prev[k])
                else:
                    n = int(rng.expovariate(1 / 150000))
                    d = text.text(rng, n) if rng.random() < 0.7 else rng.randbytes(n)
                recs.append((k, d))
        elif kind < 0.8:
            for _ in range(rng.randint(5, 15)):
                n = rng.randint(0, 2000)
                recs.append((b"i%d/%s" % (it, rng.choice(NAMES)), text.text(rng, n) if rng.random() < 0.5 else rng.randbytes(n)))
        elif kind < 0.9:
            pass                                             # an empty unit
        else:
            n = rng.randint(1 << 20, 5 << 19)
            recs.append((b"i%d/big" % it, text.text(rng, n) if rng.random() < 0.5 else rng.randbytes(n)))
        for k, d in recs:
            prev[k] = d
            parts.append(b"put %d %s\n" % (len(d), k))
            parts.append(d)
            parts.append(b"\n")
        label = b"i%d-u%d" % (it, u)
        if rng.random() < 0.1:
            parts.append(b"# comment before commit\n")
        parts.append(b"commit " + label + b"\n")
        units.append((label, recs))
    return b"".join(parts), units


class StoreModel:
    def __init__(self, path, rng):
        self.path = path
        self.rng = rng
        self.counts = {}      # key -> records
        self.records = 0
        self.units = 0
        self.raw = 0
        self.sample = []      # (key, n, data) of earlier iterations

    def add(self, recs, rng=None, keep=0):
        self.units += 1
        for k, d in recs:
            self.counts[k] = self.counts.get(k, 0) + 1
            self.records += 1
            self.raw += len(d)
            if keep and rng.random() < keep:
                self.sample.append((k, self.counts[k], d))


def check_iteration(S, log, it, units, reported, rc):
    """The units of iteration `it` in the store: a prefix of its stream."""
    prefix = b"i%d-u" % it
    mine = [u for u in log if u["label"].startswith(prefix)]
    m = len(mine)
    what = "iteration %d: " % it
    t.eq([u["label"] for u in mine], [lab for lab, _ in units[:m]], what + "present units are a prefix of the stream")
    first_unit = model.units + 1
    t.eq([u["unit"] for u in mine], list(range(first_unit, first_unit + m)), what + "unit numbers of the present units")
    t.eq(reported, list(range(first_unit, first_unit + len(reported))), what + "reported unit numbers")
    t.check(len(reported) <= m <= len(reported) + 1,
            lambda: what + "%d units reported committed, %d present" % (len(reported), m))
    if rc == 0:
        t.eq(m, NUNITS, what + "units present after a load that finished")
    stats["unreported_present"] += m - len(reported)
    for u, (lab, recs) in zip(mine, units):
        t.eq(u["records"], len(recs), what + "records of unit %d (%s)" % (u["unit"], lab.decode()))
    # every record of every present unit, byte for byte
    for lab, recs in units[:m]:
        model.add(recs, model.rng, keep=0.02)
        n_in_unit = {}
        for k, d in recs:
            n_in_unit[k] = n_in_unit.get(k, 0) + 1
        seen = {}
        for k, d in recs:
            seen[k] = seen.get(k, 0) + 1
            n = model.counts[k] - n_in_unit[k] + seen[k]
            t.check_record(S, k, n, d, "iteration %d, unit %s: " % (it, lab.decode()))
            stats["records_checked"] += 1
    # nothing of the units that are not present
    for k in set(k for _, recs in units for k, _ in recs):
        n = model.counts.get(k, 0)
        r = t.get(S, k, n + 1)
        t.check(r.rc == 1 and r.out == b"", lambda: what + "get %r@%d (one past the end): %r" % (k, n + 1, r))


stats = {"killed": 0, "completed": 0, "reported": 0, "unreported_present": 0, "records_checked": 0}
model = None
pending = []
for it in range(ITERATIONS):
    seed = BASE_SEED + it
    rng = random.Random(seed)
    delay = rng.uniform(0.005, 0.2)
    first = ("verify", "reader", "writer", "next load")[it % 4]
    if it % FRESH_EVERY == 0:
        if model is not None:
            shutil.rmtree(model.path, ignore_errors=True)
        model = StoreModel(os.path.join(t.dir, "store%d" % it), random.Random(seed))
        t.must("init", model.path)
    S = model.path
    t.section("iteration %d: seed %d, kill after %.1f ms, store %s, %s first"
              % (it, seed, delay * 1000, os.path.basename(S), first))
    stream, units = gen_stream(rng, it)
    sp = os.path.join(t.dir, "stream")
    with open(sp, "wb") as f:
        f.write(stream)
    outp, errp = os.path.join(t.dir, "load.out"), os.path.join(t.dir, "load.err")
    with open(outp, "wb") as out, open(errp, "wb") as err:
        start = time.monotonic()
        p = subprocess.Popen([t.strata, "load", S, sp, "-v"], stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        time.sleep(max(0.0, delay - (time.monotonic() - start)))
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
    lines = open(outp, "rb").read().split(b"\n")[:-1]      # complete lines only
    reported = []
    for line in lines:
        mm = re.match(rb"^committed unit (\d+)$", line)
        if not t.check(mm, "load -v printed %r" % line):
            break
        reported.append(int(mm.group(1)))
    if rc == 0:
        stats["completed"] += 1
        t.eq(len(reported), NUNITS, "a load that finished reports every unit")
    elif rc == -signal.SIGKILL:
        stats["killed"] += 1
    else:
        t.die("load failed by itself (exit %s): %r" % (rc, open(errp, "rb").read()[:500]))
    stats["reported"] += len(reported)
    t.log("load %s after %.1f ms with %d units reported" % ("finished" if rc == 0 else "killed", delay * 1000, len(reported)))

    pending.append((it, units, reported, rc))
    # the first open after the crash: a writer (put), a reader (ls), verify,
    # or the load of the next iteration (checks deferred until after it)
    if first == "next load" and it + 1 < ITERATIONS and (it + 1) % FRESH_EVERY != 0:
        t.log("checks deferred: the next load is the first open of the crashed store")
        continue
    marker = None
    if first == "writer":
        marker = b"i%d/marker" % it
        r = t.ok("put", S, marker, "--label", "marker", input=b"marker %d" % it)
        if not t.check(re.match(rb"^stored i\d+/marker@1 in unit \d+\n$", r.out), "put after a crash: %r" % r):
            t.die("the store does not take a put after a crash")
    elif first == "reader":
        r = t.ok("ls", S)
    r = t.ok("verify", S)
    t.check(r.out.endswith(b": ok\n"), lambda: "verify after the kill: %r" % r)
    t.no_stray_packs(S)
    log = t.units(S)
    for pit, punits, preported, prc in pending:
        check_iteration(S, log, pit, punits, preported, prc)
    pending = []
    if marker is not None:
        model.add([(marker, b"marker %d" % it)])
        t.eq([u["label"] for u in log[-1:]], [b"marker"], "the marker unit comes last")
    t.eq(t.ok("ls", S).out, ls_output(model.counts), "ls")
    st = t.stats(S)
    t.eq((st["records"], st["keys"], st["units"], st["raw_bytes"]),
         (model.records, len(model.counts), model.units, model.raw), "stats --json (records, keys, units, raw)")
    # records of earlier iterations on this store
    for k, n, d in rng.sample(model.sample, min(4, len(model.sample))):
        t.check_record(S, k, n, d, "earlier record: ")

t.log("summary: %(killed)d loads killed, %(completed)d finished, %(reported)d units reported, "
      "%(unreported_present)d present without report, %(records_checked)d records checked" % stats)
t.check(stats["killed"] >= ITERATIONS // 4, "fewer than a quarter of the loads were killed mid-stream: the streams are too small")
t.finish()
