#!/usr/bin/env bash
# Runs fuzz targets for a bounded time each over the committed seed corpus.
#
#   fuzz/run.sh BIN_DIR WORK_DIR SECS TARGET...
#
# New inputs go to WORK_DIR/corpus/<target> (the committed fuzz/corpus/<target>
# is read, never written); a crash or timeout leaves its input in
# WORK_DIR/artifacts/<target>/ and fails the run. Prints libFuzzer's final
# statistics (executions, coverage) per target. The fuzz fleets' segments
# (orbitfuzz-<pid>) are removed at the end, whatever happened.
set -uo pipefail
bin=$1 work=$2 secs=$3
shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cleanup() { rm -f /dev/shm/orbit:"$(id -u)":orbitfuzz-*; }
trap cleanup EXIT
status=0
for t in "$@"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$here/corpus/$t"
    echo "== fuzz $t: ${secs} s"
    start=$SECONDS
    "$bin/$t" -max_total_time="$secs" -seed="${FUZZ_SEED:-0}" -timeout=10 -max_len=8192 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
        "$work/corpus/$t" "$here/corpus/$t" 2>"$work/$t.log"
    rc=$?
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)|^#[0-9]+ +DONE|cov: ' "$work/$t.log" | tail -6
    echo "== fuzz $t: exit $rc after $((SECONDS - start)) s"
    if ((rc != 0)); then
        tail -40 "$work/$t.log"
        status=1
    fi
done
exit $status
