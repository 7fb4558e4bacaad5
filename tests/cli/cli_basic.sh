#!/usr/bin/env bash
# cli_basic.sh STRATA HEADER - every command of the strata tool, its help,
# its usage errors and its error paths, with exact outputs and exit statuses.
#
#   help/version   strata --help/-h/help, no arguments, COMMAND --help for
#                  each command, --version against include/strata.h
#   usage errors   unknown command, unknown option and missing option value
#                  for every command, missing and extra arguments (exit 2)
#   store errors   missing store, directory that is not a store, init on a
#                  non-empty directory or an existing store, bad init options
#                  (nothing is created by a failing command)
#   init           strata.conf contents, empty-store ls/log/stats/verify
#   put/get        from a file, from stdin (absent FILE and '-'), --label, an
#                  empty record, binary data with NUL bytes, a 3.3 MB record,
#                  records larger than a (4 KiB) group cap, -o/--output FILE,
#                  unknown key, @N out of range, @0 and overflowing @N, key@N
#                  parsing ('a@b', 'v@2@3', ...), get --stats (its stderr
#                  line, stdout unchanged)
#   ls/log/stats   exact output (escaped keys, per-record checksums computed
#                  with libxxhash, units with labels, the size of the pack
#                  file holding each unit, totals from the packs, read cost
#                  from 'get --stats' of every record); the store has the
#                  default options, so its packs are checked to tile the
#                  units (automatic repack may merge some)
#   lock           a second writer (put, load, repack, rebuild) is refused
#                  with a one-line message, readers are not blocked
set -euo pipefail
source "$(dirname "$0")/lib.sh"
HEADER=${2:?usage: $0 STRATA include/strata.h}

VERSION=$(sed -n 's/^#define STRATA_VERSION_STRING "\(.*\)"$/\1/p' "$HEADER")
[[ -n $VERSION ]] || die "no STRATA_VERSION_STRING in $HEADER"

COMMANDS="init put get cat load ls log stats verify repack rebuild import export packs fork"
# the synopsis of each command: its help up to the first empty line
declare -A USAGE=(
	[init]="usage: strata init STORE [--group-cap BYTES] [--level N] [--chain-max N]
                   [--read-cost-max N] [--repack-after N]
                   [--chunk-above BYTES] [--chunk-avg BYTES] [--state-mem BYTES]
                   [--dedup-above BYTES] [--delta-above BYTES]
                   [--profile trace|versions|archive] [--codec CODEC[:LEVEL]]
                   [--codec-rule PATTERN=CODEC[:LEVEL]]..."
	[put]="usage: strata put STORE KEY [FILE|-] [--label LABEL]"
	[get]="usage: strata get STORE KEY[@N] [-o FILE] [--stats]"
	[cat]="usage: strata cat STORE KEY... [--from N] [--count M] [--prefetch D]"
	[load]="usage: strata load STORE [FILE|-] [-v] [--stats] [--threads N] [--queue-mb M] [--durable-mb M] [--durable-sec S]"
	[ls]="usage: strata ls STORE"
	[log]="usage: strata log STORE [KEY]"
	[stats]="usage: strata stats STORE [--json]"
	[verify]="usage: strata verify STORE [--since N]"
	[repack]="usage: strata repack STORE [--oldest-first]"
	[rebuild]="usage: strata rebuild STORE [--profile NAME] [init's options]"
	[import]="usage: strata import STORE DIR [--label LABEL] [--reread]"
	[export]="usage: strata export STORE DIR [--unit N]"
	[packs]="usage: strata packs STORE [--since N] [-v]"
	[fork]="usage: strata fork STORE NEW"
)
# options each command's help must document
declare -A OPTS=(
	[init]="--group-cap --level --chain-max --read-cost-max --repack-after --chunk-above --chunk-avg --state-mem --dedup-above --delta-above --profile --codec --codec-rule"
	[put]="--label"
	[get]="-o --output --stats" [cat]="--from --count --prefetch" [load]="-v --verbose --threads --queue-mb --durable-mb --durable-sec"
	[ls]="" [log]="" [stats]="--json" [verify]="--since" [repack]="--oldest-first" [rebuild]="--profile"
	[import]="--label --reread" [export]="--unit" [packs]="--since -v --verbose" [fork]=""
)
# the exact "wrong number of arguments" message of each command
declare -A NARGS=(
	[init]="expected one STORE directory" [put]="expected STORE KEY [FILE|-]"
	[get]="expected STORE KEY[@N]" [cat]="expected STORE KEY..." [load]="expected STORE [FILE|-]"
	[ls]="expected STORE" [log]="expected STORE [KEY]" [stats]="expected STORE" [verify]="expected STORE"
	[repack]="expected STORE" [rebuild]="expected STORE" [import]="expected STORE DIR"
	[export]="expected STORE DIR" [packs]="expected STORE" [fork]="expected STORE NEW"
)

COMMAND_LIST='Commands:
  init     create a new, empty store
  put      add one record to a key, as a unit of its own
  get      write a record to standard output or a file
  cat      stream a run of a key'\''s records in order, decoded ahead
  load     add many records and units from a bulk stream
  ls       list keys with their record counts
  log      list units, or the records of one key
  stats    show totals and the compression ratio
  verify   check every checksum of every record
  repack   regroup all packs into one, for tight storage and one-group reads
  rebuild  recreate the catalog from the packs
  import   store a snapshot of a directory tree as one unit
  export   restore a directory tree as of a unit
  packs    list the pack files to copy offsite
  fork     start a new store from another'\''s history, sharing its packs
'

# ---------------------------------------------------------------- help
section "help and version"
expect 0 "$STRATA" --version
out_is "strata $VERSION
"
err_empty

expect 0 "$STRATA" --help
err_empty
cp "$OUT" "$T/main_help"
check grep -qxF "usage: strata COMMAND STORE [ARGS...]" <(head -n1 "$T/main_help") -- "main help: wrong first line: $(head -n1 "$T/main_help")"
check diff <(sed -n '/^Commands:$/,/^$/p' "$T/main_help") <(printf '%s\n' "$COMMAND_LIST") -- "main help: command list differs: $(diff <(sed -n '/^Commands:$/,/^$/p' "$T/main_help") <(printf '%s\n' "$COMMAND_LIST") || true)"
check grep -qF "1 failure (an error, or damage found), 2 bad usage." "$T/main_help" -- "main help: exit statuses not documented"
check grep -qF "Environment: STRATA_HUGEPAGES=0 keeps" "$T/main_help" -- "main help: STRATA_HUGEPAGES not documented"
for alias in -h help; do
	expect 0 "$STRATA" $alias
	same_file "$OUT" "$T/main_help" "'strata $alias' vs 'strata --help'"
done
expect 0 "$STRATA" --help no-such-command
same_file "$OUT" "$T/main_help" "'strata --help no-such-command' vs 'strata --help'"
# no arguments: the help, on stderr, exit 2
expect 2 "$STRATA"
out_empty
same_file "$ERR" "$T/main_help" "'strata' (no arguments) stderr vs 'strata --help'"

for c in $COMMANDS; do
	expect 0 "$STRATA" "$c" --help
	err_empty
	cp "$OUT" "$T/help_$c"
	check test "$(sed '/^$/,$d' "$T/help_$c")" == "${USAGE[$c]}" -- "'$c --help' synopsis is '$(sed '/^$/,$d' "$T/help_$c")', expected '${USAGE[$c]}'"
	for o in ${OPTS[$c]}; do
		check grep -qE -e "(^|[ ,])$o( |,|$)" <(tail -n +2 "$T/help_$c") -- "'$c --help' does not document $o"
	done
	expect 0 "$STRATA" "$c" -h
	same_file "$OUT" "$T/help_$c" "'strata $c -h' vs 'strata $c --help'"
	expect 0 "$STRATA" help "$c"
	same_file "$OUT" "$T/help_$c" "'strata help $c' vs 'strata $c --help'"
	expect 0 "$STRATA" --help "$c"
	same_file "$OUT" "$T/help_$c" "'strata --help $c' vs 'strata $c --help'"
	# --help wins over everything else on the line, even a missing store
	expect 0 "$STRATA" "$c" "$T/no-such-store" some-arg --help
	same_file "$OUT" "$T/help_$c" "'strata $c STORE ARG --help'"
	err_empty
	check test ! -e "$T/no-such-store" -- "'$c ... --help' created the store directory"
done
# the key syntax documented by get --help
check grep -qF "so 'a@b' is key 'a@b' and 'v@2@3' is record 3 of key 'v@2'" "$T/help_get" -- "get --help: key@N rule not documented"
# get --stats: where the read cost goes and what it holds
check grep -qF "report on standard error what the read cost: bytes" "$T/help_get" -- "get --help: --stats not explained: $(cat "$T/help_get")"
# help_says FILE TEXT: FILE contains TEXT, with runs of blanks and line
# breaks taken as one space
help_says() {
	grep -qF -- "$(tr -s '\n ' '  ' <<<"$2" | sed 's/ $//')" <(tr -s '\n ' '  ' <"$1")
}
# init: each option's range and default (the checks of 'store errors' and
# 'init' hold the CLI to them)
for doc in "(default 16777216; 4096..268435456)" "zstd level 1..22 (default 3)" "(1..32, default 4)" \
	"(1..1024, default 4;" "(0 = never, 2..1000, default 16)"; do
	check help_says "$T/help_init" "$doc" -- "init --help does not say '$doc'"
done
# repack: what it does, the record order, crash safety, automatic repack
for doc in "Rewrite every record into one new pack" "(newest first unless --oldest-first)" \
	"so any get touches one group" "a crash at any moment leaves every record readable" \
	"(see 'strata init --repack-after')"; do
	check help_says "$T/help_repack" "$doc" -- "repack --help does not say '$doc'"
done

# ---------------------------------------------------------- usage errors
section "usage errors"
expect 2 "$STRATA" frobnicate st
out_empty
err_is "strata: unknown command 'frobnicate'
Try 'strata --help'.
"
expect 2 "$STRATA" --frobnicate
out_empty
err_is "strata: unknown command '--frobnicate'
Try 'strata --help'.
"
mkdir "$T/u"
"$STRATA" init "$T/u/st" >/dev/null || die "init failed"
for c in $COMMANDS; do
	expect 2 "$STRATA" "$c" "$T/u/st" --bogus
	out_empty
	err_is "strata $c: unknown option or missing value: --bogus
Try 'strata $c --help'.
"
	expect 2 "$STRATA" "$c" -Z "$T/u/st"
	out_empty
	err_has "Try 'strata $c --help'."
	# no arguments at all
	expect 2 "$STRATA" "$c"
	out_empty
	err_is "strata $c: ${NARGS[$c]}
Try 'strata $c --help'.
"
done
# too many arguments
for argv in "init $T/u/a $T/u/b" "put $T/u/st k f extra" "get $T/u/st k extra" "load $T/u/st f extra" \
	"ls $T/u/st extra" "log $T/u/st k extra" "stats $T/u/st extra" "verify $T/u/st extra" \
	"rebuild $T/u/st extra" "put $T/u/st" "get $T/u/st" "cat $T/u/st" \
	"repack $T/u/st extra" "repack $T/u/st --oldest-first extra"; do
	# shellcheck disable=SC2086
	expect 2 "$STRATA" $argv
	out_empty
	err_has "Try 'strata ${argv%% *} --help'."
done
check test ! -e "$T/u/a" -a ! -e "$T/u/b" -- "init with two directories created one"
# options that need a value, given none
expect 2 "$STRATA" get "$T/u/st" k -o
err_is "strata get: unknown option or missing value: -o
Try 'strata get --help'.
"
expect 2 "$STRATA" put "$T/u/st" k --label
err_has "Try 'strata put --help'."
expect 2 "$STRATA" init "$T/u/c" --level
err_has "Try 'strata init --help'."
# an empty key
expect 2 "$STRATA" put "$T/u/st" "" /dev/null
err_is "strata put: the key must not be empty
Try 'strata put --help'.
"
expect 2 "$STRATA" get "$T/u/st" ""
err_is "strata get: the key must not be empty
Try 'strata get --help'.
"
expect 0 "$STRATA" stats "$T/u/st" --json
out_has '"records": 0,'   # nothing was stored by any of the above

# ---------------------------------------------------------- store errors
section "store errors"
NS=$T/no-such-store
for argv in "ls $NS" "log $NS" "log $NS k" "stats $NS" "stats $NS --json" "verify $NS" "get $NS k" \
	"get $NS k --stats" "cat $NS k" "put $NS k /dev/null" "load $NS /dev/null" "repack $NS" "rebuild $NS"; do
	# shellcheck disable=SC2086
	expect 1 "$STRATA" $argv
	out_empty
	err_one_line
	err_has "strata ${argv%% *}: "
	err_has "$NS"
	check test ! -e "$NS" -- "'strata $argv' created $NS"
done
# a directory that is not a store: empty, and with a file in it
mkdir -p "$T/plain/empty" "$T/plain/full"
echo data >"$T/plain/full/file"
for d in "$T/plain/empty" "$T/plain/full"; do
	for argv in "ls $d" "log $d" "stats $d" "verify $d" "get $d k" "cat $d k" "put $d k /dev/null" "load $d /dev/null" \
		"repack $d" "rebuild $d"; do
		before=$(ls -A "$d")
		# shellcheck disable=SC2086
		expect 1 "$STRATA" $argv
		out_empty
		err_one_line
		err_has "$d"
		err_has "not a strata store"
		check test "$(ls -A "$d")" == "$before" -- "'strata $argv' changed the directory: now '$(ls -A "$d" | tr '\n' ' ')'"
	done
done
# init on a non-empty directory
expect 1 "$STRATA" init "$T/plain/full"
out_empty
err_is "strata init: $T/plain/full exists, is not empty and is not a strata store
"
check test "$(ls -A "$T/plain/full")" == file -- "init on a non-empty directory changed it"
# init on a path that is a regular file
expect 1 "$STRATA" init "$T/plain/full/file"
out_empty
err_one_line
check test "$(cat "$T/plain/full/file")" == data -- "init on a regular file changed it"
# init on an existing store
expect 1 "$STRATA" init "$T/u/st"
out_empty
err_is "strata init: a strata store already exists at $T/u/st
"
# bad init option values: usage errors (exit 2) whose message names the
# value given and the allowed range; nothing is created
declare -A BADOPT=(
	["--group-cap 4095"]="group cap 4095 is outside 4096..268435456"
	["--group-cap 268435457"]="group cap 268435457 is outside 4096..268435456"
	["--group-cap 0"]="group cap 0 is outside 4096..268435456"
	["--level 0"]="zstd level 0 is outside 1..22"
	["--level 23"]="zstd level 23 is outside 1..22"
	["--level 1000"]="zstd level 1000 is outside 1..22"
	["--chain-max 0"]="chain max 0 is outside 1..32"
	["--chain-max 33"]="chain max 33 is outside 1..32"
	["--chain-max 99999999999"]="'99999999999' is too large"
	["--level 4294967297"]="'4294967297' is too large"
	["--read-cost-max 0"]="read cost max 0 is outside 1..1024"
	["--read-cost-max 1025"]="read cost max 1025 is outside 1..1024"
	["--repack-after 1"]="repack-after 1 is neither 0 nor within 2..1000"
	["--repack-after 1001"]="repack-after 1001 is neither 0 nor within 2..1000"
	["--chunk-above 65535"]="chunk-above 65535 is neither 0 nor within 65536..2^40"
	["--chunk-avg 65537"]="chunk-avg 65537 is not a power of two within 4096..16777216"
	["--chunk-avg 2048"]="chunk-avg 2048 is not a power of two within 4096..16777216"
	["--chunk-avg 33554432"]="chunk-avg 33554432 is not a power of two within 4096..16777216"
	["--state-mem 1000"]="state-mem 1000 is under 16 MiB"
	["--dedup-above 63"]="dedup-above 63 is neither 0 nor within 64..2^30"
	["--dedup-above 1073741825"]="dedup-above 1073741825 is neither 0 nor within 64..2^30"
	["--delta-above 15"]="delta-above 15 is neither 0 nor within 16..2^30"
	["--delta-above 1073741825"]="delta-above 1073741825 is neither 0 nor within 16..2^30"
	["--group-cap abc"]="'abc' is not a number"
	["--group-cap -5"]="'-5' is not a number"
	["--level 3x"]="'3x' is not a number"
	["--chain-max 2.5"]="'2.5' is not a number"
	["--read-cost-max ''"]="'' is not a number"
	["--group-cap 99999999999999999999999"]="'99999999999999999999999' is not a number"
)
for opt in "${!BADOPT[@]}"; do
	eval "set -- $opt"
	expect 2 "$STRATA" init "$T/badopt" "$@"
	out_empty
	err_is "strata init: ${BADOPT[$opt]}
Try 'strata init --help'.
"
	check test ! -e "$T/badopt" -- "'init $opt' created the store directory"
	# the same as --OPT=VALUE
	expect 2 "$STRATA" init "$1=$2" "$T/badopt"
	err_is "strata init: ${BADOPT[$opt]}
Try 'strata init --help'.
"
	check test ! -e "$T/badopt" -- "'init $1=$2' created the store directory"
done
# a non-number is a usage error
expect 2 "$STRATA" init "$T/badopt" --group-cap abc
err_is "strata init: 'abc' is not a number
Try 'strata init --help'.
"

# ------------------------------------------------------------------ init
section "init"
mkdir "$T/emptydir"
expect 0 "$STRATA" init "$T/emptydir"
out_is "initialized empty store $T/emptydir
"
err_empty
expect 0 "$STRATA" init "$T/s0"
out_is "initialized empty store $T/s0
"
err_empty
check test -d "$T/s0/packs" -- "init made no packs/ directory"
# docs/FORMAT.md: name = value lines, strata-store first, the defaults of
# 'init --help'
check test "$(cat "$T/s0/strata.conf")" == "strata-store = 1
group-cap = 16777216
zstd-level = 3
chain-max = 4
read-cost-max = 4
repack-after = 16
chunk-above = 4194304
chunk-avg = 65536
state-mem = 1073741824" -- "default strata.conf: $(cat "$T/s0/strata.conf")"
expect 0 "$STRATA" init "$T/s1" --group-cap 4096 --level 19 --chain-max 1 --read-cost-max 64 --repack-after 0 \
	--chunk-above 0 --chunk-avg 4096 --state-mem 16777216 --dedup-above 0 --delta-above 0
out_is "initialized empty store $T/s1
"
err_empty
check test "$(cat "$T/s1/strata.conf")" == "strata-store = 1
group-cap = 4096
zstd-level = 19
chain-max = 1
read-cost-max = 64
repack-after = 0
chunk-above = 0
chunk-avg = 4096
state-mem = 16777216
delta-above = 0" -- "strata.conf of init with every option at one end of its range: $(cat "$T/s1/strata.conf")"
expect 0 "$STRATA" init "$T/s2" --group-cap=268435456 --level=22 --chain-max=16 --read-cost-max=1 --repack-after=1000 \
	--chunk-above=1099511627776 --chunk-avg=4194304 --dedup-above=64 --delta-above=1073741824
check test "$(cat "$T/s2/strata.conf")" == "strata-store = 1
group-cap = 268435456
zstd-level = 22
chain-max = 16
read-cost-max = 1
repack-after = 1000
chunk-above = 1099511627776
chunk-avg = 4194304
state-mem = 1073741824
dedup-above = 64
delta-above = 1073741824" -- "strata.conf of init with every option at the other end of its range: $(cat "$T/s2/strata.conf")"
expect 0 "$STRATA" init "$T/s3" --repack-after 2 --level 1
check test "$(cat "$T/s3/strata.conf")" == "strata-store = 1
group-cap = 16777216
zstd-level = 1
chain-max = 4
read-cost-max = 4
repack-after = 2
chunk-above = 4194304
chunk-avg = 65536
state-mem = 1073741824" -- "strata.conf of init --repack-after 2 --level 1: $(cat "$T/s3/strata.conf")"
# an empty store
expect 0 "$STRATA" ls "$T/s0"
out_empty
err_empty
expect 0 "$STRATA" log "$T/s0"
out_is "    unit  time (UTC)            records         raw      packed  label
"
expect 0 "$STRATA" stats "$T/s0"
out_is "records       0
keys          0
units         0
groups        0
raw bytes     0 (0 B)
stored bytes  0 (0 B)
ratio         0.00
read cost     median 0.00, p99 0.00, max 0.00 bytes read per byte returned
              (records under 4 KiB count as 4 KiB); at most 0 groups per get
"
expect 0 "$STRATA" stats "$T/s0" --json
out_is '{"records": 0, "keys": 0, "units": 0, "groups": 0, "raw_bytes": 0, "stored_bytes": 0, "ratio": 0.0000, "read_cost": {"median": 0.000, "p99": 0.000, "max": 0.000}, "chain_max": 0}
'
expect 0 "$STRATA" verify "$T/s0"
out_is "checked 0 packs, 0 groups, 0 records (0 B): ok
"
err_empty
expect 0 "$STRATA" rebuild "$T/s0"
out_is "rebuilt the catalog of $T/s0: 0 units
"
expect 1 "$STRATA" get "$T/s0" k
out_empty
err_is "strata get: no key 'k' in $T/s0
"
expect 1 "$STRATA" log "$T/s0" k
out_empty
err_is "strata log: no key 'k' in $T/s0
"

# --------------------------------------------------------------- put/get
section "put and get"
S=$T/s
"$STRATA" init "$S" >/dev/null || die "init $S"
D=$T/data
mkdir "$D"
printf 'first version\n' >"$D/k1"
printf 'second version, a bit longer\n' >"$D/k2"
printf 'third' >"$D/k3"                  # no final newline
: >"$D/empty"
# binary data with NUL bytes (first and last byte NUL, runs of NULs)
python3 - "$D/bin" <<'PY'
import random, sys
r = random.Random(42)
b = bytearray(r.randbytes(70000))
for i in range(0, len(b), 7):
    b[i] = 0
b[0] = 0; b[-1] = 0
b[1000:1100] = bytes(100)
open(sys.argv[1], "wb").write(bytes(b))
PY
rand_bytes 7 3300000 "$D/multi"          # 3.3 MB, incompressible
text_bytes 9 200000 "$D/text"

# an input that cannot be read is refused, named after the command
expect 1 "$STRATA" put "$S" k "$D"
out_empty
err_is "strata put: $D is a directory
"
expect 1 "$STRATA" put "$S" k "$D/none"
out_empty
err_is "strata put: cannot open $D/none: No such file or directory
"
expect 0 "$STRATA" put "$S" k "$D/k1"
out_is "stored k@1 in unit 1
"
err_empty
expect_in 0 "$D/k2" "$STRATA" put "$S" k            # stdin, FILE absent
out_is "stored k@2 in unit 2
"
err_empty
expect_in 0 "$D/k3" "$STRATA" put "$S" k - --label "third one"
out_is "stored k@3 in unit 3
"
expect 0 "$STRATA" put "$S" empty "$D/empty"          # empty regular file
out_is "stored empty@1 in unit 4
"
expect_in 0 /dev/null "$STRATA" put "$S" empty        # empty stdin
out_is "stored empty@2 in unit 5
"
expect 0 "$STRATA" put "$S" bin "$D/bin" --label=binary
out_is "stored bin@1 in unit 6
"
expect_in 0 "$D/bin" "$STRATA" put "$S" bin -
out_is "stored bin@2 in unit 7
"
cat "$D/bin" | "$STRATA" put "$S" bin >"$OUT" 2>"$ERR" || fail "put from a pipe failed: $(show "$ERR")"
out_is "stored bin@3 in unit 8
"
expect 0 "$STRATA" put "$S" multi "$D/multi"
out_is "stored multi@1 in unit 9
"
expect 0 "$STRATA" put "$S" text "$D/text"
out_is "stored text@1 in unit 10
"

get_to "$S" k "$T/g"; same_file "$T/g" "$D/k3" "get k (latest)"
get_to "$S" k@1 "$T/g"; same_file "$T/g" "$D/k1" "get k@1"
get_to "$S" k@2 "$T/g"; same_file "$T/g" "$D/k2" "get k@2"
get_to "$S" k@3 "$T/g"; same_file "$T/g" "$D/k3" "get k@3"
for n in 1 2; do
	get_to "$S" empty@$n "$T/g"
	check test ! -s "$T/g" -- "get empty@$n: $(stat -c %s "$T/g") bytes, expected 0"
done
for n in 1 2 3; do get_to "$S" bin@$n "$T/g"; same_file "$T/g" "$D/bin" "get bin@$n"; done
get_to "$S" multi "$T/g"; same_file "$T/g" "$D/multi" "get multi"
get_to "$S" text "$T/g"; same_file "$T/g" "$D/text" "get text"

# -o / --output
expect 0 "$STRATA" get "$S" bin@2 -o "$T/o1"
out_empty
err_empty
same_file "$T/o1" "$D/bin" "get -o"
printf 'old content that is longer than the record' >"$T/o2"
expect 0 "$STRATA" get "$S" k@1 --output "$T/o2"
out_empty
same_file "$T/o2" "$D/k1" "get --output over an existing file"
expect 0 "$STRATA" get -o "$T/o3" "$S" empty
out_empty
check test -f "$T/o3" -a ! -s "$T/o3" -- "get -o of an empty record: no empty file"
expect 0 "$STRATA" get "$S" multi --output="$T/o4"
same_file "$T/o4" "$D/multi" "get --output=FILE"
expect 1 "$STRATA" get "$S" k -o "$T/no/such/dir/f"
out_empty
err_one_line
err_has "$T/no/such/dir/f"
# a failing get -o does not create the file
expect 1 "$STRATA" get "$S" nokey -o "$T/o5"
check test ! -e "$T/o5" -- "get -o of an unknown key created the output file"

# get --stats: the read cost on stderr, one line; stdout (or -o FILE) as
# without it
stats_line_re='^read ([0-9]+) bytes from packs in ([0-9]+) group\(s\), decoded ([0-9]+) bytes, returned ([0-9]+) bytes \(([0-9]+\.[0-9]{2}) bytes read per byte returned\)$'
for ref in k@1 k@2 k bin@1 bin@3 multi text; do
	f=$D/${ref%@*}
	case $ref in k@1) f=$D/k1 ;; k@2) f=$D/k2 ;; k) f=$D/k3 ;; esac
	expect 0 "$STRATA" get "$S" "$ref" --stats
	same_file "$OUT" "$f" "get $ref --stats: stdout"
	err_one_line
	if [[ $(cat "$ERR") =~ $stats_line_re ]]; then
		read_=${BASH_REMATCH[1]} groups_=${BASH_REMATCH[2]} ret_=${BASH_REMATCH[4]} ratio_=${BASH_REMATCH[5]}
		check test "$ret_" == "$(stat -c %s "$f")" -- "get $ref --stats: returned $ret_ bytes, the record has $(stat -c %s "$f")"
		check test "$groups_" -ge 1 -- "get $ref --stats: $groups_ groups touched"
		check test "$read_" -gt 0 -- "get $ref --stats: $read_ bytes read for a record of $ret_ bytes"
		check test "$ratio_" == "$(awk -v r="$read_" -v n="$ret_" 'BEGIN { printf "%.2f", r / n }')" -- \
			"get $ref --stats: ratio $ratio_ is not $read_ / $ret_"
	else
		fail "get $ref --stats: stderr is not the read-cost line: $(show "$ERR")"
	fi
	rm -f "$T/o6"
	expect 0 "$STRATA" get "$S" "$ref" -o "$T/o6" --stats
	out_empty
	err_one_line
	same_file "$T/o6" "$f" "get $ref -o FILE --stats"
done
# an empty record: nothing read, one group, ratio 0.00
expect 0 "$STRATA" get "$S" empty@1 --stats
out_empty
err_is "read 0 bytes from packs in 1 group(s), decoded 0 bytes, returned 0 bytes (0.00 bytes read per byte returned)
"
# a failing get prints no read cost
expect 1 "$STRATA" get "$S" k@9 --stats
out_empty
err_is "strata get: key 'k' has 3 records; there is no record 9
"

# records larger than the group cap of their store get a group of their own
expect 0 "$STRATA" put "$T/s1" big "$D/text"
out_is "stored big@1 in unit 1
"
expect 0 "$STRATA" put "$T/s1" big "$D/multi"
get_to "$T/s1" big@1 "$T/g"; same_file "$T/g" "$D/text" "a 200 KB record in a store with 4 KiB groups"
get_to "$T/s1" big@2 "$T/g"; same_file "$T/g" "$D/multi" "a 3.3 MB record in a store with 4 KiB groups"
expect 0 "$STRATA" verify "$T/s1"
out_is "checked 2 packs, 2 groups, 2 records ($(human $(($(stat -c %s "$D/text") + $(stat -c %s "$D/multi"))))): ok
"

# unknown key, out of range, bad record numbers
expect 1 "$STRATA" get "$S" nokey
out_empty
err_is "strata get: no key 'nokey' in $S
"
expect 1 "$STRATA" get "$S" k@4
out_empty
err_is "strata get: key 'k' has 3 records; there is no record 4
"
expect 1 "$STRATA" get "$S" k@18446744073709551615
out_empty
err_one_line
err_has "there is no record 18446744073709551615"
expect 1 "$STRATA" get "$S" nokey@1
out_empty
err_is "strata get: no key 'nokey' in $S
"
for ref in k@0 k@00 bin@0; do
	expect 2 "$STRATA" get "$S" "$ref"
	out_empty
	err_is "strata get: '$ref': record numbers start at 1
Try 'strata get --help'.
"
done
expect 2 "$STRATA" get "$S" k@18446744073709551616      # does not fit in 64 bits
out_empty
err_has "Try 'strata get --help'."

# key@N parsing: the key is everything before the last '@' followed only by digits
section "key@N parsing"
printf 'a-at-b' >"$D/ab"
printf 'v@2 one' >"$D/v21"
printf 'v@2 two' >"$D/v22"
printf 'v@2 three' >"$D/v23"
printf 'plain v one' >"$D/v1"
printf 'plain v two' >"$D/v2"
printf 'x-at' >"$D/xat"
printf 'at-seven' >"$D/at7"
printf 'k-at-0x' >"$D/k0x"
expect 0 "$STRATA" put "$S" 'a@b' "$D/ab"
out_is "stored a@b@1 in unit 11
"
for i in 1 2 3; do
	expect 0 "$STRATA" put "$S" 'v@2' "$D/v2$i"
	out_is "stored v@2@$i in unit $((11 + i))
"
done
expect 0 "$STRATA" put "$S" 'x@' "$D/xat"
expect 0 "$STRATA" put "$S" '@7' "$D/at7"
expect 0 "$STRATA" put "$S" 'k@0x' "$D/k0x"
get_to "$S" 'a@b' "$T/g"; same_file "$T/g" "$D/ab" "get 'a@b' (key a@b)"
get_to "$S" 'a@b@1' "$T/g"; same_file "$T/g" "$D/ab" "get 'a@b@1'"
get_to "$S" 'v@2@3' "$T/g"; same_file "$T/g" "$D/v23" "get 'v@2@3' (record 3 of key v@2)"
get_to "$S" 'v@2@1' "$T/g"; same_file "$T/g" "$D/v21" "get 'v@2@1'"
get_to "$S" 'v@2@2' "$T/g"; same_file "$T/g" "$D/v22" "get 'v@2@2'"
get_to "$S" 'x@' "$T/g"; same_file "$T/g" "$D/xat" "get 'x@' (key x@)"
get_to "$S" '@7' "$T/g"; same_file "$T/g" "$D/at7" "get '@7' (key @7)"
get_to "$S" 'k@0x' "$T/g"; same_file "$T/g" "$D/k0x" "get 'k@0x' (key k@0x)"
# 'v@2' is record 2 of key 'v', which does not exist yet
expect 1 "$STRATA" get "$S" 'v@2'
out_empty
err_is "strata get: no key 'v' in $S
"
expect 1 "$STRATA" get "$S" 'v@2@4'
out_empty
err_is "strata get: key 'v@2' has 3 records; there is no record 4
"
expect 0 "$STRATA" put "$S" v "$D/v1"
expect 0 "$STRATA" put "$S" v "$D/v2"
get_to "$S" 'v@2' "$T/g"; same_file "$T/g" "$D/v2" "get 'v@2' (record 2 of key v)"
get_to "$S" 'v@1' "$T/g"; same_file "$T/g" "$D/v1" "get 'v@1'"
get_to "$S" 'v' "$T/g"; same_file "$T/g" "$D/v2" "get 'v' (latest)"
get_to "$S" 'v@2@2' "$T/g"; same_file "$T/g" "$D/v22" "get 'v@2@2' after key v exists"

# keys with control characters and backslashes: shown escaped
printf 'tab' >"$D/tab"
printf 'newline' >"$D/nl"
expect 0 "$STRATA" put "$S" $'t\tab' "$D/tab"
out_is 'stored t\tab@1 in unit 20
'
expect 0 "$STRATA" put "$S" $'new\nline\\x\x01' "$D/nl"
out_is 'stored new\nline\\x\x01@1 in unit 21
'
get_to "$S" $'t\tab' "$T/g"; same_file "$T/g" "$D/tab" "get of a key with a tab"
get_to "$S" $'new\nline\\x\x01' "$T/g"; same_file "$T/g" "$D/nl" "get of a key with a newline"

# cat: a range of a key's records, one after the other
section "cat ranges"
cat "$D/k1" "$D/k2" "$D/k3" >"$T/k123"
cat "$D/k2" "$D/k3" >"$T/k23"
expect 0 "$STRATA" cat "$S" k
same_file "$OUT" "$T/k123" "cat k"
expect 0 "$STRATA" cat "$S" k --from 2
same_file "$OUT" "$T/k23" "cat k --from 2"
expect 0 "$STRATA" cat "$S" k --from 2 --count 1
same_file "$OUT" "$D/k2" "cat k --from 2 --count 1"
expect 0 "$STRATA" cat "$S" k --from 3 --count 1
same_file "$OUT" "$D/k3" "cat k --from 3 --count 1"
expect 0 "$STRATA" cat "$S" k --count 9               # at most 9: all 3
same_file "$OUT" "$T/k123" "cat k --count 9"
expect 0 "$STRATA" cat "$S" k --from 2 --count 1 --prefetch 1
same_file "$OUT" "$D/k2" "cat k --from 2 --count 1 --prefetch 1"
expect 2 "$STRATA" cat "$S" k --count 0
out_empty
err_is "strata cat: --count must be at least 1 (without it, cat goes to the last record)
Try 'strata cat --help'.
"
expect 2 "$STRATA" cat "$S" k --from 0
out_empty
err_is "strata cat: record numbers start at 1
Try 'strata cat --help'.
"
for d in 0 257; do
	expect 2 "$STRATA" cat "$S" k --prefetch $d
	out_empty
	err_has "--prefetch must be within 1..256"
done
expect 2 "$STRATA" cat "$S" k --count -1
out_empty
err_has "'-1' is not a number"
expect 1 "$STRATA" cat "$S" k --from 4
out_empty
err_is "strata cat: key 'k' has 3 records; there is no record 4
"
expect 1 "$STRATA" cat "$S" nokey
out_empty
err_is "strata cat: no key 'nokey' in $S
"
# several keys: one after the other, --from and --count applying to each
cat "$D/k1" "$D/k2" "$D/k3" "$D/tab" "$D/k1" "$D/k2" "$D/k3" >"$T/kk"
expect 0 "$STRATA" cat "$S" k $'t\tab' k
same_file "$OUT" "$T/kk" "cat k, t<tab>ab, k"
cat "$D/k2" "$D/v2" "$D/k2" >"$T/kk"
expect 0 "$STRATA" cat "$S" k v k --from 2 --count 1
same_file "$OUT" "$T/kk" "cat k v k --from 2 --count 1"
expect 0 "$STRATA" cat "$S" v k --from 2 --prefetch 1
cat "$D/v2" "$D/k2" "$D/k3" >"$T/kk"
same_file "$OUT" "$T/kk" "cat v k --from 2 --prefetch 1"
# a wrong key anywhere: nothing is written
expect 1 "$STRATA" cat "$S" k k nokey
out_empty
err_is "strata cat: no key 'nokey' in $S
"
expect 1 "$STRATA" cat "$S" k v --from 3
out_empty
err_is "strata cat: key 'v' has 2 records; there is no record 3
"

# ----------------------------------------------------------- ls/log/stats
section "ls, log, stats"
expect 0 "$STRATA" ls "$S"
err_empty
out_is '       1  @7
       1  a@b
       3  bin
       2  empty
       3  k
       1  k@0x
       1  multi
       1  new\nline\\x\x01
       1  t\tab
       1  text
       2  v
       3  v@2
       1  x@
'
# log: one line per unit; the time column is checked by pattern, the rest
# exactly (raw bytes from the inputs, pack bytes from the pack files)
declare -a RAW=(0 "$(stat -c %s "$D/k1")" "$(stat -c %s "$D/k2")" "$(stat -c %s "$D/k3")" 0 0
	"$(stat -c %s "$D/bin")" "$(stat -c %s "$D/bin")" "$(stat -c %s "$D/bin")" "$(stat -c %s "$D/multi")"
	"$(stat -c %s "$D/text")" 6 7 7 9 4 8 7 11 11 3 7)
declare -A LABEL=([3]="third one" [6]="binary")
{
	echo "    unit  time (UTC)            records         raw      packed  label"
	for u in $(seq 1 21); do
		printf '%8d  TIME  %8d  %10s  %10s  %s\n' "$u" 1 "$(human "${RAW[$u]}")" \
			"$(human "$(stat -c %s "$(pack_of "$S" "$u")")")" "${LABEL[$u]:-}"
	done
} >"$T/log_expected"
expect 0 "$STRATA" log "$S"
err_empty
sed -E 's/^( *[0-9]+)  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}  /\1  TIME  /' "$OUT" >"$T/log_got"
check diff "$T/log_expected" "$T/log_got" -- "log differs from the expected: $(diff "$T/log_expected" "$T/log_got" | head -n 10)"
# the times are the commit times, in UTC, within the run of this test
now=$(date -u +%s)
while read -r u day tm _; do
	[[ $u == unit ]] && continue
	t=$(date -u -d "$day $tm" +%s)
	check test $((now - t)) -ge 0 -a $((now - t)) -lt 600 -- "log: unit $u time $day $tm is not the commit time"
done <"$OUT"

# log KEY: number, unit, size, stored size, XXH3-64 checksum
xxh3() { # FILE -> 16 hex digits, with the system's libxxhash
	python3 - "$1" <<'PY'
import ctypes, ctypes.util, sys
lib = None
for name in ("libxxhash.so.0", "libxxhash.so", ctypes.util.find_library("xxhash")):
    if not name:
        continue
    try:
        lib = ctypes.CDLL(name); break
    except OSError:
        pass
if lib is None:
    sys.exit("cannot load libxxhash to compute XXH3-64")
f = lib.XXH3_64bits
f.restype = ctypes.c_uint64
f.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
d = open(sys.argv[1], "rb").read()
print("%016x" % f(d, len(d)))
PY
}
check test "$(xxh3 "$D/empty")" == 2d06800538d394c2 -- "the XXH3 helper is wrong (XXH3-64 of nothing is 2d06800538d394c2)"
expect 0 "$STRATA" log "$S" k
err_empty
{
	printf '%8s  %8s  %12s  %12s  %-16s\n' record unit size stored checksum
	i=0
	for f in k1 k2 k3; do
		i=$((i + 1))
		printf '%8d  %8d  %12d  %12s  %s\n' $i $i "$(stat -c %s "$D/$f")" STORED "$(xxh3 "$D/$f")"
	done
} >"$T/logk_expected"
# the stored size depends on the encoding chosen; the first record of a key,
# alone in its unit, can only be stored literally (stored = size)
awk 'NR == 1 { print; next } { $4 = "STORED"; printf "%8d  %8d  %12d  %12s  %s\n", $1, $2, $3, $4, $5 }' "$OUT" >"$T/logk_got"
check diff "$T/logk_expected" "$T/logk_got" -- "log k differs: $(diff "$T/logk_expected" "$T/logk_got" | head)"
check test "$(awk 'NR == 2 { print $4 }' "$OUT")" == "$(stat -c %s "$D/k1")" -- "log k: record 1 stored size $(awk 'NR == 2 { print $4 }' "$OUT") != its size"
awk 'NR > 1 && !($4 ~ /^[0-9]+$/ && $4 > 0) { exit 1 }' "$OUT" || fail "log k: bad stored sizes: $(show "$OUT")"
expect 0 "$STRATA" log "$S" empty
# (the stored size of record 2 depends on the encoding chosen)
awk 'NR == 1 { print; next } NR == 3 { $4 = "S" } { printf "%8s  %8s  %12s  %12s  %s\n", $1, $2, $3, $4, $5 }' "$OUT" >"$T/loge"
check diff "$T/loge" - -- "log empty: $(show "$OUT")" <<'EOF'
  record      unit          size        stored  checksum        
       1         4             0             0  2d06800538d394c2
       2         5             0             S  2d06800538d394c2
EOF
expect 0 "$STRATA" log "$S" 'a@b'
out_is "  record      unit          size        stored  checksum        
       1        11             6             6  $(xxh3 "$D/ab")
"
expect 0 "$STRATA" log "$S" $'t\tab'
out_is "  record      unit          size        stored  checksum        
       1        20             3             3  $(xxh3 "$D/tab")
"
expect 1 "$STRATA" log "$S" nokey
out_empty
err_is "strata log: no key 'nokey' in $S
"

# the packs: the store has the default options, so automatic repack may
# have merged trailing packs; whatever it did, the live packs tile units
# 1..21 (docs/FORMAT.md)
npacks=$(pack_layout "$S" 21) || fail "$npacks"
no_stray_packs "$S"

# stats: totals; groups counted from the pack footers (docs/FORMAT.md); the
# read cost from 'get --stats' of every record
raw=0
for u in $(seq 1 21); do raw=$((raw + RAW[u])); done
stored=$(cat "$S"/packs/*.pack | wc -c)
groups=$(python3 - "$S/packs" <<'PY'
import os, struct, sys
g = 0
for name in sorted(os.listdir(sys.argv[1])):
    d = open(os.path.join(sys.argv[1], name), "rb").read()
    foff = struct.unpack_from("<Q", d, len(d) - 48)[0]
    g += struct.unpack_from("<I", d, foff + 8)[0]
print(g)
PY
)
ALL_REFS=(k@1 k@2 k@3 empty@1 empty@2 bin@1 bin@2 bin@3 multi@1 text@1 'a@b@1' 'v@2@1' 'v@2@2' 'v@2@3' 'x@@1' '@7@1'
	'k@0x@1' v@1 v@2 $'t\tab@1' $'new\nline\\x\x01@1')
mapfile -t COST < <(read_cost_expected "$S" "${ALL_REFS[@]}")
check test ${#COST[@]} == 3 -- "read cost from get --stats: ${COST[*]}"
ratio2=$(awk -v r=$raw -v s="$stored" 'BEGIN { printf "%.2f", r / s }')
ratio4=$(awk -v r=$raw -v s="$stored" 'BEGIN { printf "%.4f", r / s }')
expect 0 "$STRATA" stats "$S"
err_empty
out_is "records       21
keys          13
units         21
groups        $groups
raw bytes     $raw ($(human $raw))
stored bytes  $stored ($(human "$stored"))
ratio         $ratio2
${COST[0]}
${COST[1]}
"
expect 0 "$STRATA" stats --json "$S"
err_empty
out_is "{\"records\": 21, \"keys\": 13, \"units\": 21, \"groups\": $groups, \"raw_bytes\": $raw, \"stored_bytes\": $stored, \"ratio\": $ratio4, ${COST[2]}}
"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT" || fail "stats --json is not valid JSON: $(show "$OUT")"
# with the default options no get reads more than 4 bytes per byte (4 KiB
# for small records) or touches more than 4 groups
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
rc, c = j["read_cost"], j["chain_max"]
sys.exit(0 if rc["median"] <= rc["p99"] <= rc["max"] <= 4 and 1 <= c <= 4 else 1)' "$OUT" ||
	fail "stats --json: read cost not within the defaults (median <= p99 <= max <= 4, 1 <= chain_max <= 4): $(show "$OUT")"

expect 0 "$STRATA" verify "$S"
err_empty
out_is "checked $npacks packs, $groups groups, 21 records ($(human $raw)): ok
"

# -------------------------------------------------------- output errors
# A command whose result is its output must not report success when the
# output could not be written (exit status 1 = failure): `strata ls S >
# list` on a full disk would otherwise leave a truncated list and exit 0.
section "write errors on standard output"
if [[ -w /dev/full ]]; then
	for argv in "get $S k" "get $S k --stats" "cat $S bin" "ls $S" "log $S" "log $S k" "stats $S" "stats $S --json"; do
		set +e
		# shellcheck disable=SC2086
		"$STRATA" $argv >/dev/full 2>"$ERR"
		RC=$?
		set -e
		LAST_CMD="strata $argv >/dev/full"
		check test "$RC" == 1 -a -s "$ERR" -- "'strata $argv' with standard output on /dev/full: exit $RC and $(wc -l <"$ERR") line(s) on stderr, expected exit 1 and an error message (the output was lost)"
	done
else
	echo "(no writable /dev/full: skipped)"
fi

# ---------------------------------------------------------------- lock
section "writer lock"
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "rb")
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)' "$S/lock" >"$T/locked" &
holder=$!
BG_PIDS+=("$holder")
for _ in $(seq 1 100); do [[ -s $T/locked ]] && break; sleep 0.05; done
[[ -s $T/locked ]] || die "the lock holder did not start"
expect 1 "$STRATA" put "$S" k "$D/k1"
out_empty
err_is "strata put: $S/lock is held by another writer
"
expect 1 "$STRATA" load "$S" /dev/null
out_empty
err_has "held by another writer"
expect 1 "$STRATA" rebuild "$S"
err_has "held by another writer"
ls "$S/packs" >"$T/packs.locked"
expect 1 "$STRATA" repack "$S"
out_empty
err_is "strata repack: $S/lock is held by another writer
"
expect 1 "$STRATA" repack "$S" --oldest-first
out_empty
err_is "strata repack: $S/lock is held by another writer
"
check diff "$T/packs.locked" <(ls "$S/packs") -- "a refused repack changed packs/"
# readers are not blocked
get_to "$S" k "$T/g"; same_file "$T/g" "$D/k3" "get while a writer holds the lock"
expect 0 "$STRATA" ls "$S"
expect 0 "$STRATA" verify "$S"
expect 0 "$STRATA" get "$S" k --stats
err_one_line
expect 0 "$STRATA" stats "$S"
kill "$holder"
wait "$holder" 2>/dev/null || true
expect 0 "$STRATA" put "$S" k "$D/k1"
out_is "stored k@4 in unit 22
"
get_to "$S" k@4 "$T/g"; same_file "$T/g" "$D/k1" "get k@4 after the lock was released"

finish
