#!/usr/bin/python3
"""Instructions per packet of the whole forwarding process, baseline and anylb.

bench.py's timings move by about 10% from one run to the next on this VM;
instruction counts do not. This runs the same two processes bench.py times
(dpdk-testpmd macswap, and anylb-dataplane; net_pcap infinite_rx -> net_null)
under valgrind's callgrind, each twice, until it has forwarded a few and
then more million packets, and divides the difference in instructions by
the difference in packets: start-up and shutdown cancel out, and what is
left is everything a packet costs in that process (PMDs, forwarding loop,
anylb's decision).

  whole_process.py --dataplane BUILD/dataplane/dpdk/anylb-dataplane
                   [--scenarios est-4k,est-1m,syn-flood] [--packets 5,20]

The dataplane must be built for a -march valgrind decodes (x86-64-v3).
Figures only; see perf/RESULTS.md.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import bench  # noqa: E402  (scenarios, pcaps, the two command lines, the counters file)

# --fair-sched: without it the polling worker thread keeps valgrind's lock and
# the main thread (statistics, signals) waits for minutes.
VALGRIND = ["valgrind", "--tool=callgrind", "--fair-sched=yes", "--callgrind-out-file=/dev/null"]


def collected(log):
    m = re.search(r"Collected : (\d+)", log)
    if not m:
        raise RuntimeError("no callgrind total in:\n" + log[-2000:])
    return int(m.group(1))


def stop(p, sig):
    os.killpg(p.pid, sig)
    try:
        p.wait(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def forward_until(p, log_path, forwarded, target):
    """Waits until forwarded() (packets so far, or None) reaches `target`."""
    deadline = time.time() + 1800
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError("exited early; see " + log_path)
        n = forwarded()
        if n is not None and n >= target:
            return
        time.sleep(0.5)
    raise RuntimeError(f"did not forward {target} packets in time; see {log_path}")


def testpmd(files, sc, target, tmp, tag):
    """(instructions, packets) of dpdk-testpmd macswap, stopped once past `target` packets."""
    log_path = os.path.join(tmp, f"testpmd-{tag}.log")
    cmd = VALGRIND + bench.testpmd_cmd(files, 1, sc, f"cg-tp-{tag}")
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    def forwarded():  # the periodic statistics' latest TX total
        counts = re.findall(r"TX-packets:\s+(\d+)", open(log_path, errors="replace").read())
        return int(counts[-1]) if counts else None
    try:
        forward_until(p, log_path, forwarded, target)
    finally:
        stop(p, signal.SIGINT)
        shutil.rmtree(f"/var/run/dpdk/cg-tp-{tag}", ignore_errors=True)
    text = open(log_path, errors="replace").read()
    acc = text[text.rfind("Accumulated forward statistics"):]
    m = re.search(r"TX-packets:\s+(\d+)", acc)
    if not m:
        raise RuntimeError("no forward statistics in " + log_path)
    return collected(text), int(m.group(1))


def anylb(binary, files, sc, target, tmp, tag):
    """(instructions, packets) of anylb-dataplane, stopped once past `target` packets."""
    log_path = os.path.join(tmp, f"anylb-{tag}.log")
    counters = os.path.join(tmp, f"counters-{tag}.json")
    cmd = VALGRIND + bench.anylb_cmd(binary, bench.CONF, files, 1, sc, f"cg-al-{tag}", counters,
                                     os.path.join(tmp, f"api-{tag}.sock"), 1)
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    def forwarded():  # the counters file, rewritten every second
        c = bench.counters(counters)
        return sum(q["tx_packets"] for q in c["ports"]) if c else None
    try:
        forward_until(p, log_path, forwarded, target)
    finally:
        stop(p, signal.SIGTERM)
        shutil.rmtree(f"/var/run/dpdk/cg-al-{tag}", ignore_errors=True)
    final = bench.counters(counters)
    if final is None:
        raise RuntimeError("no counters file from anylb-dataplane; see " + log_path)
    return collected(open(log_path, errors="replace").read()), sum(q["tx_packets"] for q in final["ports"])


def per_packet(run, targets):
    """Instructions per packet from a short and a long run."""
    (i1, p1), (i2, p2) = run(targets[0], "short"), run(targets[1], "long")
    if p2 <= p1:
        raise RuntimeError(f"the long run forwarded no more packets ({p2}) than the short one ({p1})")
    return (i2 - i1) / (p2 - p1), p2 - p1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataplane", required=True)
    ap.add_argument("--scenarios", default="est-4k,est-1m,syn-flood")
    ap.add_argument("--packets", default="5,20", help="the short and the long run, millions of packets")
    ap.add_argument("--tmp", help="keep pcaps here (default: a fresh temporary directory)")
    args = ap.parse_args()
    targets = [int(float(n) * 1e6) for n in args.packets.split(",")]
    tmp = args.tmp or tempfile.mkdtemp(prefix="anylb-cg-")
    os.makedirs(tmp, exist_ok=True)
    print(f"{'scenario':10} {'baseline instr/pkt':>19} {'anylb instr/pkt':>16} {'baseline/anylb':>15}  packets counted",
          flush=True)
    for name in args.scenarios.split(","):
        sc = bench.SCENARIOS[name]
        files = bench.generate(tmp, name, sc, 1)
        tag = f"{os.getpid()}-{name}"
        base, nb = per_packet(lambda s, k: testpmd(files, sc, s, tmp, f"{tag}-{k}"), targets)
        ours, na = per_packet(lambda s, k: anylb(args.dataplane, files, sc, s, tmp, f"{tag}-{k}"), targets)
        print(f"{name:10} {base:>19.0f} {ours:>16.0f} {base / ours:>15.2f}  {nb} / {na}", flush=True)
    if not args.tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
