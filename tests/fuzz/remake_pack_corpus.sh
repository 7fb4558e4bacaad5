#!/bin/sh
# remake_pack_corpus.sh BUILD_DIR [OUTDIR] - remake the fuzz_pack seed corpus
# (default OUTDIR: corpus/pack next to this script) after a pack format
# change. Needs the strata CLI and make_pack_seeds built in BUILD_DIR
# (cmake --build BUILD_DIR --target strata_cli make_pack_seeds), python3
# and the zstd command.
#
#   v3-<shape>.pack    footer version 3 (format 1.5): written by
#                      make_pack_seeds (one shape each)
#   v3-cli-*.pack      written by `strata load` / `strata repack`
#   v3-*.pack (others) written by `strata load` / `strata repack` for
#                      what formats 1.1 to 1.5 added: uniform runs and
#                      shared checksums, a group of each codec, chunk
#                      lists with chunks coded as base deltas and patches,
#                      pooled records and references to them (the
#                      *-none ones and v3-patch-in-none-group in
#                      uncompressed groups, whose records the fuzzer can
#                      change)
#   v3-damaged-*       copies of those with one thing broken
#   v2-*               footer version 2 packs of formats 1.2 to 1.4, kept
#                      as they are (this script wrote them as v2-<shape>
#                      and v2-cli-* until the writer went to footer
#                      version 3): v2-damaged-* copies with one thing
#                      broken are made from them
#   the rest           footer version 1 packs of builds before format 1.2,
#                      kept as they are (this script no longer writes
#                      them; its damaged-* and found-* edits start from
#                      them): <shape>.pack, cli-*.pack, damaged-* copies
#                      with one thing broken (those that break a
#                      checksummed byte are repaired by fuzz_pack's
#                      checksum-fixing retry, so they reach the check past
#                      the checksum)
#
# Every file stays under 4 KiB but v3-chunks-*, under 16 KiB.
set -eu
B=${1:?usage: $0 BUILD_DIR [OUTDIR]}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${2:-$HERE/corpus/pack}
STRATA=$B/strata
SEEDS=$B/tests/fuzz/make_pack_seeds
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkdir -p "$OUT"
rm -f "$OUT"/v3-*

# ---- generator shapes
mkdir "$T/gen"
"$SEEDS" "$T/gen"
cp "$T/gen/0000000001.pack" "$OUT/v3-empty-unit.pack"
cp "$T/gen/0000000002.pack" "$OUT/v3-one-zstd-group.pack"
cp "$T/gen/0000000003.pack" "$OUT/v3-uncompressed-group.pack"
cp "$T/gen/0000000004.pack" "$OUT/v3-two-groups-binary-key.pack"
cp "$T/gen/0000000005.pack" "$OUT/v3-empty-groups.pack"
cp "$T/gen/0000000006.pack" "$OUT/v3-zstd-19.pack"
cp "$T/gen/0000000007.pack" "$OUT/v3-empty-record.pack"
cp "$T/gen/0000000008.pack" "$OUT/v3-in-group-deltas.pack"
cp "$T/gen/0000000009.pack" "$OUT/v3-base-deltas.pack"
cp "$T/gen/0000000003-0000000006.pack" "$OUT/v3-range-3-6.pack"

# ---- packs the CLI writes
python3 - "$T/streams" <<'PY'
import os, sys
d = sys.argv[1]
os.mkdir(d)
def put(f, key, data):
    f.write(b"put %d %s\n" % (len(data), key) + data + b"\n")
base = b"".join(b"line %d: the quick brown fox jumps over the lazy dog, take %d\n" % (i, i % 7) for i in range(25))
def ver(n):
    lines = base.split(b"\n")
    for k in range(1, n + 1):
        lines[(k * 7) % 24] = b"line %d edited in version %d" % ((k * 7) % 24, k)
    return b"\n".join(lines)
with open(d + "/unit1", "wb") as f:
    put(f, b"hello.txt", b"hello, world\n")
    put(f, b"bin\x01key", bytes(range(256))[::3])
    put(f, b"hello.txt", b"hello again, world\n")
    f.write(b"commit first unit\n")
with open(d + "/empty", "wb") as f:
    put(f, b"a", b"alpha")
    f.write(b"commit one\n")
    put(f, b"a", b"")
    put(f, b"e", b"")
    f.write(b"commit \xc3\xa9mpty records\n")
with open(d + "/deltas", "wb") as f:
    for n in range(4):
        put(f, b"doc.txt", ver(n))
    put(f, b"other.txt", ver(5))
    f.write(b"commit versions in one unit\n")
with open(d + "/units", "wb") as f:
    for u in range(1, 5):
        put(f, b"doc.txt", ver(u))
        if u % 2:
            put(f, b"notes/readme.txt", ver(u + 10)[:700])
        f.write(b"commit unit %d\n" % u)
PY
load() { # load STORE STREAM
	"$STRATA" init "$1" --repack-after 0 >/dev/null
	"$STRATA" load "$1" "$2" >/dev/null
}
load "$T/s1" "$T/streams/unit1"
cp "$T/s1/packs/0000000001.pack" "$OUT/v3-cli-unit1.pack"
load "$T/s2" "$T/streams/empty"
cp "$T/s2/packs/0000000002.pack" "$OUT/v3-cli-unit2-empty-record.pack"
load "$T/s3" "$T/streams/deltas"
cp "$T/s3/packs/0000000001.pack" "$OUT/v3-cli-in-group-deltas.pack"
load "$T/s4" "$T/streams/units"
cp "$T/s4/packs/0000000003.pack" "$OUT/v3-cli-base-deltas-unit3.pack"
cp "$T/s4/packs/0000000004.pack" "$OUT/v3-cli-base-delta-unit4.pack"
cp -r "$T/s4" "$T/s5"
"$STRATA" repack "$T/s4" >/dev/null
cp "$T/s4/packs/0000000001-0000000004.pack" "$OUT/v3-cli-repacked-1-4.pack"
"$STRATA" repack "$T/s5" --oldest-first >/dev/null
cp "$T/s5/packs/0000000001-0000000004.pack" "$OUT/v3-cli-repacked-oldest-first-1-4.pack"

# ---- footer version 3: what formats 1.1 to 1.5 added
python3 - "$T/streams3" <<'PY'
import os, random, sys
d = sys.argv[1]
os.mkdir(d)
def put(f, key, data):
    f.write(b"put %d %s\n" % (len(data), key) + data + b"\n")
# 80-byte records of one key (a uniform run: literals of one length,
# checksums shared by block), then literals of other lengths that share
# checksums in an ordinary run.
with open(d + "/uniform", "wb") as f:
    for i in range(120):
        put(f, b"events", (b"event %05d: read(fd=%d, n=%d) = %d" % (i, i % 5, 4096, i * 7 % 4096)).ljust(79, b".") + b"\n")
    for i in range(60):
        put(f, b"log", b"log line %d: %s" % (i, b"x" * (i % 9)))
    f.write(b"commit trace\n")
# Versions of a text (in-group deltas) and small literals, for each codec.
base = b"".join(b"line %d: the quick brown fox jumps over the lazy dog, take %d\n" % (i, i % 7) for i in range(25))
def ver(n):
    lines = base.split(b"\n")
    for k in range(1, n + 1):
        lines[(k * 7) % 24] = b"line %d edited in version %d" % ((k * 7) % 24, k)
    return b"\n".join(lines)
with open(d + "/codec", "wb") as f:
    for n in range(3):
        put(f, b"doc.txt", ver(n))
    for i in range(6):
        put(f, b"small", b"small record %d" % i)
    f.write(b"commit codec\n")
# A record of 69 KB cut into chunks (chunk-avg 4096), and in the next
# unit a similar one: bytes changed every 11 bytes over 10 KB (no copy of
# 32 bytes: patches) and 100 bytes changed in one place (a base delta).
rnd = random.Random(7)
words = [b"alpha", b"beta", b"gamma", b"delta"]
big = b" ".join(rnd.choice(words) for _ in range(12000))
big2 = bytearray(big)
for o in range(30000, 40000, 11):
    big2[o] = ord(b"#")
for o in range(50000, 50100):
    big2[o] = ord(b"!")
with open(d + "/chunks", "wb") as f:
    put(f, b"big.bin", big)
    f.write(b"commit first\n")
    put(f, b"big.bin", bytes(big2))
    f.write(b"commit second\n")
# With dedup-above 64 and group-cap 4096, a record that comes back 1 KiB
# (a quarter group cap) or more later is pooled: references in the group
# of data, the pooled record (and a reference of another key) after it.
with open(d + "/pool", "wb") as f:
    rep = b"repeated content that comes back far later, " * 3
    put(f, b"data", rep)
    for i in range(11):
        put(f, b"data", (b"filler %d " % i) * 12)
    put(f, b"data", rep)
    for i in range(11):
        put(f, b"data", (b"other %d " % i) * 14)
    put(f, b"data", rep)
    put(f, b"meta", rep)
    f.write(b"commit repeats\n")
# For uncompressed groups, whose records the fuzzer can change (a codec's
# own checksum catches a change of a compressed body): a record of 68 KiB
# repeating a block of 4 KiB, so that its list refers to the same few
# chunks again and again.
blk = b" ".join(rnd.choice(words) for _ in range(800))[:4096]
with open(d + "/chunks-none", "wb") as f:
    put(f, b"big.bin", blk * 17)
    f.write(b"commit first\n")
PY
load3() { # load3 STORE STREAM INIT-OPTIONS...
	s=$1 stream=$2
	shift 2
	"$STRATA" init "$s" --repack-after 0 "$@" >/dev/null
	"$STRATA" load "$s" "$stream" >/dev/null
}
load3 "$T/u3" "$T/streams3/uniform"
cp "$T/u3/packs/0000000001.pack" "$OUT/v3-uniform-shared-sums.pack"
for c in zstd lz4 zlib xz none; do
	load3 "$T/c3-$c" "$T/streams3/codec" --codec "$c"
	cp "$T/c3-$c/packs/0000000001.pack" "$OUT/v3-codec-$c.pack"
done
load3 "$T/k3" "$T/streams3/chunks" --chunk-above 65536 --chunk-avg 4096
cp "$T/k3/packs/0000000002.pack" "$OUT/v3-chunks-unit2.pack"
"$STRATA" repack "$T/k3" --oldest-first >/dev/null   # chunks keep their bases
cp "$T/k3/packs/0000000001-0000000002.pack" "$OUT/v3-chunks-repacked-1-2.pack"
load3 "$T/p3" "$T/streams3/pool" --dedup-above 64 --group-cap 4096
cp "$T/p3/packs/0000000001.pack" "$OUT/v3-pool-refs.pack"
# Uncompressed groups.
load3 "$T/kn3" "$T/streams3/chunks-none" --chunk-above 65536 --chunk-avg 4096 --codec none
cp "$T/kn3/packs/0000000001.pack" "$OUT/v3-chunks-none-unit1.pack"
load3 "$T/pn3" "$T/streams3/pool" --dedup-above 64 --group-cap 4096 --codec none
cp "$T/pn3/packs/0000000001.pack" "$OUT/v3-pool-refs-none.pack"
# A base patch in an uncompressed group, which no writer makes (patches
# are for keys of zstd or xz): made here, frame by `zstd --patch-from`,
# footer by hand with its checksums left zero (fuzz_pack's checksum-fixing
# retry makes them hold, as for the damaged-* seeds).
python3 - "$OUT/v3-patch-in-none-group.pack" "$T" <<'PY'
import struct, subprocess, sys
out, tmp = sys.argv[1], sys.argv[2]
def varint(v):
    b = bytearray()
    while True:
        x = v & 0x7f; v >>= 7
        if not v:
            b.append(x)
            return bytes(b)
        b.append(x | 0x80)
base = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(40))
new = bytearray(base)
for o in range(100, len(new), 9):
    new[o] = ord(b"#")
open(tmp + "/patch-base", "wb").write(base)
open(tmp + "/patch-new", "wb").write(bytes(new))
subprocess.run(["zstd", "-q", "-f", "--no-check", "--patch-from=" + tmp + "/patch-base", tmp + "/patch-new",
                "-o", tmp + "/patch"], check=True)
patch = open(tmp + "/patch", "rb").read()
body = base + patch
# doc@1 a literal, doc@2 a patch against it: one run of footer version 3
# (flags: encoding, 8 size follows, 16 prefix follows; sums zero).
ent = bytes([0x10]) + varint(len(base)) + bytes(8) + varint(len(base))
ent += bytes([4 | 8 | 16]) + varint(len(patch)) + varint(len(new)) + bytes(8) + varint(len(body)) + varint(1)
run = varint(0) + varint(1) + varint(2) + varint(0) + ent
foot = struct.pack("<IIIIQ", 3, 1, 1, 1, 2) + struct.pack("<QQI", 1, 0, 0)
foot += struct.pack("<QQQQBb", 64, len(body), len(body), 0, 0, 0) + bytes(14)
foot += struct.pack("<H", 3) + b"doc" + struct.pack("<Q", 1) + varint(0) + varint(1) + varint(len(run)) + run
hdr = b"STRATApk" + struct.pack("<IIQQQ", 1, 64, 1, 0, 1) + bytes(24)
trl = struct.pack("<QQQQII", 64 + len(body), len(foot), 0, 1, 1, 48) + b"STRATAen"
open(out, "wb").write(hdr + body + foot + trl)
PY

# ---- damaged copies
python3 - "$OUT" <<'PY'
import struct, sys
out = sys.argv[1]
def rd(name):
    return bytearray(open(out + "/" + name, "rb").read())
def wr(name, b):
    open(out + "/" + name, "wb").write(bytes(b))
def u32(b, o): return struct.unpack_from("<I", b, o)[0]
def u64(b, o): return struct.unpack_from("<Q", b, o)[0]
def layout(b):
    """Offsets of the footer's tables, as FORMAT.md lays them out."""
    t = len(b) - 48
    foff = u64(b, t)
    nkeys, ngroups, nunits = u32(b, foff + 4), u32(b, foff + 8), u32(b, foff + 12)
    nrec = u64(b, foff + 16)
    p = foff + 24
    units = []
    for _ in range(nunits):
        units.append(p)
        p += 20 + u32(b, p + 16)
    groups = [p + 48 * g for g in range(ngroups)]
    p += 48 * ngroups
    for _ in range(nkeys):
        p += 2 + struct.unpack_from("<H", b, p)[0]
    records = [p + 80 * r for r in range(nrec)]
    return foff, units, groups, records
def flip(b, off, mask=0x01):
    b[off] ^= mask
    return b

# Footer version 2: a flipped byte in the record runs (the checksum
# catches it; the fuzzer's retry fixes the checksum and reaches the run
# decoder), and a pack cut inside its footer.
b = rd("v2-cli-in-group-deltas.pack"); foff = u64(b, len(b) - 48)
wr("v2-damaged-run-byte-flipped", flip(b, len(b) - 48 - 12, 0x40))
b = rd("v2-cli-repacked-1-4.pack"); foff = u64(b, len(b) - 48)
wr("v2-damaged-truncated-in-footer", b[: foff + (len(b) - 48 - foff) // 2])
# Footer version 3: the last reference to a pooled record (meta@1, the
# last byte of the last group, uncompressed) made empty: the group one
# byte shorter, the run entry's length 0 (checksums left as they were: the
# fuzzer's retry fixes them). src/read.c once read an unset record number
# from it.
b = rd("v3-pool-refs-none.pack"); foff, units, groups, recs = layout(b)
g = groups[-1]; goff, clen = u64(b, g), u64(b, g + 8)
assert b[goff + clen - 1] == 1                                   # varint m = 1
def v2(x): return bytes([0x80 | (x & 0x7f), x >> 7])             # a 2-byte varint
e = b.rfind(bytes([0x1d, 1]) + v2(132), foff)                    # pool ref, len 1, size 132
assert e > 0 and b[e + 12 : e + 14] == v2(clen)                  # its prefix: the group
b[e + 1] = 0; b[e + 12 : e + 14] = v2(clen - 1)
struct.pack_into("<QQ", b, g + 8, clen - 1, clen - 1)
b = b[: goff + clen - 1] + b[goff + clen :]
struct.pack_into("<Q", b, len(b) - 48, foff - 1)
wr("v3-damaged-pool-ref-empty", b)
# Checksummed bytes: the checksum catches these as given.
b = rd("range-3-6.pack"); foff, units, groups, recs = layout(b)
wr("damaged-footer-byte-flipped", flip(b, foff + (len(b) - 48 - foff) // 2))
b = rd("cli-unit1.pack"); wr("damaged-header-last-unit-flipped", flip(b, 16))
b = rd("range-3-6.pack"); wr("damaged-header-first-unit-flipped", flip(b, 32, 0x04))
b = rd("cli-repacked-1-4.pack"); foff, units, groups, recs = layout(b)
wr("damaged-zstd-byte-flipped", flip(b, u64(b, groups[0]) + u64(b, groups[0] + 8) // 2, 0x10))
# Structure: found without checksums.
b = rd("one-zstd-group.pack"); b[-8:] = b"STRATAEN"; wr("damaged-trailer-magic", b)
b = rd("base-deltas.pack"); wr("damaged-truncated-half", b[: len(b) // 2])
b = rd("in-group-deltas.pack"); wr("damaged-truncated-tail", b[:-1])
b = rd("two-groups-binary-key.pack"); struct.pack_into("<Q", b, len(b) - 48, u64(b, len(b) - 48) + 1)
wr("damaged-footer-offset", b)
# Footer fields (the fuzzer's retry fixes the footer checksum).
b = rd("cli-in-group-deltas.pack"); foff, units, groups, recs = layout(b)
b[groups[0] + 32] = 9; wr("damaged-codec-id", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, groups[1] + 16, u64(b, groups[1] + 16) - 1); wr("damaged-blen-short", b)
b = rd("range-3-6.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, units[1], 9); wr("damaged-unit-entry-number", b)
b = rd("range-3-6.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<I", b, foff + 12, 3); wr("damaged-unit-count", b)
b = rd("cli-base-deltas-unit3.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, recs[0] + 56, 3); wr("damaged-base-not-earlier", b)   # base 3 of record 3
b = rd("cli-unit1.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, recs[1] + 56, 1); wr("damaged-base-on-literal", b)   # hello.txt@2, a literal, base 1
b = rd("in-group-deltas.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, recs[1] + 48, u64(b, groups[0] + 8) + 1); wr("damaged-cend-past-group", b)
b = rd("range-3-6.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, recs[0] + 64, 7); wr("damaged-record-unit-outside", b)
b = rd("range-3-6.pack"); foff, units, groups, recs = layout(b)
b[recs[1] + 72] = 3; wr("damaged-encoding-3", b)
# Valid layouts whose records do not decode (reach delta_apply): a delta
# copy out of its source (group 1 of in-group-deltas.pack is stored
# uncompressed, so its bytes are the body), and a delta cut short.
b = rd("in-group-deltas.pack"); foff, units, groups, recs = layout(b)
def varint(b, p):
    v = s = 0
    while True:
        x = b[p]; p += 1; v |= (x & 0x7f) << s; s += 7
        if not x & 0x80:
            return v, p
r = recs[5]                                                      # log@2: a delta in group 1
at = u64(b, groups[1]) + u64(b, r + 16)
clen, p = varint(b, at)
while True:                                                      # its first copy
    v, q = varint(b, p)
    if v & 1:
        break
    p = q + (v >> 1)
assert b[q] < 0x80                                               # a one-byte offset
b[q] = 0x7f                                                      # past the 65-byte source
wr("damaged-delta-copy-outside", b)
b = rd("in-group-deltas.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, recs[5] + 32, u64(b, recs[5] + 32) + 5); wr("damaged-delta-size", b)

# The inputs the fuzzer once found (found-*), remade on format 1: each
# breaks the one check it is named after.
wr("found-one-byte", b"\x00")
b = rd("one-zstd-group.pack"); n = len(b)
struct.pack_into("<QQ", b, n - 48, n - 48, 0); wr("found-footer-too-short", b)
b = rd("one-zstd-group.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<I", b, foff, 0x01000001); wr("found-footer-version", b)
b = rd("one-zstd-group.pack"); struct.pack_into("<I", b, 12, 65); wr("found-header-size-field", b)
b = rd("one-zstd-group.pack"); struct.pack_into("<I", b, len(b) - 12, 49); wr("found-trailer-size-field", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, groups[1], u64(b, groups[1]) + 1); wr("found-group-table-not-tiling", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
flen = len(b) - 48 - foff                                        # as many groups as the counts check lets by
unitbytes = groups[0] - (foff + 24)
ng = (flen - 24) // 48
assert flen - 24 - unitbytes < ng * 48
struct.pack_into("<I", b, foff + 8, ng); wr("found-group-table-truncated", b)
b = rd("one-zstd-group.pack"); foff, units, groups, recs = layout(b)
clen1 = u64(b, groups[0] + 8) - 1
struct.pack_into("<Q", b, groups[0] + 8, clen1)
for r in recs:
    if u64(b, r + 48) > clen1:
        struct.pack_into("<Q", b, r + 48, clen1)
wr("found-groups-end-before-footer", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<H", b, groups[-1] + 48, 0); wr("found-key-entry-malformed", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
# The footer cut right after its keys, claiming one key more and no records.
f = b[foff : recs[0]] if recs else b[foff : len(b) - 48]
struct.pack_into("<I", f, 4, u32(f, 4) + 1)
struct.pack_into("<Q", f, 16, 0)
t = b[len(b) - 48 :]
struct.pack_into("<QQ", t, 0, foff, len(f))
wr("found-key-table-truncated", b[:foff] + f + t)
b = rd("uncompressed-group.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, groups[0] + 16, u64(b, groups[0] + 16) + 1); wr("found-none-clen-ne-blen", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
b[recs[2] + 72] = 255; wr("found-record-encoding-255", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<I", b, recs[1], u32(b, foff + 4)); wr("found-record-key-out-of-range", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, foff + 16, len(recs) + 1); wr("found-record-table-size", b)
b = rd("two-groups-binary-key.pack"); foff, units, groups, recs = layout(b)
struct.pack_into("<Q", b, recs[1] + 16, u64(b, recs[1] + 16) + 1); wr("found-records-not-tiling", b)
b = rd("one-zstd-group.pack"); foff, units, groups, recs = layout(b)   # the body decodes short
struct.pack_into("<Q", b, groups[0] + 16, u64(b, groups[0] + 16) + 10)
struct.pack_into("<QQ", b, recs[0] + 24, u64(b, recs[0] + 24) + 10, u64(b, recs[0] + 32) + 10)
wr("found-zstd-body-short", b)
PY

for f in "$OUT"/*; do
	n=$(wc -c <"$f")
	case $(basename "$f") in
	v3-chunks-*) cap=16384 ;;
	*) cap=4096 ;;
	esac
	[ "$n" -lt "$cap" ] || { echo "$f is $n bytes (>= $cap)" >&2; exit 1; }
done
ls "$OUT" | wc -l
