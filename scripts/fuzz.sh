#!/usr/bin/env bash
# The libFuzzer harnesses (tests/fuzz/README.md), in their own tree
# (build-fuzz: clang, ASan+UBSan, UBSan not recovering): each one's
# checked-in corpus once (regression), then ANYLB_FUZZ_SECONDS (45) of
# fuzzing from a copy of it, one harness after the other. Called by
# scripts/test.sh, which counts the tests from this run's own JUnit report
# (<fuzz builddir>/meson-logs/testlog.junit.xml). A crash, leak or
# sanitizer report fails its test; the input is kept under
# <fuzz builddir>/tests/fuzz/<harness>/artifacts/.
# Only the harnesses are built (so the rest of the project need not build
# under clang).
#   ./scripts/fuzz.sh [build|run|all] [meson test args...]
#       e.g. ANYLB_FUZZ_SECONDS=3600 ./scripts/fuzz.sh pipeline_fuzz
# build: clear the last run's reports, configure once, build; run: the
# harnesses (exit status: meson test's); all (the default): both.
set -uo pipefail
cd "$(dirname "$0")/.."

step=all
case "${1:-}" in build|run|all) step=$1; shift ;; esac

builddir=${ANYLB_FUZZ_BUILDDIR:-build-fuzz}
harnesses=(pipeline parser flow_page_token state_file options api_convert cp_config)

if [ "$step" != run ]; then
  # An earlier run's reports must not be counted as this one's.
  rm -f "$builddir/meson-logs/testlog.junit.xml" "$builddir/meson-logs/testlog.json"
  if [ ! -f "$builddir/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$builddir" --buildtype=debugoptimized -Db_sanitize=address,undefined \
      -Db_lundef=false -Dcpp_args=-fno-sanitize-recover=all -Dfuzz=true -Dtests=false -Dwerror=true || exit 1
  fi
  targets=()
  for h in "${harnesses[@]}"; do targets+=("${h}_fuzz"); done
  nice meson compile -C "$builddir" "${targets[@]}" || { echo "fuzz build failed"; exit 1; }
fi
[ "$step" = build ] && exit 0

# One at a time (is_parallel false): two cores, shared.
meson test -C "$builddir" --no-rebuild --print-errorlogs --suite fuzz "$@"
