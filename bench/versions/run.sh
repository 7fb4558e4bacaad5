#!/usr/bin/env bash
# Benchmark strata against its peers on real versioned data, in one run.
# See bench/versions/README.md for what every column means. Usage:
#
#   bash bench/versions/run.sh
#
# Settings (environment variables, defaults in brackets):
#   BENCH_DATA     cache of the data sets [/tmp/strata-bench-data]
#   BENCH_WORK     scratch stores, wiped at start [/tmp/strata-bench-work]
#   DATASETS       data sets to run, of "git npm" [git npm]
#   GIT_REPO       repository whose history is data set "git" [this one]
#   NPM_PKG        npm package of data set "npm" [react-dom]
#   NPM_COUNT      how many of its latest stable versions [40]
#   TOOLS          rows to run, of "strata git brz xz zstd-long zstd-file"
#                  [all of them]
#   GETS           random gets timed per tool [2000]
#   BRZ_GETS       random `brz cat` calls timed (a process each) [20]
#   SEED           seed of the random choices [42]
#   INGEST_RUNS    ingest runs per tool at most; the median is reported [3]
#   REPEAT_UNDER   run an ingest again only if its first run took less than
#                  this many seconds [60]
#   STRATA_SRC     strata source tree, or "head" for the last commit of this
#                  repository [this repository's work tree, falling back to
#                  "head" when the work tree does not build]
#   STRATA_BUILD   strata build directory [/tmp/strata-bench-build]
#   RESULTS_MD     markdown file the table is appended to
#                  [bench/versions/results-<date>.md]
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$here/../lib.sh" # log, die, top (the repository), ...
BENCH_DATA=${BENCH_DATA:-/tmp/strata-bench-data}
BENCH_WORK=${BENCH_WORK:-/tmp/strata-bench-work}
DATASETS=${DATASETS:-"git npm"}
GIT_REPO=${GIT_REPO:-$top}
NPM_PKG=${NPM_PKG:-react-dom}
NPM_COUNT=${NPM_COUNT:-40}
TOOLS=${TOOLS:-"strata git brz xz zstd-long zstd-file"}
GETS=${GETS:-2000}
BRZ_GETS=${BRZ_GETS:-20}
SEED=${SEED:-42}
INGEST_RUNS=${INGEST_RUNS:-3}
REPEAT_UNDER=${REPEAT_UNDER:-60}
STRATA_SRC=${STRATA_SRC:-}
STRATA_BUILD=${STRATA_BUILD:-/tmp/strata-bench-build}
RESULTS_MD=${RESULTS_MD:-$here/results-$(date +%Y-%m-%d).md}
PY=${PY:-python3}
helper="$PY $here/bench.py"

has() { in_list "$1" "$TOOLS"; }

started=$(date +%s)

# ------------------------------------------------------------ peers, tools
need_cmd git
need_cmd xz xz-utils
need_cmd zstd
need_time
need_build_deps libzstd-dev libsqlite3-dev libxxhash-dev
if has brz; then
	need_cmd brz
	if ! { command -v brz >/dev/null && brz help fast-import >/dev/null 2>&1; }; then
		need+=(bzr-fastimport python3-fastimport)
	fi
fi
install_needed
if has brz; then
	brz help fast-import >/dev/null 2>&1 || die "brz fast-import is not available"
fi
if [[ " $DATASETS " == *" npm "* ]]; then
	command -v npm >/dev/null || die "npm is needed for data set npm"
fi

# ------------------------------------------------------------ build strata
select_strata
# Link getbench like the strata tool: the libraries after libstrata.a in the
# tool's link line (the library's dependencies change), then the usual ones.
strata_link_deps
(cd "$STRATA_BUILD" && cc -O2 -Wall -Wextra -I"$src/include" -o "$STRATA_BUILD/getbench" \
	"$here/getbench.c" "$lib" "${deps[@]}" -lzstd -lsqlite3 -lxxhash -lpthread)
cc -O2 -Wall -Wextra -o "$STRATA_BUILD/zget" "$here/zget.c" -lzstd
GETBENCH=$STRATA_BUILD/getbench
ZGET=$STRATA_BUILD/zget
has_repack=0
"$STRATA" repack --help >/dev/null 2>&1 && has_repack=1
log "strata: $strata_desc (repack: $([ $has_repack = 1 ] && echo yes || echo no))"

# ------------------------------------------------------------ data sets
mkdir -p "$BENCH_DATA"
prepare_git() { # -> prints the data set directory
	local head d
	head=$(git -C "$GIT_REPO" rev-parse HEAD)
	d=$BENCH_DATA/git-$(basename "$(cd "$GIT_REPO" && pwd)")-${head:0:12}
	if [ ! -f "$d/info.json" ]; then
		log "data set git: building from $GIT_REPO at ${head:0:12}"
		rm -rf "$d"
		$helper_ds git "$d" --repo "$GIT_REPO" --git2load "$top/scripts/git2load.py" >&2
		$helper_ds derive "$d" >/dev/null
	fi
	echo "$d"
}
prepare_npm() {
	local d=$BENCH_DATA/npm-${NPM_PKG//\//-}-last$NPM_COUNT
	local tarballs=$BENCH_DATA/tarballs/${NPM_PKG//\//-}
	# The latest versions change when the package publishes: rebuild then.
	local latest
	latest=$(npm view "$NPM_PKG" version 2>/dev/null || true)
	if [ -f "$d/info.json" ] && [ -n "$latest" ] &&
		! grep -q "\"$latest\"" "$d/source.json"; then
		log "data set npm: $NPM_PKG $latest is new, rebuilding"
		rm -f "$d/info.json"
	fi
	if [ ! -f "$d/info.json" ]; then
		log "data set npm: fetching the last $NPM_COUNT versions of $NPM_PKG (npm pack)"
		rm -rf "$d"
		$helper_ds npm "$d" --pkg "$NPM_PKG" --count "$NPM_COUNT" --cache "$tarballs" >&2
		$helper_ds derive "$d" >/dev/null
	fi
	echo "$d"
}
helper_ds="$PY $here/datasets.py"

# ------------------------------------------------------------ measuring
rm -rf "$BENCH_WORK"
mkdir -p "$BENCH_WORK"
results=$BENCH_WORK/results.tsv
: >"$results"
put() { printf '%s\t%s\t%s\t%s\n' "$ds" "$1" "$2" "$3" >>"$results"; }
# put_kv ROW FILE-OF-"name value"-LINES [PREFIX]
put_kv() { while read -r k v; do [ -n "$k" ] && put "$1" "${3:-}$k" "$v"; done <"$2"; }

# ingest ROW FUNCTION: runs FUNCTION (which sets up from scratch and calls
# timed) INGEST_RUNS times at most, again only while the first run took
# under REPEAT_UNDER s; records the median wall time and the peak RSS.
ingest() {
	local row=$1 fn=$2
	repeat_runs "$INGEST_RUNS" "$fn"
	put "$row" ingest_s "$(fmt_s "$run_median" 3)"
	put "$row" ingest_runs "${#runs[@]}"
	put "$row" rss_kb "$run_peak"
	log "  $row: ingest $(fmt_s "$run_median") s (median of ${#runs[@]}), peak RSS $((run_peak / 1024)) MiB"
}

# --- strata
strata_ingest() {
	rm -rf "$W/strata"
	"$STRATA" init "$W/strata" >/dev/null
	timed "$STRATA" load "$W/strata" "$D/stream.load" >/dev/null
}
strata_repack_ingest() {
	strata_ingest
	timed "$STRATA" repack "$W/strata" >/dev/null
}
strata_gets() { # ROW STORE
	local row=$1 store=$2 out=$BENCH_WORK/kv
	put "$row" stored "$(tree_bytes "$store")"
	"$GETBENCH" "$store" "$GETS" "$SEED" >"$out" || die "getbench failed on $store"
	put_kv "$row" "$out"
	put "$row" note "$(awk '{v[$1] = $2} END {printf "groups/get median %s max %s; decoded/get median %s p99 %s; get max %.2f ms; read amp p99 %s max %s", v["groups_median"], v["groups_max"], v["decoded_median"], v["decoded_p99"], v["get_ns_max"] / 1e6, v["amp_p99"], v["amp_max"]}' "$out")"
	$helper check-strata "$STRATA" "$store" "$SAMPLE" 50 >"$out"
	put_kv "$row" "$out" check_
	local bad
	bad=$(awk '$1 == "bad" {print $2}' "$out")
	[ "$bad" = 0 ] || put "$row" note "WRONG DATA: $bad of 50 strata gets differ from the source"
	if ! "$STRATA" verify "$store" >"$BENCH_WORK/verify.out" 2>&1; then
		put "$row" note "strata verify FAILED: $(tail -n3 "$BENCH_WORK/verify.out" | tr '\n' ' ')"
		log "  strata verify failed on $store"
	fi
}
run_strata() {
	ingest "strata" strata_ingest
	strata_gets "strata" "$W/strata"
	local packs
	packs=$("$STRATA" stats "$W/strata" --json 2>/dev/null |
		$PY -c 'import json,sys; j = json.load(sys.stdin); print(j.get("stored_bytes", j.get("pack_bytes", "")))' 2>/dev/null || true)
	[ -z "$packs" ] || put strata note "stored = the store directory; its packs alone: $packs bytes (strata stats)"
	if [ -f "$W/strata/strata.conf" ]; then
		put strata note "options (defaults): $(grep -v '^strata-store' "$W/strata/strata.conf" | tr -d ' ' | paste -sd' ')"
	fi
	if [ "$has_repack" = 1 ]; then
		ingest "strata repack" strata_repack_ingest
		strata_gets "strata repack" "$W/strata"
		put "strata repack" note "ingest = load + repack"
	fi
}

# --- git
git_ingest() {
	rm -rf "$W/git"
	git init -q --bare "$W/git"
	timed git --git-dir "$W/git" fast-import --quiet <"$D/import.fi"
	git_fi_bytes=$(tree_bytes "$W/git/objects")
	timed git --git-dir "$W/git" gc --aggressive --quiet
}
run_git() {
	ingest git git_ingest
	put git stored "$(tree_bytes "$W/git/objects/pack")"
	$helper gitget "$W/git" "$SAMPLE" >"$BENCH_WORK/kv" || die "git gets failed"
	put_kv git "$BENCH_WORK/kv"
	$helper gitchain "$W/git" "$SAMPLE" >"$BENCH_WORK/kv"
	put_kv git "$BENCH_WORK/kv"
	put git read_estimate 1
	put git note "ingest = fast-import + gc --aggressive (fast-import alone stores $(numfmt --to=iec-i --suffix=B "$git_fi_bytes")); get = cat-file --batch through a pipe; read/get = packed sizes along the delta chain (depth median $(awk '$1 == "depth_median" {print $2}' "$BENCH_WORK/kv"), max $(awk '$1 == "depth_max" {print $2}' "$BENCH_WORK/kv"))"
}

# --- brz
brz_ingest() {
	rm -rf "$W/brz"
	brz init-shared-repo -q --no-trees --format=2a "$W/brz"
	timed brz fast-import -q "$D/import.fi" "$W/brz"
	timed brz pack -q --clean-obsolete-packs "$W/brz"
}
run_brz() {
	ingest "brz 2a" brz_ingest
	put "brz 2a" stored "$(tree_bytes "$W/brz/.bzr/repository")"
	$helper brzget "$W/brz/trunk" "$SAMPLE" "$BRZ_GETS" >"$BENCH_WORK/kv" || die "brz gets failed"
	put_kv "brz 2a" "$BENCH_WORK/kv"
	put "brz 2a" note "ingest = fast-import + pack; get = one \`brz cat -r REVNO PATH\` process each, $BRZ_GETS samples: process start dominates"
}

# --- solid compressors
xz_ingest() { timed xz -9e -T1 -c "$D/concat.bin" >"$W/concat.xz"; }
zlong_ingest() { timed zstd -19 --long=31 -T1 -q -c "$D/concat.bin" >"$W/concat.zst"; }
solid_row() { # ROW ARCHIVE DECOMPRESS-CMD...
	local row=$1 archive=$2 t0 t1
	shift 2
	put "$row" stored "$(stat -c %s "$archive")"
	t0=$(now_ns)
	"$@" <"$archive" | cmp -s - "$D/concat.bin" || die "$row: decompressed data differ"
	t1=$(now_ns)
	$helper solid "$archive" "$SAMPLE" "$raw" >"$BENCH_WORK/kv"
	put_kv "$row" "$BENCH_WORK/kv"
	put "$row" read_estimate 1
	put "$row" note "solid: no random access; full decompression $(fmt_s $((t1 - t0))) s; read/get = archive bytes before the record's end"
}
run_xz() {
	ingest "xz -9e" xz_ingest
	solid_row "xz -9e" "$W/concat.xz" xz -dc
}
run_zstd_long() {
	ingest "zstd -19 --long" zlong_ingest
	solid_row "zstd -19 --long" "$W/concat.zst" zstd -dc --long=31 -q
}

# --- zstd per file
zfile_ingest() {
	rm -rf "$W/zfiles"
	mkdir -p "$W/zfiles"
	timed zstd -19 -T1 -q -r "$D/files" --output-dir-flat "$W/zfiles"
}
run_zstd_file() {
	ingest "zstd -19 per file" zfile_ingest
	put "zstd -19 per file" stored "$(tree_bytes "$W/zfiles")"
	$helper zfiles "$W/zfiles" "$SAMPLE" "$BENCH_WORK/zlist"
	"$ZGET" "$BENCH_WORK/zlist" >"$BENCH_WORK/kv" || die "zget failed"
	grep -v '^read_median' "$BENCH_WORK/kv" >"$BENCH_WORK/kv2"
	put_kv "zstd -19 per file" "$BENCH_WORK/kv2"
	$helper zread "$W/zfiles" "$SAMPLE" >"$BENCH_WORK/kv"
	put_kv "zstd -19 per file" "$BENCH_WORK/kv"
	put "zstd -19 per file" note "get = read + ZSTD_decompress of one file, in process (zget.c)"
}

# ------------------------------------------------------------ run
for ds in $DATASETS; do
	case $ds in
	git) D=$(prepare_git) ;;
	npm) D=$(prepare_npm) ;;
	*) die "unknown data set $ds" ;;
	esac
	W=$BENCH_WORK/$ds
	mkdir -p "$W"
	SAMPLE=$W/sample.tsv
	$helper sample "$D/manifest.tsv" "$GETS" "$SEED" "$SAMPLE"
	raw=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["raw_bytes"])' "$D/info.json")
	desc=$($PY - "$D/info.json" <<'EOF'
import json, sys
i = json.load(open(sys.argv[1]))
s = i.get("source", {})
if s.get("kind") == "npm":
    v = s["versions"]
    what = (f"npm package {s['package']}, {len(v)} versions {v[0]}..{v[-1]} "
            f"(full trees {s['full_tree_bytes'] / 2**20:.1f} MiB)")
else:
    what = f"git history of {s.get('repo', '?')} ({s.get('commits', '?')} commits to {s.get('head', '?')[:12]})"
print(f"{what}; {i['records']} file versions of {i['keys']} files in {i['units']} "
      f"versions, raw {i['raw_bytes']} bytes ({i['raw_bytes'] / 2**20:.1f} MiB)")
EOF
)
	log "data set $ds: $desc"
	put _info raw_bytes "$raw"
	put _info desc "$desc"
	if has strata; then run_strata; fi
	if has git; then run_git; fi
	if has brz; then run_brz; fi
	if has xz; then run_xz; fi
	if has zstd-long; then run_zstd_long; fi
	if has zstd-file; then run_zstd_file; fi
done

# ------------------------------------------------------------ report
header="strata $strata_desc; $(date -u '+%Y-%m-%d %H:%M UTC'); $(machine_line)"
versions="$(version_of git), $(brz --version 2>/dev/null | awk 'NR == 1 {print "brz " $3}'), $(version_of xz), $(version_of zstd)"
echo
echo "$header"
echo "$versions; gets per tool: $GETS (brz: $BRZ_GETS), seed $SEED"
{
	echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$header; $versions; gets per tool: $GETS (brz: $BRZ_GETS), seed $SEED."
	echo
} >>"$RESULTS_MD"
$helper table "$results" --md "$RESULTS_MD"
log "table appended to $RESULTS_MD; raw measurements in $results"
