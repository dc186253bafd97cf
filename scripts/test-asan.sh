#!/usr/bin/env bash
# The unit and packet suites again under ASan+UBSan, and the soak
# (tests/soak/, defined in sanitizer trees only; ANYLB_SOAK_SECONDS, 120 by
# default), from their own tree (build-asan, configured once, then rebuilt
# incrementally). scripts/test.sh runs it and counts its cases and its
# sanitizer reports.
#
#   ./scripts/test-asan.sh [build|run|all] [meson test args...]
# build: clear the last run's reports, configure once, build; run: the
# suites (exit status: meson test's); all (the default): both.
#
# Any sanitizer report fails: UBSan is built not to recover, both abort on
# the first report (the process exits on SIGABRT, failing its case), and
# every report is also written under <builddir>/meson-logs/sanitizers/,
# where scripts/count_results.py counts each as a failure of its own, so a
# report from a process whose exit status no test checks is not lost.
# LeakSanitizer's suppressions (third-party frames only) are in
# tests/sanitizers/lsan.supp.
set -uo pipefail
cd "$(dirname "$0")/.."

step=all
case "${1:-}" in build|run|all) step=$1; shift ;; esac
asandir=${ANYLB_ASAN_BUILDDIR:-build-asan}
werror=${ANYLB_WERROR:-true}
reports="$PWD/$asandir/meson-logs/sanitizers"

if [ "$step" != run ]; then
  if [ ! -f "$asandir/build.ninja" ]; then
    meson setup "$asandir" --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
      -Dcpp_args=-fno-sanitize-recover=all -Dwerror="$werror" || exit 1
  else
    meson configure "$asandir" -Dwerror="$werror" >/dev/null
  fi
  rm -rf "$reports"
  ./scripts/clear_reports.py "$asandir"
  nice meson compile -C "$asandir" || { echo "ASan+UBSan build failed"; exit 1; }
fi
[ "$step" = build ] && exit 0

rm -rf "$reports"
mkdir -p "$reports"
# Meson sets its own defaults only when these are unset.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
# Instrumented code runs two to three times slower; tests that assert on
# timing in a release build (test_limits' deadlines) relax it under this.
export ANYLB_SANITIZED=address,undefined
meson test -C "$asandir" --no-rebuild --print-errorlogs --timeout-multiplier 3 --suite unit --suite packet --suite soak "$@"
