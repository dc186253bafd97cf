#!/usr/bin/python3
"""The pipeline's instructions a packet against a budget (a perf-suite test).

Runs count.cpp's workloads under callgrind, established and new flows, and
fails when a packet costs more instructions than its budget. Callgrind
counts instructions, not time: the figure repeats run after run, so a
change to Pipeline's code or layout that costs more fails in CI instead of
waiting for a benchmark on a quiet machine.

  budget.py VALGRIND COUNT-BINARY [--established N] [--new N]

The budgets sit a few percent above the figures of record (perf/RESULTS.md,
count.sh): 386 / 598. A change that lowers them should lower these too.
"""
import argparse
import re
import subprocess
import sys

PACKETS = 1000 * 32  # count.cpp: 1000 bursts of 32 between CALLGRIND_START/STOP
BUDGETS = {"established": 400, "new": 620}


def instructions_per_packet(valgrind, binary, mode):
    r = subprocess.run([valgrind, "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
                        binary, mode], capture_output=True, text=True, timeout=300)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"{mode}: exit {r.returncode}, no callgrind total in:\n{r.stderr[-2000:]}")
    return int(m.group(1)) / PACKETS


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("valgrind")
    ap.add_argument("binary")
    for mode, budget in BUDGETS.items():
        ap.add_argument("--" + mode, type=float, default=budget, help=f"instructions a packet (default {budget})")
    a = ap.parse_args()
    print(f"1..{len(BUDGETS)}")
    failed = 0
    for n, mode in enumerate(BUDGETS, 1):
        budget = getattr(a, mode)
        try:
            measured = instructions_per_packet(a.valgrind, a.binary, mode)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"not ok {n} - {mode}")
            print("# " + str(e).replace("\n", "\n# "))
            failed += 1
            continue
        ok = measured <= budget
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {n} - {mode} flows: {measured:.1f} instructions a packet, "
              f"budget {budget:g}{'' if ok else ' (over: see perf/callgrind/count.sh to find where)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
