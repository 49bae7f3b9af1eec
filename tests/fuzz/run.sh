#!/usr/bin/env bash
# Runs every built libFuzzer target for SECONDS each and fails if any crashes.
#
#   tests/fuzz/run.sh [SECONDS]        (build the targets first: make fuzz-build)
#
# Target build/fuzz/fuzz_NAME starts from the seed corpus tests/fuzz/corpus/NAME/,
# copied to build/fuzz/corpus-work/NAME/ so that the inputs a run discovers never
# modify the repository. Crash inputs are saved under build/fuzz/crashes/NAME/ and
# logs under build/fuzz/logs/. Each crash input belongs in a regression test.
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-30}
case $seconds in
    ''|*[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS]" >&2; exit 2 ;;
esac

shopt -s nullglob
targets=()
for bin in build/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] && targets+=("$bin")
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz targets in build/fuzz (run: make fuzz-build)" >&2
    exit 1
fi

mkdir -p build/fuzz/logs build/fuzz/crashes
failed=()
for bin in "${targets[@]}"; do
    name=$(basename "$bin")
    short=${name#fuzz_}
    work=build/fuzz/corpus-work/$short
    crashes=build/fuzz/crashes/$short
    log=build/fuzz/logs/$name.log
    rm -rf "$work"
    mkdir -p "$work" "$crashes"
    if [ -d "tests/fuzz/corpus/$short" ]; then
        cp -R "tests/fuzz/corpus/$short/." "$work/"
    else
        echo "note: $name has no seed corpus (tests/fuzz/corpus/$short/)"
    fi
    start=$(date +%s)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
        -artifact_prefix="$crashes/" -print_final_stats=1 "$work" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ "$rc" -ne 0 ]; then
        failed+=("$name")
        echo "FAIL $name after $((end - start))s (exit $rc); inputs in $crashes/, log $log"
        grep -E 'ERROR: |SUMMARY: |runtime error' "$log" | head -5 | sed 's/^/    /'
    else
        echo "ok   $name: ${runs:-?} runs in $((end - start))s, corpus $(ls "$work" | wc -l) inputs"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]}"
    exit 1
fi
echo "fuzzing: ${#targets[@]} target(s) ran ${seconds}s each without a crash"
