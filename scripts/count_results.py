#!/usr/bin/python3
"""Counts a test run's cases from meson's reports and prints the last line
of scripts/test.sh: "N passed, N failed" (after a line counting skips).

  scripts/count_results.py LOGS [LOGS...]

Each LOGS is one meson-logs directory (the main tree's first, then the
TSan, ASan+UBSan and fuzz trees'), counted on its own:

- each GoogleTest case and each TAP case passes or fails, from meson's JUnit
  report (testlog.junit.xml);
- a test that failed as a whole (timed out, crashed, stopped before its
  plan) with no failing case of its own counts one failure more (meson's
  JUnit marks a timeout as no failure; testlog.json has the outcome);
- each sanitizer report written under LOGS/sanitizers/ (where
  scripts/test-asan.sh points ASan and UBSan's log_path) counts one failure
  and is printed: a report from a process whose exit status no test checks
  is not lost;
- a LOGS with no readable report (its build failed) counts one failure.

A case belongs to the test whose name starts its "suite.case" key: meson
names a GoogleTest suite "<project>.<test>.<suite>", a TAP one
"<project>.<test>", and puts an exit-code test, or a TAP file skipped whole
(plan 1..0), in suite "<project>" as case "<test>".

With CI set (as .ci/run runs it) a skip by the environment counts as
failed: a broken environment must not pass green. Exit status 1 if anything
failed.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

GOOD = ("OK", "SKIP", "EXPECTEDFAIL")
# Skips that say nothing about the machine: a parameterised GoogleTest case
# with nothing to check for one parameter (ARP is never parsed, so it has no
# truncations). Every other skip is an environment that cannot run a test.
BY_DESIGN = (".Parser/ValidPacket.EveryTruncationIsALengthDrop/arp",)
# Lines of a sanitizer report shown in the output (the whole is in the file).
REPORT_LINES = 60


def owned_by(key, test):
    return key == test or key.startswith(test + ".")


def strict():
    """Same rule as tests/tap.py: CI set to anything but empty, 0 or false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


class Count:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = []

    def sanitizer_reports(self, logs, run):
        reports = os.path.join(logs, "sanitizers")
        for name in sorted(os.listdir(reports)) if os.path.isdir(reports) else []:
            path = os.path.join(reports, name)
            print(f"{run}sanitizer report {path}: counted as one failure")
            with open(path, errors="replace") as f:
                print("".join(f.readlines()[:REPORT_LINES]), end="")
            self.failed += 1

    def run(self, logs, run):
        try:
            root = ET.parse(os.path.join(logs, "testlog.junit.xml")).getroot()
            with open(os.path.join(logs, "testlog.json")) as f:
                results = [json.loads(line) for line in f]
        except (OSError, ET.ParseError, ValueError) as e:
            print(f"{run}cannot read test report: {e}: counted as one failure")
            self.failed += 1
            return
        failing_tests = {"anylb." + r.get("name", "") for r in results if r.get("result") not in GOOD}
        failing_keys = []
        for suite in root.iter("testsuite"):
            for case in suite.iter("testcase"):
                key = f"{suite.get('name', '')}.{case.get('name', '')}"
                if case.find("failure") is not None or case.find("error") is not None or key in failing_tests:
                    self.failed += 1
                    failing_keys.append(key)
                elif case.find("skipped") is not None:
                    self.skipped.append(run + key)
                else:
                    self.passed += 1
        for r in results:
            if r.get("result") in GOOD:
                continue
            name = "anylb." + r.get("name", "")
            if not any(owned_by(k, name) for k in failing_keys):
                print(f"{run}{r.get('name')}: {r.get('result')} with no failing case counted: counted as one failure")
                self.failed += 1


def main(argv):
    count = Count()
    for i, logs in enumerate(argv):
        # Lines about the main tree as before; the others named by their tree.
        run = "" if i == 0 else f"{os.path.dirname(os.path.normpath(logs))}: "
        count.sanitizer_reports(logs, run)
        count.run(logs, run)
    environment = [k for k in count.skipped if not k.endswith(BY_DESIGN)]
    for key in environment:
        print(f"skipped: {key}")
    print(f"{len(count.skipped)} skipped ({len(count.skipped) - len(environment)} by design, "
          f"{len(environment)} by the environment)")
    failed = count.failed
    if strict() and environment:
        print(f"CI is set: {len(environment)} skip(s) by the environment counted as failed")
        failed += len(environment)
    print(f"{count.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else "usage: count_results.py LOGS [LOGS...]")
