#!/usr/bin/python3
"""The README's first command, as an operator runs it: the built-in lab's
narrated demo (lab/anycast_lab.py, which scripts/lab.sh starts after setup
and build) runs to its end, every step shows what it claims, and nothing is
left behind: no namespace, no process, no DPDK runtime directory.

Usage (root): test_lab_demo.py CONTROLPLANE DATAPLANE ANYLBCTL
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lab"))
from tap import Skip, Tap  # noqa: E402

import anycast_lab as A  # noqa: E402  (leftovers: what a lab run must not leave)

LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lab", "anycast_lab.py")
tap = Tap()
run = {}


@tap.case
def the_demo_runs_to_its_end():
    p = subprocess.Popen(["/usr/bin/python3", LAB, *sys.argv[1:4]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    run["pid"] = p.pid  # what it leaves is checked even if it never finishes
    try:
        try:
            out, _ = p.communicate(timeout=220)  # with the 60 s teardown below, inside meson's 300 s
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGTERM)  # the demo tears down on SIGTERM
            out, _ = p.communicate(timeout=60)
    finally:
        # Deaf to SIGTERM, or this test stopped (its own timeout, a signal):
        # the demo runs in a session of its own, which nothing else would end.
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
            A.sweep_stale()  # its PID gone: its namespaces, their daemons, its directories
    run.update(out=re.sub(r"\x1b\[[0-9;]*m", "", out), rc=p.returncode)
    assert p.returncode == 0, f"rc {p.returncode}:\n{run['out'][-3000:]}"


@tap.case
def every_step_shows_what_it_claims():
    if "out" not in run:
        raise Skip("demo did not run")
    out = run["out"]
    steps = [
        (r"nexthop via 198\.18\.0\.2 .*\n\s+nexthop via 198\.18\.0\.3", "ECMP routes via both nodes"),
        (r"nexthop via 2001:db8:18::2 .*\n\s+nexthop via 2001:db8:18::3", "the IPv6 VIP via both nodes"),
        (r"backend-1: [1-9]\d*\s+backend-2: [1-9]\d*\s+backend-3: [1-9]\d*", "requests answered by every backend"),
        (r"203\.0\.113\.20/32\s+tunnel\s+announced", "the ipip service announced"),
        (r"203\.0\.113\.21/32\s+tunnel-gue\s+announced", "the GUE service announced"),
        # Non-zero: "0 of 0" would say nothing was asked.
        (r"([1-9]\d*) of \1 connections kept their backend; ([1-9]\d*) of \2 of backend-2's moved",
         "only backend-2's flows moved"),
        (r"203\.0\.113\.10 via 198\.18\.0\.3 ", "node 2 alone after node 1 died"),
        (r"\(no route to 203\.0\.113\.10\)\n.*\(no route to 203\.0\.113\.20\)\n.*\(no route to 2001:db8:10::10\)"
         r"\n.*\(no route to 203\.0\.113\.21\)",
         "every VIP withdrawn"),
        (r"every route back through both nodes after \d+\.\d s", "recovery"),
        (r"== Tearing down", "teardown"),
    ]
    missing = [what for pattern, what in steps if not re.search(pattern, out)]
    assert not missing, f"missing from the demo: {missing}\n{out[-4000:]}"
    # The first round's 30 requests, each answered by a backend (a "-: N"
    # entry would sort before backend-1 and break the line's match).
    first = re.search(r"30 requests to .*\n\s+backend-1: (\d+)  backend-2: (\d+)  backend-3: (\d+)\n", out)
    assert first and sum(map(int, first.groups())) == 30, f"the first 30 requests:\n{out[:3000]}"
    assert "(no answer)" not in out and " -: " not in out, f"unanswered requests:\n{out}"


@tap.case
def nothing_is_left_behind():
    if "pid" not in run:
        raise Skip("demo did not run")
    left = A.leftovers(run["pid"])
    assert not left, f"left behind: {left}"

if __name__ == "__main__":
    tap.skip_unless_root("network namespaces")
    tap.skip_unless(A.TOOLS)
    tap.run()
