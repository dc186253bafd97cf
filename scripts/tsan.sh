#!/usr/bin/env bash
# The unit tests that run threads, built with ThreadSanitizer and run; called
# by scripts/test.sh, which counts their cases from this run's own JUnit
# report (<tsan builddir>/meson-logs/testlog.junit.xml).
#
#   flow_table     FlowTable::peek against a worker inserting, repinning,
#                  sweeping (the cross-lcore read of ICMP errors)
#   control_state  the control state against a state publisher (a fake one:
#                  the real StatePublisher's RCU needs EAL, see
#                  docs/ARCHITECTURE.md "Test layers")
#   health         the control plane's health checker and its probe threads
#   probes         probes against servers on threads
#
# Only these targets are built (a TSan tree of the whole project takes far
# longer), so the tests run with --no-rebuild. No suppressions: a report in
# our code is a bug to fix; one in a third-party frame would go in a
# tests/tsan.supp with the reason.
#
#   ./scripts/tsan.sh [build|run|all] [meson test args...]
# build: clear the last run's reports, configure once, build; run: the tests
# (exit status: meson test's); all (the default): both.
set -uo pipefail
cd "$(dirname "$0")/.."

step=all
case "${1:-}" in build|run|all) step=$1; shift ;; esac
builddir=${ANYLB_TSAN_BUILDDIR:-build-tsan}
tests=(flow_table control_state health probes)

if [ "$step" != run ]; then
  # An earlier run's reports must not be counted as this one's.
  rm -f "$builddir/meson-logs/testlog.junit.xml" "$builddir/meson-logs/testlog.json"
  for t in "${tests[@]}"; do rm -f "$builddir/$t.xml"; done
  if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" --buildtype=debugoptimized -Db_sanitize=thread -Dwerror=true || exit 1
  fi
  targets=()
  for t in "${tests[@]}"; do targets+=("${t}_test"); done
  nice meson compile -C "$builddir" "${targets[@]}" || { echo "TSan build failed"; exit 1; }
fi
[ "$step" = build ] && exit 0

# A report fails the test (TSan's exit code 66) without stopping it, so
# every race of the run is printed; history_size=4 keeps the racing
# write's stack for longer tests.
export TSAN_OPTIONS="${TSAN_OPTIONS:-history_size=4 second_deadlock_stack=1}"
meson test -C "$builddir" --no-rebuild --print-errorlogs "$@" "${tests[@]}"
