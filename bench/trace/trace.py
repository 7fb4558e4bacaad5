#!/usr/bin/env python3
"""Helpers of bench/trace/run.sh (python3 standard library only).

  trace.py convert DIR [--limit BYTES] STRACE...
                                   turn strace captures (strace -f -ttt -T
                                   -xx -s N -o FILE) into records appended to
                                   DIR/stream.load and DIR/concat.bin, and
                                   stop once the records reach BYTES; the
                                   running totals live in DIR/state.json
  trace.py finish DIR              write the last commit, DIR/info.json
  trace.py raw DIR                 raw record bytes so far (0 if none)
  trace.py summary DIR             one line describing the data set
  trace.py report RESULTS [--md F] print the tables and the targets (and
                                   append them as markdown to F)

Records, all little-endian (struct module formats in EVENT and MMAP):

  events  one per completed syscall, 80 bytes:
          u64 entry time (ns since the epoch), u32 duration (ns, from -T,
          saturated), u32 pid, u32 syscall (FNV-1a 32 of its name),
          u32 flags (bit 0 error, bit 1 was interrupted by another
          process's line, bit 2 has a data record, bits 8..15 argument
          count), i64 return value (-errno on error), u64 args[6]:
          numbers as printed, strings as their length, NULL as 0, anything
          else (flags, structs, arrays) as FNV-1a 32 of its text
  mmaps   one per mmap/munmap/mprotect/mremap/brk, 48 bytes:
          u64 time, u32 pid, u8 op (1 mmap, 2 munmap, 3 mprotect,
          4 brk, 5 mremap), u8 0, u16 prot (1 read, 2 write, 4 exec),
          u64 address (mmap, mremap: the one returned; brk: the new break;
          else the argument), u64 length (brk: 0), u32 MAP_* flags, i32 fd,
          u64 file offset (brk: the break asked for; mremap: the old address)
  data    one per syscall with any string or buffer argument: its buffers
          (read/write payloads, paths, argv, ...) decoded from the -xx hex
          and concatenated, as many bytes as strace printed (-s)
"""
import codecs
import errno
import hashlib
import json
import os
import re
import struct
import sys
from statistics import median

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
from benchlib import human_bytes, human_ns, load_results, render, run_main  # noqa: E402  (bench/benchlib.py)

EVENT = struct.Struct("<QIIIIq6Q")    # 80 bytes
MMAP = struct.Struct("<QIBBHQQIiQ")   # 48 bytes
assert EVENT.size == 80 and MMAP.size == 48

MASK64 = (1 << 64) - 1
LINE = re.compile(rb"(\d+) +(\d+)\.(\d+) (.*)", re.S)
HEXSTR = re.compile(rb'"((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?')
NUMBER = re.compile(rb"-?(?:0x[0-9a-f]+|[0-9]+)")
RESUMED = re.compile(rb"<\.\.\. ([a-z0-9_]+) resumed>(.*)", re.S)
UNFINISHED = b"<unfinished ...>"
MM_OPS = {b"mmap": 1, b"munmap": 2, b"mprotect": 3, b"brk": 4, b"mremap": 5}
PROT = {b"PROT_READ": 1, b"PROT_WRITE": 2, b"PROT_EXEC": 4}
MAPF = {b"MAP_SHARED": 0x1, b"MAP_PRIVATE": 0x2, b"MAP_SHARED_VALIDATE": 0x3,
        b"MAP_FIXED": 0x10, b"MAP_ANONYMOUS": 0x20, b"MAP_GROWSDOWN": 0x100,
        b"MAP_DENYWRITE": 0x800, b"MAP_EXECUTABLE": 0x1000, b"MAP_LOCKED": 0x2000,
        b"MAP_NORESERVE": 0x4000, b"MAP_POPULATE": 0x8000, b"MAP_NONBLOCK": 0x10000,
        b"MAP_STACK": 0x20000, b"MAP_HUGETLB": 0x40000, b"MAP_FIXED_NOREPLACE": 0x100000}
KEYS = ("events", "data", "mmaps")


def fnv32(b):
    h = 0x811C9DC5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


_hash_cache = {}


def hashed(b):
    h = _hash_cache.get(b)
    if h is None:
        h = fnv32(b)
        if len(_hash_cache) < 200000:
            _hash_cache[b] = h
    return h


def split_args(text):
    """Split an argument list at its top-level commas (strings are already
    replaced by short placeholders, so no quote holds a comma)."""
    if not any(c in text for c in (b"(", b"[", b"{")):
        return [a.strip() for a in text.split(b",")] if text.strip() else []
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in b"([{":
            depth += 1
        elif c in b")]}":
            depth -= 1
        elif c == 0x2C and depth == 0:  # ','
            out.append(text[start:i].strip())
            start = i + 1
    last = text[start:].strip()
    if last or out:
        out.append(last)
    return out


def number(tok):
    m = NUMBER.match(tok)
    if not m:
        return None
    s = m.group(0)
    neg = s.startswith(b"-")
    if neg:
        s = s[1:]
    if s.startswith(b"0x"):
        v = int(s, 16)
    elif len(s) > 1 and s.startswith(b"0"):
        v = int(s, 8) if all(48 <= c <= 55 for c in s) else int(s)
    else:
        v = int(s)
    return (-v if neg else v) & MASK64


def arg_word(tok):
    if tok.startswith(b'"'):
        return int(tok[1:-1] or 0)
    if tok == b"NULL":
        return 0
    v = number(tok)
    return v if v is not None else hashed(tok)


def bits(tok, table):
    v = 0
    for name in tok.split(b"|"):
        v |= table.get(name.strip(), 0)
    return v


def parse_ret(text):
    """'= 3', '= -1 ENOENT (...)', '= 0x55..', '= ?' -> (value, error)."""
    f = text.split(None, 2)
    if not f or f[0] == b"?":
        return 0, False
    v = number(f[0])
    if v is None:
        return 0, False
    if f[0] == b"-1" and len(f) > 1 and f[1].startswith(b"E"):
        code = getattr(errno, f[1].decode(), 512)
        return (-code) & MASK64, True
    return v, False


class Writer:
    def __init__(self, d):
        self.d = d
        sp = os.path.join(d, "state.json")
        self.st = json.load(open(sp)) if os.path.exists(sp) else {
            "commit_bytes": 64 << 20, "since_commit": 0, "commits": 0, "raw": 0,
            "records": {k: 0 for k in KEYS}, "bytes": {k: 0 for k in KEYS},
            "syscalls": 0, "captures": []}
        self.stream = open(os.path.join(d, "stream.load"), "ab", buffering=1 << 20)
        self.concat = open(os.path.join(d, "concat.bin"), "ab", buffering=1 << 20)

    def put(self, key, payload):
        st = self.st
        self.stream.write(b"put %d %s\n" % (len(payload), key.encode()))
        self.stream.write(payload)
        self.stream.write(b"\n")
        self.concat.write(payload)
        st["records"][key] += 1
        st["bytes"][key] += len(payload)
        st["raw"] += len(payload)
        st["since_commit"] += len(payload)
        if st["since_commit"] >= st["commit_bytes"]:
            self.commit()

    def commit(self):
        st = self.st
        st["commits"] += 1
        self.stream.write(b"commit trace-%03d\n" % st["commits"])
        st["since_commit"] = 0

    def close(self):
        self.stream.close()
        self.concat.close()
        with open(os.path.join(self.d, "state.json.tmp"), "w") as f:
            json.dump(self.st, f, indent=1)
        os.replace(os.path.join(self.d, "state.json.tmp"), os.path.join(self.d, "state.json"))


def convert_one(w, path, limit):
    pending = {}  # pid -> (ts, name, args text before the interruption)
    n = 0
    with open(path, "rb") as f:
        for line in f:
            m = LINE.match(line.rstrip(b"\n"))
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(4)
            ts = int(m.group(2)) * 1000000000 + int(m.group(3).ljust(9, b"0")[:9])
            if rest.startswith((b"---", b"+++")):
                continue  # signals, exits: not syscalls
            resumed = False
            if rest.startswith(b"<... "):
                r = RESUMED.match(rest)
                if not r:
                    continue
                name, tail = r.group(1), r.group(2)
                p = pending.pop(pid, None)
                if p is not None and p[1] == name:
                    ts, head = p[0], p[2]
                else:
                    head = b""
                if tail.endswith(UNFINISHED):
                    continue  # interrupted again (killed): nothing completes
                body = head + tail
                resumed = True
            else:
                i = rest.find(b"(")
                if i <= 0:
                    continue
                name = rest[:i]
                if rest.endswith(UNFINISHED):
                    pending[pid] = (ts, name, rest[i + 1:-len(UNFINISHED)])
                    continue
                body = rest[i + 1:]
            # body: ARGS) = RET [ERRNO (text)] [<duration>]
            dur = 0
            if body.endswith(b">"):
                j = body.rfind(b" <")
                if j > 0:
                    try:
                        dur = min(int(float(body[j + 2:-1]) * 1e9), 0xFFFFFFFF)
                    except ValueError:
                        pass
                    body = body[:j]
            j = body.rfind(b" = ")
            if j < 0:
                continue
            args, ret_text = body[:j].rstrip(), body[j + 3:]
            if args.endswith(b")"):
                args = args[:-1]
            bufs = []

            def take(mo):
                b = codecs.escape_decode(mo.group(1))[0] if mo.group(1) else b""
                bufs.append(b)
                return b'"%d"' % len(b)
            if b'"' in args:
                args = HEXSTR.sub(take, args)
            toks = split_args(args)
            words = [arg_word(t) for t in toks[:6]]
            words += [0] * (6 - len(words))
            ret, err = parse_ret(ret_text)
            data = b"".join(bufs)
            flags = (1 if err else 0) | (2 if resumed else 0) | (4 if data else 0) | (min(len(toks), 255) << 8)
            w.put("events", EVENT.pack(ts & MASK64, dur, pid, hashed(name), flags,
                                       ret - (1 << 64) if ret >> 63 else ret, *words))
            op = MM_OPS.get(name)
            if op is not None:
                a = (words + [0] * 6)
                fd = 0
                if op == 1:  # mmap(addr, len, prot, flags, fd, off)
                    rec = (ret, a[1], bits(toks[2], PROT) if len(toks) > 2 else 0,
                           bits(toks[3], MAPF) if len(toks) > 3 else 0, a[4], a[5])
                elif op == 4:  # brk(addr)
                    rec = (ret, 0, 0, 0, 0, a[0])
                elif op == 5:  # mremap(old, oldlen, newlen, flags, ...)
                    rec = (ret, a[2], 0, hashed(toks[3]) if len(toks) > 3 else 0, 0, a[0])
                else:  # munmap(addr, len), mprotect(addr, len, prot)
                    rec = (a[0], a[1], bits(toks[2], PROT) if op == 3 and len(toks) > 2 else 0, 0, 0, 0)
                addr, length, prot, mflags, fd, off = rec
                fd = fd - (1 << 64) if fd >> 63 else fd
                fd = max(min(fd, 0x7FFFFFFF), -0x80000000)
                w.put("mmaps", MMAP.pack(ts & MASK64, pid, op, 0, prot, addr & MASK64,
                                         length & MASK64, mflags & 0xFFFFFFFF, fd, off & MASK64))
            if data:
                w.put("data", data)
            n += 1
            if limit and w.st["raw"] >= limit:
                break  # enough: the rest of this capture is left out
    return n


def cmd_convert(d, *paths):
    limit = 0
    if paths and paths[0] == "--limit":
        limit, paths = int(paths[1]), paths[2:]
    os.makedirs(d, exist_ok=True)
    w = Writer(d)
    try:
        for p in paths:
            if limit and w.st["raw"] >= limit:
                break
            n = convert_one(w, p, limit)
            w.st["syscalls"] += n
            w.st["captures"].append({"name": os.path.basename(p), "syscalls": n,
                                     "strace_bytes": os.path.getsize(p)})
            print(f"trace.py: {os.path.basename(p)}: {n} syscalls, raw so far "
                  f"{w.st['raw'] / 2**20:.1f} MiB", file=sys.stderr)
    finally:
        w.close()


def key_digests(stream):
    """SHA-256 of each key's records concatenated in order (what `strata cat
    STORE KEY` prints), read back from the stream."""
    h = {}
    with open(stream, "rb") as f:
        for line in f:
            if line.startswith(b"put "):
                _, n, key = line.rstrip(b"\n").split(b" ", 2)
                key = key.decode()
                if key not in h:
                    h[key] = hashlib.sha256()
                h[key].update(f.read(int(n)))
                f.read(1)
    return {k: v.hexdigest() for k, v in h.items()}


def cmd_finish(d):
    w = Writer(d)
    if w.st["since_commit"] > 0:
        w.commit()
    w.close()
    st = w.st
    st["stream_bytes"] = os.path.getsize(os.path.join(d, "stream.load"))
    st["sha256"] = key_digests(os.path.join(d, "stream.load"))
    with open(os.path.join(d, "info.json"), "w") as f:
        json.dump(st, f, indent=1)


def cmd_raw(d):
    p = os.path.join(d, "state.json")
    print(json.load(open(p))["raw"] if os.path.exists(p) else 0)


def cmd_summary(d):
    i = json.load(open(os.path.join(d, "info.json")))
    caps = {}
    for c in i["captures"]:
        kind = c["name"].split("-", 2)[-1].rsplit(".", 1)[0]
        caps[kind] = caps.get(kind, 0) + 1
    parts = ", ".join(f"{k} {i['records'][k]} records {i['bytes'][k] / 2**20:.1f} MiB"
                      for k in KEYS)
    print(f"{i['syscalls']} syscalls from {len(i['captures'])} strace captures "
          f"({', '.join(f'{k} x{v}' for k, v in caps.items())}); {parts}; raw "
          f"{i['raw']} bytes ({i['raw'] / 2**20:.1f} MiB) in {i['commits']} units; "
          f"stream {i['stream_bytes'] / 2**20:.1f} MiB")


# ---------------------------------------------------------------- report

def cmd_report(results, md=None):
    """RESULTS: lines "row<TAB>name<TAB>value", in order. Row _info: raw,
    desc, queue_mb, threads, has_threads, pair_threads; rows "_put N":
    putbench's output with N workers; rows "_pair N": turn N of the head to
    head (strata_load_ns, zstd_ns, strata_replay_ns, zstd_d_ns); every other row is a line of the main table (id, wall_s,
    wall_runs, rss_kb, stored, packs, replay_s, replay_runs, note, cpu: each
    run's "reading coding writing" CPU seconds, runs separated by ";")."""
    order, data = load_results(results)
    info = data.get("_info", {})
    raw = float(info.get("raw", 0))
    queue = int(info.get("queue_mb", 0)) << 20
    byid = {data[r]["id"]: data[r] for r in order if "id" in data[r]}

    def runs(n):
        return "" if not n else " (1 run)" if n == "1" else f" (median of {n})"

    def cpu(d):
        """Median CPU seconds (reading, coding, writing) over a row's runs."""
        rs = [[float(x) for x in r.split()] for r in d.get("cpu", "").split(";") if r.strip()]
        return tuple(median([r[i] for r in rs]) for i in range(3)) if rs else None

    # the main table
    head = ["codec", "wall", "MB/s", "stored", "ratio", "ratio, packs only",
            "replay", "replay MB/s", "peak RSS", "CPU s: read / code / write"]
    rows, notes = [], []
    for row in order:
        if row.startswith("_"):
            continue
        d = data[row]
        wall, stored, rep, packs = (d.get(k) for k in ("wall_s", "stored", "replay_s", "packs"))
        rows.append([
            row,
            f"{float(wall):.2f} s{runs(d.get('wall_runs'))}" if wall else "n/a",
            f"{raw / 1e6 / float(wall):.1f}" if wall and float(wall) > 0 else "n/a",
            human_bytes(stored) if stored else "n/a",
            f"{raw / float(stored):.2f}" if stored else "n/a",
            f"{raw / float(packs):.2f}" if packs else "",
            f"{float(rep):.2f} s{runs(d.get('replay_runs'))}" if rep else "n/a",
            f"{raw / 1e6 / float(rep):.0f}" if rep and float(rep) > 0 else "n/a",
            human_bytes(float(d["rss_kb"]) * 1024) if d.get("rss_kb") else "n/a",
            " / ".join(f"{x:.2f}" for x in (cpu(d) or ()))])
        if d.get("note"):
            notes.append(f"{row}: {d['note']}")
    t1, m1 = render(head, rows, right=set(range(1, len(head))))

    # the producer's side
    head2 = ["workers", "wall", "in commit", "MB/s", "puts", "CPU/put thread", "CPU/put process",
             "put p50", "put p99", "put p99.9", "put max", "blocked puts",
             "blocked p50 / max", "peak RSS", "queue cap + 64 MiB", "in flight peak"]
    rows2, puts = [], {}
    for row in order:
        if not row.startswith("_put "):
            continue
        d = {k: float(v) for k, v in data[row].items()}
        t = row.split()[1]
        puts[t] = d
        n = d["puts"] or 1
        cap = d.get("queue_bytes") or queue
        rows2.append([
            t, human_ns(d["wall_ns"]), human_ns(d["commit_ns"]),
            f"{d['bytes'] * 1e3 / d['wall_ns']:.1f}" if d["wall_ns"] else "n/a",
            f"{d['puts']:.0f}", human_ns(d["thread_cpu_ns"] / n), human_ns(d["process_cpu_ns"] / n),
            human_ns(d["put_ns_p50"]), human_ns(d["put_ns_p99"]), human_ns(d["put_ns_p999"]),
            human_ns(d["put_ns_max"]), f"{d['blocked_puts']:.0f}",
            f"{human_ns(d['blocked_ns_p50'])} / {human_ns(d['blocked_ns_max'])}" if d["blocked_puts"] else "-",
            human_bytes(d["maxrss_kb"] * 1024), human_bytes(cap + (64 << 20)),
            human_bytes(d["inflight_peak"]) if "inflight_peak" in d else "n/a"])
    t2, m2 = render(head2, rows2, right=set(range(1, len(head2))))
    pipeline = all(d.get("pipeline") == 1 for d in puts.values())

    # the targets, as ratios
    tl = []

    def ratio_line(what, num, den, target, fmt="{:.2f}x"):
        if num is None or den is None or den == 0:
            tl.append(f"{what}: n/a")
            return
        r = num / den
        met = "met" if r >= target else "NOT met"
        tl.append(f"{what}: {fmt.format(r)} (target >= {target}x: {met})")

    def mbps(d):
        return raw / float(d["wall_s"]) if d and d.get("wall_s") else None

    ths = info.get("threads", "1 2").split()
    top_t = ths[-1] if info.get("has_threads") == "1" else "0"
    lo_t = ths[0] if info.get("has_threads") == "1" else "0"
    st = byid.get(f"strata:trace:{top_t}")
    st1 = byid.get(f"strata:trace:{lo_t}")
    z3, zl = byid.get("zstd"), byid.get("zstd-long")
    # Timed in turns, when the run did: the median of the turns' ratios.
    pairs = [{k: float(v) for k, v in data[r].items()} for r in order if r.startswith("_pair ")]

    def paired(what, num, den, target):
        rs = sorted(p[num] / p[den] for p in pairs if p.get(den))
        if not rs:
            return False
        m = rs[len(rs) // 2] if len(rs) % 2 else (rs[len(rs) // 2 - 1] + rs[len(rs) // 2]) / 2
        met = "met" if m >= target else "NOT met"
        tl.append(f"{what}: {m:.2f}x, the median of {len(rs)} turns that time both one after the other "
                  f"(the turns' ratios {', '.join(f'{r:.2f}' for r in rs)}; target >= {target}x: {met})")
        return True

    pt = info.get("pair_threads", top_t)
    if not paired(f"ingest, strata --profile trace with {pt} threads vs zstd -3 -T2 (MB/s)",
                  "zstd_ns", "strata_load_ns", 0.9):
        ratio_line(f"ingest, strata --profile trace with {top_t} threads vs zstd -3 -T2 (MB/s)",
                   mbps(st), mbps(z3), 0.9)
    ratio_line("compression ratio, strata --profile trace (whole store) vs zstd -3 --long=27",
               float(zl["stored"]) if zl else None, float(st["stored"]) if st else None, 1)
    if st and st.get("packs") and zl:
        ratio_line("compression ratio, strata --profile trace (packs only, no catalog) vs zstd -3 --long=27",
                   float(zl["stored"]), float(st["packs"]), 1)
    if info.get("has_threads") == "1" and st1 is not st:
        ratio_line(f"speed-up of strata load, {top_t} vs {lo_t} threads (trace profile)",
                   float(st1["wall_s"]) if st1 else None, float(st["wall_s"]) if st else None, 1.7)
        c1, cores = cpu(st1) if st1 else None, int(info.get("cores", 0))
        if c1 and cores and st1.get("wall_s"):
            # The same work with more workers takes at least the CPU of all
            # threads spread over the cores, and no less than the reading
            # or the writing thread alone, nor a worker's share of coding.
            r, c, w = c1
            n, wall1 = int(top_t), float(st1["wall_s"])
            least = max((r + c + w) / cores, r, w, c / n)
            tl.append(f"bound on that speed-up from the CPU of the {lo_t}-thread loads (medians: reading {r:.2f} s, "
                      f"coding {c:.2f} s, writing {w:.2f} s): the same CPU with {n} workers on {cores} cores "
                      f"takes at least {least:.2f} s against the {wall1:.2f} s measured, at most "
                      f"{wall1 / least:.2f}x faster")
    else:
        tl.append("speed-up of strata load with 2 threads: n/a (this strata load has no --threads)")
    if pipeline and lo_t in puts and top_t in puts and lo_t != top_t:
        ratio_line(f"speed-up of putbench, {top_t} vs {lo_t} workers (wall)",
                   puts[lo_t]["wall_ns"], puts[top_t]["wall_ns"], 1.7)
    for t, d in puts.items():
        p99 = d["put_ns_p99"]
        tl.append(f"put p99 while the queue has room, putbench with {t} worker{'' if t == '1' else 's'}: {human_ns(p99)} "
                  f"(target < 20 µs: {'met' if p99 < 20000 else 'NOT met'}; "
                  f"{d['blocked_puts']:.0f} of {d['puts']:.0f} puts blocked)")
        cap = (d.get("queue_bytes") or queue) + (64 << 20)
        rss = d["maxrss_kb"] * 1024
        tl.append(f"peak RSS, putbench with {t} worker{'' if t == '1' else 's'}: {human_bytes(rss)} = {rss / cap:.2f}x the queue cap "
                  f"+ 64 MiB ({human_bytes(cap)}; target < 1x: {'met' if rss < cap else 'NOT met'})")
    for row in order:
        d = data[row]
        if d.get("id", "").startswith("strata:") and d.get("rss_kb") and info.get("has_threads") == "1":
            cap = queue + (64 << 20)
            rss = float(d["rss_kb"]) * 1024
            tl.append(f"strata load peak RSS, {row}: {human_bytes(rss)} "
                      f"({'under' if rss < cap else 'OVER'} the queue cap + 64 MiB)")
    if not paired("replay, zstd -d time (of the zstd -3 -T2 archive) vs strata cat of every key (trace profile)",
                  "zstd_d_ns", "strata_replay_ns", 1):
        ratio_line("replay, zstd -d time (of the zstd -3 -T2 archive) vs strata cat of every key (trace profile)",
                   float(z3["replay_s"]) if z3 else None, float(st["replay_s"]) if st else None, 1)
    if not pipeline:
        tl.append("putbench was built without the pipeline API (strata_pipeline_set / "
                  "strata_pipeline_stats_get missing): no queue, no blocked-put accounting")

    out = ["strata load and `strata cat` against command-line codecs, on the same "
           f"{raw / 1e6:.1f} MB of records (strata loads stream.load; the codecs "
           "compress concat.bin, the records' bytes concatenated without the stream's "
           "put/commit lines):", ""] + t1
    if notes:
        out += [""] + notes
    out += ["", f"putbench (the producer's side; trace profile, queue cap {queue >> 20} MiB; "
            "one run per worker count; CPU/put thread = getrusage(RUSAGE_THREAD) of the "
            "producing thread over puts, process = RUSAGE_SELF over puts; latencies over "
            "puts that did not block):", ""] + t2
    out += ["", "Targets, as ratios:"] + [f"* {x}" for x in tl]
    print("\n".join(out))
    if md:
        with open(md, "a") as f:
            f.write("\n".join(m1) + "\n\n")
            for n in notes:
                f.write(f"* {n}\n")
            f.write(f"\nputbench, queue cap {queue >> 20} MiB (CPU/put: producing thread, "
                    "RUSAGE_THREAD, and whole process, RUSAGE_SELF, over puts):\n\n")
            f.write("\n".join(m2) + "\n\nTargets, as ratios:\n\n")
            for x in tl:
                f.write(f"* {x}\n")
            f.write("\n")


def main():
    run_main(__doc__, {"convert": cmd_convert, "finish": cmd_finish, "raw": cmd_raw,
                       "summary": cmd_summary, "report": cmd_report}, md_command="report")


if __name__ == "__main__":
    main()
