"""A minimal TAP producer with skips: meson (protocol tap) counts each case."""
import os
import sys
import time
import traceback


class Skip(Exception):
    """Raised by a case that cannot run here: reported as `ok N - name # SKIP why`."""


class Tap:
    def __init__(self, teardown=None):
        self.cases = []
        self.teardown = teardown  # called once after the last case

    def case(self, fn):
        self.cases.append(fn)
        return fn

    @staticmethod
    def skip_unless(tools, hint=""):
        """Skips the whole file (TAP plan 1..0) when a tool it runs is missing."""
        for tool in tools:
            if not os.access(tool, os.X_OK):
                print(f"1..0 # SKIP {tool} missing{hint}")
                sys.exit(0)

    def run(self, only=None):
        """Runs every case (or those named in `only`) and exits 1 if any failed."""
        cases = [c for c in self.cases if not only or c.__name__ in only]
        print(f"1..{len(cases)}", flush=True)
        failed = 0
        for i, fn in enumerate(cases, 1):
            t = time.monotonic()
            try:
                fn()
                print(f"ok {i} - {fn.__name__}", flush=True)
            except Skip as e:
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
