# lib.sh - helpers shared by the bash CLI tests. Source it after setting
# nothing; it reads the strata binary from $1.
#
#   run CMD...            run CMD, stdout -> $OUT, stderr -> $ERR, exit -> $RC
#   expect RC CMD...      run CMD and check its exit status
#   out_is TEXT           stdout is exactly TEXT (printf '%s' semantics)
#   err_is TEXT           stderr is exactly TEXT
#   err_has TEXT          stderr contains TEXT (fixed string)
#   out_empty / err_empty
#   same_file A B WHAT    byte-for-byte comparison with cmp
#   check COND... -- MSG  record a failure with MSG unless COND succeeds
#   die MSG               fatal: stop the test now
#
# A failed check is reported at once (FAIL: ...) and the test goes on, so one
# bug does not hide the others; finish() exits 1 if anything failed.

set -euo pipefail

STRATA=${1:?usage: $0 /path/to/strata}
[[ -x $STRATA ]] || { echo "FATAL: '$STRATA' is not an executable" >&2; exit 1; }
STRATA=$(cd "$(dirname "$STRATA")" && pwd)/$(basename "$STRATA")

T=$(mktemp -d "${TMPDIR:-/tmp}/strata-test.XXXXXX")
BG_PIDS=()   # background processes a test started: killed at exit
cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	# Packs are read-only (0444); make everything removable first.
	chmod -R u+w "$T" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
OUT=$T/.out
ERR=$T/.err
FAILS=0
CHECKS=0
SECTION=""

section() { SECTION=$1; echo "== $1"; }

die() {
	echo "FATAL [$SECTION]: $*" >&2
	exit 1
}

fail() {
	FAILS=$((FAILS + 1))
	echo "FAIL [$SECTION]: $*" >&2
}

ok() { CHECKS=$((CHECKS + 1)); }

finish() {
	if ((FAILS)); then
		echo "$FAILS of $CHECKS check(s) FAILED" >&2
		exit 1
	fi
	echo "all $CHECKS checks passed"
	exit 0
}

# Short, printable rendering of a file for messages.
show() { head -c 600 "$1" | cat -A | head -n 12; }

LAST_CMD=""
run() {
	LAST_CMD="$*"
	set +e
	"$@" >"$OUT" 2>"$ERR"
	RC=$?
	set -e
}

# run with stdin from a file
run_in() {
	local in=$1
	shift
	LAST_CMD="$* < $in"
	set +e
	"$@" <"$in" >"$OUT" 2>"$ERR"
	RC=$?
	set -e
}

expect_rc() {
	if [[ $RC == "$1" ]]; then ok; else
		fail "'$LAST_CMD': exit status $RC, expected $1
  stdout: $(show "$OUT")
  stderr: $(show "$ERR")"
	fi
}

expect() {
	local want=$1
	shift
	run "$@"
	expect_rc "$want"
}

expect_in() {
	local want=$1 in=$2
	shift 2
	run_in "$in" "$@"
	expect_rc "$want"
}

_is() { # FILE TEXT WHAT
	if [[ "$(cat "$1"; echo x)" == "$2"x ]]; then ok; else
		fail "'$LAST_CMD': $3 differs
  expected: $(printf '%s' "$2" | cat -A | head -n 12)
  got:      $(show "$1")"
	fi
}
out_is() { _is "$OUT" "$1" stdout; }
err_is() { _is "$ERR" "$1" stderr; }
out_empty() { _is "$OUT" "" stdout; }
err_empty() { _is "$ERR" "" stderr; }

_has() {
	if grep -qF -- "$2" "$1"; then ok; else
		fail "'$LAST_CMD': $3 lacks '$2'
  got: $(show "$1")"
	fi
}
out_has() { _has "$OUT" "$1" stdout; }
err_has() { _has "$ERR" "$1" stderr; }
err_lacks() {
	if grep -qF -- "$1" "$ERR"; then fail "'$LAST_CMD': stderr should not contain '$1': $(show "$ERR")"; else ok; fi
}

# stderr is exactly one line (a one-line message)
err_one_line() {
	local n
	n=$(wc -l <"$ERR")
	if [[ $n == 1 && $(tail -c1 "$ERR" | od -An -c | tr -d ' ') == '\n' ]]; then ok; else
		fail "'$LAST_CMD': stderr should be one line, got $n: $(show "$ERR")"
	fi
}

same_file() {
	if cmp -s -- "$1" "$2"; then ok; else
		fail "$3: '$1' and '$2' differ ($(cmp -- "$1" "$2" 2>&1 | head -n1); sizes $(stat -c %s "$1" 2>/dev/null || echo none) vs $(stat -c %s "$2" 2>/dev/null || echo none))"
	fi
}

# check CMD... -- MESSAGE : record a failure unless CMD succeeds
check() {
	local args=() msg
	while [[ $# -gt 0 && $1 != -- ]]; do
		args+=("$1")
		shift
	done
	shift || true
	msg="$*"
	if "${args[@]}"; then ok; else fail "$msg"; fi
}

# get STORE REF FILE: write the record to FILE through stdout, checking exit 0
# and an empty stderr.
get_to() {
	run "$STRATA" get "$1" "$2"
	expect_rc 0
	err_empty
	cp "$OUT" "$3"
}

# "1.5 MiB" like the CLI's human_bytes()
human() {
	awk -v n="$1" 'BEGIN { split("B KiB MiB GiB TiB PiB", u, " "); v = n; i = 1;
		while (v >= 1024 && i < 6) { v /= 1024; i++ }
		if (i == 1) printf "%d B", n; else printf "%.1f %s", v, u[i] }'
}

# deterministic pseudo-random bytes: rand_bytes SEED LEN FILE
rand_bytes() {
	python3 -c 'import random,sys; r=random.Random(int(sys.argv[1])); sys.stdout.buffer.write(r.randbytes(int(sys.argv[2])))' "$1" "$2" >"$3"
}

# compressible text: text_bytes SEED LEN FILE
text_bytes() {
	python3 - "$1" "$2" "$3" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1]))
n = int(sys.argv[2])
words = [bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(1, 9))) for _ in range(500)]
out = bytearray()
while len(out) < n:
    out += b" ".join(r.choice(words) for _ in range(12)) + b"\n"
open(sys.argv[3], "wb").write(bytes(out[:n]))
PY
}

# pack_of STORE N: path of the live pack that holds unit N: the pack file
# whose range (NNNNNNNNNN.pack, or NNNNNNNNNN-NNNNNNNNNN.pack once repacked;
# docs/FORMAT.md) contains N, else STORE/packs/NNNNNNNNNN.pack
pack_of() {
	local f name first last
	for f in "$1"/packs/*.pack; do
		[[ -e $f ]] || continue
		name=$(basename "$f" .pack)
		[[ $name =~ ^([0-9]{10})(-([0-9]{10}))?$ ]] || continue
		first=$((10#${BASH_REMATCH[1]}))
		last=$((10#${BASH_REMATCH[3]:-${BASH_REMATCH[1]}}))
		if ((first <= $2 && $2 <= last)); then
			printf '%s' "$f"
			return
		fi
	done
	printf '%s/packs/%010d.pack' "$1" "$2"
}

# pack_layout STORE UNITS: packs/ holds only live packs named by their
# range, mode 0444, whose ranges tile units 1..UNITS without overlap (no
# tmp-*, *.damaged or superseded file). Prints the pack count.
pack_layout() {
	python3 - "$1" "$2" <<'PY'
import os, re, stat, sys
d, n = os.path.join(sys.argv[1], "packs"), int(sys.argv[2])
ranges, bad = [], []
for name in sorted(os.listdir(d)):
    m = re.match(r"^(\d{10})(?:-(\d{10}))?\.pack$", name)
    if not m or stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode) != 0o444:
        bad.append(name)
        continue
    ranges.append((int(m.group(1)), int(m.group(2) or m.group(1)), name))
ranges.sort()
nxt = 1
for first, last, name in ranges:
    if first != nxt or last < first:
        bad.append(name)
    nxt = last + 1
if bad or nxt != n + 1:
    sys.exit("pack files of %s do not tile units 1..%d: bad %s; all: %s"
             % (sys.argv[1], n, bad, " ".join(r[2] for r in ranges)))
print(len(ranges))
PY
}

# footer offset of a pack (from its trailer)
footer_offset() {
	python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); print(struct.unpack_from("<Q", d, len(d)-48)[0])' "$1"
}

# flip_byte FILE OFFSET: xor the byte at OFFSET with 0xff (makes the file
# writable first; packs are 0444)
flip_byte() {
	chmod u+w "$1"
	python3 -c '
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1)
    if len(b) != 1: sys.exit("offset %d is past the end of %s" % (off, p))
    f.seek(off); f.write(bytes([b[0] ^ 0xff]))
' "$1" "$2"
}

# no temporary or damaged pack files left in STORE/packs
no_stray_packs() {
	local stray
	stray=$(find "$1/packs" -mindepth 1 \( -name 'tmp-*' -o -name '*.damaged' \) -print)
	if [[ -z $stray ]]; then ok; else fail "stray files in $1/packs: $stray"; fi
}

# read_cost_expected STORE REF...: the read-cost part of `strata stats`
# for a store whose records are exactly REF... (KEY@N), from `strata get
# --stats` of each: a record costs the bytes its get reads per byte
# returned, records under 4 KiB counted as 4 KiB; max is the largest, the
# groups the most any get touched, the median the middle value (of an even
# count: either middle value, as printed), p99 the value as printed if it
# lies between the values of 0-based rank floor and ceil of 0.99 (n - 1)
# (percentile conventions differ there; nearest rank is one of them), else
# the floor one. Prints three lines: the two text
# lines of `stats` and the JSON members ("read_cost": {...}, "chain_max": N)
# of `stats --json`.
read_cost_expected() {
	python3 - "$STRATA" "$@" <<'PY'
import json, math, re, subprocess, sys
strata, store, refs = sys.argv[1], sys.argv[2], sys.argv[3:]
costs, groups = [], 0
for ref in refs:
    r = subprocess.run([strata, "get", store, ref, "--stats"], capture_output=True)
    m = re.match(rb"^read (\d+) bytes from packs in (\d+) group\(s\), decoded \d+ bytes, returned (\d+) bytes", r.stderr)
    if r.returncode or not m:
        sys.exit("get %r --stats: exit %d, %r" % (ref, r.returncode, r.stderr))
    costs.append(int(m.group(1)) / max(int(m.group(3)), 4096))
    groups = max(groups, int(m.group(2)))
costs.sort()
n = len(costs)
mx = costs[-1] if n else 0.0
meds = (costs[(n - 1) // 2], costs[n // 2]) if n else (0.0, 0.0)
lo, hi = (costs[math.floor(0.99 * (n - 1))], costs[math.ceil(0.99 * (n - 1))]) if n else (0.0, 0.0)
text = subprocess.run([strata, "stats", store], capture_output=True).stdout.decode()
js = json.loads(subprocess.run([strata, "stats", store, "--json"], capture_output=True).stdout or b"{}")
m = re.search(r"median ([0-9.]+), p99 ([0-9.]+),", text)
medt = m.group(1) if m and m.group(1) in ["%.2f" % x for x in meds] else "%.2f" % meds[1]
p99t = m.group(2) if m and lo - 0.005 <= float(m.group(2)) <= hi + 0.005 else "%.2f" % lo
medj = "%.3f" % js.get("read_cost", {}).get("median", -1)
medj = medj if medj in ["%.3f" % x for x in meds] else "%.3f" % meds[1]
p99j = js.get("read_cost", {}).get("p99", -1)
p99j = "%.3f" % (p99j if lo - 0.0005 <= p99j <= hi + 0.0005 else lo)
print("read cost     median %s, p99 %s, max %.2f bytes read per byte returned" % (medt, p99t, mx))
print("              (records under 4 KiB count as 4 KiB); at most %d groups per get" % groups)
print('"read_cost": {"median": %s, "p99": %s, "max": %.3f}, "chain_max": %d' % (medj, p99j, mx, groups))
PY
}
