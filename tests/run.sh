#!/usr/bin/env bash
# Runs every test program and integration script against one build directory and
# ends with the line "N passed, N failed" counting TAP test points.
#
#   tests/run.sh [BUILD_DIR] [FILTER]
#
# Unit tests: every BUILD_DIR/tests/test_* program. Integration tests: every
# tests/integration/*.sh script, run with BUILD pointing at BUILD_DIR. Both speak TAP
# ("ok N - name" / "not ok N - name"). A program that exits non-zero without
# reporting a failed point (a crash, a sanitizer report, a timeout) counts as one
# failure of its own. FILTER keeps only the programs whose name contains it.
set -u
cd "$(dirname "$0")/.."
build=${1:-build/asan}
filter=${2:-${TEST_FILTER:-}}
export BUILD=$build
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
timeout_s=${TEST_TIMEOUT:-600}

passed=0
failed=0
failed_names=()
logdir=$build/test-logs
mkdir -p "$logdir"

run_one() {
    local name=$1; shift
    local log=$logdir/$name.log
    local start end rc ok notok
    start=$(date +%s)
    timeout --kill-after=10 "$timeout_s" "$@" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    ok=$(grep -c '^ok ' "$log")
    notok=$(grep -c '^not ok ' "$log")
    passed=$((passed + ok))
    failed=$((failed + notok))
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        failed=$((failed + 1))
        notok=1
        echo "not ok - $name exited with status $rc (see $log)" >>"$log"
    fi
    if [ "$notok" -gt 0 ]; then
        failed_names+=("$name")
        printf 'FAIL %-40s %3d ok, %d failed (%ds)\n' "$name" "$ok" "$notok" $((end - start))
        grep -E '^(not ok|#)' "$log" | head -40 | sed 's/^/    /'
        tail -n 20 "$log" | grep -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error' | sed 's/^/    /'
    else
        printf 'ok   %-40s %3d ok (%ds)\n' "$name" "$ok" $((end - start))
    fi
}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
    run_one "$name" "$t"
done

for s in tests/integration/*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    [ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
    run_one "$name" bash "$s"
done

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed: ${failed_names[*]} (logs in $logdir)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
