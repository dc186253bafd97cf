#!/usr/bin/env bash
# Sets up (Debian packages), builds, and runs every test. The last line is
# "N passed, N failed", counting each GoogleTest case and each TAP case.
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

meson test -C "$builddir" --print-errorlogs "$@"
status=$?

# Count cases from meson's JUnit report (GoogleTest and TAP cases each count).
/usr/bin/python3 - "$builddir/meson-logs/testlog.junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print(f"cannot read test report: {e}")
    print("0 passed, 1 failed")
    sys.exit(0)
passed = failed = 0
for suite in root.iter("testsuite"):
    cases = list(suite.iter("testcase"))
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is None:
            passed += 1
print(f"{passed} passed, {failed} failed")
PY
exit $status
