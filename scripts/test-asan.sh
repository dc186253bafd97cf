#!/usr/bin/env bash
# The unit and packet suites again under ASan+UBSan, from their own tree
# (build-asan, configured once, then rebuilt incrementally):
# ./scripts/test-asan.sh [meson test args...]. Not yet run by CI: under
# ASan, test_limits' 65534-backend cases time out (flows list empty, stats
# not answering within 10 s), not yet understood; every other unit and
# packet test passes with no report.
# Any sanitizer report fails a case: UBSan is built not to recover, both
# abort on the first report (the process exits on SIGABRT), and every report
# is also written under <builddir>/meson-logs/sanitizers/ (to be counted as
# a failure each once CI runs this), so a report from a process whose exit
# status no test checks is not lost.
set -uo pipefail
cd "$(dirname "$0")/.."

asandir=${ANYLB_ASAN_BUILDDIR:-build-asan}
werror=${ANYLB_WERROR:-true}
if [ ! -f "$asandir/build.ninja" ]; then
  meson setup "$asandir" --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args=-fno-sanitize-recover=all -Dwerror="$werror" || exit 1
else
  meson configure "$asandir" -Dwerror="$werror" >/dev/null
fi
reports="$PWD/$asandir/meson-logs/sanitizers"
rm -rf "$reports"
./scripts/clear_reports.py "$asandir"
meson compile -C "$asandir" || { echo "ASan+UBSan build failed"; exit 1; }
mkdir -p "$reports"

# Meson sets its own defaults only when these are unset.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
# Instrumented code runs two to three times slower.
meson test -C "$asandir" --print-errorlogs --timeout-multiplier 3 --suite unit --suite packet "$@"
