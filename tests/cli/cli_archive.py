#!/usr/bin/env python3
"""cli_archive.py STRATA - the archive commands: `strata import`, `strata
export`, `strata packs`, `strata fork`, `strata verify --since` and
`strata rebuild` of a directory holding only packs/.

The tree: nested directories, an empty directory (a space in its name),
text files, random binary, an empty file, a 3 MB random file (chunked: the
store is made with --profile archive, which chunks records of 512 KiB and
up), unusual names (a space, UTF-8, a leading dash, a tab), modes 600, 755,
444, 640 and 4750, directories of modes 0700, 0555 and 1777, mtimes with
nanoseconds on everything (files, directories, links), one before 1970 and
one past 2^32 s, a symlink to a file, one to a directory, a dangling one,
and a fifo. Each tree imported is snapshotted in Python (per path: type,
permission bits, mtime_ns (lstat: links too), content or link target) and
every export is compared with the snapshot of its unit.

  import        unit 1 (--label day1): the summary line is exactly "unit 1: F
                files (SIZE), C changed (SIZE), D directories, L links, 1
                skipped (not a file, directory or link) in T s" (the fifo),
                and its pack holds chunks; unit 2 after edits (a 64-byte
                same-size edit inside the big file with a new mtime, other
                edits, added and deleted files, a file replaced by a
                directory, modes changed without touching the content, a
                link retargeted): changed = exactly the new files and those
                whose content changed, chunked files read again (size,
                mtime, ctime or inode moved) included; unit 3 of the unchanged tree:
                "0 changed (0 B)" and `strata log` shows it with 0 records;
                each unit's log records = its changed files, its label as
                given; an edit keeping size and mtime is caught (ctime);
                --reread reads every file and stores none whose content is
                the same;
                a load of a record of the reserved tree key is refused
  export        every unit into a fresh directory (missing, or existing and
                empty) equals its snapshot; the line "unit N: F files (SIZE),
                D directories, L links into DIR"; without --unit: the latest
                import (even when a unit of plain puts follows it); into a
                non-empty directory: exit 1, "DIR is not empty", nothing
                written; onto a file: exit 1; --unit of a unit of plain puts:
                exit 1, "unit N holds no imported tree"; of a unit past
                the last: exit 1, "there is no unit N (the store's last
                unit is L)";
                --unit 0 / x / -1 / '': exit 2, DIR not created; get of the
                chunked file's records gives them back
  get           a chunked file's record, streamed, to a file (-o, --stats
                counts its bytes) and to standard output equals the file; a
                missing record: exit 1, "there is no record N", an existing
                -o FILE left as it was
  sizes         (`strata packs -v`) the pack of unit 2 (the big file edited
                in place) is under 5% of the big file, that of the unchanged
                unit 3 tiny; a unit adding a copy of the (edited) big file
                under a second name is also under 5%; 3000 small files:
                an import with none or one changed costs under 2000 bytes
  ls            exactly the files' keys with their record counts (no
                reserved key, nothing starting with a NUL byte)
  packs         every pack as "STORE/packs/NAME" (STORE as given: absolute
                or relative), oldest first; -v adds first unit, last unit
                and size tab-separated (the files' sizes); --since 2 only the
                packs holding units 2 and later; after a repack the repacked
                pack, then newer ones; --since 0: exit 2
  offsite copy  (rebuild --profile archive: the archive profile's strata.conf;
                an option out of range: exit 2, the directory untouched; a
                store with a strata.conf: exit 2, "has its options
                already", nothing changed)
                only the packs/ of the store copied into a new directory:
                rebuild says "rebuilt the catalog of D: 5 units", writes the
                default strata.conf, `strata log` and ls are the source's,
                every unit exports equal to its snapshot, an import with
                the default options (a 3 MB file no longer chunked, its
                previous version a chunk list) works, and so do repack, packs, verify --since and
                exports after it; a store made with --profile archive given
                the packs of units 1..2: rebuilt (its strata.conf kept), a
                further import is small (the copied history is used) and
                every unit exports right
  fork          "forked S into F" (F missing, or existing and empty); F's
                packs are hard links of S's (same inode), its strata.conf
                and log S's; F exports units 1..3 as S; an import into F with
                --reread after a small edit of the big file is under 5% of
                the big file (F has S's chunk index); S's log and packs/ are
                unchanged and S has no unit 4; a repack of F leaves S's packs
                and both stores restore every unit; into a non-empty
                directory: exit 1, "NEW is not empty"
  verify        "checked N packs, G groups, R records (SIZE): ok" for all,
                --since 2 (N = the packs `strata packs --since 2` lists,
                fewer than without) and --since 5 (1 pack); on a copy with
                one byte flipped in the middle of a chunk group of the pack
                of unit 1: verify exits 1 with "P problem(s)", the group's
                checksum mismatch reported first; --since 2 too, through
                the big file of unit 2 (its chunk lies in pack 1); --since 5
                stays ok; export --unit 1 exits 1 naming a checksum /
                corruption and claims no success; with the pack of unit 4
                damaged instead, units 1..3 still export right (an export
                reads only what its tree needs)
  the lock      while `strata load` holds the writer lock: import and fork
                exit 1 ("lock is held by another writer"), export works;
                once it ends fork works
  errors        import of a missing DIR, of a regular file: exit 1, a
                message, `strata log` and packs/ unchanged; a tree holding a
                file unreadable by permission (as root: strata run as uid
                65534 in a directory it owns): exit 1 naming the file, no
                unit, no pack (no tmp pack) added; once readable the import
                works and exports right
"""
import os
import random
import re
import shutil
import stat
import subprocess
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stratatest import Test, ls_output, human, parse_pack, TextSource  # noqa: E402

t = Test("cli_archive")
D = t.dir
SEED = 20240611
rng = random.Random(SEED)
text = TextSource(random.Random(SEED + 1), 1 << 20)
BIG = 3000000 + 4321
T0 = 1700000000 * 10**9 + 123456789      # base mtime, with nanoseconds
CHUNK_KEY = b"\x00chunk"


def j(*parts):
    return os.path.join(*[os.fsencode(p) for p in parts])


# ----------------------------------------------------------------- helpers
def snapshot(root):
    """{relative path (bytes): entry}: ("file", mode, mtime_ns, content),
    ("dir", mode, mtime_ns), ("link", mtime_ns, target) or ("other",)."""
    root = os.fsencode(root)
    out = {}

    def walk(rel):
        for name in sorted(os.listdir(os.path.join(root, rel) if rel else root)):
            p = rel + b"/" + name if rel else name
            full = os.path.join(root, p)
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                out[p] = ("dir", mode, st.st_mtime_ns)
                walk(p)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    out[p] = ("file", mode, st.st_mtime_ns, f.read())
            elif stat.S_ISLNK(st.st_mode):
                out[p] = ("link", st.st_mtime_ns, os.readlink(full))
            else:
                out[p] = ("other",)
    walk(b"")
    return out


def stored(snap):
    """What an export of snap must give: everything but the skipped."""
    return {p: e for p, e in snap.items() if e[0] != "other"}


def describe(e):
    if e is None:
        return "absent"
    if e[0] == "file":
        return "file mode %o mtime_ns %d, %d bytes" % (e[1], e[2], len(e[3]))
    if e[0] == "dir":
        return "dir mode %o mtime_ns %d" % (e[1], e[2])
    if e[0] == "link":
        return "link mtime_ns %d -> %r" % (e[1], e[2])
    return repr(e)


def same_tree(got, want, what):
    diffs = []
    for p in sorted(set(got) | set(want)):
        g, w = got.get(p), want.get(p)
        if g != w:
            extra = ""
            if g and w and g[0] == w[0] == "file" and g[3] != w[3]:
                extra = " (contents differ)"
            diffs.append("%r: got %s, expected %s%s" % (p, describe(g), describe(w), extra))
    return t.check(not diffs, lambda: "%s: %d path(s) differ: %s" % (what, len(diffs), "; ".join(diffs[:8])))


def set_time(path, ns):
    os.utime(path, ns=(ns, ns), follow_symlinks=False)


def fix_dir_times(root, base):
    """Give every directory under root (deepest first) a time of its own
    with nanoseconds: creating entries moved them."""
    dirs = []
    for dp, dn, fn in os.walk(os.fsencode(root)):
        dirs.append(dp)
    for i, dp in enumerate(sorted(dirs, key=lambda p: -p.count(b"/"))):
        if dp != os.fsencode(root):
            set_time(dp, base + i * 1000003 + 7)
    if os.fsencode(root).endswith(b"/tree") and os.path.isdir(os.path.join(root, b"ro dir")):
        set_time(os.path.join(root, b"ro dir"), -1)         # 1969-12-31 23:59:59.999999999


def write(path, data, ns, mode=None):
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)
    set_time(path, ns)


SUMMARY_TIME_RE = re.compile(rb"^ in \d+\.\d s\n$")


def expect_import(store, tree, label, prev, counts, nunit, *extra):
    """Import tree into store (unit nunit) and check the summary line
    exactly (but the time); returns (snapshot, changed paths). A file is
    stored anew ("changed") when it is new or its content differs, whether
    it is read again or not (--reread, or size, mtime, ctime or inode not
    those of the last import): a small file is hashed whole, a file of the
    store's chunk-above bytes or more cut into the same chunks as its
    latest record."""
    snap = snapshot(tree)
    files = {p: e for p, e in snap.items() if e[0] == "file"}
    changed = []
    for p, e in files.items():
        q = prev.get(p) if prev else None
        differs = not (q and q[0] == "file" and q[3] == e[3])
        if differs:
            changed.append(p)
    args = ["import", store, tree] + (["--label", label] if label is not None else []) + list(extra)
    r = t.ok(*args)
    head = b"unit %d: %d files (%s), %d changed (%s), %d directories, %d links" % (
        nunit, len(files), human(sum(len(e[3]) for e in files.values())).encode(), len(changed),
        human(sum(len(files[p][3]) for p in changed)).encode(),
        sum(1 for e in snap.values() if e[0] == "dir"), sum(1 for e in snap.values() if e[0] == "link"))
    skipped = sum(1 for e in snap.values() if e[0] == "other")
    if skipped:
        head += b", %d skipped (not a file, directory or link)" % skipped
    t.check(r.out.startswith(head) and SUMMARY_TIME_RE.match(r.out[len(head):]),
            lambda: "import of unit %d: summary %r, expected %r + ' in T s'" % (nunit, r.out, head))
    for p in changed:
        counts[p] = counts.get(p, 0) + 1
    return snap, changed


def expect_export(store, unit, snap, what, pre_create=False):
    out = j(D, "out-%d" % expect_export.n)
    expect_export.n += 1
    if pre_create:
        os.mkdir(out)
    args = ["export", store, out] + (["--unit", unit] if unit is not None else [])
    r = t.ok(*args)
    want = stored(snap)
    files = [e for e in want.values() if e[0] == "file"]
    line = b"unit %d: %d files (%s), %d directories, %d links into %s\n" % (
        unit if unit is not None else expect_export.latest, len(files), human(sum(len(e[3]) for e in files)).encode(),
        sum(1 for e in want.values() if e[0] == "dir"), sum(1 for e in want.values() if e[0] == "link"), out)
    t.eq(r.out, line, what + "export summary")
    if r.rc == 0:
        same_tree(snapshot(out), want, what + "export of unit %s" % (unit if unit is not None else "(latest)"))
    shutil.rmtree(out, ignore_errors=True)   # keep the temporary directory small
    return r


expect_export.n = 0
expect_export.latest = 0


def pack_rows(store):
    """`strata packs STORE -v` as [(path, first, last, bytes)]."""
    r = t.ok("packs", store, "-v")
    rows = []
    for line in r.out.decode().splitlines():
        f = line.split("\t")
        if not t.check(len(f) == 4, "packs -v: line %r is not 4 tab-separated fields" % line):
            continue
        rows.append((f[0], int(f[1]), int(f[2]), int(f[3])))
    return rows


def unit_pack_bytes(store, unit):
    for path, first, last, size in pack_rows(store):
        if first <= unit <= last:
            return size
    t.fail("no pack of %s holds unit %d" % (store, unit))
    return 1 << 62


VERIFY_RE = re.compile(rb"^checked (\d+) packs, (\d+) groups, (\d+) records \((\d+(?:\.\d)? \w+)\): (ok|(\d+) problem\(s\))\n$")


def verify(store, *extra, rc=0):
    r = t.expect(rc, "verify", store, *extra)
    m = VERIFY_RE.match(r.out)
    t.check(m, lambda: "verify %s: output not in its documented form: %r" % (" ".join(extra), r))
    if rc == 0:
        t.check(m and m.group(5) == b"ok" and r.err == b"", lambda: "verify %s: not ok: %r" % (" ".join(extra), r))
    else:
        t.check(m and m.group(6) and int(m.group(6)) > 0 and r.err != b"",
                lambda: "verify %s: problems not reported: %r" % (" ".join(extra), r))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def log_units(store):
    return [(u["unit"], u["records"], u["label"]) for u in t.units(store)]


# ------------------------------------------------------------- the tree
T = j(D, "tree")
os.makedirs(j(T, "docs/deep/er"))
os.makedirs(j(T, "src"))
os.makedirs(j(T, "bin"))
os.makedirs(j(T, "empty dir"))
os.makedirs(j(T, "caf\u00e9"))
os.makedirs(j(T, "private"))
os.makedirs(j(T, "ro dir"))
os.makedirs(j(T, "sticky"))
n = [0]


def ns():
    n[0] += 1
    return T0 + n[0] * 1000000007 + n[0] * 13


big = bytearray(random.Random(SEED + 2).randbytes(BIG))
guide = text.text(rng, 20000)
write(j(T, "docs/guide.txt"), guide, ns())
write(j(T, "docs/deep/er/nest.txt"), text.text(rng, 3000), ns())
write(j(T, "src/main.c"), text.text(rng, 8000), ns(), 0o644)
write(j(T, "bin/blob.bin"), rng.randbytes(100000), ns())
write(j(T, "empty.txt"), b"", ns())
write(j(T, "big.bin"), bytes(big), ns())
write(j(T, "with space.txt"), b"a file with a space in its name\n", ns())
write(j(T, "caf\u00e9/m\u00e9nu.md"), "cr\u00e8me br\u00fbl\u00e9e\n".encode() * 50, ns())
write(j(T, "-dash.txt"), b"leading dash\n", ns())
write(j(T, "tab\tname.txt"), b"a tab in the name\n", ns())
write(j(T, "private/secret.txt"), b"secret\n", ns(), 0o600)
write(j(T, "run.sh"), b"#!/bin/sh\necho run\n", ns(), 0o755)
write(j(T, "ro.txt"), b"read only\n", ns(), 0o444)
write(j(T, "group.txt"), b"group readable\n", ns(), 0o640)
os.symlink(b"docs/guide.txt", j(T, "lnk"))
set_time(j(T, "lnk"), ns())
os.symlink(b"no/such/file", j(T, "dangling"))
set_time(j(T, "dangling"), ns())
os.symlink(b"src", j(T, "srclink"))
set_time(j(T, "srclink"), ns())
os.mkfifo(j(T, "fifo"))
write(j(T, "1960.txt"), b"before the epoch\n", -300000000123456789)     # negative mtime
write(j(T, "2128.txt"), b"past 2^32 s\n", 5000000000999999999)
write(j(T, "ro dir/inside.txt"), b"in a read-only directory\n", ns())
write(j(T, "setuid.bin"), b"setuid, not run\n", ns(), 0o4750)
os.chmod(j(T, "private"), 0o700)
os.chmod(j(T, "ro dir"), 0o555)
os.chmod(j(T, "sticky"), 0o1777)
fix_dir_times(T, T0 + 10**12)

S = os.path.join(D, "S")
snaps = {}          # unit -> snapshot of the tree it imported
counts = {}         # key -> records

t.section("import: unit 1")
t.must("init", S, "--profile", "archive")
snaps[1], ch1 = expect_import(S, T, "day1", None, counts, 1)
t.eq(len(ch1), sum(1 for e in snaps[1].values() if e[0] == "file"), "unit 1: every file is new")
t.eq(log_units(S), [(1, len(ch1), b"day1")], "log after unit 1")
t.check(any(r["key"] == CHUNK_KEY for r in parse_pack(j(S, "packs/0000000001.pack"))["records"]),
        "the pack of unit 1 holds no chunk (a %d-byte file with --profile archive)" % BIG)

t.section("import: unit 2 (edits)")
big[100000:100064] = random.Random(SEED + 3).randbytes(64)      # same size, new mtime
write(j(T, "big.bin"), bytes(big), ns())
write(j(T, "docs/guide.txt"), text.edit(rng, guide), ns())
with open(j(T, "src/main.c"), "ab") as f:
    f.write(b"/* appended */\n")
set_time(j(T, "src/main.c"), ns())
os.makedirs(j(T, "new/sub"))
write(j(T, "new/sub/added.txt"), text.text(rng, 5000), ns())
write(j(T, "src/util.c"), text.text(rng, 4000), ns(), 0o600)
os.unlink(j(T, "bin/blob.bin"))
os.unlink(j(T, "-dash.txt"))
os.unlink(j(T, "with space.txt"))
os.mkdir(j(T, "with space.txt"))
write(j(T, "with space.txt/inner.txt"), b"now a directory\n", ns())
os.chmod(j(T, "run.sh"), 0o700)          # mode only: not a changed file
os.chmod(j(T, "ro.txt"), 0o604)
os.unlink(j(T, "lnk"))
os.symlink(b"src/main.c", j(T, "lnk"))
set_time(j(T, "lnk"), ns())
fix_dir_times(T, T0 + 2 * 10**12)
snaps[2], ch2 = expect_import(S, T, "day2", snaps[1], counts, 2)
t.eq(sorted(ch2), sorted([b"big.bin", b"docs/guide.txt", b"src/main.c", b"new/sub/added.txt", b"src/util.c",
                          b"with space.txt/inner.txt"]), "unit 2: changed files (by the test's own rule)")

t.section("import: unit 3 (unchanged)")
snaps[3], ch3 = expect_import(S, T, "day3", snaps[2], counts, 3)
t.eq(ch3, [], "unit 3: changed files")
t.eq(log_units(S), [(1, len(ch1), b"day1"), (2, len(ch2), b"day2"), (3, 0, b"day3")],
     "log after 3 imports (unit, records, label)")

t.section("ls")
r = t.ok("ls", S)
t.eq(r.out, ls_output(counts), "ls after 3 imports")
t.check(b"\\x00" not in r.out and b"\0" not in r.out, lambda: "ls shows a reserved key: %r" % r.out)
t.check_record(S, b"big.bin", 1, snaps[1][b"big.bin"][3], "a chunked file: ")
t.check_record(S, b"big.bin", 2, snaps[2][b"big.bin"][3], "a chunked file: ")
t.check_record(S, "caf\u00e9/m\u00e9nu.md".encode(), 1, snaps[1]["caf\u00e9/m\u00e9nu.md".encode()][3], "a UTF-8 path: ")
log_before = t.run("log", S).out
r = t.expect(1, "load", S, input=b"put 3 \0tree\nabc\ncommit\n")
t.check(r.err.startswith(b"strata load: ") and b"reserved" in r.err, lambda: "load of a record of the tree key: %r" % r)
t.eq(t.run("log", S).out, log_before, "log after a refused load of a reserved key")

t.section("export of every unit")
for u in (1, 2, 3):
    expect_export(S, u, snaps[u], "unit %d: " % u, pre_create=(u == 2))
expect_export.latest = 3
expect_export(S, None, snaps[3], "no --unit: ")

t.section("export: errors")
full = j(D, "full")
os.mkdir(full)
with open(j(full, "x"), "wb") as f:
    f.write(b"there")
r = t.expect(1, "export", S, full, "--unit", 1)
t.eq(r.err, b"strata export: %s is not empty\n" % full, "export into a non-empty directory: stderr")
t.eq(r.out, b"", "export into a non-empty directory: stdout")
t.eq(sorted(os.listdir(full)), [b"x"], "the non-empty directory after a refused export")
notdir = j(full, "x")
r = t.expect(1, "export", S, notdir)
t.check(r.err.startswith(b"strata export: ") and b"not a directory" in r.err,
        lambda: "export onto a regular file: %r" % r)
for bad in ("0", "x", "-1", ""):
    r = t.expect(2, "export", S, j(D, "never"), "--unit", bad)
    t.check(r.err.startswith(b"strata export: --unit takes a unit number (1 or more), not '%s'\n" % bad.encode()),
            lambda: "export --unit %r: %r" % (bad, r))
    t.check(not os.path.exists(j(D, "never")), "export --unit %r (a usage error) created DIR" % bad)
r = t.expect(1, "export", S, j(D, "never"), "--unit", 99)
t.eq(r.err, b"strata export: there is no unit 99 (the store's last unit is %d)\n" % len(log_units(S)),
     "export --unit 99 (no such unit)")

t.section("sizes: dedup and deltas")
rows = pack_rows(S)
b2 = unit_pack_bytes(S, 2)
t.check(b2 < BIG * 5 // 100, lambda: "the pack of unit 2 (a 64-byte edit of a %d-byte file) has %d bytes: "
        "not under 5%% of the big file" % (BIG, b2))
b3 = unit_pack_bytes(S, 3)
t.check(b3 < 20000, lambda: "the pack of unit 3 (nothing changed) has %d bytes" % b3)
t.log("packs: %s" % ", ".join("%s %d" % (os.path.basename(p), b) for p, _, _, b in rows))

t.section("packs")
want = [(S + "/packs/%010d.pack" % u, u, u, os.path.getsize(j(S, "packs/%010d.pack" % u))) for u in (1, 2, 3)]
t.eq(rows, want, "packs -v after 3 imports")
r = t.ok("packs", S)
t.eq(r.out, b"".join(b"%s\n" % p.encode() for p, _, _, _ in want), "packs")
r = t.ok("packs", S, "--since", 2)
t.eq(r.out, b"".join(b"%s\n" % p.encode() for p, _, _, _ in want[1:]), "packs --since 2")
r = t.ok("packs", S, "--since", 4)
t.eq(r.out, b"", "packs --since 4 (no such unit yet)")
p = subprocess.run([t.strata, "packs", "S"], cwd=D, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
t.eq((p.returncode, p.stdout, p.stderr), (0, b"S/packs/0000000001.pack\nS/packs/0000000002.pack\nS/packs/0000000003.pack\n", b""),
     "packs with a relative STORE")
r = t.expect(2, "packs", S, "--since", 0)
t.check(r.err.startswith(b"strata packs: --since takes a unit number"), lambda: "packs --since 0: %r" % r)

t.section("fork")
F = os.path.join(D, "F")
log_s = t.run("log", S).out
listing_s = t.packs(S)
r = t.ok("fork", S, F)
t.eq(r.out, b"forked %s into %s\n" % (S.encode(), F.encode()), "fork output")
t.eq(t.packs(F), listing_s, "packs/ of the fork")
for name in listing_s:
    a, b = os.stat(os.path.join(S, "packs", name)), os.stat(os.path.join(F, "packs", name))
    t.check((a.st_dev, a.st_ino) == (b.st_dev, b.st_ino), "fork: packs/%s is not a hard link of the source's" % name)
t.eq(open(j(F, "strata.conf"), "rb").read(), open(j(S, "strata.conf"), "rb").read(), "fork: strata.conf")
t.eq(t.run("log", F).out, log_s, "fork: log")
for u in (1, 2, 3):
    expect_export(F, u, snaps[u], "fork, unit %d: " % u)
# a small edit of the big file, every file read again: F must find the
# big file's chunks in the history it shares with S
big[2000000:2000000] = random.Random(SEED + 4).randbytes(1000)
write(j(T, "big.bin"), bytes(big), ns())
write(j(T, "docs/deep/er/nest.txt"), text.text(rng, 3100), ns())
fix_dir_times(T, T0 + 3 * 10**12)
cf = dict(counts)
snapF, chF = expect_import(F, T, "fork day4", snaps[3], cf, 4, "--reread")
bf = unit_pack_bytes(F, 4)
t.check(bf < BIG * 5 // 100, lambda: "the fork's unit 4 (a 1000-byte insert in the big file, every file reread) has "
        "%d bytes: not under 5%% of the big file (the fork's history unused?)" % bf)
expect_export(F, 4, snapF, "fork, unit 4: ")
t.eq(log_units(F)[3:], [(4, len(chF), b"fork day4")], "fork: log of unit 4")
t.eq(t.run("log", S).out, log_s, "the source's log after an import into the fork")
t.eq(t.packs(S), listing_s, "the source's packs/ after an import into the fork")
t.check(not os.path.exists(j(S, "packs/0000000004.pack")), "the source has a pack of unit 4")
r = t.expect(1, "export", S, j(D, "never"), "--unit", 4)
t.eq(r.err, b"strata export: there is no unit 4 (the store's last unit is 3)\n",
     "the source after an import into the fork: export --unit 4")
r = t.expect(1, "fork", S, full)
t.eq(r.err, b"strata fork: %s is not empty\n" % full, "fork into a non-empty directory: stderr")
t.eq(sorted(os.listdir(full)), [b"x"], "the non-empty directory after a refused fork")
# a repack of the fork replaces its links by a new pack: the source keeps
# its packs and both still restore every unit
r = t.ok("repack", F)
t.eq(t.packs(F), ["0000000001-0000000004.pack"], "the fork's packs/ after a repack")
t.eq(t.packs(S), listing_s, "the source's packs/ after a repack of the fork")
for name in listing_s:
    t.eq(os.stat(os.path.join(S, "packs", name)).st_nlink, 1, "source pack %s: links after the fork's repack" % name)
for u in (1, 2, 3):
    expect_export(F, u, snaps[u], "the fork after its repack, unit %d: " % u)
expect_export(F, 4, snapF, "the fork after its repack, unit 4: ")
verify(S)
F2 = os.path.join(D, "F2")
os.mkdir(F2)
r = t.ok("fork", S, F2)
t.eq(r.out, b"forked %s into %s\n" % (S.encode(), F2.encode()), "fork into an existing empty directory")
t.eq(t.run("log", F2).out, log_s, "log of a fork into an existing empty directory")
shutil.rmtree(F2)

t.section("import: unit 4 (a copy of the big file)")
os.makedirs(j(T, "copy"))
write(j(T, "copy/big copy.bin"), bytes(big), ns())
fix_dir_times(T, T0 + 4 * 10**12)
snaps[4], ch4 = expect_import(S, T, "day4", snaps[3], counts, 4)
t.check(b"copy/big copy.bin" in ch4, "unit 4: the copy is not a changed file")
b4 = unit_pack_bytes(S, 4)
t.check(b4 < BIG * 5 // 100, lambda: "the pack of unit 4 (the big file edited and a copy of it) has %d bytes: "
        "not under 5%% of the big file" % b4)
expect_export(S, 4, snaps[4], "unit 4: ")

t.section("a unit of plain puts")
r = t.ok("put", S, "notes/readme", input=b"not a tree\n")
t.eq(r.out, b"stored notes/readme@1 in unit 5\n", "put after imports")
counts[b"notes/readme"] = 1
r = t.expect(1, "export", S, j(D, "never"), "--unit", 5)
t.eq(r.err, b"strata export: unit 5 holds no imported tree\n", "export --unit 5 (a unit of plain puts)")
t.check(not os.path.exists(j(D, "never")) or os.listdir(j(D, "never")) == [], "a failed export wrote files")
shutil.rmtree(j(D, "never"), ignore_errors=True)
expect_export.latest = 4
expect_export(S, None, snaps[4], "no --unit, the latest unit holds no tree: ")
r = t.ok("ls", S)
t.eq(r.out, ls_output(counts), "ls after 4 imports and a put")

t.section("get of a chunked file: streamed, whole")
out = j(D, "got.bin")
r = t.expect(0, "get", S, "copy/big copy.bin", "-o", out, "--stats")
with open(out, "rb") as f:
    t.check(f.read() == bytes(big), "get -o of a chunked record: not the file's bytes")
t.check(b"returned %d bytes" % len(big) in r.err, lambda: "get --stats of a chunked record: %r" % r.err)
r = t.ok("get", S, "copy/big copy.bin")
t.check(r.out == bytes(big), "get of a chunked record to standard output: not the file's bytes")
with open(out, "wb") as f:
    f.write(b"keep me")
r = t.expect(1, "get", S, "copy/big copy.bin@2", "-o", out)
t.eq(r.err, b"strata get: key 'copy/big copy.bin' has 1 records; there is no record 2\n", "get of a missing record")
with open(out, "rb") as f:
    t.eq(f.read(), b"keep me", "get of a missing record -o FILE: FILE")

t.section("verify")
rows = pack_rows(S)
t.eq([(f, l) for _, f, l, _ in rows], [(u, u) for u in range(1, 6)], "packs of S: one per unit")
all_ = verify(S)
since2 = verify(S, "--since", 2)
since5 = verify(S, "--since", 5)
if all_ and since2 and since5:
    t.eq(all_[0], len(rows), "verify: packs checked")
    t.eq(since2[0], len([x for x in rows if x[2] >= 2]), "verify --since 2: packs checked")
    t.check(since2[0] < all_[0], "verify --since 2 checked no fewer packs than verify")
    t.eq(since5[0], 1, "verify --since 5: packs checked")
r = t.expect(2, "verify", S, "--since", "x")
t.check(r.err.startswith(b"strata verify: --since"), lambda: "verify --since x: %r" % r)

t.section("offsite copy: packs only, rebuild")
O = os.path.join(D, "offsite")
os.makedirs(j(O, "packs"))
for path, _, _, _ in rows:
    shutil.copy2(path, os.path.join(O, "packs"))
r = t.ok("rebuild", O)
t.eq(r.out, b"rebuilt the catalog of %s: 5 units\n" % O.encode(), "rebuild of a directory of packs")
DEF = os.path.join(D, "default")
t.must("init", DEF)
t.eq(open(j(O, "strata.conf"), "rb").read(), open(j(DEF, "strata.conf"), "rb").read(),
     "the strata.conf rebuild wrote: the default options")
t.eq(t.run("log", O).out, t.run("log", S).out, "log of the rebuilt copy")
t.eq(t.run("ls", O).out, ls_output(counts), "ls of the rebuilt copy")
for u in (1, 2, 3, 4):
    expect_export(O, u, snaps[u], "rebuilt copy, unit %d: " % u)
verify(O)
# its options are the defaults: files under 4 MiB are no longer chunked;
# a new version of the big file (a chunk list so far) must still restore
write(j(T, "big.bin"), bytes(big[:50000]) + b"edited in the rebuilt copy" + bytes(big[50000:]), ns())
fix_dir_times(T, T0 + 5 * 10**12)
snapO, _ = expect_import(O, T, "rebuilt copy day6", snaps[4], {}, 6)
expect_export(O, 6, snapO, "rebuilt copy, unit 6 (default options): ")
write(j(T, "big.bin"), bytes(big), snaps[4][b"big.bin"][2])      # back as in unit 4
fix_dir_times(T, T0 + 4 * 10**12)
r = t.ok("repack", O)
t.check(r.out.startswith(b"repacked 6 packs "), lambda: "repack of the rebuilt copy: %r" % r.out)
name = "0000000001-0000000006.pack"
row = [(O + "/packs/" + name, 1, 6, os.path.getsize(os.path.join(O, "packs", name)))] if os.path.exists(
    os.path.join(O, "packs", name)) else []
t.eq(pack_rows(O), row, "packs -v after a repack")
t.eq(t.ok("packs", O, "--since", 3).out, b"%s/packs/%s\n" % (O.encode(), name.encode()), "packs --since 3 after a repack")
for u in (1, 2, 3, 4):
    expect_export(O, u, snaps[u], "after a repack, unit %d: " % u)
expect_export(O, 6, snapO, "after a repack, unit 6: ")
verify(O)
verify(O, "--since", 3)
snap7, _ = expect_import(O, T, "after the repack", snapO, {}, 7)
newest = O + "/packs/0000000007.pack"
t.eq(pack_rows(O), row + [(newest, 7, 7, os.path.getsize(newest))], "packs -v: a repacked pack, then a new one")
t.eq(t.ok("packs", O, "--since", 7).out, newest.encode() + b"\n", "packs --since 7")
t.eq(t.ok("packs", O, "--since", 6).out, b"%s/packs/%s\n%s\n" % (O.encode(), name.encode(), newest.encode()),
     "packs --since 6")
v = verify(O, "--since", 7)
t.check(v and v[0] == 1, lambda: "verify --since 7: %s packs checked, expected 1" % (v,))
expect_export(O, 7, snap7, "unit 7 (after a repack): ")

t.section("offsite copy: packs of units 1..2 into an archive store, then more imports")
O2 = os.path.join(D, "offsite2")
t.must("init", O2, "--profile", "archive")
conf = open(j(O2, "strata.conf"), "rb").read()
for path, first, last, _ in rows:
    if last <= 2:
        shutil.copy2(path, os.path.join(O2, "packs"))
r = t.ok("rebuild", O2)
t.eq(r.out, b"rebuilt the catalog of %s: 2 units\n" % O2.encode(), "rebuild of an archive store holding packs 1..2")
t.eq(open(j(O2, "strata.conf"), "rb").read(), conf, "strata.conf after the rebuild")
snapO2, chO2 = expect_import(O2, T, "offsite day3", snaps[2], {}, 3)
bo = unit_pack_bytes(O2, 3)
t.check(bo < BIG * 5 // 100, lambda: "unit 3 of the offsite store (the big file edited, a copy of it) has %d bytes: "
        "not under 5%% of the big file (the copied history unused?)" % bo)
for u, sn in ((1, snaps[1]), (2, snaps[2]), (3, snapO2)):
    expect_export(O2, u, sn, "offsite store, unit %d: " % u)
verify(O2)

t.section("offsite copy: packs only, rebuild with the store's profile")
O3 = os.path.join(D, "offsite3")
os.makedirs(j(O3, "packs"))
for path, _, _, _ in rows:
    shutil.copy2(path, os.path.join(O3, "packs"))
r = t.expect(2, "rebuild", O3, "--profile", "archive", "--chain-max", "99")
t.check(b"chain max 99 is outside" in r.err, lambda: "rebuild with an option out of range: %r" % r)
t.eq(sorted(os.listdir(O3)), [b"packs"] if isinstance(O3, bytes) else ["packs"],
     "a rebuild refused for its options left the directory as it was")
r = t.ok("rebuild", O3, "--profile", "archive")
t.eq(r.out, b"rebuilt the catalog of %s: 5 units\n" % O3.encode(), "rebuild --profile archive of a directory of packs")
ARC = os.path.join(D, "archive-conf")
t.must("init", ARC, "--profile", "archive")
t.eq(open(j(O3, "strata.conf"), "rb").read(), open(j(ARC, "strata.conf"), "rb").read(),
     "the strata.conf rebuild --profile archive wrote: the archive profile's")
for u in (1, 4):
    expect_export(O3, u, snaps[u], "rebuilt with the archive profile, unit %d: " % u)
conf3 = open(j(O3, "strata.conf"), "rb").read()
r = t.expect(2, "rebuild", O3, "--profile", "trace")
t.check(b"has its options already" in r.err, lambda: "rebuild --profile of a store with a strata.conf: %r" % r)
t.eq(open(j(O3, "strata.conf"), "rb").read(), conf3, "strata.conf after a refused rebuild --profile")
t.eq(t.run("log", O3).out, t.run("log", S).out, "log after a refused rebuild --profile")

t.section("import --reread")
R = os.path.join(D, "reread")
RT = j(D, "rtree")
os.makedirs(j(RT, "d"))
write(j(RT, "d/a.txt"), b"version one\n", T0)
write(j(RT, "b.txt"), b"bee\n", T0 + 5)
write(j(RT, "big.bin"), bytes(big), T0 + 6)
fix_dir_times(RT, T0 + 10**9)
t.must("init", R, "--profile", "archive")
rc_ = {}
rs1, _ = expect_import(R, RT, None, None, rc_, 1)
write(j(RT, "d/a.txt"), b"version two\n", T0)       # same size, same mtime
rs2, rch = expect_import(R, RT, None, rs1, rc_, 2)
t.eq(rch, [b"d/a.txt"], "same size and mtime, a new ctime: read again and stored")
expect_export(R, 2, rs2, "an edit of the same size and time: ")
rs3, rch = expect_import(R, RT, "again", rs2, rc_, 3, "--reread")
t.eq(sorted(rch), [], "--reread of unchanged files: read, not stored again")
expect_export(R, 3, rs3, "--reread: ")
t.eq(t.run("ls", R).out, ls_output(rc_), "ls after --reread")
write(j(RT, "big.bin"), bytes(big), T0 + 7)             # the same bytes, a new mtime
fix_dir_times(RT, T0 + 10**9)
rs4, rch = expect_import(R, RT, "touched", rs3, rc_, 4)
t.eq(sorted(rch), [], "a chunked file touched: read again, its chunks those of its latest record, not stored")
t.check(unit_pack_bytes(R, 4) < 4096, lambda: "the unit of a touched chunked file has %d bytes" % unit_pack_bytes(R, 4))
expect_export(R, 4, rs4, "a touched chunked file: ")

t.section("the writer lock: import, fork, export")
p = subprocess.Popen([t.strata, "load", R, "-", "-v"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
try:
    p.stdin.write(b"put 5 locked\nhello\ncommit holding the lock\n")
    p.stdin.flush()
    t.eq(t.readline(p.stdout, "load -v"), b"committed unit 5\n", "load -v while holding the lock")
    r = t.expect(1, "import", R, RT)
    t.eq(r.err, b"strata import: %s/lock is held by another writer\n" % R.encode(), "import while the lock is held")
    F3 = os.path.join(D, "F3")
    r = t.expect(1, "fork", R, F3)
    t.check(r.err.startswith(b"strata fork: ") and b"lock is held by another writer" in r.err,
            lambda: "fork while the lock is held: %r" % r)
    t.check(not os.path.exists(F3) or os.listdir(F3) == [], "a fork refused the lock left files in NEW")
    expect_export(R, 4, rs4, "export while a writer holds the lock: ")
finally:
    p.stdin.close()
    rc = p.wait(timeout=60)
t.eq(rc, 0, "load exit status")
shutil.rmtree(F3, ignore_errors=True)
r = t.ok("fork", R, F3)
t.eq(t.run("log", F3).out, t.run("log", R).out, "fork once the lock is free: log")
expect_export.latest = 4
expect_export(F3, None, rs4, "fork once the lock is free: ")

t.section("many files")
MT = j(D, "mtree")
mr = random.Random(SEED + 5)
for d in range(30):
    os.makedirs(j(MT, "dir%02d" % d))
    for f in range(100):
        write(j(MT, "dir%02d/file%03d.txt" % (d, f)), text.text(mr, mr.randint(0, 300)), T0 + d * 1000 + f)
fix_dir_times(MT, T0 + 6 * 10**12)
M = os.path.join(D, "many")
t.must("init", M, "--profile", "archive")
mc = {}
ms1, _ = expect_import(M, MT, None, None, mc, 1)
ms2, mch = expect_import(M, MT, None, ms1, mc, 2)
t.eq(mch, [], "3000 unchanged files: changed")
write(j(MT, "dir07/file042.txt"), b"edited\n", T0 + 99)
ms3, mch = expect_import(M, MT, None, ms2, mc, 3)
t.eq(mch, [b"dir07/file042.txt"], "3000 files, one edited: changed")
for u in (2, 3):
    b = unit_pack_bytes(M, u)
    t.check(b < 2000, lambda: "unit %d of 3000 files (at most one changed) has a pack of %d bytes: the unchanged "
            "files cost more than their manifest entries" % (u, b))
expect_export(M, 1, ms1, "3000 files, unit 1: ")
expect_export(M, 3, ms3, "3000 files, unit 3: ")
t.eq(t.run("ls", M).out, ls_output(mc), "ls of 3000 files")

t.section("damage")
X = os.path.join(D, "damaged")
shutil.copytree(S, X)                      # copies: S's packs are shared with F
pk1 = j(X, "packs/0000000001.pack")
pk = parse_pack(pk1)
chunk_groups = sorted({r["group"] for r in pk["records"] if r["key"] == CHUNK_KEY})
t.check(len(chunk_groups) >= 1, lambda: "the pack of unit 1 has %d chunk group(s)" % len(chunk_groups))
g = pk["groups"][chunk_groups[len(chunk_groups) // 2]]
at = g[0] + g[1] // 2
t.log("flipping byte %d of %d (middle of group %d, %d compressed bytes)" % (
    at, os.path.getsize(pk1), chunk_groups[len(chunk_groups) // 2], g[1]))
os.chmod(pk1, 0o644)
with open(pk1, "r+b") as f:
    f.seek(at)
    c = f.read(1)
    f.seek(at)
    f.write(bytes([c[0] ^ 0x40]))
os.chmod(pk1, 0o444)
verify(X, rc=1)
r = t.run("verify", X)
lines = r.err.splitlines()
t.check(lines and all(x.startswith(b"strata verify: packs/") for x in lines) and lines[0].startswith(
    b"strata verify: packs/0000000001.pack: ") and lines[0].endswith(
    b"group %d checksum mismatch" % chunk_groups[len(chunk_groups) // 2]),
        lambda: "verify of the damaged store: the damaged group of pack 1 not reported first: %r" % r)
verify(X, "--since", 2, rc=1)
r = t.run("verify", X, "--since", 2)
lines = r.err.splitlines()
t.check(lines and all(x.startswith(b"strata verify: packs/") and not x.startswith(b"strata verify: packs/0000000001.pack")
                      for x in lines) and b"key 'big.bin' record 2" in r.err and b"0000000001.pack" in r.err,
        lambda: "verify --since 2 of the damaged store: the big file of unit 2 (its chunk in pack 1) not reported: %r" % r)
verify(X, "--since", 5)
out = j(D, "damaged-out")
r = t.expect(1, "export", X, out, "--unit", 1)
t.check(r.err.startswith(b"strata export: ") and re.search(rb"checksum|corrupt|damage", r.err, re.I),
        lambda: "export --unit 1 of the damaged store: no checksum/damage message: %r" % r)
t.check(not re.search(rb"^unit \d+:", r.out, re.M), lambda: "export of the damaged unit 1 claimed success: %r" % r.out)
if os.path.isdir(out):
    got = snapshot(out)
    wrong = [p for p, e in got.items() if e[0] == "file" and snaps[1].get(p, ("",))[0] == "file"
             and e[3] != snaps[1][p][3] and len(e[3]) == len(snaps[1][p][3])]
    t.log("the failed export left %d entries (%d of full size but wrong content)" % (len(got), len(wrong)))
# the source and its fork do not share the damage
verify(S)
# an export reads only the records its tree needs: damage in the pack of
# unit 4 (its big file's new chunks, the copy, its manifest) does not stop
# the export of units 1..3
Y = os.path.join(D, "damaged4")
shutil.copytree(S, Y)
pk4 = j(Y, "packs/0000000004.pack")
pk = parse_pack(pk4)
gi = max(range(len(pk["groups"])), key=lambda i: pk["groups"][i][1])
g = pk["groups"][gi]
os.chmod(pk4, 0o644)
with open(pk4, "r+b") as f:
    f.seek(g[0] + g[1] // 2)
    c = f.read(1)
    f.seek(g[0] + g[1] // 2)
    f.write(bytes([c[0] ^ 0x01]))
os.chmod(pk4, 0o444)
verify(Y, rc=1)
verify(Y, "--since", 5)
for u in (1, 2, 3):
    expect_export(Y, u, snaps[u], "the pack of unit 4 damaged, unit %d: " % u)

t.section("import errors")
log_before = t.run("log", S).out
packs_before = t.packs(S)
missing = j(D, "no-such-dir")
r = t.expect(1, "import", S, missing)
t.check(r.err.startswith(b"strata import: ") and missing in r.err and b"No such file or directory" in r.err,
        lambda: "import of a missing directory: %r" % r)
t.eq(r.out, b"", "import of a missing directory: stdout")
afile = j(T, "src/main.c")
r = t.expect(1, "import", S, afile)
t.eq(r.err, b"strata import: %s is not a directory\n" % afile, "import of a regular file")
t.eq(t.run("log", S).out, log_before, "log after failed imports")
t.eq(t.packs(S), packs_before, "packs/ after failed imports")


def unreadable_check(W, as_user):
    """In W (owned by whoever runs strata): a store with one import, then an
    import of the tree with a file edited and another of mode 000 must fail
    with nothing committed (no unit, no pack, no tmp pack); once the file is
    readable the import works and exports right. as_user: run strata as
    uid 65534 (for root, who reads everything)."""
    pre = None
    if as_user:
        def pre():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)

    def urun(*args):
        p = subprocess.run([t.strata] + [os.fsencode(a) if not isinstance(a, bytes) else a for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=pre)
        return p

    def owned(path):
        if as_user:
            os.chown(path, 65534, 65534)

    store, tree = j(W, "store"), j(W, "tree")
    os.makedirs(j(tree, "d"))
    write(j(tree, "d/a.txt"), b"readable\n", T0)
    write(j(tree, "d/b.txt"), b"also readable\n", T0)
    for q in (tree, j(tree, "d"), j(tree, "d/a.txt"), j(tree, "d/b.txt")):
        owned(q)
    p = urun("init", store)
    if p.returncode:
        t.die("init as uid %d: %r" % (65534 if as_user else os.geteuid(), p))
    p = urun("import", store, tree)
    t.check(p.returncode == 0 and p.stdout.startswith(b"unit 1: 2 files"), lambda: "import (uid %s): %r" % (
        "65534" if as_user else os.geteuid(), p))
    write(j(tree, "d/a.txt"), b"readable, edited\n", T0 + 1)
    write(j(tree, "d/locked.txt"), b"unreadable\n", T0, 0o000)
    owned(j(tree, "d/locked.txt"))
    log1 = urun("log", store).stdout
    p = urun("import", store, tree)
    t.check(p.returncode == 1 and p.stderr.startswith(b"strata import: ") and b"Permission denied" in p.stderr
            and b"locked.txt" in p.stderr and p.stdout == b"",
            lambda: "import of a tree holding an unreadable file: exit %d, stdout %r, stderr %r" % (
                p.returncode, p.stdout, p.stderr))
    t.eq(urun("log", store).stdout, log1, "log after an import failed on an unreadable file")
    t.eq(sorted(os.listdir(os.path.join(store, b"packs"))), [b"0000000001.pack"],
         "packs/ after an import failed on an unreadable file")
    os.chmod(j(tree, "d/locked.txt"), 0o640)
    want = snapshot(tree)
    p = urun("import", store, tree)
    t.check(p.returncode == 0 and p.stdout.startswith(b"unit 2: 3 files (42 B), 2 changed (28 B), 1 directories"),
            lambda: "import once the file is readable: %r" % p)
    p = urun("export", store, j(W, "out"))
    t.check(p.returncode == 0, lambda: "export: %r" % p)
    if p.returncode == 0:
        same_tree(snapshot(j(W, "out")), want, "export after a failed import: ")


W = j(D, "unreadable")
os.mkdir(W)
if os.geteuid() != 0:
    unreadable_check(W, False)
else:
    # root reads everything: run strata as uid 65534 in a directory it owns
    try:
        os.chmod(D, 0o711)
        os.chown(W, 65534, 65534)
        unreadable_check(W, True)
        t.log("unreadable file: checked as uid 65534")
    except (PermissionError, subprocess.SubprocessError) as e:
        t.log("skipped the unreadable-file check: cannot act as uid 65534 (%s)" % e)
    finally:
        os.chmod(D, 0o700)

t.finish()
