#!/usr/bin/env bash
# Sets up (Debian packages), builds, and runs every test. The last line is
# "N passed, N failed", counting each GoogleTest case and each TAP case; the
# line before it counts the skipped ones. With CI set (.ci/run is run as
# CI=true) a skip counts as failed: a broken environment must not pass green.
# Run as root on Debian 12: ./scripts/test.sh [meson test args...]
#
# Four trees, each built before anything runs (two cores: one build at a
# time, and no build while tests measure or wait on timers):
#   build        release: unit, packet, perf smoke and integration suites
#   build-tsan   ThreadSanitizer: the threaded unit tests (scripts/tsan.sh;
#                ANYLB_TSAN=0 leaves it out)
#   build-asan   ASan+UBSan: the unit and packet suites again, and the soak
#                (scripts/test-asan.sh; ANYLB_ASAN=0 leaves it out)
#   build-fuzz   clang, ASan+UBSan: the libFuzzer harnesses, each's corpus
#                once, then ~45 s of fuzzing (scripts/fuzz.sh; ANYLB_FUZZ=0
#                leaves it out)
# Each tree's meson-logs is counted on its own (scripts/count_results.py).
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

builddir=${ANYLB_BUILDDIR:-build}
# CI builds with warnings as errors; a developer's tree may say otherwise.
werror=${ANYLB_WERROR:-true}
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" --buildtype=release -Dwerror="$werror" || { echo "0 passed, 1 failed"; exit 1; }
else
  meson configure "$builddir" -Dwerror="$werror" >/dev/null
fi
if ! meson compile -C "$builddir"; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# The sanitizer trees, built now; a tree that fails to build has no report
# and counts as one failure below.
reports=("$builddir/meson-logs")
status=0
tsan=${ANYLB_TSAN:-1}
asan=${ANYLB_ASAN:-1}
fuzz=${ANYLB_FUZZ:-1}
[ "$tsan" != 0 ] && { ./scripts/tsan.sh build || { tsan=failed; status=1; }; }
[ "$asan" != 0 ] && { ./scripts/test-asan.sh build || { asan=failed; status=1; }; }
[ "$fuzz" != 0 ] && { ./scripts/fuzz.sh build || { fuzz=failed; status=1; }; }

# Reports of an earlier run must not be counted as this one's.
./scripts/clear_reports.py "$builddir"
meson test -C "$builddir" --print-errorlogs "$@" || status=1

case "$tsan" in
  0) ;;
  failed) reports+=("${ANYLB_TSAN_BUILDDIR:-build-tsan}/meson-logs") ;;
  *) ./scripts/tsan.sh run || status=1; reports+=("${ANYLB_TSAN_BUILDDIR:-build-tsan}/meson-logs") ;;
esac
case "$asan" in
  0) ;;
  failed) reports+=("${ANYLB_ASAN_BUILDDIR:-build-asan}/meson-logs") ;;
  *) ./scripts/test-asan.sh run || status=1; reports+=("${ANYLB_ASAN_BUILDDIR:-build-asan}/meson-logs") ;;
esac
case "$fuzz" in
  0) ;;
  failed) reports+=("${ANYLB_FUZZ_BUILDDIR:-build-fuzz}/meson-logs") ;;
  *) ./scripts/fuzz.sh run || status=1; reports+=("${ANYLB_FUZZ_BUILDDIR:-build-fuzz}/meson-logs") ;;
esac

./scripts/count_results.py "${reports[@]}"
summary=$?
[ "$status" -ne 0 ] && exit "$status"
exit "$summary"
