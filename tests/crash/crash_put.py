#!/usr/bin/env python3
"""crash_put.py STRATA [ATTEMPTS] - `strata put` of a large file (4-12 MB:
mostly text, each a few edits away from the previous one, some random
binary) killed with SIGKILL 5-200 ms after it starts, in a loop. The input
comes from a file argument (mapped) or from standard input, in turn. Each
attempt has its own seed (printed). A fresh store every 10 attempts.

After each attempt the crashed store is first opened by, in turn: verify,
a reader (ls), a writer (a put of another key), or the put of the next
attempt (whose checks then cover both attempts). Then:
  * `strata verify` passes; no tmp-*.pack or *.damaged file is left
  * the new records of the key are, byte for byte, the files of the
    attempts, in order: every put that exited 0 (and printed "stored big@N
    in unit U" with the right N and U) and any of the killed ones; the
    newest earlier record and a random earlier one still read back
  * one past the last record does not exist; stats --json counts match
"""
import os
import random
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from stratatest import Test, TextSource  # noqa: E402

t = Test("crash_put")
ATTEMPTS = int(t.args[0]) if t.args else 40
FRESH_EVERY = 10
BASE_SEED = 9000
text = TextSource(random.Random(2), 1 << 22)
base_text = text.text(random.Random(3), 12 << 20)


def content(seed):
    """The file of attempt `seed`, deterministic."""
    r = random.Random(seed * 7919)
    n = r.randint(4 << 20, 12 << 20)
    if r.random() < 0.2:
        return r.randbytes(n)
    start = r.randrange(0, len(base_text) - n)
    return text.edit(r, base_text[start:start + n], r.randint(1, 20))


path = os.path.join(t.dir, "input")
summary = {"killed": 0, "completed": 0, "stored_when_killed": 0}
S = None
pending = []                 # attempts not checked yet: (attempt, seed, exit status, stdout)
for a in range(ATTEMPTS):
    seed = BASE_SEED + a
    rng = random.Random(seed)
    delay = rng.uniform(0.005, 0.2)
    via_stdin = a % 2 == 1
    first = ("verify", "reader", "writer", "next put")[a % 4]
    if a % FRESH_EVERY == 0:
        S = os.path.join(t.dir, "store%d" % a)
        t.must("init", S)
        stored = []          # seeds of the records of key 'big', in order
        others = 0           # records of key 'other'
        units = 0
        raw = 0
    t.section("attempt %d: seed %d, %s, kill after %.1f ms, %s first"
              % (a, seed, "stdin" if via_stdin else "file", delay * 1000, first))
    data = content(seed)
    with open(path, "wb") as f:
        f.write(data)
    argv = [t.strata, "put", S, "big"] + (["-"] if via_stdin else [path])
    with open(path, "rb") as fin, open(os.path.join(t.dir, "put.out"), "wb") as out, \
            open(os.path.join(t.dir, "put.err"), "wb") as err:
        start = time.monotonic()
        p = subprocess.Popen(argv, stdin=fin if via_stdin else subprocess.DEVNULL, stdout=out, stderr=err)
        time.sleep(max(0.0, delay - (time.monotonic() - start)))
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
    out = open(os.path.join(t.dir, "put.out"), "rb").read()
    if rc == 0:
        summary["completed"] += 1
    elif rc == -signal.SIGKILL:
        summary["killed"] += 1
    else:
        t.die("put failed by itself (exit %s): %r" % (rc, open(os.path.join(t.dir, "put.err"), "rb").read()[:500]))
    t.log("put of %d bytes %s" % (len(data), "finished" if rc == 0 else "killed"))
    pending.append((a, seed, rc, out))
    if first == "next put" and a + 1 < ATTEMPTS and (a + 1) % FRESH_EVERY != 0:
        t.log("checks deferred: the next put is the first open of the crashed store")
        continue

    if first == "writer":
        r = t.ok("put", S, "other", input=b"other %d" % a)
        t.check(re.match(rb"^stored other@%d in unit \d+\n$" % (others + 1), r.out), lambda: "put after a crash: %r" % r)
    elif first == "reader":
        t.ok("ls", S)
    r = t.ok("verify", S)
    t.check(r.out.endswith(b": ok\n"), lambda: "verify: %r" % r)
    t.no_stray_packs(S)

    r = t.ok("ls", S)
    mm = re.search(rb"(?m)^ +(\d+)  big$", r.out)
    count = int(mm.group(1)) if mm else 0
    t.check(len(stored) <= count <= len(stored) + len(pending),
            lambda: "key big has %d records, expected %d..%d" % (count, len(stored), len(stored) + len(pending)))
    # match the new records with the attempts, in order: a put that
    # finished must be there, a killed one may be
    i = 0
    for n in range(len(stored) + 1, count + 1):
        r = t.get(S, b"big", n)
        if not t.check(r.rc == 0, lambda: "get big@%d: %r" % (n, r)):
            break
        while i < len(pending) and content(pending[i][1]) != r.out:
            t.check(pending[i][2] != 0, "attempt %d finished but its record is not big@%d" % (pending[i][0], n))
            i += 1
        if not t.check(i < len(pending), "big@%d (%d bytes) is none of the attempted files" % (n, len(r.out))):
            break
        pa, pseed, prc, pout = pending[i]
        if prc == 0:
            t.eq(pout, b"stored big@%d in unit %d\n" % (n, units + 1), "output of the put of attempt %d" % pa)
        else:
            summary["stored_when_killed"] += 1
        t.log("big@%d is the file of attempt %d" % (n, pa))
        stored.append(pseed)
        units += 1
        raw += len(r.out)
        i += 1
    for pa, pseed, prc, pout in pending[i:]:
        t.check(prc != 0, "attempt %d finished (%r) but its record is missing" % (pa, pout))
    pending = []
    if first == "writer":
        others += 1
        units += 1
        raw += len(b"other %d" % a)
    if len(stored) >= 2:
        t.check_record(S, b"big", len(stored) - 1, content(stored[-2]), "the previous record: ")
    if len(stored) >= 3:
        n = rng.randint(1, len(stored) - 2)
        t.check_record(S, b"big", n, content(stored[n - 1]), "an earlier record: ")
    r = t.get(S, b"big", count + 1)
    t.check(r.rc == 1 and r.out == b"", lambda: "get big@%d (one past the end): %r" % (count + 1, r))
    st = t.stats(S)
    t.eq((st["records"], st["units"], st["raw_bytes"]), (len(stored) + others, units, raw),
         "stats --json (records, units, raw bytes)")

t.log("summary: %(killed)d puts killed (%(stored_when_killed)d of them stored anyway), %(completed)d finished" % summary)
t.check(summary["killed"] >= ATTEMPTS // 5, "fewer than a fifth of the puts were killed: the files are too small")
t.finish()
