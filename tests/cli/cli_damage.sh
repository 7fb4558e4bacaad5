#!/usr/bin/env bash
# cli_damage.sh STRATA - damaged, missing and extra store files.
#
#   flipped byte   one byte in the middle of a pack's group area: verify
#                  exits 1 naming the pack, the key and the record; get of
#                  the record exits 1 and writes nothing (stdout empty, no -o
#                  file); the other records still read back byte for byte;
#                  with the byte restored verify passes again. Same for a
#                  group of many records (every get gives the right bytes or
#                  fails with empty stdout, at least one fails), a flipped
#                  header byte and a flipped footer byte
#   truncation     a pack cut by 1 byte, to half, to nothing, and deleted:
#                  verify reports the pack; no get gives wrong bytes
#   rebuild        catalog.db* deleted: `strata rebuild` recreates it, and
#                  ls, log, stats and every record are as before; the next
#                  plain open also recreates a missing catalog; rebuild sets
#                  a damaged pack aside as *.damaged and leaves it out
#   catalog        a catalog row with a wrong checksum and a missing row:
#                  verify names pack, key and record; get fails writing
#                  nothing; rebuild repairs it
#   recovery       a pack whose catalog row is missing (crash between the
#                  rename and the catalog commit, made by copying pack N+1
#                  from a second store built with the same puts) is picked
#                  up by the next open, read-only or writing; a pack of an
#                  unknown (newer) format version is left alone and never
#                  replaced by a new unit; a leftover tmp-*.pack is deleted
#                  by the next open
#   repacked packs a flipped byte in a repacked pack (verify names it, gets
#                  fail or give the right bytes); an interrupted repack as
#                  docs/FORMAT.md describes it: a repacked pack the catalog
#                  lacks (crash before the catalog switch) is filed by the
#                  next open, read-only or writing, and the packs it replaces
#                  are deleted; superseded packs left next to a catalogued
#                  repacked pack (crash during the deletes) are deleted by the
#                  next open; rebuild with both files the repacked pack
#
# The stores are made with --repack-after 0 (one pack per unit, named by
# unit, as the sections address them) and --read-cost-max 16, so that the
# 12 records of 6000 random bytes of unit 3 fit in one group (with the
# default of 4 a get may read at most 24000 bytes: groups of 3 records,
# checked at the end).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

D=$T/data
mkdir "$D"
rand_bytes 1 400000 "$D/big"          # incompressible: the group area is ~400 KB
text_bytes 2 300000 "$D/text"
text_bytes 3 5000 "$D/small"
# a unit of 12 records of 6000 random bytes each: one group of many records
python3 - "$D" <<'PY'
import random, sys
r = random.Random(4)
d = sys.argv[1]
with open(d + "/many.stream", "wb") as f:
    for i in range(12):
        b = r.randbytes(6000)
        open("%s/r%02d" % (d, i), "wb").write(b)
        f.write(b"put %d r%02d\n" % (len(b), i) + b + b"\n")
    f.write(b"commit many\n")
PY

# build_store DIR: the same puts every time
build_store() {
	"$STRATA" init "$1" --repack-after 0 --read-cost-max 16 >/dev/null &&
		"$STRATA" put "$1" big "$D/big" --label one >/dev/null &&
		"$STRATA" put "$1" text "$D/text" --label two >/dev/null &&
		"$STRATA" load "$1" "$D/many.stream" 2>/dev/null &&
		"$STRATA" put "$1" small "$D/small" --label four >/dev/null
}
# all_records STORE WHAT: every record byte for byte
all_records() {
	local f
	get_to "$1" big@1 "$T/g"; same_file "$T/g" "$D/big" "$2: big"
	get_to "$1" text@1 "$T/g"; same_file "$T/g" "$D/text" "$2: text"
	get_to "$1" small@1 "$T/g"; same_file "$T/g" "$D/small" "$2: small"
	for f in "$D"/r??; do
		get_to "$1" "$(basename "$f")@1" "$T/g"
		same_file "$T/g" "$f" "$2: $(basename "$f")"
	done
}
# verify_ok STORE
verify_ok() {
	expect 0 "$STRATA" verify "$1"
	err_empty
	out_has ": ok"
}
# get_safe STORE KEY FILE: get gives FILE's bytes, or fails writing nothing;
# returns 1 when it failed
get_safe() {
	run "$STRATA" get "$1" "$2"
	if [[ $RC == 0 ]]; then
		same_file "$OUT" "$3" "get $2 on a damaged store gave wrong bytes"
		return 0
	fi
	check test "$RC" == 1 -- "get $2 on a damaged store: exit $RC, expected 0 or 1"
	check test ! -s "$OUT" -- "get $2 failed but wrote $(stat -c %s "$OUT") bytes to stdout"
	err_one_line
	return 1
}

S=$T/s
build_store "$S" || die "cannot build the store"
verify_ok "$S"
all_records "$S" "fresh store"
P1=$(pack_of "$S" 1)
P3=$(pack_of "$S" 3)
# units: 1 big, 2 text, 3 r00..r11 (one group), 4 small
check test "$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); f=struct.unpack_from("<Q",d,len(d)-48)[0]; print(struct.unpack_from("<I",d,f+8)[0])' "$P3")" == 1 -- "unit 3 should be one group"

# ------------------------------------------------------------ flipped byte
section "a flipped byte in a group of one record"
cp "$P1" "$T/p1.orig"
foff=$(footer_offset "$P1")
mid=$(((64 + foff) / 2))
flip_byte "$P1" "$mid"
check test "$(cmp "$P1" "$T/p1.orig" | awk '{print $5}' | tr -d ,)" == $((mid + 1)) -- "the flip did not change byte $mid"
expect 1 "$STRATA" verify "$S"
err_has "packs/0000000001.pack"
err_has "key 'big' record 1"
out_has "problem(s)"
# every problem line names the pack
check awk '!/^strata verify: packs\/0000000001\.pack: /{exit 1}' "$ERR" -- "a verify problem line does not name the pack: $(show "$ERR")"
expect 1 "$STRATA" get "$S" big
out_empty
err_one_line
expect 1 "$STRATA" get "$S" big@1 -o "$T/big.out"
out_empty
check test ! -e "$T/big.out" -- "get -o of a damaged record created the output file"
# the other packs are untouched
get_to "$S" text "$T/g"; same_file "$T/g" "$D/text" "text next to a damaged pack"
get_to "$S" small "$T/g"; same_file "$T/g" "$D/small" "small next to a damaged pack"
expect 0 "$STRATA" ls "$S"
flip_byte "$P1" "$mid"
same_file "$P1" "$T/p1.orig" "byte restored"
verify_ok "$S"
all_records "$S" "after restoring the byte"

# flips at a few more offsets of the group area: never wrong bytes
for frac in 1 10 50 90 99; do
	off=$((64 + (foff - 64) * frac / 100))
	[[ $frac == 1 ]] && off=64
	[[ $frac == 99 ]] && off=$((foff - 1))
	flip_byte "$P1" "$off"
	expect 1 "$STRATA" verify "$S"
	err_has "packs/0000000001.pack"
	# the last bytes of a group may lie past what a read of the record
	# needs: there a successful get (of the right bytes) is fine
	if get_safe "$S" big "$D/big" && [[ $frac != 99 ]]; then
		fail "get big succeeded with byte $off of its group flipped"
	fi
	flip_byte "$P1" "$off"
done
verify_ok "$S"

section "a flipped byte in a group of many records"
cp "$P3" "$T/p3.orig"
foff3=$(footer_offset "$P3")
mid3=$(((64 + foff3) / 2))
flip_byte "$P3" "$mid3"
expect 1 "$STRATA" verify "$S"
err_has "packs/0000000003.pack"
err_has "key 'r"
check grep -qE "packs/0000000003\.pack: key 'r[0-9]{2}' record 1: " "$ERR" -- "verify names no key and record of pack 3: $(show "$ERR")"
nfail=0
for f in "$D"/r??; do
	get_safe "$S" "$(basename "$f")" "$f" || nfail=$((nfail + 1))
done
check test $nfail -ge 1 -- "no get failed with a byte of their group flipped"
get_to "$S" big "$T/g"; same_file "$T/g" "$D/big" "big next to a damaged group"
flip_byte "$P3" "$mid3"
verify_ok "$S"

section "a flipped header byte, a flipped footer byte"
flip_byte "$P3" 20            # header: unit number
expect 1 "$STRATA" verify "$S"
err_has "packs/0000000003.pack"
for f in "$D"/r??; do get_safe "$S" "$(basename "$f")" "$f" || true; done
flip_byte "$P3" 20
flip_byte "$P3" $((foff3 + 30))  # inside the footer
expect 1 "$STRATA" verify "$S"
err_has "packs/0000000003.pack"
for f in "$D"/r??; do get_safe "$S" "$(basename "$f")" "$f" || true; done
flip_byte "$P3" $((foff3 + 30))
same_file "$P3" "$T/p3.orig" "pack 3 restored"
verify_ok "$S"

# -------------------------------------------------------------- truncation
section "truncated and missing packs"
P2=$(pack_of "$S" 2)
cp "$P2" "$T/p2.orig"
size2=$(stat -c %s "$P2")
for len in $((size2 - 1)) $((size2 / 2)) 64 0; do
	chmod u+w "$P2"
	truncate -s "$len" "$P2"
	expect 1 "$STRATA" verify "$S"
	err_has "packs/0000000002.pack"
	out_has "problem(s)"
	ok_get=0
	get_safe "$S" text "$D/text" && ok_get=1
	if [[ $len -le $((size2 / 2)) && $ok_get == 1 ]]; then
		fail "get text succeeded from a pack truncated to $len of $size2 bytes"
	fi
	get_to "$S" big "$T/g"; same_file "$T/g" "$D/big" "big next to a truncated pack"
	cp "$T/p2.orig" "$P2"
done
chmod u+w "$P2"
rm "$P2"
expect 1 "$STRATA" verify "$S"
err_has "packs/0000000002.pack"
get_safe "$S" text "$D/text" && fail "get text succeeded with its pack deleted"
cp "$T/p2.orig" "$P2"
chmod 0444 "$P2"
verify_ok "$S"

# ---------------------------------------------------------- catalog damage
section "a catalog that disagrees with the packs"
CD=$T/cd
cp -a "$S" "$CD"
# catalog.db is SQLite (docs/FORMAT.md): make the catalog's run of text@1
# disagree with the pack's footer (the checksum it filed for the footer's
# bytes of that run), and drop the run of r05@1 (its only record), with
# python's sqlite3 module
python3 - "$CD/catalog.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
kid = lambda name: c.execute("SELECT id FROM keys WHERE name = ?", (name,)).fetchone()[0]
n = c.execute("UPDATE runs SET fsum = CASE WHEN fsum > 0 THEN fsum - 1 ELSE fsum + 1 END "
              "WHERE key = ? AND first = 1 AND recs IS NULL", (kid(b"text"),)).rowcount
m = c.execute("DELETE FROM runs WHERE key = ? AND first = 1 AND last = 1", (kid(b"r05"),)).rowcount
c.commit()
c.close()
if (n, m) != (1, 1):
    sys.exit("catalog edit changed %d and %d rows" % (n, m))
PY
expect 1 "$STRATA" verify "$CD"
err_has "packs/0000000002.pack: key 'text' record 1: "
err_has "packs/0000000003.pack: key 'r05' record 1: "
expect 1 "$STRATA" get "$CD" text@1
out_empty
err_one_line
expect 1 "$STRATA" get "$CD" r05@1
out_empty
get_to "$CD" r04@1 "$T/g"; same_file "$T/g" "$D/r04" "r04 next to a catalog row removed"
expect 0 "$STRATA" rebuild "$CD"
verify_ok "$CD"
all_records "$CD" "after rebuilding a damaged catalog"

# ----------------------------------------------------------------- rebuild
section "rebuild"
"$STRATA" ls "$S" >"$T/ls.before"
"$STRATA" log "$S" >"$T/log.before"
"$STRATA" stats "$S" --json >"$T/stats.before"
for k in big text small r00 r11; do "$STRATA" log "$S" $k >>"$T/logk.before"; done
check test -e "$S/catalog.db" -- "no catalog.db in the store"
rm -f "$S"/catalog.db*
expect 0 "$STRATA" rebuild "$S"
out_is "rebuilt the catalog of $S: 4 units
"
err_empty
check test -e "$S/catalog.db" -- "rebuild made no catalog.db"
expect 0 "$STRATA" ls "$S"
same_file "$OUT" "$T/ls.before" "ls after rebuild"
expect 0 "$STRATA" log "$S"
same_file "$OUT" "$T/log.before" "log after rebuild"
expect 0 "$STRATA" stats "$S" --json
same_file "$OUT" "$T/stats.before" "stats after rebuild"
: >"$T/logk.after"
for k in big text small r00 r11; do "$STRATA" log "$S" $k >>"$T/logk.after"; done
same_file "$T/logk.after" "$T/logk.before" "log KEY after rebuild"
verify_ok "$S"
all_records "$S" "after rebuild"
# rebuild of an intact catalog gives the same again
expect 0 "$STRATA" rebuild "$S"
expect 0 "$STRATA" log "$S"
same_file "$OUT" "$T/log.before" "log after a second rebuild"
# a missing catalog is recreated by the next open, even a read-only one
rm -f "$S"/catalog.db*
expect 0 "$STRATA" ls "$S"
same_file "$OUT" "$T/ls.before" "ls with the catalog deleted"
expect 0 "$STRATA" log "$S"
same_file "$OUT" "$T/log.before" "log after a read-only open recreated the catalog"
all_records "$S" "after the catalog was recreated by an open"
# new units continue the numbering
expect 0 "$STRATA" put "$S" later "$D/text"
out_is "stored later@1 in unit 5
"

section "rebuild with a damaged pack"
R=$T/r
cp -a "$S" "$R"
flip_byte "$(pack_of "$R" 4)" $(($(stat -c %s "$(pack_of "$R" 4)") - 2))   # the trailer magic
rm -f "$R"/catalog.db*
expect 0 "$STRATA" rebuild "$R"
out_is "rebuilt the catalog of $R: 4 units
"
err_has "packs/0000000004.pack"
check test -e "$(pack_of "$R" 4).damaged" -a ! -e "$(pack_of "$R" 4)" -- "the damaged pack was not set aside as .damaged: $(ls "$R/packs")"
expect 1 "$STRATA" verify "$R"
err_has "packs/0000000004.pack.damaged"
expect 1 "$STRATA" get "$R" small@1
out_empty
get_to "$R" later@1 "$T/g"; same_file "$T/g" "$D/text" "later@1 next to a pack set aside"
get_to "$R" big "$T/g"; same_file "$T/g" "$D/big" "big after a rebuild that set a pack aside"

# ---------------------------------------------------------------- recovery
section "a pack missing from the catalog is picked up by the next open"
A=$T/a
B=$T/b
C=$T/c
build_store "$A" || die "cannot build store a"
build_store "$B" || die "cannot build store b"
build_store "$C" || die "cannot build store c"
text_bytes 5 100000 "$D/extra"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d[:50000] + b"changed" + d[50000:])' "$D/text" "$D/text2"
{
	printf 'put %d extra\n' "$(stat -c %s "$D/extra")"; cat "$D/extra"; printf '\n'
	printf 'put %d text\n' "$(stat -c %s "$D/text2")"; cat "$D/text2"; printf '\n'
	printf 'commit the fifth\n'
} >"$D/fifth.stream"
"$STRATA" load "$B" "$D/fifth.stream" 2>/dev/null || die "load into b"
"$STRATA" ls "$B" >"$T/ls.b"
"$STRATA" log "$B" >"$T/log.b"
"$STRATA" stats "$B" --json >"$T/stats.b"
P5=$(pack_of "$B" 5)
# a: the next open is read-only
cp "$P5" "$A/packs/"
check test "$(stat -c %a "$(pack_of "$A" 5)")" == 444 -- "copied pack is not 0444"
expect 0 "$STRATA" ls "$A"
same_file "$OUT" "$T/ls.b" "ls of a store with an uncatalogued pack"
expect 0 "$STRATA" log "$A"
sed -E 's/  [0-9]{4}-[0-9-]+ [0-9:]+  /  TIME  /' "$OUT" >"$T/log.a"
check diff <(sed -E 's/  [0-9]{4}-[0-9-]+ [0-9:]+  /  TIME  /' "$T/log.b") "$T/log.a" -- "log after recovery differs: $(diff <(sed -E 's/  [0-9]{4}-[0-9-]+ [0-9:]+  /  TIME  /' "$T/log.b") "$T/log.a" | head)"
check test "$(tail -n1 "$OUT" | sed -E 's/.*  //')" == "the fifth" -- "unit 5's label: $(tail -n1 "$OUT")"
expect 0 "$STRATA" stats "$A" --json
same_file "$OUT" "$T/stats.b" "stats after recovery"
verify_ok "$A"
get_to "$A" extra "$T/g"; same_file "$T/g" "$D/extra" "extra from the recovered pack"
get_to "$A" text@2 "$T/g"; same_file "$T/g" "$D/text2" "text@2 from the recovered pack"
all_records "$A" "after recovery"
expect 0 "$STRATA" put "$A" extra "$D/small"
out_is "stored extra@2 in unit 6
"
# c: the next open is a writer (put)
cp "$P5" "$C/packs/"
expect 0 "$STRATA" put "$C" extra "$D/small"
out_is "stored extra@2 in unit 6
"
get_to "$C" extra@1 "$T/g"; same_file "$T/g" "$D/extra" "extra@1 after a writer recovered"
get_to "$C" extra@2 "$T/g"; same_file "$T/g" "$D/small" "extra@2 after a writer recovered"
get_to "$C" text@2 "$T/g"; same_file "$T/g" "$D/text2" "text@2 after a writer recovered"
verify_ok "$C"
all_records "$C" "after a writer recovered"

section "a pack of a newer format version is left alone"
# docs/FORMAT.md: a reader rejects a version it does not know (EFORMAT) and
# recovery leaves such a pack where it is. It must then never be replaced:
# make pack 2 of a 1-unit store a copy of a real pack 2 with header version
# 2 (header checksum recomputed), as if a newer strata had crashed between
# the rename and the catalog commit, and let this build open and write.
N=$T/n
"$STRATA" init "$N" --repack-after 0 >/dev/null
"$STRATA" put "$N" k "$D/small" >/dev/null
python3 - "$(pack_of "$C" 2)" "$N/packs/0000000002.pack" <<'PY'
import ctypes, ctypes.util, struct, sys
lib = None
for name in ("libxxhash.so.0", "libxxhash.so", ctypes.util.find_library("xxhash")):
    try:
        lib = ctypes.CDLL(name); break
    except (OSError, TypeError):
        pass
if lib is None:
    sys.exit("cannot load libxxhash")
h = lib.XXH3_64bits
h.restype, h.argtypes = ctypes.c_uint64, [ctypes.c_char_p, ctypes.c_size_t]
d = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<I", d, 8, 2)                       # pack format version 2
struct.pack_into("<Q", d, 56, h(bytes(d[:56]), 56))   # valid header checksum
open(sys.argv[2], "wb").write(d)
PY
chmod 0444 "$N/packs/0000000002.pack"
cp "$N/packs/0000000002.pack" "$T/newer.pack"
expect 0 "$STRATA" ls "$N"                 # recovery runs and leaves it
out_is "       1  k
"
check test -e "$N/packs/0000000002.pack" -- "recovery moved the pack of a newer format away"
same_file "$N/packs/0000000002.pack" "$T/newer.pack" "the newer-format pack after recovery"
run "$STRATA" put "$N" k2 "$D/extra"      # must not reuse unit number 2
check test -e "$N/packs/0000000002.pack" -- "a put deleted the pack of a newer format"
same_file "$N/packs/0000000002.pack" "$T/newer.pack" "the newer-format pack after a put (it was replaced by the new unit)"
if [[ $RC == 0 ]]; then
	check test "$(cat "$OUT")" != "stored k2@1 in unit 2" -- "put reused unit 2, whose pack number a newer-format pack holds"
	get_to "$N" k2 "$T/g"; same_file "$T/g" "$D/extra" "k2 stored next to a newer-format pack"
fi
get_to "$N" k "$T/g"; same_file "$T/g" "$D/small" "k next to a newer-format pack"

section "leftover temporary pack files"
printf 'half-written pack' >"$A/packs/tmp-12345-abcdef.pack"
chmod 0444 "$A/packs/tmp-12345-abcdef.pack"
expect 0 "$STRATA" verify "$A"
out_has ": ok"
no_stray_packs "$A"
printf 'half-written pack' >"$A/packs/tmp-999-1.pack"
expect 0 "$STRATA" put "$A" extra "$D/extra"
out_is "stored extra@3 in unit 7
"
no_stray_packs "$A"
verify_ok "$A"

# ---------------------------------------------------------- repacked packs
section "repack of a store of five units"
# X: the four units of build_store and the fifth (text@2 is an edit of
# text@1, stored against it); X0 keeps its one-pack-per-unit state
X=$T/x
X0=$T/x0
build_store "$X" || die "cannot build store x"
"$STRATA" load "$X" "$D/fifth.stream" 2>/dev/null || die "load into x"
cp -a "$X" "$X0"
# log without its packed column (cut: the columns around it), and that column
log_cut() { cut -c1-53,64- "$1"; }
packed_col() { cut -c54-63 "$1" | tail -n +2 | sort -u | sed 's/^ *//'; }
# every record of X, byte for byte
x_records() {
	all_records "$1" "$2"
	get_to "$1" extra@1 "$T/g"; same_file "$T/g" "$D/extra" "$2: extra"
	get_to "$1" text@2 "$T/g"; same_file "$T/g" "$D/text2" "$2: text@2"
}
"$STRATA" log "$X" >"$T/log.x0"
for k in big text small r00 r11 extra; do "$STRATA" log "$X" $k | cut -c1-34,49- >>"$T/logk.x0"; done
before=$(cat "$X"/packs/*.pack | wc -c)
expect 0 "$STRATA" repack "$X"
err_empty
PX=$X/packs/0000000001-0000000005.pack
check test "$(ls "$X/packs")" == "0000000001-0000000005.pack" -- "packs after repack: $(ls "$X/packs" | tr '\n' ' ')"
out_is "repacked 5 packs ($(human "$before")) into 1 ($(human "$(stat -c %s "$PX")"))
"
"$STRATA" log "$X" >"$T/log.x"
check diff <(log_cut "$T/log.x0") <(log_cut "$T/log.x") -- "log after repack: units, times, records, sizes or labels changed: $(diff <(log_cut "$T/log.x0") <(log_cut "$T/log.x") | head -n 6)"
check test "$(packed_col "$T/log.x")" == "$(human "$(stat -c %s "$PX")")" -- "log after repack: packed column '$(packed_col "$T/log.x")', expected the size of $PX"
: >"$T/logk.x"
for k in big text small r00 r11 extra; do "$STRATA" log "$X" $k | cut -c1-34,49- >>"$T/logk.x"; done
same_file "$T/logk.x" "$T/logk.x0" "log KEY (record, unit, size, checksum) after repack"
verify_ok "$X"
x_records "$X" "after repack"

section "a flipped byte in a repacked pack"
cp "$PX" "$T/px.orig"
foffx=$(footer_offset "$PX")
for off in $(((64 + foffx) / 3)) $(((64 + foffx) / 2)) $((foffx - 10)) 20 $((foffx + 40)); do
	flip_byte "$PX" "$off"
	expect 1 "$STRATA" verify "$X"
	err_has "packs/0000000001-0000000005.pack"
	out_has "problem(s)"
	nfail=0
	for ref in big@1 text@1 text@2 small@1 extra@1 r00@1 r05@1 r11@1; do
		f=$D/${ref%@*}
		[[ $ref == text@2 ]] && f=$D/text2
		get_safe "$X" "$ref" "$f" || nfail=$((nfail + 1))
	done
	# (a get reads only its record's part of a group: with a header or
	# footer byte flipped it may still give the right bytes)
	((off == 20 || off > foffx)) || check test $nfail -ge 1 -- "byte $off of the groups of the only pack flipped: every get succeeded"
	flip_byte "$PX" "$off"
done
same_file "$PX" "$T/px.orig" "repacked pack restored"
verify_ok "$X"

section "an interrupted repack: the new pack is not in the catalog yet"
# docs/FORMAT.md, repack protocol: a crash before the catalog switch leaves
# a durable pack whose range contains catalogued packs: the next open files
# it and deletes what it supersedes
for first in reader writer; do
	Y=$T/y-$first
	cp -a "$X0" "$Y"
	cp -p "$PX" "$Y/packs/"
	if [[ $first == reader ]]; then
		expect 0 "$STRATA" ls "$Y"
		expect 0 "$STRATA" log "$Y"
		same_file "$OUT" "$T/log.x" "log after recovery filed a repacked pack"
	else
		expect 0 "$STRATA" put "$Y" extra "$D/small"
		out_is "stored extra@2 in unit 6
"
		get_to "$Y" extra@2 "$T/g"; same_file "$T/g" "$D/small" "extra@2 put after recovery filed a repacked pack"
	fi
	want="0000000001-0000000005.pack"
	[[ $first == writer ]] && want="$want 0000000006.pack"
	check test "$(ls "$Y/packs" | tr '\n' ' ')" == "$want " -- "$first first: packs/ after recovery: $(ls "$Y/packs" | tr '\n' ' '), expected $want"
	verify_ok "$Y"
	x_records "$Y" "after recovery ($first first) filed a repacked pack"
done

section "an interrupted repack: the replaced packs are not deleted yet"
Z=$T/z
cp -a "$X" "$Z"
cp -p "$X0"/packs/0000000001.pack "$X0"/packs/0000000003.pack "$X0"/packs/0000000005.pack "$Z/packs/"
expect 0 "$STRATA" verify "$Z"        # the first open: read-only
out_has ": ok"
check test "$(ls "$Z/packs")" == "0000000001-0000000005.pack" -- "superseded packs left after the first open: $(ls "$Z/packs" | tr '\n' ' ')"
expect 0 "$STRATA" log "$Z"
same_file "$OUT" "$T/log.x" "log with superseded packs deleted"
x_records "$Z" "after superseded packs were deleted"

section "rebuild with a repacked pack and the packs it replaces"
W=$T/w
cp -a "$X0" "$W"
cp -p "$PX" "$W/packs/"
rm -f "$W"/catalog.db*
expect 0 "$STRATA" rebuild "$W"
out_is "rebuilt the catalog of $W: 5 units
"
err_empty
expect 0 "$STRATA" ls "$W"
check test "$(ls "$W/packs")" == "0000000001-0000000005.pack" -- "packs after rebuild and an open: $(ls "$W/packs" | tr '\n' ' ')"
expect 0 "$STRATA" log "$W"
same_file "$OUT" "$T/log.x" "log after rebuild from a repacked pack"
verify_ok "$W"
x_records "$W" "after rebuild from a repacked pack"

finish
