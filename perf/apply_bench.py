#!/usr/bin/python3
"""Apply time and the slowest liveness answer during each apply.

Starts anylb-dataplane on a net_null port (1 worker, --no-huge, a state
file on this disk: every apply is fsynced), then runs apply_bench (the gRPC
client, perf/apply_bench.cpp) against its API socket: ROUNDS applies at each
size of one service with N backends, one at weight 10000 and the rest at 1,
while a thread asks GetLiveness every 5 ms. GetLiveness itself waits 20 ms
(it counts the workers' loops over that time), so 20 ms is its floor.

    /usr/bin/python3 perf/apply_bench.py --build build [--rounds 3] [--sizes 1000,10000,65534]
        [--dataplane OTHER/anylb-dataplane]   # e.g. an older build, same client

Prints apply_bench's table (one line per apply) and, per size, the median
apply time and the worst liveness latency over the rounds. Speed never fails
it; an apply refused, or a liveness call that failed, does (exit 1).
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="the meson build directory")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000,65534")
    ap.add_argument("--dataplane", default=None, help="another anylb-dataplane binary (default: the build's)")
    ap.add_argument("--tmp", default=None, help="where the state file and socket go (default: a new temporary dir)")
    a = ap.parse_args()
    binary = a.dataplane or os.path.join(a.build, "dataplane", "dpdk", "anylb-dataplane")
    client = os.path.join(a.build, "perf", "apply_bench")
    tmp = tempfile.mkdtemp(prefix="anylb-apply-bench-", dir=a.tmp)
    sock = os.path.join(tmp, "api.sock")
    cpus = os.cpu_count() or 1
    eal = (f"--lcores=0@0,1@{1 if cpus > 1 else 0} --no-huge -m 1024 --no-pci --no-telemetry "
           f"--file-prefix applybench{os.getpid()} --vdev=net_null0,no-rx=1")
    cmd = [binary, "--eal", eal, "--api-socket", sock, "--state-file", os.path.join(tmp, "state.json"),
           "--node-address", "198.18.0.1", "--max-backends", "65535", "--flow-capacity", "65536",
           "--mbufs", "4096", "--log-level", "warn"]
    log = open(os.path.join(tmp, "dataplane.log"), "w")
    dp = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 30
        while not os.path.exists(sock):
            if dp.poll() is not None or time.time() > deadline:
                raise SystemExit("the dataplane did not start:\n" + open(log.name).read())
            time.sleep(0.05)
        sizes = [s.strip() for s in a.sizes.split(",")]
        r = subprocess.run([client, sock, str(a.rounds), *sizes], capture_output=True, text=True, timeout=1800)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        rows = [line.split("\t") for line in r.stdout.splitlines()[1:] if line]
        print("\nbackends  apply ms (median of %d)  worst liveness ms  polls" % a.rounds)
        for n in sizes:
            mine = [row for row in rows if row[0] == n]
            if not mine:
                continue
            print(f"{n:>8}  {statistics.median(float(row[2]) for row in mine):>22.1f}  "
                  f"{max(float(row[6]) for row in mine):>17.1f}  {sum(int(row[5]) for row in mine):>5}")
        return r.returncode
    finally:
        if dp.poll() is None:
            os.killpg(dp.pid, signal.SIGTERM)
            try:
                dp.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(dp.pid, signal.SIGKILL)
                dp.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
