#!/usr/bin/env bash
# Benchmark strata on a real syscall trace against command-line compressors,
# and the producer's side of strata_put, in one run. See bench/trace/README.md
# for the workload and every column. Usage:
#
#   bash bench/trace/run.sh
#
# Settings (environment variables, defaults in brackets):
#   BENCH_DATA     cache of data sets; the trace goes to $BENCH_DATA/trace
#                  [/tmp/strata-bench-data]
#   BENCH_WORK     scratch stores and archives, wiped at start
#                  [/tmp/strata-bench-work-trace]
#   TRACE_MB       raw record bytes of the trace, in MB (10^6 bytes) [300]
#   WORKLOADS      captures in turn, repeated until TRACE_MB is reached, of
#                  "build compileall cat" [build compileall cat]
#   REBUILD_DATA   1: capture and convert again even if cached [0]
#   CODECS         strata rows: "trace" (--profile trace: zstd:2) and codecs
#                  given with --codec on top of the trace profile
#                  [trace lz4 zstd:3]
#   THREADS        worker threads of strata load and putbench [1 2]
#   QUEUE_MB       queue cap of strata load and putbench, MiB [64]
#   PEERS          rows of "gzip pigz zstd zstd-long lz4 xz" [all of them]
#   RUNS           runs per timing at most; the median is reported [3]
#   PAIRS          head to head: strata (trace profile, the last of THREADS)
#                  and `zstd -3 -T2`, load then replay, in turns this many
#                  times; the ingest and replay targets are the median of
#                  the turns' ratios (0: none, the targets then come from
#                  the table) [7]
#   REPEAT_UNDER   repeat a timing only if its first run took less than this
#                  many seconds [10]
#   STRATA_SRC     strata source tree, or "head" for the last commit [this
#                  work tree, falling back to "head" when it does not build
#                  or its `strata load` fails a smoke test]
#   STRATA_BUILD   strata build directory [/tmp/strata-bench-build-trace]
#   RESULTS_MD     markdown file the tables are appended to
#                  [bench/trace/results-<date>.md]
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$here/../lib.sh" # log, die, top (the repository), ...
BENCH_DATA=${BENCH_DATA:-/tmp/strata-bench-data}
BENCH_WORK=${BENCH_WORK:-/tmp/strata-bench-work-trace}
TRACE_MB=${TRACE_MB:-300}
WORKLOADS=${WORKLOADS:-"build compileall cat"}
REBUILD_DATA=${REBUILD_DATA:-0}
CODECS=${CODECS:-"trace lz4 zstd:3"}
THREADS=${THREADS:-"1 2"}
QUEUE_MB=${QUEUE_MB:-64}
PEERS=${PEERS:-"gzip pigz zstd zstd-long lz4 xz"}
RUNS=${RUNS:-3}
PAIRS=${PAIRS:-7}
REPEAT_UNDER=${REPEAT_UNDER:-10}
STRATA_SRC=${STRATA_SRC:-}
STRATA_BUILD=${STRATA_BUILD:-/tmp/strata-bench-build-trace}
RESULTS_MD=${RESULTS_MD:-$here/results-$(date +%Y-%m-%d).md}
PY=${PY:-python3}
helper="$PY $here/trace.py"
D=$BENCH_DATA/trace

started=$(date +%s)

# ------------------------------------------------------------ tools
need_cmd strace
need_cmd git
need_cmd gzip
need_cmd pigz
need_cmd zstd
need_cmd lz4
need_cmd xz xz-utils
need_time
need_build_deps libzstd-dev liblz4-dev zlib1g-dev liblzma-dev libsqlite3-dev libxxhash-dev
install_needed

# ------------------------------------------------------------ build strata
# A tiny load, with the flags this run will pass: a build that crashes on it
# (another engineer's half-done change) is not worth benchmarking.
smoke_strata() { # BUILD
	local s=$1/smoke-store args=()
	"$1/strata" load --help 2>&1 | grep -- '--threads' >/dev/null && args=(--threads 2 --queue-mb 8)
	rm -rf "$s"
	"$1/strata" init "$s" --profile trace >/dev/null 2>&1 &&
		printf 'put 5 events\nhello\nput 3 data\nabc\ncommit one\n' |
		"$1/strata" load "$s" - "${args[@]}" >/dev/null 2>&1 &&
		[ "$("$1/strata" cat "$s" events 2>/dev/null)" = hello ]
	local rc=$?
	rm -rf "$s"
	return $rc
}
select_strata smoke_strata "a tiny load"

has_threads=0
"$STRATA" load --help 2>&1 | grep -- '--threads' >/dev/null && has_threads=1
# --stats: each load also says how much CPU its reading thread, its workers
# and its writer used (the bound on what more threads can gain)
has_stats=0
"$STRATA" load --help 2>&1 | grep -- '--stats' >/dev/null && has_stats=1
# putbench uses the pipeline API when the header and the library have it.
pipeline_flag=()
if grep -q 'strata_pipeline_options' "$src/include/strata.h" &&
	nm "$lib" 2>/dev/null | grep ' T strata_pipeline_stats_get$' >/dev/null; then
	pipeline_flag=(-DHAVE_STRATA_PIPELINE)
fi
# Link like the strata tool: the libraries after libstrata.a in its link
# line, then the usual ones.
strata_link_deps
PUTBENCH=$STRATA_BUILD/putbench
(cd "$STRATA_BUILD" && cc -O2 -Wall -Wextra "${pipeline_flag[@]}" -I"$src/include" -o "$PUTBENCH" \
	"$here/putbench.c" "$lib" "${deps[@]}" -lzstd -lsqlite3 -lxxhash -llz4 -lz -llzma -lpthread) ||
	die "putbench does not build"
log "strata: $strata_desc (load --threads: $([ $has_threads = 1 ] && echo yes || echo no); putbench pipeline API: $([ ${#pipeline_flag[@]} -gt 0 ] && echo yes || echo no))"

# ------------------------------------------------------------ the trace
# Real captures of this machine: strace -f of a build of strata, of a byte
# compilation of the system's Python library, of cat over /usr/share; in
# turn (and again, round after round) until TRACE_MB of records is reached.
STRACE=(strace -f -s 4096 -xx -ttt -T)
SYSPY=/usr/bin/python3
[ -x "$SYSPY" ] || SYSPY=$(command -v python3)
capture_build() { # OUT TMP
	local s=$2/strata-src b=$2/strata-build
	rm -rf "$s" "$b" && mkdir -p "$s"
	# the last commit's tree; without git, a copy of the work tree
	if ! git -C "$top" archive HEAD 2>/dev/null | tar -x -C "$s" 2>/dev/null; then
		rm -rf "$s" && mkdir -p "$s"
		tar -C "$top" --exclude=./.git --exclude=./build -cf - . | tar -x -C "$s"
	fi
	"${STRACE[@]}" -o "$1" bash -c 'cmake -S "$0" -B "$1" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized >/dev/null 2>&1 &&
		cmake --build "$1" -j "$2" >/dev/null 2>&1' "$s" "$b" "$(nproc)" ||
		log "  (the traced build failed; its capture is used all the same)"
	rm -rf "$s" "$b"
}
capture_compileall() { # OUT TMP
	# .pyc files go to a scratch directory, not next to the system's sources
	rm -rf "$2/pycache"
	"${STRACE[@]}" -o "$1" env PYTHONPYCACHEPREFIX="$2/pycache" "$SYSPY" -m compileall -q -f \
		/usr/lib/python3 /usr/lib/python3.[0-9]* >/dev/null 2>&1 || true
	rm -rf "$2/pycache"
}
capture_cat() { # OUT TMP
	"${STRACE[@]}" -o "$1" bash -c 'find /usr/share -type f -print0 | xargs -0 cat >/dev/null 2>&1' || true
}
prepare_trace() {
	local want=$((TRACE_MB * 1000000)) id tmp=$D/capture round=0 raw=0 f w
	id="trace-v1 $want $WORKLOADS"
	if [ "$REBUILD_DATA" != 1 ] && [ -f "$D/info.json" ] && [ "$(cat "$D/id" 2>/dev/null)" = "$id" ]; then
		return 0
	fi
	log "building the trace ($TRACE_MB MB of records from: $WORKLOADS) in $D"
	rm -rf "$D" && mkdir -p "$tmp"
	while [ "$raw" -lt "$want" ]; do
		round=$((round + 1))
		[ "$round" -le 50 ] || die "50 rounds of captures make less than $TRACE_MB MB"
		for w in $WORKLOADS; do
			f=$tmp/round$round-$w.strace
			log "  capture $round: $w"
			"capture_$w" "$f" "$tmp"
			$helper convert "$D" --limit "$want" "$f"
			rm -f "$f"
			raw=$($helper raw "$D")
			[ "$raw" -lt "$want" ] || break
		done
	done
	rm -rf "$tmp"
	$helper finish "$D"
	echo "$id" >"$D/id"
}
prepare_trace
desc=$($helper summary "$D")
log "trace: $desc"
raw=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["raw"])' "$D/info.json")
KEYS="events data mmaps"

# ------------------------------------------------------------ measuring
rm -rf "$BENCH_WORK"
mkdir -p "$BENCH_WORK"
W=$BENCH_WORK
results=$W/results.tsv
: >"$results"
put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }

# timed (bench/lib.sh) stops the run when a command fails, with the end of
# strata load's log.
timed_failed() { # TIME-OUTPUT CMD...
	cat "$1" >&2 || true
	tail -n 5 "$W/strata-load.log" >&2 2>/dev/null || true
	shift
	die "failed: $*"
}

# measure ROW WHAT FUNCTION: runs FUNCTION (which sets up and calls timed)
# RUNS times at most, again only while its first run took under
# REPEAT_UNDER s; records the median as WHAT_s, the count as WHAT_runs and,
# for WHAT=wall, the peak RSS.
measure() {
	local row=$1 what=$2 fn=$3
	repeat_runs "$RUNS" "$fn"
	put "$row" "${what}_s" "$(fmt_s "$run_median")"
	put "$row" "${what}_runs" "${#runs[@]}"
	[ "$what" != wall ] || put "$row" rss_kb "$run_peak"
	log "  $row: $what $(fmt_s "$run_median") s ($([ ${#runs[@]} = 1 ] && echo "1 run" || echo "median of ${#runs[@]}"))"
}

# --- strata: `strata load` of the stream, `strata cat` of every key
S=$W/store
s_init=()
s_load=()
s_ingest() {
	rm -rf "$S"
	"$STRATA" init "$S" "${s_init[@]}" >/dev/null
	# its summary line goes to the log, not the terminal
	timed "$STRATA" load "$S" "$D/stream.load" "${s_load[@]}" >/dev/null 2>>"$W/strata-load.log"
}
s_replay() { # one process streams every key, as a replayer reads them all
	# shellcheck disable=SC2086
	timed "$STRATA" cat "$S" $KEYS >/dev/null
}
s_check() { # ROW: every key's records, read back, against the stream's
	local k want got bad=0
	for k in $KEYS; do
		want=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["sha256"].get(sys.argv[2], ""))' "$D/info.json" "$k")
		got=$("$STRATA" cat "$S" "$k" | sha256sum | cut -d' ' -f1)
		[ "$want" = "$got" ] || { bad=1; log "  $1: WRONG DATA for key $k"; put "$1" note "WRONG DATA: strata cat $k differs from the stream"; }
	done
	[ $bad = 0 ] && put "$1" note "read back: every key matches the stream (sha256)"
	return 0
}
run_strata() { # CODEC THREADS
	local codec=$1 t=$2 row packs
	s_init=(--profile trace)
	if [ "$codec" = trace ]; then
		row="strata --profile trace (zstd:2)"
	else
		s_init+=(--codec "$codec")
		row="strata trace + --codec $codec"
	fi
	if [ "$has_threads" = 1 ]; then
		s_load=(--threads "$t" --queue-mb "$QUEUE_MB")
		[ "$has_stats" = 0 ] || s_load+=(--stats)
		row="$row, $t thread$([ "$t" = 1 ] || echo s)"
	else
		s_load=()
		row="$row, load without --threads"
	fi
	put "$row" id "strata:$codec:$t"
	local logged=0
	[ ! -f "$W/strata-load.log" ] || logged=$(wc -l <"$W/strata-load.log")
	measure "$row" wall s_ingest
	# each run's "cpu: R s reading, C s coding, W s writing", as lists
	if [ "$has_stats" = 1 ]; then
		put "$row" cpu "$(tail -n +$((logged + 1)) "$W/strata-load.log" |
			awk '/^cpu: /{printf "%s%s %s %s", n++ ? ";" : "", $2, $5, $8}')"
	fi
	put "$row" stored "$(tree_bytes "$S")"
	packs=$(tree_bytes "$S/packs")
	put "$row" packs "$packs"
	measure "$row" replay s_replay
	s_check "$row"
}

# --- command-line codecs on concat.bin (the records' payloads, in order)
run_peer() { # ID ROW EXT "COMPRESS ARGS" "DECOMPRESS ARGS"
	local id=$1 row=$2 out=$W/peer.$3 c d
	read -r -a c <<<"$4"
	read -r -a d <<<"$5"
	p_ingest() { timed "${c[@]}" "$D/concat.bin" >"$out"; }
	p_replay() { timed "${d[@]}" "$out" >/dev/null; }
	put "$row" id "$id"
	measure "$row" wall p_ingest
	put "$row" stored "$(stat -c %s "$out")"
	measure "$row" replay p_replay
	rm -f "$out"
}
has_peer() { in_list "$1" "$PEERS"; }

put _info raw "$raw"
put _info desc "$desc"
put _info queue_mb "$QUEUE_MB"
put _info threads "$THREADS"
put _info has_threads "$has_threads"
put _info cores "$(nproc)"

log "strata ($strata_desc)"
for codec in $CODECS; do
	if [ "$has_threads" = 1 ]; then
		for t in $THREADS; do run_strata "$codec" "$t"; done
	else
		run_strata "$codec" 0
	fi
done
rm -rf "$S"

log "command-line codecs on concat.bin"
has_peer gzip && run_peer gzip "gzip -6" gz "gzip -6 -c" "gzip -dc"
has_peer pigz && run_peer pigz "pigz -6 ($(nproc) threads)" gz "pigz -6 -c" "pigz -dc"
has_peer zstd && run_peer zstd "zstd -3 -T2" zst "zstd -3 -T2 -q -c" "zstd -dc -q"
has_peer zstd-long && run_peer zstd-long "zstd -3 --long=27 -T2" zst "zstd -3 --long=27 -T2 -q -c" "zstd -dc -q --long=27"
has_peer lz4 && run_peer lz4 "lz4 (-1)" lz4 "lz4 -q -c" "lz4 -dc -q"
has_peer xz && run_peer xz "xz -T0 (-6)" xz "xz -T0 -c" "xz -dc -T0"

# --- head to head. The machine's speed drifts over a run (a shared
# machine): the rows above are timed one after the other, so the two the
# ingest and replay targets compare are also timed in turns, each turn
# giving a ratio.
if [ "$PAIRS" -gt 0 ] && has_peer zstd; then
	s_init=(--profile trace)
	s_load=()
	top_t=0
	if [ "$has_threads" = 1 ]; then
		top_t=${THREADS##* }
		s_load=(--threads "$top_t" --queue-mb "$QUEUE_MB")
	fi
	log "head to head: strata --profile trace (threads $top_t) and zstd -3 -T2 in turns, $PAIRS times"
	zout=$W/pair.zst
	for ((i = 1; i <= PAIRS; i++)); do
		wall_ns=0 rss_kb=0
		s_ingest
		put "_pair $i" strata_load_ns "$wall_ns"
		wall_ns=0
		timed zstd -3 -T2 -q -c "$D/concat.bin" >"$zout"
		put "_pair $i" zstd_ns "$wall_ns"
		wall_ns=0
		s_replay
		put "_pair $i" strata_replay_ns "$wall_ns"
		wall_ns=0
		timed zstd -dc -q "$zout" >/dev/null
		put "_pair $i" zstd_d_ns "$wall_ns"
	done
	put _info pair_threads "$top_t"
	rm -rf "$S" "$zout"
fi

# --- the producer's side: putbench, one run per worker count
log "putbench (trace profile, queue $QUEUE_MB MiB)"
for t in $THREADS; do
	rm -rf "$S"
	kv=$W/putbench-$t.kv
	"$PUTBENCH" "$S" "$D/stream.load" --workers "$t" --queue-mb "$QUEUE_MB" >"$kv" ||
		die "putbench --workers $t failed"
	while read -r k v; do [ -n "$k" ] && put "_put $t" "$k" "$v"; done <"$kv"
	log "  workers $t: $(awk '$1 == "wall_ns" {printf "%.2f s", $2 / 1e9} $1 == "put_ns_p99" {printf ", put p99 %.1f µs", $2 / 1e3} $1 == "maxrss_kb" {printf ", peak RSS %d MiB", $2 / 1024}' "$kv")"
done
rm -rf "$S"

# ------------------------------------------------------------ report
header="strata $strata_desc; $(date -u '+%Y-%m-%d %H:%M UTC'); $(machine_line)"
versions="$(version_of strace), $(version_of gzip), $(version_of pigz), $(version_of zstd), $(version_of lz4), $(version_of xz)"
echo
echo "$header"
echo "$versions"
echo "trace: $desc"
echo
{
	echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$header; $versions."
	echo
	echo "Trace: $desc."
	echo
} >>"$RESULTS_MD"
$helper report "$results" --md "$RESULTS_MD"
log "tables appended to $RESULTS_MD; raw measurements in $results"
