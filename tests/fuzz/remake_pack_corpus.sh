#!/bin/sh
# remake_pack_corpus.sh BUILD_DIR [OUTDIR] - remake the fuzz_pack seed corpus
# (default OUTDIR: corpus/pack next to this script) after a pack format
# change. Needs the strata CLI and make_pack_seeds built in BUILD_DIR
# (cmake --build BUILD_DIR --target strata_cli make_pack_seeds) and python3.
#
#   v2-<shape>.pack    written by make_pack_seeds (one shape each)
#   v2-cli-*.pack      written by `strata load` / `strata repack`
#   v2-damaged-*       copies of those with one thing broken
#   the rest           footer version 1 packs of builds before format 1.2,
#                      kept as they are (this script no longer writes
#                      them; its damaged-* and found-* edits start from
#                      them): <shape>.pack, cli-*.pack, damaged-* copies
#                      with one thing broken (those that break a
#                      checksummed byte are repaired by fuzz_pack's
#                      checksum-fixing retry, so they reach the check past
#                      the checksum)
#
# Every file stays under 4 KiB.
set -eu
B=${1:?usage: $0 BUILD_DIR [OUTDIR]}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${2:-$HERE/corpus/pack}
STRATA=$B/strata
SEEDS=$B/tests/fuzz/make_pack_seeds
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkdir -p "$OUT"
rm -f "$OUT"/v2-*

# ---- generator shapes
mkdir "$T/gen"
"$SEEDS" "$T/gen"
cp "$T/gen/0000000001.pack" "$OUT/v2-empty-unit.pack"
cp "$T/gen/0000000002.pack" "$OUT/v2-one-zstd-group.pack"
cp "$T/gen/0000000003.pack" "$OUT/v2-uncompressed-group.pack"
cp "$T/gen/0000000004.pack" "$OUT/v2-two-groups-binary-key.pack"
cp "$T/gen/0000000005.pack" "$OUT/v2-empty-groups.pack"
cp "$T/gen/0000000006.pack" "$OUT/v2-zstd-19.pack"
cp "$T/gen/0000000007.pack" "$OUT/v2-empty-record.pack"
cp "$T/gen/0000000008.pack" "$OUT/v2-in-group-deltas.pack"
cp "$T/gen/0000000009.pack" "$OUT/v2-base-deltas.pack"
cp "$T/gen/0000000003-0000000006.pack" "$OUT/v2-range-3-6.pack"

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
cp "$T/s1/packs/0000000001.pack" "$OUT/v2-cli-unit1.pack"
load "$T/s2" "$T/streams/empty"
cp "$T/s2/packs/0000000002.pack" "$OUT/v2-cli-unit2-empty-record.pack"
load "$T/s3" "$T/streams/deltas"
cp "$T/s3/packs/0000000001.pack" "$OUT/v2-cli-in-group-deltas.pack"
load "$T/s4" "$T/streams/units"
cp "$T/s4/packs/0000000003.pack" "$OUT/v2-cli-base-deltas-unit3.pack"
cp "$T/s4/packs/0000000004.pack" "$OUT/v2-cli-base-delta-unit4.pack"
cp -r "$T/s4" "$T/s5"
"$STRATA" repack "$T/s4" >/dev/null
cp "$T/s4/packs/0000000001-0000000004.pack" "$OUT/v2-cli-repacked-1-4.pack"
"$STRATA" repack "$T/s5" --oldest-first >/dev/null
cp "$T/s5/packs/0000000001-0000000004.pack" "$OUT/v2-cli-repacked-oldest-first-1-4.pack"

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
	[ "$n" -lt 4096 ] || { echo "$f is $n bytes (>= 4 KiB)" >&2; exit 1; }
done
ls "$OUT" | wc -l
