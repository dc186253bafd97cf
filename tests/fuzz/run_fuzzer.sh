#!/usr/bin/env bash
# One harness, one mode; meson runs it (tests/fuzz/meson.build), exit code 0
# for a pass.
#   run_fuzzer.sh regression HARNESS CORPUS WORKDIR   every corpus file once
#   run_fuzzer.sh fuzz HARNESS CORPUS WORKDIR         ANYLB_FUZZ_SECONDS (45) of
#       fuzzing from a copy of CORPUS in WORKDIR/corpus, so the checked-in
#       corpus does not grow; a crash, leak, timeout or sanitizer report is
#       saved as WORKDIR/artifacts/crash-* (or leak-*, timeout-*, oom-*)
#       and fails the test.
set -euo pipefail
mode=$1 harness=$2 corpus=$3 work=$4

# A leak is a failure (libFuzzer checks after each new input); UBSan stops
# at its first report, as ASan does.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:print_summary=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1}"
mkdir -p "$work/artifacts"
common=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$work/artifacts/" -print_final_stats=1)

case $mode in
  regression)
    shopt -s nullglob
    files=("$corpus"/*)
    [ ${#files[@]} -gt 0 ] || { echo "no corpus in $corpus"; exit 1; }
    exec "$harness" "${common[@]}" "${files[@]}"
    ;;
  fuzz)
    rm -rf "$work/corpus"
    mkdir -p "$work/corpus"
    cp "$corpus"/* "$work/corpus/"
    # One process (no -jobs: those log to files of their own).
    exec "$harness" "${common[@]}" -max_total_time="${ANYLB_FUZZ_SECONDS:-45}" "$work/corpus"
    ;;
  *)
    echo "usage: $0 regression|fuzz HARNESS CORPUS WORKDIR" >&2
    exit 2
    ;;
esac
