#!/usr/bin/env python3
"""crash_repack.py STRATA [--load] [ITERATIONS] - repacking killed with
SIGKILL at random moments.

One generator makes a history of versioned text: 60 keys (names with
spaces, '@', UTF-8), units of 1-4 records that are mostly edits of the
key's previous version (so records are delta-coded against earlier units),
fresh text and random binary now and then, empty records, empty units and
unlabelled units.

Default mode (`strata repack`, 50 iterations, ~40-60 s): a store of the
first 300 units is built once with `--repack-after 0` (one pack per unit)
and a full repack of a copy is timed. Each iteration copies the store, runs
`strata repack` on the copy and kills it after a random delay spread over
0..1.1 times that duration (seed and delay printed; a few repacks finish).

--load mode (`strata load -v` into a store with the default options, so
commits repack automatically; 50 iterations, ~40-60 s): a store of the
first 100 units is built once with the defaults; each iteration copies it
and loads the next 100 units, killed after a random delay spread over the
timed duration of that load.

The crashed store is first opened by, in turn: a reader (ls), verify, log,
a writer (put of another key), `strata repack` (which must then finish,
leaving one pack), or a `strata repack` killed at a random moment too (a
second crash; then ls).
Then:
  * the store opens and `strata verify` passes (exit 0, "... : ok")
  * packs/ holds only live packs named by their range (no tmp-*, *.damaged
    or superseded pack left), mode 0444, header range = name; the ranges do
    not overlap and cover every unit 1..U exactly; `strata log` gives every
    unit the size of the pack file whose range holds it
  * `strata log` shows the same units as before (numbers, times, records,
    raw sizes, labels) - for --load: the base units, then exactly the first
    m units of the stream with len(reported) <= m <= len(reported) + 1
  * every record of every key reads back byte for byte (`strata cat` of
    each key against the generator's contents; `ls` gives the record
    counts), a random sample of 25 records also through `get`, and one
    past the last record of a key does not exist
  * stats --json: records, keys, units, raw bytes
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
from stratatest import Test, ls_output, human, pack_range, TextSource, stream_of  # noqa: E402

argv = [a for a in sys.argv if a != "--load"]
LOAD = len(argv) != len(sys.argv)
t = Test("crash_repack_load" if LOAD else "crash_repack", argv)
ITERATIONS = int(t.args[0]) if t.args else 50
BASE_SEED = 11000 if LOAD else 10000
GEN_SEED = 424242
NKEYS = 60
BASE_UNITS, NEW_UNITS = (100, 100) if LOAD else (300, 0)
OPENERS = ("reader", "verify", "log", "writer", "repack", "killed repack")


def key_name(i):
    if i % 15 == 3:
        return b"docs/notes %d.txt" % i
    if i % 15 == 7:
        return b"v@%d" % i
    if i % 15 == 11:
        return ("caf\u00e9/%d.md" % i).encode()
    return b"src/mod%02d/file%02d.c" % (i % 7, i)


def generate(nunits):
    """[(label or None, [(key, data)])], deterministic."""
    rng = random.Random(GEN_SEED)
    text = TextSource(random.Random(GEN_SEED + 1), 1 << 21)
    keys = [key_name(i) for i in range(NKEYS)]
    prev = {}
    units = []
    for u in range(1, nunits + 1):
        recs = []
        if rng.random() >= 0.03:                       # else an empty unit
            for _ in range(rng.randint(1, 4)):
                k = keys[min(int(rng.paretovariate(1.0)) - 1, NKEYS - 1)] if rng.random() < 0.5 else rng.choice(keys)
                c = rng.random()
                if k in prev and c < 0.85:
                    d = text.edit(rng, prev[k])
                elif c < 0.93:
                    d = text.text(rng, rng.randint(200, 12000))
                elif c < 0.98:
                    d = rng.randbytes(rng.randint(1, 6000))
                else:
                    d = b""
                prev[k] = d
                recs.append((k, d))
        label = None if rng.random() < 0.05 else b"unit %d" % u
        units.append((label, recs))
    return units


class Model:
    """What a store holds: the contents of every key, the units."""

    def __init__(self, units=()):
        self.contents = {}
        self.units = []            # (label, records, raw)
        for label, recs in units:
            self.add(label, recs)

    def add(self, label, recs):
        for k, d in recs:
            self.contents.setdefault(k, []).append(d)
        self.units.append((label or b"", len(recs), sum(len(d) for _, d in recs)))

    def copy(self):
        m = Model()
        m.contents = {k: list(v) for k, v in self.contents.items()}
        m.units = list(self.units)
        return m


def log_rows(S):
    """`strata log` as [(unit, time, records, raw, packed, label)]."""
    return [(u["unit"], u["time"], u["records"], u["raw"], u["packed"], u["label"]) for u in t.units(S)]


def copy_store(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def run_killed(args, delay):
    """Start strata ARGS, SIGKILL it after `delay` s; (exit status, stdout, stderr)."""
    outp, errp = os.path.join(t.dir, "run.out"), os.path.join(t.dir, "run.err")
    with open(outp, "wb") as out, open(errp, "wb") as err:
        start = time.monotonic()
        p = subprocess.Popen([t.strata] + args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        time.sleep(max(0.0, delay - (time.monotonic() - start)))
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
    return rc, open(outp, "rb").read(), open(errp, "rb").read()


def run_watched(args, S, trigger, extra):
    """Start strata ARGS, watch STORE/packs and SIGKILL it `extra` s after
    trigger(file names) first holds; (exit status, stdout, stderr)."""
    outp, errp = os.path.join(t.dir, "run.out"), os.path.join(t.dir, "run.err")
    d = os.path.join(S, "packs")
    with open(outp, "wb") as out, open(errp, "wb") as err:
        p = subprocess.Popen([t.strata] + args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        while p.poll() is None:
            if trigger(os.listdir(d)):
                time.sleep(extra)
                p.send_signal(signal.SIGKILL)
                break
        rc = p.wait()
    return rc, open(outp, "rb").read(), open(errp, "rb").read()


class NewRanged:
    """Trigger: the r-th repacked pack name that was not there at the start
    has appeared (a repack just renamed its pack into place)."""

    def __init__(self, S, r):
        self.old = set(t.packs(S))
        self.seen = set()
        self.r = r

    def __call__(self, names):
        self.seen |= set(n for n in names if "-" in n and not n.startswith("tmp-") and n not in self.old)
        return len(self.seen) >= self.r


def timed(args):
    start = time.monotonic()
    r = t.must(*args)
    return time.monotonic() - start, r


def phase(S):
    """What the killed process left in packs/, before anything opens it."""
    names = t.packs(S)
    tmp = any(n.startswith("tmp-") for n in names)
    ranges = [r for r in map(pack_range, names) if r]
    wide = [r for r in ranges if any(o != r and r[0] <= o[0] and o[1] <= r[1] for o in ranges)]
    if not wide:
        state = "no overlapping packs"
    else:
        full = all(set(range(w[0], w[1] + 1)) == set(u for o in ranges if o != w and w[0] <= o[0] and o[1] <= w[1]
                                                    for u in range(o[0], o[1] + 1)) for w in wide)
        state = "a new pack and %s of the packs it replaces" % ("all" if full else "some")
    return ("a tmp-* file, " if tmp else "") + state


def check_store(S, model, log_before, what, part=0, everything=True):
    """The invariants of the module docstring, for a store that has been
    opened once since the crash. log_before: the expected log rows without
    the packed column (None: build them from the model, times unchecked)."""
    r = t.ok("verify", S)
    t.check(re.match(rb"^checked \d+ packs, \d+ groups, %d records \([^)]*\): ok\n$"
                     % sum(len(v) for v in model.contents.values()), r.out),
            lambda: what + "verify: %r" % r)
    nunits = len(model.units)
    packs = t.pack_layout(S, nunits, what)
    nverified = int(re.match(rb"^checked (\d+) packs", r.out).group(1)) if r.out.startswith(b"checked ") else -1
    t.eq(nverified, len(packs), what + "packs verify checked vs pack files")
    rows = log_rows(S)
    t.eq([row[0] for row in rows], list(range(1, nunits + 1)), what + "log: unit numbers")
    if log_before is not None:
        t.eq([row[:4] + row[5:] for row in rows], log_before, what + "log: units (number, time, records, raw, label)")
    t.eq([(row[2], row[3], row[5]) for row in rows],
         [(n, human(raw).encode(), lab) for lab, n, raw in model.units], what + "log: records, raw sizes and labels")
    size_of = {}
    for first, last, name, size in packs:
        for u in range(first, last + 1):
            size_of[u] = human(size).encode()
    bad = [row for row in rows if row[4] != size_of.get(row[0])]
    t.check(not bad, lambda: what + "log: %d units whose packed size is not their pack file's, e.g. %r"
            % (len(bad), bad[:3]))
    counts = {k: len(v) for k, v in model.contents.items()}
    t.eq(t.ok("ls", S).out, ls_output(counts), what + "ls")
    st = t.stats(S)
    t.eq((st["records"], st["keys"], st["units"], st["raw_bytes"]),
         (sum(counts.values()), len(counts), nunits, sum(raw for _, _, raw in model.units)),
         what + "stats --json (records, keys, units, raw bytes)")
    # every record of a third of the keys (a different third each time:
    # three iterations cover every key), all of them when `everything`
    for i, (k, recs) in enumerate(sorted(model.contents.items())):
        if everything or i % 3 == part % 3:
            t.cat_key(S, k, recs, what)
            summary["records"] += len(recs)
    rng = random.Random(part)
    allrecs = [(k, n) for k, v in sorted(model.contents.items()) for n in range(1, len(v) + 1)]
    for k, n in rng.sample(allrecs, min(15, len(allrecs))):
        t.check_record(S, k, n, model.contents[k][n - 1], what)
        summary["records"] += 1
    k = rng.choice(sorted(model.contents))
    r = t.get(S, k, len(model.contents[k]) + 1)
    t.check(r.rc == 1 and r.out == b"", lambda: what + "get one past the last record of %r: %r" % (k, r))
    return packs


summary = {"killed": 0, "finished": 0, "records": 0, "phases": {}}
t.section("generating %d units" % (BASE_UNITS + NEW_UNITS))
units = generate(BASE_UNITS + NEW_UNITS)
base_units, new_units = units[:BASE_UNITS], units[BASE_UNITS:]
nrec = sum(len(r) for _, r in units)
t.log("seed %d: %d units, %d records, %d raw bytes, %d keys"
      % (GEN_SEED, len(units), nrec, sum(len(d) for _, r in units for _, d in r),
         len(set(k for _, r in units for k, _ in r))))

t.section("base store")
BASE = os.path.join(t.dir, "base")
base_stream = os.path.join(t.dir, "base.stream")
with open(base_stream, "wb") as f:
    f.write(stream_of(base_units))
t.must("init", BASE) if LOAD else t.must("init", BASE, "--repack-after", "0")
t.must("load", BASE, base_stream)
base_model = Model(base_units)
base_log = [row[:4] + row[5:] for row in log_rows(BASE)]
base_packs = check_store(BASE, base_model, None, "base store: ")
if LOAD:
    t.check(len(base_packs) < BASE_UNITS // 4,
            lambda: "base store: %d packs for %d units: automatic repack did not run" % (len(base_packs), BASE_UNITS))
else:
    t.eq(len(base_packs), BASE_UNITS, "base store: packs with --repack-after 0")

if LOAD:
    new_stream = os.path.join(t.dir, "new.stream")
    with open(new_stream, "wb") as f:
        f.write(stream_of(new_units))
    labels = [lab for lab, _ in new_units]
    # the whole load, once, to time it and to check a load that finished
    T0 = os.path.join(t.dir, "timing")
    copy_store(BASE, T0)
    duration, r = timed(["load", T0, new_stream, "-v"])
    t.eq(r.out, b"".join(b"committed unit %d\n" % u for u in range(BASE_UNITS + 1, BASE_UNITS + NEW_UNITS + 1)),
         "load -v output")
    full = base_model.copy()
    for lab, recs in new_units:
        full.add(lab, recs)
    packs = check_store(T0, full, None, "after a whole load: ")
    t.check(len(packs) < (BASE_UNITS + NEW_UNITS) // 4,
            lambda: "%d packs for %d units: automatic repack did not run" % (len(packs), BASE_UNITS + NEW_UNITS))
    t.log("a load of %d units takes %.2f s; %d packs after it" % (NEW_UNITS, duration, len(packs)))
    repack_duration, _ = timed(["repack", T0])
else:
    T0 = os.path.join(t.dir, "timing")
    copy_store(BASE, T0)
    duration, r = timed(["repack", T0])
    t.check(re.match(rb"^repacked %d packs \([^)]*\) into 1 \([^)]*\)\n$" % BASE_UNITS, r.out),
            lambda: "repack output: %r" % r)
    packs = check_store(T0, base_model, base_log, "after a whole repack: ")
    t.eq([p[2] for p in packs], ["%010d-%010d.pack" % (1, BASE_UNITS)], "packs after a whole repack")
    t.log("a repack of %d packs takes %.2f s" % (BASE_UNITS, duration))
    repack_duration = duration

S = os.path.join(t.dir, "store")
for it in range(ITERATIONS):
    seed = BASE_SEED + it
    rng = random.Random(seed)
    delay = rng.uniform(0.0, 1.1 * duration)
    opener = OPENERS[it % len(OPENERS)]
    # three iterations in five: a kill after a random delay; else a kill
    # 0-2 ms after a repack renamed its new pack into place (--load: the
    # first, second or third repack of the load) or (it % 5 == 3, not
    # --load) as soon as the repack started deleting the packs it replaced:
    # short windows that random delays rarely hit. (5 and the 6 openers:
    # every opener meets every kind of kill within 30 iterations.)
    target = {1: "renamed", 3: "renamed" if LOAD else "deleting"}.get(it % 5)
    r_th = rng.randint(1, 3)
    extra = rng.uniform(0.0, 0.002 if target != "deleting" else 0.0003)
    args = ["load", S, new_stream, "-v"] if LOAD else ["repack", S]
    if target is None:
        how = "kill after %.1f ms" % (delay * 1000)
    elif target == "renamed":
        how = "kill %.2f ms after %s new pack is renamed into place" % (
            extra * 1000, ("the", "the 1st", "the 2nd", "the 3rd")[r_th if LOAD else 0])
    else:
        how = "kill %.2f ms after the first replaced pack is deleted" % (extra * 1000)
    t.section("iteration %d: seed %d, %s, %s first" % (it, seed, how, opener))
    copy_store(BASE, S)
    if target is None:
        rc, out, err = run_killed(args, delay)
    elif target == "renamed":
        rc, out, err = run_watched(args, S, NewRanged(S, r_th if LOAD else 1), extra)
    else:
        rc, out, err = run_watched(args, S, lambda names: sum(1 for n in names if re.match(r"^\d{10}\.pack$", n))
                                   < len(base_packs), extra)
    what = "iteration %d (seed %d): " % (it, seed)
    if rc == 0:
        summary["finished"] += 1
    elif rc == -signal.SIGKILL:
        summary["killed"] += 1
    else:
        t.die(what + "strata failed by itself (exit %s): %r" % (rc, err[:500]))
    ph = phase(S)
    summary["phases"][ph] = summary["phases"].get(ph, 0) + 1
    t.log("%s; left in packs/: %s" % ("finished" if rc == 0 else "killed", ph))

    model = base_model.copy()
    log_before = list(base_log)
    if LOAD:
        lines = out.split(b"\n")[:-1]
        reported = []
        for line in lines:
            mm = re.match(rb"^committed unit (\d+)$", line)
            if not t.check(mm, what + "load -v printed %r" % line):
                break
            reported.append(int(mm.group(1)))
        t.eq(reported, list(range(BASE_UNITS + 1, BASE_UNITS + 1 + len(reported))), what + "reported unit numbers")

    # the first open after the crash
    if opener == "reader":
        t.ok("ls", S)
    elif opener == "verify":
        r = t.ok("verify", S)
        t.check(r.out.endswith(b": ok\n"), lambda: what + "verify as the first open: %r" % r)
    elif opener == "log":
        t.ok("log", S)
    elif opener == "killed repack":
        # a second crash: a repack of the crashed store, killed too
        d2 = rng.uniform(0.0, 1.1 * repack_duration)
        rc2, _, err2 = run_killed(["repack", S], d2)
        t.check(rc2 in (0, -signal.SIGKILL), lambda: what + "repack after the crash failed (exit %s): %r" % (rc2, err2))
        t.log("then a repack %s after %.1f ms; left in packs/: %s"
              % ("finished" if rc2 == 0 else "killed", d2 * 1000, phase(S)))
        t.ok("ls", S)
    elif opener == "repack":
        r = t.ok("repack", S)
        t.check(re.match(rb"^repacked \d+ packs \([^)]*\) into 1 \([^)]*\)\n$", r.out),
                lambda: what + "repack after the crash: %r" % r)
    # else: the writer, below, once the present units are known
    if LOAD:
        present = t.units(S)[BASE_UNITS:]
        m = len(present)
        t.check(len(reported) <= m <= len(reported) + 1,
                lambda: what + "%d units reported committed, %d present" % (len(reported), m))
        if rc == 0:
            t.eq(m, NEW_UNITS, what + "units present after a load that finished")
        t.eq([u["label"] for u in present], [lab or b"" for lab in labels[:m]],
             what + "labels of the present units (a prefix of the stream)")
        for lab, recs in new_units[:m]:
            model.add(lab, recs)
        log_before = None
    if opener == "writer":
        marker = b"marker %d" % it
        r = t.ok("put", S, "marker", "--label", "marker", input=marker)
        t.eq(r.out, b"stored marker@1 in unit %d\n" % (len(model.units) + 1), what + "put after the crash")
        model.add(b"marker", [(b"marker", marker)])
        if log_before is not None:
            log_before = None          # checked against the model (times of the new unit unknown)
    packs = check_store(S, model, log_before, what, it, it % 10 == 9)
    if opener == "repack":
        t.eq(len(packs), 1, what + "packs after a repack that finished")
    if log_before is None:
        rows = log_rows(S)
        t.eq([row[:4] + row[5:] for row in rows[:BASE_UNITS]], base_log, what + "log: the units of the base store")

t.log("summary: %d killed, %d finished, %d records compared; what the kills left in packs/: %s"
      % (summary["killed"], summary["finished"], summary["records"],
         "; ".join("%s: %d" % kv for kv in sorted(summary["phases"].items()))))
t.check(summary["killed"] >= ITERATIONS // 2, "fewer than half of the runs were killed before they finished")
if ITERATIONS >= 10:
    t.check(any("a new pack and" in ph for ph in summary["phases"]),
            "no kill left a renamed new pack next to the packs it replaces: recovery of that state was not tested")
t.finish()
