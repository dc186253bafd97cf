"""A minimal TAP producer with skips: meson (protocol tap) counts each case.

Under CI (the environment variable CI set, as .ci/run is run: CI=true) a
skip is a failure: a machine without root or a tool must not pass green.
"""
import os
import sys
import time
import traceback


class Skip(Exception):
    """Raised by a case that cannot run here: reported as `ok N - name # SKIP why`
    (under CI: `not ok N - name`)."""


def skips_fail():
    """True under CI: CI set to anything but empty, 0 or false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


class Tap:
    def __init__(self, teardown=None):
        self.cases = []
        self.teardown = teardown  # called once after the last case

    def case(self, fn):
        self.cases.append(fn)
        return fn

    @staticmethod
    def skip_all(reason):
        """Skips the whole file (TAP plan 1..0); under CI fails it instead."""
        if skips_fail():
            print("1..1")
            print(f"not ok 1 - cannot run here: {reason}")
            print("# CI is set: a skip counts as a failure", flush=True)
            sys.exit(1)
        print(f"1..0 # SKIP {reason}", flush=True)
        sys.exit(0)

    @staticmethod
    def skip_unless(tools, hint=""):
        """Skips the whole file when a tool it runs is missing."""
        for tool in tools:
            if not os.access(tool, os.X_OK):
                Tap.skip_all(f"{tool} missing{hint}")

    @staticmethod
    def skip_unless_root(why):
        if os.geteuid() != 0:
            Tap.skip_all(f"needs root ({why})")

    def run(self, only=None):
        """Runs every case (or those named in `only`) and exits 1 if any failed."""
        cases = [c for c in self.cases if not only or c.__name__ in only]
        if only and len(cases) != len(set(only)):  # a misspelt name would run nothing and pass
            known = {c.__name__ for c in self.cases}
            print("1..1")
            print(f"not ok 1 - no such case: {', '.join(sorted(set(only) - known))}", flush=True)
            sys.exit(1)
        print(f"1..{len(cases)}", flush=True)
        failed = 0
        for i, fn in enumerate(cases, 1):
            t = time.monotonic()
            try:
                fn()
                print(f"ok {i} - {fn.__name__}", flush=True)
            except Skip as e:
                if skips_fail():
                    failed += 1
                    print(f"not ok {i} - {fn.__name__}", flush=True)
                    print(f"# skipped ({e}); CI is set: a skip counts as a failure", flush=True)
                else:
                    print(f"ok {i} - {fn.__name__} # SKIP {e}", flush=True)
            except Exception:  # report and go on with the next case
                failed += 1
                print(f"not ok {i} - {fn.__name__}", flush=True)
                for line in traceback.format_exc().splitlines():
                    print("# " + line, flush=True)
            print(f"# {fn.__name__}: {time.monotonic() - t:.1f}s", flush=True)  # a bare '#' line: not a directive
        if self.teardown:
            self.teardown()
        sys.exit(1 if failed else 0)
