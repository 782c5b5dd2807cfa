#!/usr/bin/env bash
# Side-by-side benchmark of `conduit sync` against rsync -a, rclone sync, cp -a
# and unison -batch on generated trees (targets: docs/architecture.md). Writes the table between
# the sync-bench markers in BENCHMARKS.md.
#
#   bench/sync.sh                 # full size: 100k files / 1 GiB, and 8 x 256 MiB
#   BENCH_QUICK=1 bench/sync.sh   # smoke test: small trees, prints the table only
#
# Environment (defaults in brackets; quick mode's in braces):
#   BENCH_SMALL_FILES [100000] {2000}  files in the many-small-files tree
#   BENCH_SMALL_MB    [1024]   {20}    their total size
#   BENCH_LARGE_FILES [8]      {2}     files in the large-files tree
#   BENCH_LARGE_MB    [256]    {16}    size of each large file
#   BENCH_DIR         [a new /tmp/conduit-sync-bench.*] scratch folder
#   BENCH_KEEP        [0]  1: keep the scratch folder (trees, logs, results.tsv)
#   BENCH_WRITE       [1]  {0}  1: write the table into BENCHMARKS.md
#   BENCH_DROP_CACHES [1]  0: never drop the page cache (runs are then warm)
#
# Each timed run starts after `sync` and, where permitted, dropping the page
# cache; wall time and peak RSS come from GNU time. After each run, the time a
# `sync` takes to flush what the tool left in the page cache is recorded too:
# conduit makes every file durable before it reports, the others do not.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then q=1; else q=0; fi
SMALL_FILES=${BENCH_SMALL_FILES:-$( ((q)) && echo 2000 || echo 100000)}
SMALL_MB=${BENCH_SMALL_MB:-$( ((q)) && echo 20 || echo 1024)}
LARGE_FILES=${BENCH_LARGE_FILES:-$( ((q)) && echo 2 || echo 8)}
LARGE_MB=${BENCH_LARGE_MB:-$( ((q)) && echo 16 || echo 256)}
WRITE=${BENCH_WRITE:-$( ((q)) && echo 0 || echo 1)}
KEEP=${BENCH_KEEP:-0}
DROP=${BENCH_DROP_CACHES:-1}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/conduit-sync-bench.XXXXXX)}
mkdir -p "$WORK/logs"
WORK=$(cd "$WORK" && pwd)

cleanup() {
    if [[ $KEEP == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------
missing=()
for tool in rsync rclone unison; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "installing ${missing[*]}" >&2
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing ${missing[*]}: run  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

echo "building conduit (release)" >&2
(cd "$REPO" && cargo build --release -p conduit --quiet)
CONDUIT=$REPO/target/release/conduit
touch "$WORK/rclone.conf"

# --- measuring ---------------------------------------------------------------
CACHE=cold
drop_caches() {
    sync
    if [[ $DROP == 1 ]] && { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
        return
    fi
    CACHE=warm
}

RESULTS=$WORK/results.tsv
printf 'tree\tscenario\ttool\twall_s\tpeak_rss_kb\tflush_s\n' >"$RESULTS"

# measure TREE SCENARIO TOOL CMD...: one timed run, appended to results.tsv.
# The command's stdout and stderr go to logs/TREE.SCENARIO.TOOL.{out,err}.
measure() {
    local tree=$1 scenario=$2 tool=$3
    shift 3
    local log="$WORK/logs/$tree.${scenario// /-}.${tool%% *}"
    drop_caches
    echo "  $tool: $scenario" >&2
    if ! /usr/bin/time -f '%e %M' -o "$log.time" "$@" >"$log.out" 2>"$log.err"; then
        echo "$tool failed ($scenario on $tree):" >&2
        tail -n 20 "$log.err" "$log.out" >&2
        exit 1
    fi
    local start end wall rss
    start=$(date +%s.%N)
    sync
    end=$(date +%s.%N)
    read -r wall rss <"$log.time"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tree" "$scenario" "$tool" "$wall" "$rss" \
        "$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')" >>"$RESULTS"
}

# A destination must hold what the source holds: same file count and bytes
# (conduit's own .conduit folders aside).
check_copy() {
    local src=$1 dst=$2 what=$3 a b
    a=$(find "$src" -path '*/.conduit' -prune -o -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n, s}')
    b=$(find "$dst" -path '*/.conduit' -prune -o -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n, s}')
    if [[ $a != "$b" ]]; then
        echo "$what: destination has $b (files bytes), source $a" >&2
        exit 1
    fi
}

# A conduit run must have done the work: exit 0 (checked by measure), nothing
# failed, and every source file verified on an initial run, none on a no-op.
check_conduit() {
    local json=$1 want_copied=$2
    python3 - "$json" "$want_copied" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
# "verified" counts the files copied (folders are counted apart).
if report["failed"] or report["halted"] or report["verified"] != want:
    sys.exit(f"unexpected conduit report: {report}")
EOF
}

fresh() { rm -rf "$1" && mkdir -p "$1"; }

# --- scenarios ---------------------------------------------------------------
run_tree() {
    local tree=$1 src=$2 dst=$WORK/dst home
    local files
    files=$(find "$src" -type f | wc -l)
    echo "tree $tree: $files files, $(du -sh --apparent-size "$src" | cut -f1)" >&2
    find "$src" -type f -printf '%s\n' | sort -n |
        awk '{s[NR] = $1} END {printf "%.1f KiB", s[int((NR + 1) / 2)] / 1024}' >"$WORK/$tree.median"

    # One-way: conduit replicate, then the others on a fresh destination each.
    for policy in replicate synchronize; do
        fresh "$dst"
        home=$WORK/home-$tree-$policy
        rm -rf "$home"
        "$CONDUIT" --home "$home" add bench "$src" "$dst" --policy "$policy" >/dev/null
        local initial="initial copy" noop="no-op re-run" label="conduit $policy"
        if [[ $policy == synchronize ]]; then
            initial="two-way initial" noop="two-way no-op"
        fi
        for scenario in "$initial" "$noop"; do
            CONDUIT_LOG=conduit=info measure "$tree" "$scenario" "$label" \
                "$CONDUIT" --home "$home" sync bench --json
            local want=0
            [[ $scenario == "$initial" ]] && want=$files
            check_conduit "$WORK/logs/$tree.${scenario// /-}.conduit.out" "$want"
        done
        check_copy "$src" "$dst" "conduit $policy"
        rm -rf "$src/.conduit" "$home"
    done

    fresh "$dst"
    measure "$tree" "initial copy" "rsync -a" rsync -a "$src/" "$dst/"
    measure "$tree" "no-op re-run" "rsync -a" rsync -a "$src/" "$dst/"
    check_copy "$src" "$dst" rsync

    fresh "$dst"
    measure "$tree" "initial copy" "rclone sync" rclone --config "$WORK/rclone.conf" sync "$src" "$dst"
    measure "$tree" "no-op re-run" "rclone sync" rclone --config "$WORK/rclone.conf" sync "$src" "$dst"
    check_copy "$src" "$dst" rclone

    fresh "$dst"
    measure "$tree" "initial copy" "cp -a" cp -a "$src/." "$dst/"
    check_copy "$src" "$dst" cp

    fresh "$dst"
    rm -rf "$WORK/unison"
    for scenario in "two-way initial" "two-way no-op"; do
        UNISON=$WORK/unison measure "$tree" "$scenario" "unison -batch" \
            unison "$src" "$dst" -batch -times
    done
    check_copy "$src" "$dst" unison
    rm -rf "$dst" "$WORK/unison"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "generating trees in $WORK" >&2
python3 "$REPO/bench/gen_tree.py" small "$WORK/small" "$SMALL_FILES" "$SMALL_MB"
run_tree small "$WORK/small"
rm -rf "$WORK/small"
python3 "$REPO/bench/gen_tree.py" large "$WORK/large" "$LARGE_FILES" "$LARGE_MB"
run_tree large "$WORK/large"
rm -rf "$WORK/large"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------
META=$WORK/meta.tsv
{
    printf 'date\t%s\n' "$(date -u +%Y-%m-%d)"
    printf 'commit\t%s\n' "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'dirty\t%s\n' "$(git -C "$REPO" status --porcelain 2>/dev/null | grep -qv '^??' && echo yes || echo no)"
    printf 'nproc\t%s\n' "$(nproc)"
    printf 'cpu\t%s\n' "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
    printf 'memory\t%s\n' "$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
    printf 'filesystem\t%s\n' "$(df -T "$WORK" | awk 'NR == 2 {print $2 " on " $1}')"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'cache\t%s\n' "$CACHE"
    printf 'load\t%s -> %s\n' "$LOAD_START" "$LOAD_END"
    printf 'small\t%s files, %s MiB, median size %s\n' "$SMALL_FILES" "$SMALL_MB" "$(cat "$WORK/small.median")"
    printf 'large\t%s x %s MiB\n' "$LARGE_FILES" "$LARGE_MB"
    printf 'versions\t%s; %s; %s; %s\n' \
        "$(rsync --version | head -n1 | awk '{print "rsync " $3}')" \
        "$(rclone version | head -n1)" \
        "$(unison -version)" \
        "$(cp --version | head -n1 | awk '{print "cp (coreutils) " $NF}')"
} >"$META"
args=("$WORK" "$REPO/BENCHMARKS.md")
[[ $WRITE == 1 ]] || args+=(--print)
python3 "$REPO/bench/sync_report.py" "${args[@]}"
