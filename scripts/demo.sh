#!/usr/bin/env bash
# make demo: load every version of every file in a git history (this
# repository's own, or DEMO_REPO=/path/to/repo), show stored vs raw size,
# read versions back and check them against git, then verify the store.
set -euo pipefail
STRATA=$(realpath "${1:-build/strata}")
top=$(cd "$(dirname "$0")/.." && pwd)
repo=${DEMO_REPO:-$top}
work=${DEMO_DIR:-$top/build/demo}
store=$work/store

if ! git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then
	echo "demo: $repo is not a git repository with commits; set DEMO_REPO" >&2
	exit 1
fi
rm -rf "$work"
mkdir -p "$work"
echo "== demo: every version of every file in the git history of $repo"
python3 "$top/scripts/git2load.py" --repo "$repo" --manifest "$work/manifest.tsv" >"$work/stream"
commits=$(git -C "$repo" rev-list --count HEAD)
records=$(wc -l <"$work/manifest.tsv")
echo "   $commits commits, $records file versions, stream of $(stat -c %s "$work/stream") bytes"

"$STRATA" init "$store" >/dev/null
"$STRATA" load "$store" "$work/stream"
echo
"$STRATA" stats "$store"

echo
echo "== reading versions back and comparing with git"
checked=0
# The first, the last and every 7th version listed, at most 200 of them.
while IFS=$'\t' read -r key n commit blob; do
	"$STRATA" get "$store" "$key@$n" -o "$work/got"
	git -C "$repo" cat-file blob "$blob" >"$work/want"
	if ! cmp -s "$work/got" "$work/want"; then
		echo "demo: MISMATCH for $key@$n (commit $commit)" >&2
		exit 1
	fi
	checked=$((checked + 1))
done < <(awk 'NR == 1 || NR % 7 == 0 {print} END {print}' "$work/manifest.tsv" | head -n 200)
echo "   $checked versions read back, identical to git's"
key=$(cut -f1 "$work/manifest.tsv" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
echo "   the most edited file, $key:"
"$STRATA" log "$store" "$key" | sed 's/^/     /' | head -n 12

echo
echo "== verify"
"$STRATA" verify "$store"
echo
echo "== repack (all units into one pack, compressed harder), then verify again"
"$STRATA" repack "$store"
"$STRATA" stats "$store" | grep -E 'stored bytes|ratio|read cost'
"$STRATA" verify "$store"
echo
echo "demo store left in $store; try: $STRATA ls $store"
