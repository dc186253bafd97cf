#!/usr/bin/env bash
# Sets up (Debian packages), builds, and runs every test. The last line is
# "N passed, N failed", counting each GoogleTest case and each TAP case; the
# line before it counts the skipped ones. With CI set (.ci/run is run as
# CI=true) a skip counts as failed: a broken environment must not pass green.
# Run as root on Debian 12: ./scripts/test.sh [meson test args...]
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

# Reports of an earlier run must not be counted as this one's
# (scripts/clear_reports.py: meson's logs, each GoogleTest binary's XML).
./scripts/clear_reports.py "$builddir"
meson test -C "$builddir" --print-errorlogs "$@"
status=$?

# ThreadSanitizer: the threaded unit tests in their own tree, counted below
# from their own report (scripts/tsan.sh; ANYLB_TSAN=0 skips it).
reports=("$builddir/meson-logs")
if [ "${ANYLB_TSAN:-1}" != 0 ]; then
  ./scripts/tsan.sh || status=1
  reports+=("${ANYLB_TSAN_BUILDDIR:-build-tsan}/meson-logs")
fi
# libFuzzer harnesses, each's corpus once then ~45 s of fuzzing, in their
# own clang tree, counted from their own report (scripts/fuzz.sh;
# ANYLB_FUZZ=0 skips it).
if [ "${ANYLB_FUZZ:-1}" != 0 ]; then
  ./scripts/fuzz.sh || status=1
  reports+=("${ANYLB_FUZZ_BUILDDIR:-build-fuzz}/meson-logs")
fi

# Count cases from meson's JUnit report (GoogleTest and TAP cases each
# count); a test that failed as a whole (timed out, crashed, stopped before
# its plan) with no failing case of its own counts one failure more. A case
# belongs to the test whose name starts its "suite.case" key: meson names a
# GoogleTest suite "<project>.<test>.<suite>", a TAP one "<project>.<test>",
# and puts an exit-code test, or a TAP file skipped whole (plan 1..0), in
# suite "<project>" as case "<test>", whose outcome is the test's own
# (meson's JUnit marks a timeout as no failure).
/usr/bin/python3 - "${reports[@]}" <<'PY'
import json
import os
import sys
import xml.etree.ElementTree as ET
# One meson-logs directory a test run: the main one, then others (TSan, fuzz),
# each counted on its own.
reports = []
for logs in sys.argv[1:]:
    try:
        reports.append((ET.parse(f"{logs}/testlog.junit.xml").getroot(),
                        [json.loads(line) for line in open(f"{logs}/testlog.json")]))
    except (OSError, ET.ParseError, ValueError) as e:
        print(f"cannot read test report: {e}")
        reports.append(None)
GOOD = ("OK", "SKIP", "EXPECTEDFAIL")
# Same rule as tests/tap.py: CI set to anything but empty, 0 or false.
strict = os.environ.get("CI", "").strip().lower() not in ("", "0", "false")
# Skips that say nothing about the machine: a parameterised GoogleTest case
# with nothing to check for one parameter (ARP is never parsed, so it has no
# truncations). Every other skip is an environment that cannot run a test.
BY_DESIGN = (".Parser/ValidPacket.EveryTruncationIsALengthDrop/arp",)


def owned_by(key, test):
    return key == test or key.startswith(test + ".")


passed = failed = 0
skipped = []
for report in reports:
    if report is None:  # a run with no report (its build failed): one failure
        failed += 1
        continue
    root, results = report
    failing_tests = {"anylb." + r.get("name", "") for r in results if r.get("result") not in GOOD}
    failing_keys = []
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            key = f"{suite.get('name', '')}.{case.get('name', '')}"
            if case.find("failure") is not None or case.find("error") is not None or key in failing_tests:
                failed += 1
                failing_keys.append(key)
            elif case.find("skipped") is not None:
                skipped.append(key)
            else:
                passed += 1
    for r in results:
        if r.get("result") in GOOD:
            continue
        name = "anylb." + r.get("name", "")
        if not any(owned_by(k, name) for k in failing_keys):
            print(f"{r.get('name')}: {r.get('result')} with no failing case counted: counted as one failure")
            failed += 1
environment = [k for k in skipped if not k.endswith(BY_DESIGN)]
for key in environment:
    print(f"skipped: {key}")
print(f"{len(skipped)} skipped ({len(skipped) - len(environment)} by design, {len(environment)} by the environment)")
if strict and environment:
    print(f"CI is set: {len(environment)} skip(s) by the environment counted as failed")
    failed += len(environment)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
summary=$?
[ "$status" -ne 0 ] && exit "$status"
exit "$summary"
