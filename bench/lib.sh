# shellcheck shell=bash
# The set-up and measuring code the benchmark drivers bench/*/run.sh share.
# Sourced, not run, by a driver that sets, for the functions that use them,
# STRATA_SRC, STRATA_BUILD, BENCH_WORK, REPEAT_UNDER and `started` (the
# run's start, date +%s). Sourcing sets `top`, the repository's top
# directory (the one above bench/), and strata_rev, its last commit.
#
# What the strata functions set for the driver: src (the source tree built),
# strata_desc, STRATA (the strata binary), lib (libstrata.a) and deps (the
# libraries to link after libstrata.a); timed sets wall_ns and rss_kb;
# repeat_runs sets runs, run_median and run_peak.
# shellcheck disable=SC2034,SC2154 # set here for the drivers; started: set by them

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# log MESSAGE...: one time-stamped line on standard error
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# die MESSAGE...: log it as an error and exit 1
die() { log "error: $*"; exit 1; }

# in_list WORD LIST: whether WORD is one of the blank-separated words of LIST
in_list() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------ packages
# Debian packages to install: need_* add to it, install_needed installs it.
need=()

# need_cmd COMMAND [PACKAGE]: PACKAGE (default COMMAND) is needed unless
# COMMAND is on the PATH
need_cmd() { command -v "$1" >/dev/null || need+=("${2:-$1}"); }

# need_time: GNU time (/usr/bin/time, which timed runs) is needed
need_time() { [ -x /usr/bin/time ] || need+=(time); }

# need_build_deps DEV-PACKAGE...: strata's own build dependencies. The
# project's scripts/setup.sh when it has one (run now; it installs only what
# is missing), else cmake, a C compiler, pkg-config and the DEV-PACKAGEs not
# installed yet are needed.
need_build_deps() {
	local p
	if [ -f "$top/scripts/setup.sh" ]; then
		bash "$top/scripts/setup.sh" || die "scripts/setup.sh failed"
		return 0
	fi
	need_cmd cmake
	need_cmd cc build-essential
	need_cmd pkg-config
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || need+=("$p")
	done
}

# install_needed: apt-get install the needed packages, if any (through sudo
# unless root), and empty the list
install_needed() {
	[ "${#need[@]}" -gt 0 ] || return 0
	log "installing ${need[*]}"
	local SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	need=()
}

# ------------------------------------------------------------ strata
# build_strata SRC BUILD: Release build of the strata source tree SRC in
# BUILD, without the tests, its output in BUILD.log; a BUILD configured for
# another source tree is started afresh. gcc 12 at -O3 reports
# maybe-uninitialized false positives that -Werror turns into errors in a
# Release build: they stay warnings here.
build_strata() {
	if [ -f "$2/CMakeCache.txt" ] &&
		! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$(cd "$1" && pwd)" "$2/CMakeCache.txt"; then
		rm -rf "$2"
	fi
	cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DSTRATA_TESTS=OFF \
		-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized >"$2.log" 2>&1 &&
		cmake --build "$2" -j "$(nproc)" >>"$2.log" 2>&1
}

strata_rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)

# worktree_desc: prints "work tree at REV", with " + uncommitted changes"
# when src, include, cli or CMakeLists.txt differ from the last commit (git
# plumbing only: nothing here writes the index)
worktree_desc() {
	local dirty=
	if ! git -C "$top" diff-index --quiet HEAD -- src include cli CMakeLists.txt 2>/dev/null ||
		[ -n "$(git -C "$top" ls-files --others --exclude-standard -- src include cli 2>/dev/null)" ]; then
		dirty=" + uncommitted changes"
	fi
	echo "work tree at $strata_rev$dirty"
}

# head_snapshot: extracts the last commit's tree into $STRATA_BUILD-src and
# prints that directory
head_snapshot() {
	local d=$STRATA_BUILD-src
	rm -rf "$d" && mkdir -p "$d"
	git -C "$top" archive HEAD | tar -x -C "$d"
	echo "$d"
}

# use_head WHY: builds the last commit instead, in $STRATA_BUILD-head; WHY
# ends strata_desc
use_head() {
	src=$(head_snapshot)
	STRATA_BUILD=$STRATA_BUILD-head
	strata_desc="commit $strata_rev$1"
	build_strata "$src" "$STRATA_BUILD" || die "strata build failed, see $STRATA_BUILD.log"
}

# select_strata [SMOKE-FUNCTION WHAT]: builds the strata STRATA_SRC names:
# "head", the last commit; a directory, that tree; empty, the work tree,
# falling back to the last commit when the work tree does not build or, given
# SMOKE-FUNCTION, when `SMOKE-FUNCTION BUILD-DIR` fails on its build (WHAT
# says what it tried, e.g. "a tiny load"). Sets src, strata_desc,
# STRATA_BUILD, STRATA and lib; dies when nothing usable is built.
# shellcheck disable=SC2120 # the arguments are optional
select_strata() {
	local smoke=${1:-} what=${2:-}
	mkdir -p "$(dirname "$STRATA_BUILD")"
	if [ "$STRATA_SRC" = head ]; then
		use_head ""
	elif [ -n "$STRATA_SRC" ]; then
		src=$STRATA_SRC
		strata_desc="source $src"
		build_strata "$src" "$STRATA_BUILD" || die "strata build failed, see $STRATA_BUILD.log"
	else
		src=$top
		strata_desc=$(worktree_desc)
		if ! build_strata "$src" "$STRATA_BUILD"; then
			cp "$STRATA_BUILD.log" "$STRATA_BUILD-worktree.log"
			log "the work tree does not build (see $STRATA_BUILD-worktree.log); benchmarking commit $strata_rev"
			grep -m3 -iE 'error' "$STRATA_BUILD.log" >&2 || true
			use_head " (the work tree did not build)"
		elif [ -n "$smoke" ] && ! "$smoke" "$STRATA_BUILD"; then
			log "the work tree's strata fails $what; benchmarking commit $strata_rev"
			use_head " (the work tree's strata failed $what)"
		fi
	fi
	STRATA=$STRATA_BUILD/strata
	lib=$(find "$STRATA_BUILD" -maxdepth 2 -name libstrata.a | head -n1)
	if [ ! -x "$STRATA" ] || [ -z "$lib" ]; then
		die "no strata binary or libstrata.a in $STRATA_BUILD"
	fi
	if [ -n "$smoke" ]; then
		"$smoke" "$STRATA_BUILD" || die "strata fails $what ($STRATA)"
	fi
}

# strata_link_deps: sets the array deps to the libraries that follow
# libstrata.a in the strata tool's link line (the library's dependencies
# change), so that a benchmark program links like the tool
strata_link_deps() {
	local linktxt=$STRATA_BUILD/CMakeFiles/strata_cli.dir/link.txt
	deps=()
	if [ -f "$linktxt" ]; then
		read -r -a deps < <(awk '{for (i = 1; i <= NF; i++) if (f) printf "%s ", $i; else if ($i ~ /libstrata\.a$/) f = 1} END {print ""}' "$linktxt")
	fi
}

# ------------------------------------------------------------ measuring
# now_ns: the time, in ns since the epoch
now_ns() { date +%s%N; }

# tree_bytes PATH...: the bytes of the files under PATHs
tree_bytes() { find "$@" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# fmt_s NS [DECIMALS]: NS nanoseconds in seconds, with DECIMALS (2) decimals
fmt_s() { awk -v n="$1" -v d="${2:-2}" 'BEGIN {printf "%." d "f", n / 1e9}'; }

# timed CMD...: runs CMD under GNU time, adds its wall time (ns) to $wall_ns
# and raises $rss_kb to its peak RSS (the last line of time's output).
# Redirections of the call apply to CMD. When CMD fails: timed_failed
# TIME-OUTPUT-FILE CMD..., then return 1.
timed() {
	local tf=$BENCH_WORK/time.out t0 t1 m
	t0=$(now_ns)
	if ! /usr/bin/time -f '%M' -o "$tf" "$@"; then
		timed_failed "$tf" "$@"
		return 1
	fi
	t1=$(now_ns)
	wall_ns=$((wall_ns + t1 - t0))
	m=$(tail -n1 "$tf")
	[ "$m" -gt "$rss_kb" ] && rss_kb=$m
	return 0
}

# timed_failed TIME-OUTPUT-FILE CMD...: what timed does when CMD fails: log
# it with time's output. A driver may define its own after sourcing this.
timed_failed() {
	local tf=$1
	shift
	log "failed: $*"
	cat "$tf" >&2 || true
}

# repeat_runs MAX FUNCTION: runs FUNCTION (which calls timed; wall_ns and
# rss_kb start at 0 for each run) MAX times at most, again only while its
# first run took under REPEAT_UNDER s. Sets runs (the wall times, ns),
# run_median (their median, the upper one of an even count) and run_peak
# (the highest peak RSS, KiB).
repeat_runs() {
	local max=$1 fn=$2 i
	runs=()
	run_peak=0
	for ((i = 1; i <= max; i++)); do
		wall_ns=0 rss_kb=0
		"$fn"
		runs+=("$wall_ns")
		[ "$rss_kb" -gt "$run_peak" ] && run_peak=$rss_kb
		[ "${runs[0]}" -lt $((REPEAT_UNDER * 1000000000)) ] || break
	done
	run_median=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
}

# ------------------------------------------------------------ report
# machine_line: "N cores (CPU); run took S s", S counted from $started
machine_line() {
	local elapsed=$(($(date +%s) - started)) cpu
	cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
	echo "$(nproc) cores ($cpu); run took ${elapsed} s"
}

# version_of TOOL: "TOOL VERSION" as the report headers give it, for zstd,
# xz, git, gzip, pigz, lz4 and strace
version_of() {
	case $1 in
	zstd) zstd --version | sed -E 's/.* (v[0-9.]+).*/zstd \1/' ;;
	xz) xz --version | awk 'NR == 1 {print "xz " $4}' ;;
	git) git --version | awk '{print "git " $3}' ;;
	gzip) gzip --version | awk 'NR == 1 {print "gzip " $2}' ;;
	pigz) pigz --version 2>&1 | awk '{print "pigz " $2}' ;;
	lz4) lz4 --version 2>&1 | sed -E 's/.* (v[0-9.]+).*/lz4 \1/' ;;
	strace) strace -V | awk 'NR == 1 {print "strace " $4}' ;;
	*) die "version_of: unknown tool $1" ;;
	esac
}
