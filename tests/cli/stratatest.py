"""stratatest.py - helpers shared by the python CLI and crash tests.

Standard library only. A test does:

    t = Test("name")                  # reads the strata binary from argv[1]
    r = t.run("ls", store)            # Result(rc, out, err), bytes
    t.check(cond, "message")          # a failed check is reported and counted
    t.die("message")                  # fatal
    t.finish()                        # exit 1 if any check failed

The temporary directory t.dir is removed at exit (also on failure).
"""
import atexit
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def __repr__(self):
        return "%s -> exit %s, stdout %r, stderr %r" % (
            " ".join(self.argv), self.rc, self.out[:300], self.err[:600])


class Fatal(Exception):
    pass


def _rmtree(path):
    def onerror(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, stat.S_IWUSR | stat.S_IRUSR)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)


class Test:
    def __init__(self, name, argv=None):
        argv = sys.argv if argv is None else argv
        if len(argv) < 2:
            sys.exit("usage: %s /path/to/strata [ARGS...]" % argv[0])
        self.name = name
        self.strata = os.path.abspath(argv[1])
        self.args = argv[2:]
        if not os.access(self.strata, os.X_OK):
            sys.exit("FATAL: %s is not an executable" % self.strata)
        self.dir = tempfile.mkdtemp(prefix="strata-%s." % name)
        atexit.register(_rmtree, self.dir)
        self.fails = 0
        self.checks = 0
        self.section_name = ""
        self.t0 = time.monotonic()

    # ------------------------------------------------------------ reporting
    def section(self, name):
        self.section_name = name
        print("== %s (%.1f s)" % (name, time.monotonic() - self.t0), flush=True)

    def log(self, msg):
        print(msg, flush=True)

    def fail(self, msg):
        self.fails += 1
        print("FAIL [%s]: %s" % (self.section_name, msg), file=sys.stderr, flush=True)
        if self.fails > 50:
            self.die("too many failures")

    def check(self, cond, msg):
        self.checks += 1
        if not cond:
            self.fail(msg() if callable(msg) else msg)
        return bool(cond)

    def eq(self, got, want, what):
        return self.check(got == want, lambda: "%s: got %s, expected %s" % (what, _short(got), _short(want)))

    def readline(self, f, what, timeout=60):
        """A line from f (a child's stdout pipe), or b"" and a failure when
        none comes within timeout seconds: a child that hangs fails its
        check, not the whole test at ctest's timeout."""
        if not select.select([f], [], [], timeout)[0]:
            self.fail("%s: no line within %d s" % (what, timeout))
            return b""
        return f.readline()

    def die(self, msg):
        print("FATAL [%s]: %s" % (self.section_name, msg), file=sys.stderr, flush=True)
        sys.exit(1)

    def finish(self):
        dt = time.monotonic() - self.t0
        if self.fails:
            print("%d of %d check(s) FAILED (%.1f s)" % (self.fails, self.checks, dt), file=sys.stderr)
            sys.exit(1)
        print("all %d checks passed (%.1f s)" % (self.checks, dt))
        sys.exit(0)

    # -------------------------------------------------------------- running
    def run(self, *args, stdin=None, input=None, timeout=600):
        argv = [self.strata] + [a if isinstance(a, (str, bytes)) else str(a) for a in args]
        kw = {}
        if input is not None:
            kw["input"] = input
        else:
            kw["stdin"] = stdin if stdin is not None else subprocess.DEVNULL
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
        return Result([os.fsdecode(a) for a in argv], p.returncode, p.stdout, p.stderr)

    def expect(self, rc, *args, **kw):
        """Run and check the exit status; returns the Result."""
        r = self.run(*args, **kw)
        self.check(r.rc == rc, lambda: "exit %s, expected %s: %r" % (r.rc, rc, r))
        return r

    def ok(self, *args, **kw):
        """Run, expecting exit 0 and an empty stderr."""
        r = self.expect(0, *args, **kw)
        self.check(r.err == b"", lambda: "unexpected stderr: %r" % r)
        return r

    def must(self, *args, **kw):
        """Run; anything but exit 0 is fatal (setup steps)."""
        r = self.run(*args, **kw)
        if r.rc != 0:
            self.die("setup step failed: %r" % r)
        return r

    def get(self, store, key, n=None):
        """Result of `strata get STORE KEY[@N]` (key: bytes)."""
        ref = key if n is None else key + b"@%d" % n
        return self.run("get", store, ref)

    def check_record(self, store, key, n, want, what=""):
        r = self.get(store, key, n)
        good = r.rc == 0 and r.out == want and r.err == b""
        self.check(good, lambda: "%sget %r@%s: %s" % (
            what, key, n, _diff_bytes(r.out, want) if r.rc == 0 else repr(r)))
        return good

    # ------------------------------------------------------- store helpers
    def stats(self, store):
        import json
        r = self.must("stats", store, "--json")
        return json.loads(r.out)

    def units(self, store):
        """Parse `strata log STORE`: list of dicts (unit, time, records, raw, packed, label)."""
        r = self.must("log", store)
        lines = r.out.split(b"\n")
        if lines[0] != b"    unit  time (UTC)            records         raw      packed  label":
            self.die("unexpected log header: %r" % lines[0])
        out = []
        for line in lines[1:]:
            if not line:
                continue
            m = LOG_RE.match(line)
            if not m:
                self.die("cannot parse log line %r" % line)
            out.append({"unit": int(m.group(1)), "time": m.group(2), "records": int(m.group(3)),
                        "raw": m.group(4), "packed": m.group(5), "label": m.group(6)})
        return out

    def log_without_times(self, store):
        r = self.must("log", store)
        return LOG_TIME_RE.sub(rb"\1  TIME  ", r.out)

    def packs(self, store):
        return sorted(os.listdir(os.path.join(store, "packs")))

    def no_stray_packs(self, store):
        stray = [n for n in self.packs(store) if n.startswith("tmp-") or n.endswith(".damaged")]
        self.check(not stray, lambda: "stray files in %s/packs: %s" % (store, stray))

    def pack_layout(self, store, nunits, what=""):
        """Check the files of STORE/packs against docs/FORMAT.md, after an
        open ran recovery: only live packs (no tmp-*, *.damaged or other
        file), each named by its range of units (NNNNNNNNNN.pack for one
        unit, NNNNNNNNNN-NNNNNNNNNN.pack for a repacked range), mode 0444,
        its header and trailer naming the same range; the ranges do not
        overlap and cover units 1..nunits exactly. Returns the packs as
        [(first, last, name, size)] in unit order."""
        packs, bad = [], []
        for name in self.packs(store):
            rng = pack_range(name)
            path = os.path.join(store, "packs", name)
            if rng is None:
                bad.append(name)
                continue
            st = os.stat(path)
            hdr = pack_header_range(path)
            self.check(hdr == rng, lambda: "%s%s: header/trailer range %s, name says %s" % (what, name, hdr, rng))
            self.check(stat.S_IMODE(st.st_mode) == 0o444,
                       lambda: "%s%s: mode %o, expected 0444" % (what, name, stat.S_IMODE(st.st_mode)))
            packs.append((rng[0], rng[1], name, st.st_size))
        self.check(not bad, lambda: "%sfiles in %s/packs that are not live packs: %s" % (what, store, bad))
        packs.sort()
        covered, expect_next, problems = [], 1, []
        for first, last, name, _ in packs:
            if first != expect_next:
                problems.append("%s starts at unit %d, expected %d" % (name, first, expect_next))
            expect_next = max(expect_next, last + 1)
        if expect_next != nunits + 1:
            problems.append("the packs end at unit %d, expected %d" % (expect_next - 1, nunits))
        self.check(not problems, lambda: "%spack ranges do not tile units 1..%d: %s (packs: %s)"
                   % (what, nunits, "; ".join(problems[:5]), " ".join(p[2] for p in packs[:40])))
        return packs

    def cat_key(self, store, key, records, what=""):
        """`strata cat STORE KEY` gives exactly the concatenation of
        `records` (the key's contents, in order) and the key has exactly
        len(records) records."""
        r = self.run("cat", store, key)
        want = b"".join(records)
        return self.check(r.rc == 0 and r.err == b"" and r.out == want, lambda: "%scat %r (%d records): %s" % (
            what, key, len(records), _diff_bytes(r.out, want) if r.rc == 0 else repr(r)))

    def get_stats(self, store, ref, *extra):
        """Run `strata get STORE REF --stats` (expecting exit 0); returns
        (stdout, {bytes_read, groups, bytes_decoded, returned, ratio}) or
        (stdout, None) if the stderr line is not in its documented form."""
        r = self.run("get", store, ref, "--stats", *extra)
        self.check(r.rc == 0, lambda: "get --stats: %r" % r)
        m = GET_STATS_RE.match(r.err)
        self.check(m, lambda: "get --stats: stderr is not one read-cost line: %r" % r)
        if not m:
            return r.out, None
        return r.out, {"bytes_read": int(m.group(1)), "groups": int(m.group(2)),
                       "bytes_decoded": int(m.group(3)), "returned": int(m.group(4)), "ratio": m.group(5).decode()}


LOG_RE = re.compile(rb"^ *(\d+)  (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)  +(\d+)  +(\d+(?:\.\d)? \w+)  +(\d+(?:\.\d)? \w+)  (.*)$")
LOG_TIME_RE = re.compile(rb"(?m)^( *\d+)  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ")


GET_STATS_RE = re.compile(rb"^read (\d+) bytes from packs in (\d+) group\(s\), decoded (\d+) bytes, returned (\d+) bytes "
                          rb"\((\d+\.\d\d) bytes read per byte returned\)\n$")
PACK_NAME_RE = re.compile(r"^(\d{10})(?:-(\d{10}))?\.pack$")


def pack_range(name):
    """(first, last) of a live pack file name, or None for any other name."""
    m = PACK_NAME_RE.match(name)
    if not m:
        return None
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else first
    return (first, last) if 1 <= first <= last else None


def pack_header_range(path):
    """(first, last) from a pack's header, or None if the header and the
    trailer disagree on the last unit (docs/FORMAT.md)."""
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        f.seek(-48, os.SEEK_END)
        trail = f.read(48)
    if len(head) != 64 or head[:8] != b"STRATApk" or len(trail) != 48:
        return None
    last, first = struct.unpack_from("<Q", head, 16)[0], struct.unpack_from("<Q", head, 32)[0]
    return (first, last) if struct.unpack_from("<Q", trail, 24)[0] == last else None


def varint(d, p):
    """(value, next position) of the LEB128 varint at d[p]."""
    v, shift = 0, 0
    while True:
        b = d[p]
        p += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return v, p


def record_dict(key, group, n, offset, ln, size, csum, cpre, base, unit, enc, shared=False):
    """One record of parse_pack's list."""
    return {"key": key, "group": group, "n": n, "offset": offset, "len": ln, "size": size, "sum": csum,
            "cprefix": cpre, "base": base, "unit": unit, "enc": enc, "shared": shared}


def parse_runs(d, p, keys):
    """A version 2 or 3 footer's record runs (docs/FORMAT.md, "Record
    runs"), from the run count at d[p], as parse_pack's record dicts;
    records that share a checksum have it as "sum" and "shared" set."""
    import struct
    records = []
    nruns = struct.unpack_from("<Q", d, p)[0]
    p += 8
    for _ in range(nruns):
        ki, p = varint(d, p)
        unit, p = varint(d, p)
        _, p = varint(d, p)
        gi, p = varint(d, p)
        n, p = varint(d, p)
        count, p = varint(d, p)
        off, p = varint(d, p)
        if d[p] & 64:  # a uniform run: one length, listed by block
            p += 1
            ln, p = varint(d, p)
            blocks, p = varint(d, p)
            i = 0
            for _ in range(blocks):
                k, p = varint(d, p)
                csum = struct.unpack_from("<Q", d, p)[0]
                p += 8
                cpre, p = varint(d, p)
                for _ in range(k):
                    records.append(record_dict(keys[ki], gi, n + i, off, ln, ln, csum, cpre, 0, unit, 0, k > 1))
                    off += ln
                    i += 1
            assert i == count
            continue
        cpre, sharing = 0, []
        for i in range(count):
            flags = d[p]
            p += 1
            ln, p = varint(d, p)
            size = ln
            if flags & 8:
                size, p = varint(d, p)
            csum = None
            if not flags & 32:
                csum = struct.unpack_from("<Q", d, p)[0]
                p += 8
            if flags & 16:
                cpre, p = varint(d, p)
            enc, base = flags & 7, 0
            if enc in (2, 4):
                back, p = varint(d, p)
                base = n + i - back
            records.append(record_dict(keys[ki], gi, n + i, off, ln, size, csum, cpre, base, unit, enc,
                                       bool(flags & 32 or sharing)))
            off += ln
            if flags & 32:
                sharing.append(records[-1])
            else:
                for r in sharing:
                    r["sum"] = csum
                sharing = []
        assert not sharing
    return records


def parse_pack(path):
    """The footer of a pack (docs/FORMAT.md): {first, last, units: [(unit,
    time, label)], groups: [(offset, clen, blen, sum, codec, level)], records:
    [dict(key, group, n, offset, len, size, sum, cprefix, base, unit, enc)]}
    with the records in footer order."""
    import struct
    d = open(path, "rb").read()
    last, first = struct.unpack_from("<Q", d, 16)[0], struct.unpack_from("<Q", d, 32)[0]
    p = struct.unpack_from("<Q", d, len(d) - 48)[0]
    version, nk, ng, nu, nr = struct.unpack_from("<IIIIQ", d, p)
    p += 24
    units, groups, keys, records = [], [], [], []
    for _ in range(nu):
        u, tm, ll = struct.unpack_from("<QQI", d, p)
        units.append((u, tm, d[p + 20:p + 20 + ll]))
        p += 20 + ll
    for _ in range(ng):
        groups.append(struct.unpack_from("<QQQQBb", d, p))
        p += 48
    for _ in range(nk):
        kl = struct.unpack_from("<H", d, p)[0]
        keys.append(d[p + 2:p + 2 + kl])
        p += 2 + kl
    if version == 1:
        for _ in range(nr):
            ki, gi, n, off, ln, size, csum, cpre, base, unit, enc = struct.unpack_from("<IIQQQQQQQQB", d, p)
            records.append(record_dict(keys[ki], gi, n, off, ln, size, csum, cpre, base, unit, enc))
            p += 80
    else:
        records = parse_runs(d, p, keys)
        assert len(records) == nr
    return {"first": first, "last": last, "units": units, "groups": groups, "records": records}


def escape_key(k):
    """The CLI's put_escaped(): C-style escapes for control bytes and backslash."""
    out = bytearray()
    for c in k:
        if c == 0x5c:
            out += b"\\\\"
        elif c == 0x0a:
            out += b"\\n"
        elif c == 0x09:
            out += b"\\t"
        elif c < 0x20 or c == 0x7f:
            out += b"\\x%02x" % c
        else:
            out.append(c)
    return bytes(out)


def ls_output(counts):
    """Expected `strata ls` output for {key bytes: record count}."""
    return b"".join(b"%8d  %s\n" % (counts[k], escape_key(k)) for k in sorted(counts) if counts[k])


def human(n):
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    v, u = float(n), 0
    while v >= 1024 and u < 5:
        v /= 1024
        u += 1
    return "%d B" % n if u == 0 else "%.1f %s" % (v, units[u])


def _short(x):
    s = repr(x)
    return s if len(s) < 400 else s[:400] + "..."


def _diff_bytes(got, want):
    if len(got) != len(want):
        return "got %d bytes, expected %d" % (len(got), len(want))
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return "first difference at byte %d of %d" % (i, len(want))
    return "equal"


class TextSource:
    """Fast deterministic compressible text: slices of a fixed word corpus."""

    def __init__(self, rng, size=1 << 21):
        words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 10)))
                 for _ in range(3000)]
        parts, n = [], 0
        while n < size:
            line = b" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) + b"\n"
            parts.append(line)
            n += len(line)
        self.corpus = b"".join(parts)

    def text(self, rng, n):
        if n <= 0:
            return b""
        out = []
        while n > 0:
            o = rng.randrange(len(self.corpus) - 1)
            k = min(n, len(self.corpus) - o)
            out.append(self.corpus[o:o + k])
            n -= k
        return b"".join(out)

    def edit(self, rng, base, nedits=None):
        """A new version of base: a few inserts, deletes and replacements."""
        b = bytearray(base)
        for _ in range(nedits if nedits is not None else rng.randint(1, 6)):
            pos = rng.randint(0, len(b))
            op = rng.random()
            if op < 0.4:
                b[pos:pos] = self.text(rng, rng.randint(1, 400))
            elif op < 0.7:
                del b[pos:pos + rng.randint(1, 400)]
            else:
                k = rng.randint(1, 64)
                b[pos:pos + k] = rng.randbytes(k)
        return bytes(b)


def stream_of(units):
    """A load stream of [(label or None, [(key, data)])]: each unit's puts,
    then its commit."""
    parts = []
    for label, recs in units:
        for k, d in recs:
            parts += [b"put %d %s\n" % (len(d), k), d, b"\n"]
        parts.append(b"commit\n" if label is None else b"commit " + label + b"\n")
    return b"".join(parts)
