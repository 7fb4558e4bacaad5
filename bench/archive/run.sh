#!/usr/bin/env bash
# Benchmark strata's archive use (`strata import`, one unit per snapshot of a
# directory tree) against backup tools and solid compressors, in one run, on
# the same series of directory trees. See bench/archive/README.md for what
# every column means. Usage:
#
#   bash bench/archive/run.sh
#
# Settings (environment variables, defaults in brackets):
#   BENCH_DATA     cache of the data (npm tarballs, unpacked units, the tar
#                  stream) [/tmp/strata-bench-data/archive]
#   BENCH_WORK     scratch repositories, wiped at start
#                  [/tmp/strata-bench-work-archive]
#   NPM_PKG        npm package whose releases are the units [typescript]
#   UNITS          how many consecutive stable (x.y.z) releases [20]
#   NPM_UPTO       the newest release of the series, or "latest"
#                  [6.0.3 for typescript, else latest]
#   TOOLS          rows to run, of "strata borg restic zpaq zstd-long xz"
#                  [all of them]
#   BORG_LEVELS    borg --compression values, a row each [zstd,3 zstd,19]
#   RESTIC_COMPRESSION  restic --compression values, a row each [auto]
#   ZPAQ_METHODS   zpaq -method values, a row each [1 4]
#   ZPAQ_THREADS   zpaq -threads [1]
#   RESTIC_PASSWORD  password of the restic repository [strata-bench]
#   STRATA_BUILD   strata build directory [/tmp/strata-bench-build-archive]
#   STRATA_BIN     a strata binary to use instead of building the work tree
#                  [empty: build]
#   RESULTS_MD     markdown file the table is appended to
#                  [bench/archive/results-<date>.md]
#   PY             python interpreter [python3]
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$here/../lib.sh" # log, die, top (the repository), ...
BENCH_DATA=${BENCH_DATA:-/tmp/strata-bench-data/archive}
BENCH_WORK=${BENCH_WORK:-/tmp/strata-bench-work-archive}
NPM_PKG=${NPM_PKG:-typescript}
UNITS=${UNITS:-20}
if [ "$NPM_PKG" = typescript ]; then
	NPM_UPTO=${NPM_UPTO:-6.0.3}
else
	NPM_UPTO=${NPM_UPTO:-latest}
fi
TOOLS=${TOOLS:-"strata borg restic zpaq zstd-long xz"}
BORG_LEVELS=${BORG_LEVELS:-"zstd,3 zstd,19"}
RESTIC_COMPRESSION=${RESTIC_COMPRESSION:-auto}
ZPAQ_METHODS=${ZPAQ_METHODS:-"1 4"}
ZPAQ_THREADS=${ZPAQ_THREADS:-1}
export RESTIC_PASSWORD=${RESTIC_PASSWORD:-strata-bench}
STRATA_BUILD=${STRATA_BUILD:-/tmp/strata-bench-build-archive}
STRATA_BIN=${STRATA_BIN:-}
RESULTS_MD=${RESULTS_MD:-$here/results-$(date +%Y-%m-%d).md}
PY=${PY:-python3}
helper="$PY $here/archive.py"

has() { in_list "$1" "$TOOLS"; }

if ! [[ "$UNITS" =~ ^[0-9]+$ ]] || [ "$UNITS" -lt 2 ]; then die "UNITS must be a number >= 2"; fi
started=$(date +%s)

# ------------------------------------------------------------ tools
need_cmd npm
need_cmd python3
need_cmd zstd
need_cmd xz xz-utils
need_time
if has borg; then need_cmd borg borgbackup; fi
if has restic; then need_cmd restic; fi
if has zpaq; then need_cmd zpaq; fi
install_needed

# ------------------------------------------------------------ build strata
# The work tree is built (the archive commands are being written there), in
# a build directory of its own; the repository's build/ is never touched.
# A work tree that does not build is not replaced by the last commit, as in
# the other drivers: the strata row is skipped.
strata_skip=
strata_desc=
check_archive_commands() {
	if ! "$STRATA" import --help >/dev/null 2>&1; then
		strata_skip="this strata ($strata_desc) has no import command"
	elif ! "$STRATA" export --help >/dev/null 2>&1; then
		strata_skip="this strata ($strata_desc) has no export command"
	fi
}
if has strata && [ -n "$STRATA_BIN" ]; then
	STRATA=$(command -v "$STRATA_BIN") || die "STRATA_BIN $STRATA_BIN is not a program"
	strata_desc="binary $STRATA"
	check_archive_commands
	[ -z "$strata_skip" ] || log "NOTE: skipping the strata row: $strata_skip"
elif has strata; then
	need_build_deps libzstd-dev liblz4-dev zlib1g-dev liblzma-dev libsqlite3-dev libxxhash-dev
	install_needed
	strata_desc=$(worktree_desc)
	mkdir -p "$(dirname "$STRATA_BUILD")"
	log "building strata ($strata_desc) in $STRATA_BUILD"
	if build_strata "$top" "$STRATA_BUILD" && [ -x "$STRATA_BUILD/strata" ]; then
		STRATA=$STRATA_BUILD/strata
		check_archive_commands
	else
		grep -m3 -iE 'error' "$STRATA_BUILD.log" >&2 || true
		strata_skip="the work tree ($strata_desc) does not build, see $STRATA_BUILD.log"
	fi
	[ -z "$strata_skip" ] || log "NOTE: skipping the strata row: $strata_skip"
fi

# ------------------------------------------------------------ data
# units/NNN = release NNN of the series, the npm tarball unpacked without its
# top directory; units.tar = all of units/ as one deterministic tar stream.
log "data: $UNITS releases of $NPM_PKG up to $NPM_UPTO"
mapfile -t versions < <($helper versions "$NPM_PKG" "$UNITS" "$NPM_UPTO")
[ "${#versions[@]}" -eq "$UNITS" ] || die "could not list $UNITS versions of $NPM_PKG"
pkgfs=${NPM_PKG//\//-}
pkgfs=${pkgfs#@}
D=$BENCH_DATA/$pkgfs-${versions[0]}-${versions[-1]}-$UNITS
tarballs=$BENCH_DATA/tarballs/$pkgfs
if [ ! -f "$D/done" ]; then
	rm -rf "$D"
	mkdir -p "$D/units" "$tarballs"
	i=0
	for v in "${versions[@]}"; do
		i=$((i + 1))
		nnn=$(printf '%03d' "$i")
		tgz=$tarballs/$v.tgz
		if [ ! -f "$tgz" ]; then
			log "  npm pack $NPM_PKG@$v"
			tmp=$tarballs/tmp
			rm -rf "$tmp" && mkdir -p "$tmp"
			(cd "$tmp" && npm pack "$NPM_PKG@$v" --silent >/dev/null) || die "npm pack $NPM_PKG@$v failed"
			f=$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -n1)
			[ -n "$f" ] || die "npm pack $NPM_PKG@$v wrote no tarball"
			mv "$f" "$tgz"
			rm -rf "$tmp"
		fi
		mkdir -p "$D/units/$nnn"
		tar -xzf "$tgz" -C "$D/units/$nnn" --strip-components=1 --no-same-owner
		printf '%s\t%s\n' "$nnn" "$v" >>"$D/versions.tsv"
	done
	chmod -R u+rwX,go+rX "$D/units"
	tar -C "$D" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$D/units.tar" units
	touch "$D/done"
fi
raw=$(tree_bytes "$D/units")
nfiles=$(find "$D/units" -type f | wc -l)
K=$((UNITS / 2))
KNNN=$(printf '%03d' "$K")
KV=$(awk -v k="$KNNN" '$1 == k {print $2}' "$D/versions.tsv")
desc="npm package $NPM_PKG, $UNITS releases ${versions[0]}..${versions[-1]} in $D/units; raw $raw bytes ($(awk -v r="$raw" 'BEGIN {printf "%.1f", r / 2^20}') MiB) in $nfiles files; restore of unit $K ($KV)"
log "data: $desc"

# ------------------------------------------------------------ measuring
rm -rf "$BENCH_WORK"
mkdir -p "$BENCH_WORK"
results=$BENCH_WORK/results.tsv
: >"$results"
put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }
put _info raw_bytes "$raw"
put _info k "$K"
put _info ref_row "zstd -19 --long=31"
bad=0 # a restore that differs, or a tool that failed

dirbytes() { du -sb "$1" | cut -f1; }

# ingest_units ROW SIZE-PATH ADD-FUNCTION: calls ADD-FUNCTION NNN for every
# unit in order (it runs its command through timed), measures SIZE-PATH
# (du -sb) after each; records stored, ingest time, peak RSS and the median
# growth per unit after the first.
ingest_units() {
	local row=$1 path=$2 fn=$3 i nnn sizes=()
	wall_ns=0 rss_kb=0
	for ((i = 1; i <= UNITS; i++)); do
		nnn=$(printf '%03d' "$i")
		"$fn" "$nnn" || { put "$row" failed 1; put "$row" note "FAILED at unit $nnn, see $W.log"; return 1; }
		sizes+=("$(dirbytes "$path")")
	done
	put "$row" stored "${sizes[-1]}"
	put "$row" ingest_s "$(fmt_s "$wall_ns" 3)"
	put "$row" rss_kb "$rss_kb"
	put "$row" marginal "$(for ((i = 1; i < UNITS; i++)); do echo $((sizes[i] - sizes[i - 1])); done | $helper median)"
	put "$row" sizes "${sizes[*]}"
	log "  $row: ${sizes[-1]} bytes, ingest $(fmt_s "$wall_ns" 3) s, peak RSS $((rss_kb / 1024)) MiB"
}

# restore_check ROW RESTORED-DIR RESTORE-FUNCTION: times RESTORE-FUNCTION
# (which runs its command through timed), then compares RESTORED-DIR with
# units/K.
restore_check() {
	local row=$1 got=$2 fn=$3
	wall_ns=0 rss_kb=0
	if ! "$fn"; then
		put "$row" check "RESTORE FAILED"
		put "$row" note "restore of unit $K failed, see $W.log"
		bad=1
		return 0
	fi
	put "$row" restore_s "$(fmt_s "$wall_ns" 3)"
	put "$row" restore_rss_kb "$rss_kb"
	if diff -r --no-dereference "$D/units/$KNNN" "$got" >"$W.diff" 2>&1; then
		put "$row" check ok
	else
		put "$row" check "MISMATCH"
		put "$row" note "RESTORE MISMATCH: unit $K differs from units/$KNNN ($(wc -l <"$W.diff") lines of diff in $W.diff)"
		log "  $row: RESTORE MISMATCH, see $W.diff"
		bad=1
	fi
	log "  $row: restore of unit $K $(fmt_s "$wall_ns" 3) s, $(awk -v r="$row" '$1 == r && $2 == "check" {v = $3} END {print v}' FS='\t' "$results")"
}

# --- strata
strata_add() { timed "$STRATA" import "$W/store" "$D/units/$1" --label "$1" >>"$W.log" 2>&1; }
strata_restore() { timed "$STRATA" export "$W/store" "$W/out" --unit "$strata_k" >>"$W.log" 2>&1; }
run_strata() {
	local row=strata
	if [ -n "$strata_skip" ]; then
		put "$row" skipped "$strata_skip"
		return 0
	fi
	W=$BENCH_WORK/strata
	mkdir -p "$W"
	log "strata: import of $UNITS units"
	"$STRATA" init "$W/store" --profile archive >>"$W.log" 2>&1 || { put "$row" skipped "strata init --profile archive failed, see $W.log"; bad=1; return 0; }
	ingest_units "$row" "$W/store" strata_add || { bad=1; return 0; }
	[ -d "$W/store/packs" ] && put "$row" packs "$(dirbytes "$W/store/packs")"
	# unit numbers are given 1, 2, ... in commit order: check with the log
	strata_k=$K
	if "$STRATA" log "$W/store" >"$W/log.txt" 2>>"$W.log"; then
		local n
		n=$(awk -v l="$KNNN" 'NR > 1 && $NF == l {print $1; exit}' "$W/log.txt")
		if [ -n "$n" ] && [ "$n" != "$K" ]; then
			put "$row" note "strata log gives unit $n the label $KNNN (expected unit $K); restored unit $n"
			strata_k=$n
		fi
		[ -n "$n" ] || put "$row" note "strata log shows no unit labelled $KNNN"
	fi
	restore_check "$row" "$W/out" strata_restore
	if ! "$STRATA" verify "$W/store" >"$W/verify.txt" 2>&1; then
		put "$row" note "strata verify FAILED: $(tail -n3 "$W/verify.txt" | tr '\n' ' ')"
		bad=1
	fi
	put "$row" note "store options: $(grep -v '^strata-store' "$W/store/strata.conf" 2>/dev/null | tr -d ' ' | paste -sd' ')"
}

# --- borg
borg_env=(BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes)
borg_add() { timed env -C "$D" "${borg_env[@]}" BORG_BASE_DIR="$W/home" borg create --compression "$borg_level" "$W/repo::$1" "units/$1" >>"$W.log" 2>&1; }
borg_restore() { mkdir -p "$W/out" && timed env -C "$W/out" "${borg_env[@]}" BORG_BASE_DIR="$W/home" borg extract "$W/repo::$KNNN" >>"$W.log" 2>&1; }
run_borg() { # LEVEL
	borg_level=$1
	local row="borg $1"
	W=$BENCH_WORK/borg-${1//,/-}
	mkdir -p "$W"
	log "$row: create of $UNITS archives"
	env "${borg_env[@]}" BORG_BASE_DIR="$W/home" borg init --encryption=none "$W/repo" >>"$W.log" 2>&1 || { put "$row" skipped "borg init failed, see $W.log"; bad=1; return 0; }
	ingest_units "$row" "$W/repo" borg_add || { bad=1; return 0; }
	restore_check "$row" "$W/out/units/$KNNN" borg_restore
}

# --- restic
restic_add() { timed env -C "$D" RESTIC_CACHE_DIR="$W/cache" restic -r "$W/repo" --compression "$restic_comp" backup --quiet --host bench --tag "$1" "units/$1" >>"$W.log" 2>&1; }
restic_restore() { timed env RESTIC_CACHE_DIR="$W/cache" restic -r "$W/repo" restore latest --host bench --tag "$KNNN" --target "$W/out" >>"$W.log" 2>&1; }
run_restic() { # COMPRESSION
	restic_comp=$1
	local row="restic $1"
	W=$BENCH_WORK/restic-$1
	mkdir -p "$W"
	log "$row: backup of $UNITS snapshots"
	RESTIC_CACHE_DIR="$W/cache" restic init --repository-version 2 -r "$W/repo" >>"$W.log" 2>&1 || { put "$row" skipped "restic init failed, see $W.log"; bad=1; return 0; }
	ingest_units "$row" "$W/repo" restic_add || { bad=1; return 0; }
	# restic 0.14 restores a relative path given to backup (units/NNN)
	# under the target as it was given
	restore_check "$row" "$W/out/units/$KNNN" restic_restore
}

# --- zpaq
zpaq_add() { timed env -C "$D" zpaq add "$W/a.zpaq" "units/$1" -method "$zpaq_method" -threads "$ZPAQ_THREADS" >>"$W.log" 2>&1; }
zpaq_restore() { timed env -C "$D" zpaq extract "$W/a.zpaq" "units/$KNNN" -until "$K" -to "$W/out" -threads "$ZPAQ_THREADS" >>"$W.log" 2>&1; }
run_zpaq() { # METHOD
	zpaq_method=$1
	local row="zpaq -m$1"
	W=$BENCH_WORK/zpaq-m$1
	mkdir -p "$W"
	log "$row: add of $UNITS versions"
	ingest_units "$row" "$W/a.zpaq" zpaq_add || { bad=1; return 0; }
	restore_check "$row" "$W/out" zpaq_restore
}

# --- solid references: one tar stream of every unit, no random access
zlong_add() { timed zstd -19 --long=31 -T1 -q -c "$D/units.tar" >"$W/units.tar.zst"; }
zlong_restore() { mkdir -p "$W/out" && timed bash -o pipefail -c 'zstd -dc --long=31 -q "$1" | tar -x -C "$2" "units/$3"' _ "$W/units.tar.zst" "$W/out" "$KNNN"; }
xz_add() { timed xz -9e -T1 -c "$D/units.tar" >"$W/units.tar.xz"; }
xz_restore() { mkdir -p "$W/out" && timed bash -o pipefail -c 'xz -dc -T1 "$1" | tar -x -C "$2" "units/$3"' _ "$W/units.tar.xz" "$W/out" "$KNNN"; }
run_solid() { # ROW NAME: ingest = one compression of units.tar
	local row=$1 name=$2
	W=$BENCH_WORK/$name
	mkdir -p "$W"
	log "$row: compression of units.tar ($(dirbytes "$D/units.tar") bytes)"
	wall_ns=0 rss_kb=0
	"${name}_add" || { put "$row" failed 1; put "$row" note "FAILED"; bad=1; return 0; }
	put "$row" stored "$(stat -c %s "$W"/units.tar.*)"
	put "$row" ingest_s "$(fmt_s "$wall_ns" 3)"
	put "$row" rss_kb "$rss_kb"
	log "  $row: $(stat -c %s "$W"/units.tar.*) bytes, $(fmt_s "$wall_ns" 3) s, peak RSS $((rss_kb / 1024)) MiB"
	restore_check "$row" "$W/out/units/$KNNN" "${name}_restore"
	put "$row" note "solid: restore decompresses the whole stream (tar extracts units/$KNNN from it)"
}

# ------------------------------------------------------------ run
if has strata; then run_strata; fi
if has borg; then for l in $BORG_LEVELS; do run_borg "$l"; done; fi
if has restic; then for c in $RESTIC_COMPRESSION; do run_restic "$c"; done; fi
if has zpaq; then for m in $ZPAQ_METHODS; do run_zpaq "$m"; done; fi
if has zstd-long; then run_solid "zstd -19 --long=31" zlong; fi
if has xz; then run_solid "xz -9e" xz; fi

# ------------------------------------------------------------ report
when=$(date -u '+%Y-%m-%d %H:%M UTC')
header="$when; $(machine_line)"
[ -z "$strata_desc" ] || header="strata $strata_desc; $header"
vers=()
if command -v borg >/dev/null; then vers+=("$(borg --version)"); fi
if command -v restic >/dev/null; then vers+=("$(restic version | awk '{print $1 " " $2}')"); fi
if command -v zpaq >/dev/null; then vers+=("$({ zpaq 2>&1 || true; } | awk 'NR == 1 {print "zpaq " $2}')"); fi
vers+=("$(version_of zstd)" "$(version_of xz)")
versions_line=$(printf '%s, ' "${vers[@]}")
versions_line=${versions_line%, }
echo
echo "$header"
echo "$versions_line"
echo "data: $desc"
echo
{
	echo "## Run of $when"
	echo
	echo "$header; $versions_line."
	echo
	echo "Data: $desc. Settings: BORG_LEVELS=\"$BORG_LEVELS\", RESTIC_COMPRESSION=\"$RESTIC_COMPRESSION\", ZPAQ_METHODS=\"$ZPAQ_METHODS\", ZPAQ_THREADS=$ZPAQ_THREADS."
	echo
} >>"$RESULTS_MD"
$helper table "$results" --md "$RESULTS_MD"
log "table appended to $RESULTS_MD; raw measurements in $results"
if [ "$bad" != 0 ]; then
	log "ERROR: a restore differed from its unit, or a tool failed (see the table)"
	exit 1
fi
