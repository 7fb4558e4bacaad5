#!/usr/bin/env python3
"""cli_concurrent.py STRATA - readers while a writer loads.

strata.h: "Any number of processes may open a store to read; one at a time
may open it to write (a lock), and readers see committed units only."

A `strata load -v` of 400 units, fed through a pipe at ~130 units/s, runs
in the background; meanwhile, in a
loop, until it ends:
  * stats --json shows the totals of exactly the first U units for some U,
    never less than the number load has already reported committed, and U
    never goes down
  * ls shows the key counts of exactly the first U' units for some U'
  * a record of a unit that load has reported committed reads back byte
    for byte
  * verify finds nothing wrong (exit 0)
At the end every record reads back and verify passes.
"""
import atexit
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stratatest import Test, ls_output  # noqa: E402

t = Test("cli_concurrent")
S = os.path.join(t.dir, "s")
t.must("init", S)
rng = random.Random(555)
NUNITS = 400

parts = []
unit_parts = []                # the stream, unit by unit
units = []                     # [(key, n, data)] per unit
counts = {}
prefix = [(0, 0)]              # (records, raw) after the first u units
ls_at = {ls_output({}): 0}     # ls output -> u
for u in range(NUNITS):
    recs = []
    for _ in range(rng.randint(0, 5)):
        k = b"key%d" % rng.randrange(40)
        d = rng.randbytes(rng.randint(0, 40000))
        counts[k] = counts.get(k, 0) + 1
        recs.append((k, counts[k], d))
        parts.append(b"put %d %s\n" % (len(d), k) + d + b"\n")
    parts.append(b"commit u%d\n" % (u + 1))
    unit_parts.append(b"".join(parts))
    parts = []
    units.append(recs)
    r0, raw0 = prefix[-1]
    prefix.append((r0 + len(recs), raw0 + sum(len(d) for _, _, d in recs)))
    ls_at[ls_output(counts)] = u + 1

t.section("readers during a load of %d units" % NUNITS)
outp = os.path.join(t.dir, "load.out")
out = open(outp, "wb")
errp = os.path.join(t.dir, "load.err")
err_f = open(errp, "wb")
# the stream goes through a pipe, unit by unit with short pauses, so that
# the load lasts long enough (~3 s) however fast the disk is
p = subprocess.Popen([t.strata, "load", S, "-", "-v"], stdin=subprocess.PIPE, stdout=out, stderr=err_f)


def feed():
    try:
        for u, part in enumerate(unit_parts):
            p.stdin.write(part)
            p.stdin.flush()
            time.sleep(0.0075)
        p.stdin.close()
    except BrokenPipeError:
        pass


atexit.register(lambda: p.poll() is None and p.kill())
feeder = threading.Thread(target=feed, daemon=True)
feeder.start()


def reported():
    lines = open(outp, "rb").read().split(b"\n")[:-1]
    return len(lines)


rounds = 0
last_u = 0
verify_problems = []
while p.poll() is None:
    rounds += 1
    done = reported()
    st = t.stats(S)
    u = st["units"]
    t.check(u >= done, lambda: "stats shows %d units, but load reported %d committed" % (u, done))
    t.check(u >= last_u, lambda: "the unit count went down from %d to %d" % (last_u, u))
    last_u = max(last_u, u)
    if t.check(u <= NUNITS, "stats shows %d units" % u):
        t.eq((st["records"], st["raw_bytes"]), prefix[u], "stats --json (records, raw bytes) at %d units" % u)
    r = t.run("ls", S)
    t.check(r.rc == 0 and r.out in ls_at, lambda: "ls shows no state the load went through: %r" % r)
    if done:
        recs = units[rng.randrange(done)]
        if recs:
            k, n, d = rng.choice(recs)
            t.check_record(S, k, n, d, "during the load: ")
    r = t.run("verify", S)
    if r.rc != 0:
        verify_problems.append(r.err.decode(errors="replace").strip())
rc = p.wait()
feeder.join()
out.close()
err_f.close()
err = open(errp, "rb").read()
t.eq(rc, 0, "load exit status (stderr %r)" % err[:300])
t.log("%d rounds of readers during the load" % rounds)
t.check(rounds >= 5, "the load was too quick to test readers against it (%d rounds)" % rounds)
t.check(not verify_problems, lambda: "verify run while the load was writing failed %d of %d times, e.g.: %s"
        % (len(verify_problems), rounds, verify_problems[:3]))

t.section("after the load")
t.eq(reported(), NUNITS, "units reported")
t.eq(t.ok("ls", S).out, ls_output(counts), "ls")
for recs in units:
    for k, n, d in recs:
        if rng.random() < 0.15:
            t.check_record(S, k, n, d)
r = t.ok("verify", S)
t.check(r.out.endswith(b": ok\n"), lambda: "verify: %r" % r)
t.finish()
