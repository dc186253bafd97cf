#!/usr/bin/python3
"""Removes the test reports of an earlier run in a build directory, so they
are not counted as this one's: meson's logs, and each GoogleTest binary's XML
(<workdir or builddir>/<name>.xml), which meson reads even when the binary
crashed before writing a new one. Usage: clear_reports.py BUILDDIR"""
import json
import os
import sys

builddir = sys.argv[1]
for log in ("testlog.junit.xml", "testlog.json"):
    try:
        os.unlink(os.path.join(builddir, "meson-logs", log))
    except FileNotFoundError:
        pass
try:
    tests = json.load(open(f"{builddir}/meson-info/intro-tests.json"))
except (OSError, ValueError) as e:
    sys.exit(f"cannot list the tests: {e}")
for t in tests:
    if t.get("protocol") == "gtest":
        path = os.path.join(t.get("workdir") or builddir, t["name"] + ".xml")
        if os.path.exists(path):
            os.unlink(path)
