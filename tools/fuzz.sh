#!/usr/bin/env bash
# Run one cargo-fuzz target of fuzz/ for MINUTES as one process at a low CPU priority
# (nice $NICE, default 19: only idle CPU). See docs/reliability.md.
#
#   cargo +nightly fuzz build -a --target-dir "$FUZZ_TARGET_DIR"   # once
#   tools/fuzz.sh TARGET MINUTES [libFuzzer options…]
#
# New inputs go to fuzz/corpus-work/TARGET (not committed); the committed corpus
# fuzz/corpus/TARGET and the seeds fuzz/seeds/TARGET (tools/fuzz_seeds.py) are read.
# Crashes, out-of-memory and timeouts are written to fuzz/artifacts/TARGET/, the log to
# fuzz/logs/. Memory limits make an allocation over 512 MiB, or 2 GiB resident, a crash.
set -euo pipefail
target=$1
minutes=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FUZZ_TARGET_DIR:-$root/fuzz/target}/x86_64-unknown-linux-gnu/release/$target
work=$root/fuzz/corpus-work/$target
mkdir -p "$work" "$root/fuzz/corpus/$target" "$root/fuzz/seeds/$target" \
    "$root/fuzz/artifacts/$target" "$root/fuzz/logs"
log=$root/fuzz/logs/$target-$(date +%Y%m%d-%H%M%S).log
# Binaries that link candor-rl load libmujoco from CANDOR_MUJOCO_LIB_DIR (see the docs).
if [ -n "${CANDOR_MUJOCO_LIB_DIR:-}" ]; then
    export LD_LIBRARY_PATH="$CANDOR_MUJOCO_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "fuzzing $target for $minutes min; log $log"
nice -n "${NICE:-19}" "$bin" "$work" "$root/fuzz/corpus/$target" "$root/fuzz/seeds/$target" \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=20 \
    -max_total_time=$((minutes * 60)) -print_final_stats=1 \
    -artifact_prefix="$root/fuzz/artifacts/$target/" "$@" >"$log" 2>&1 || true
grep -E "^#[0-9]+[[:space:]]+(DONE|INITED)|stat::number_of_executed_units|ERROR|SUMMARY|Test unit written" "$log" || true
