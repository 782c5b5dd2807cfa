#!/usr/bin/env bash
# What verifying copies from the device costs: `conduit sync` (replicate)
# of the same trees with `verify-from=cache` and `verify-from=media`, page
# cache dropped before each run. Prints a markdown table.
#
#   bench/verify_from.sh
#
# Environment: BENCH_SMALL_FILES [20000], BENCH_SMALL_MB [256],
# BENCH_LARGE_FILES [4], BENCH_LARGE_MB [256], BENCH_DIR [a new /tmp folder].
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SMALL_FILES=${BENCH_SMALL_FILES:-20000}
SMALL_MB=${BENCH_SMALL_MB:-256}
LARGE_FILES=${BENCH_LARGE_FILES:-4}
LARGE_MB=${BENCH_LARGE_MB:-256}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/conduit-verify-bench.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT

(cd "$REPO" && cargo build --release -p conduit --quiet)
CONDUIT=$REPO/target/release/conduit

python3 "$REPO/bench/gen_tree.py" small "$WORK/small" "$SMALL_FILES" "$SMALL_MB"
python3 "$REPO/bench/gen_tree.py" large "$WORK/large" "$LARGE_FILES" "$LARGE_MB"

echo "| tree | verify-from | wall s | media ÷ cache |"
echo "| --- | --- | ---: | ---: |"
for tree in small large; do
    declare -A wall=()
    for from in cache media; do
        home=$WORK/home-$tree-$from dst=$WORK/dst-$tree-$from
        rm -rf "$home" "$dst" "$WORK/$tree/.conduit"
        mkdir -p "$dst"
        "$CONDUIT" --home "$home" add bench "$WORK/$tree" "$dst" --policy replicate \
            --set verify-from="$from" >/dev/null
        sync
        echo 3 >/proc/sys/vm/drop_caches
        start=$(date +%s.%N)
        "$CONDUIT" --home "$home" sync bench --json >"$WORK/$tree-$from.json"
        end=$(date +%s.%N)
        python3 - "$WORK/$tree-$from.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r["failed"] or r["halted"] or r["verified"] != r["copied"]:
    sys.exit(f"unexpected report: {r}")
PY
        wall[$from]=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
        rm -rf "$dst" "$home"
    done
    ratio=$(awk -v m="${wall[media]}" -v c="${wall[cache]}" 'BEGIN {printf "%.2f", m / c}')
    echo "| $tree | cache | ${wall[cache]} | — |"
    echo "| $tree | media | ${wall[media]} | $ratio |"
done
