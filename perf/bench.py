#!/usr/bin/python3
"""anylb against the DPDK baseline, on the same pcap, in the same run.

For each scenario and worker count, alternately for several rounds:
  (a) baseline: dpdk-testpmd --forward-mode=macswap, net_pcap (infinite_rx)
      -> net_null (--baseline picks another testpmd mode, for comparison);
  (b) anylb-dataplane, net_pcap (infinite_rx) -> net_null (--tx-port).
Prints Mpps, ns and cycles per packet, and anylb/baseline (min/median/max).

  bench.py --dataplane build/dataplane/dpdk/anylb-dataplane [--rounds 3]
           [--seconds 4] [--workers 1,2] [--scenarios est-4k,...] [--smoke]
           [--json results.json] [--hugepages N]
           [--baseline macswap|5tswap|csum|noisy:MB:READS:WRITES]

Never a pass/fail on speed: figures only (see perf/RESULTS.md).
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "bench.conf")

# name: traffic and dataplane settings
SCENARIOS = {
    "est-4k": dict(flows=4096, mode="established"),
    "est-64k": dict(flows=65536, mode="established"),
    "est-256k": dict(flows=262144, mode="established"),
    "est-1m": dict(flows=1_000_000, mode="established"),
    "syn-flood": dict(flows=1_000_000, mode="syn", flow_capacity=65536),  # every packet misses: insert + evict
    "mix": dict(flows=262144, mode="mix", ipv6_share=0.2, udp_share=0.2),
    "imix-4k": dict(flows=4096, mode="established", size="imix"),
    "reload-100ms": dict(flows=4096, mode="established", reload_ms=100, baseline=False),
}


def lcores(workers):
    # main lcore on CPU 0; workers spread over the CPUs (the main one mostly sleeps).
    cpus = os.cpu_count() or 1
    return ",".join(["0@0"] + [f"{w}@{w % cpus if cpus > 1 else 0}" for w in range(1, workers + 1)]) \
        if workers > 1 else "0@0,1@1" if cpus > 1 else "0@0,1@0"


def pcap_vdev(files):
    return "net_pcap0," + ",".join(f"rx_pcap={f}" for f in files) + ",infinite_rx=1"


def generate(tmp, name, sc, workers):
    out = os.path.join(tmp, f"{name}-w{workers}.pcap")
    files = [out] if workers == 1 else [f"{out}.{k}" for k in range(workers)]
    if not all(os.path.exists(f) for f in files):
        cmd = [sys.executable, os.path.join(HERE, "gen_traffic.py"), "--config", CONF, "--flows", str(sc["flows"]),
               "--mode", sc["mode"], "--size", sc.get("size", "64"), "--ipv6-share", str(sc.get("ipv6_share", 0)),
               "--udp-share", str(sc.get("udp_share", 0)), "--shards", str(workers), "--out", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return files


def mbufs_for(sc):
    return sc["flows"] + 65536  # net_pcap's infinite_rx keeps the whole file in mbufs


def mem_mb(sc):
    return 512 + mbufs_for(sc) * 2304 // (1 << 20) * 2


# EAL memory: 4 KiB pages (--no-huge, what any machine has) unless main()
# set up 2 MiB huge pages (--hugepages), as a production node runs.
HUGE_DIR = None


def eal_memory(sc):
    if HUGE_DIR is None:
        return ["--no-huge", "-m", str(mem_mb(sc))]
    return ["--huge-dir", HUGE_DIR, "--huge-unlink", "-m", str(mem_mb(sc))]


class HugePages:
    """Reserves `count` 2 MiB pages and mounts a private hugetlbfs for the
    run; restores the page count and unmounts on exit."""

    def __init__(self, count, tmp):
        self.count, self.dir = count, os.path.join(tmp, "hugepages")
        self.path = "/proc/sys/vm/nr_hugepages"

    def __enter__(self):
        with open(self.path) as f:
            self.before = int(f.read())
        with open(self.path, "w") as f:
            f.write(str(self.before + self.count))
        with open(self.path) as f:
            got = int(f.read()) - self.before
        os.makedirs(self.dir, exist_ok=True)
        if subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", self.dir]).returncode != 0:
            with open(self.path, "w") as f:
                f.write(str(self.before))
            sys.exit(f"bench: cannot mount hugetlbfs on {self.dir}")
        if got < self.count:
            print(f"bench: only {got} of {self.count} huge pages could be reserved", file=sys.stderr)
        return self.dir

    def __exit__(self, *exc):
        subprocess.run(["umount", self.dir], check=False)
        with open(self.path, "w") as f:
            f.write(str(self.before))
        return False


# The baseline's forwarding: testpmd --forward-mode (macswap, as the
# targets are set; 5tswap and csum also parse L3/L4, csum checks and sets
# their checksums in software) or noisy:MB:READS:WRITES (io forwarding plus
# READS random reads and WRITES random writes a packet in MB of memory: the
# memory a flow-table lookup touches, without its logic).
BASELINE = "macswap"


def baseline_args():
    if not BASELINE.startswith("noisy:"):
        return [f"--forward-mode={BASELINE}"]
    mb, reads, writes = BASELINE.split(":")[1:]
    return ["--forward-mode=noisy", f"--noisy-lkup-memory={mb}", f"--noisy-lkup-num-reads={reads}",
            f"--noisy-lkup-num-writes={writes}"]


def testpmd_cmd(files, workers, sc, prefix):
    """The baseline: testpmd (BASELINE) from the pcap to net_null (EAL file prefix `prefix`)."""
    return ["dpdk-testpmd", f"--lcores={lcores(workers)}", *eal_memory(sc), "--no-pci",
            "--no-telemetry", "--file-prefix", prefix, f"--vdev={pcap_vdev(files)}",
            "--vdev=net_null0,no-rx=1", "--", f"--total-num-mbufs={mbufs_for(sc)}", *baseline_args(),
            f"--nb-cores={workers}", f"--rxq={workers}", f"--txq={workers}", "--stats-period=1"]


def anylb_cmd(binary, conf, files, workers, sc, prefix, counters_path, api_socket, stats_interval):
    """anylb-dataplane on the same two ports (EAL file prefix `prefix`)."""
    eal = (f"--lcores={lcores(workers)} {' '.join(eal_memory(sc))} --no-pci --no-telemetry "
           f"--file-prefix {prefix} --vdev={pcap_vdev(files)} --vdev=net_null0,no-rx=1")
    return [binary, "--config", conf, "--eal", eal, "--tx-port", "net_null0", "--mbufs", str(mbufs_for(sc)),
            "--flow-capacity", str(sc.get("flow_capacity", max(65536, sc["flows"]))),
            "--counters-file", counters_path, "--stats-interval", str(stats_interval), "--api-socket", api_socket]


def run_testpmd(files, workers, seconds, sc, tag):
    cmd = testpmd_cmd(files, workers, sc, f"bench-tp-{tag}")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    rates = []
    deadline = time.time() + seconds + 60
    port = None
    tail = []  # its last lines, for the error if it gives no rate
    for line in p.stdout:
        tail = (tail + [line])[-15:]
        m = re.search(r"NIC statistics for port (\d+)", line)
        if m:
            port = int(m.group(1))
        m = re.search(r"Rx-pps:\s+(\d+)", line)
        if m and port == 0:
            rates.append(int(m.group(1)))
            if len([r for r in rates if r > 0]) >= seconds + 2 or time.time() > deadline:
                break
    os.killpg(p.pid, signal.SIGINT)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    shutil.rmtree(f"/var/run/dpdk/bench-tp-{tag}", ignore_errors=True)  # EAL leaves its runtime dir behind
    live = [r for r in rates if r > 0][2:]  # skip the warm-up periods
    if not live:
        raise RuntimeError("testpmd reported no rate:\n" + " ".join(cmd) + "\n" + "".join(tail))
    return statistics.median(live) / 1e6


def counters(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def run_anylb(binary, files, workers, seconds, sc, tag, tmp):
    cpath = os.path.join(tmp, f"counters-{tag}.json")
    if os.path.exists(cpath):
        os.unlink(cpath)
    conf = os.path.join(tmp, f"anylb-{tag}.conf")
    base = open(CONF).read()
    with open(conf, "w") as f:
        f.write(base)
    cmd = anylb_cmd(binary, conf, files, workers, sc, f"bench-al-{tag}", cpath, os.path.join(tmp, f"api-{tag}.sock"),
                    0.25)
    log = open(os.path.join(tmp, f"anylb-{tag}.log"), "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while counters(cpath) is None:
            if p.poll() is not None or time.time() > deadline:
                raise RuntimeError("anylb-dataplane did not start; see " + log.name)
            time.sleep(0.05)
        time.sleep(2)  # warm-up
        first = counters(cpath)
        end = time.time() + seconds
        reloads = 0
        while time.time() < end:
            if sc.get("reload_ms"):
                # A service comes and goes every reload_ms under load.
                with open(conf + ".tmp", "w") as f:
                    f.write(base + (f"service = name=churn vip=203.0.113.99 proto=udp port={1000 + reloads % 50}"
                                    " mode=l2-dsr\n" if reloads % 2 == 0 else ""))
                os.replace(conf + ".tmp", conf)
                p.send_signal(signal.SIGHUP)
                reloads += 1
                time.sleep(sc["reload_ms"] / 1000)
            else:
                time.sleep(0.1)
        last = counters(cpath)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    shutil.rmtree(f"/var/run/dpdk/bench-al-{tag}", ignore_errors=True)
    final = counters(cpath)
    rx = lambda c: sum(q["rx_packets"] for q in c["ports"])
    pps = (rx(last) - rx(first)) / ((last["monotonic_ms"] - first["monotonic_ms"]) / 1000)
    tx = sum(q["tx_packets"] for q in final["ports"])
    tsc = int(re.search(r"TSC (\d+) Hz", open(log.name).read()).group(1))
    extra = {"lost": rx(final) - tx - final["drops_total"], "drops": final["drops_total"],
             "generation": final["generation"], "tsc_hz": tsc, "evictions": final["flows"]["evictions"]}
    return pps / 1e6, extra


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataplane", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--scenarios", help="default: all; with --smoke, est-4k,reload-100ms")
    ap.add_argument("--smoke", action="store_true", help="one short round of each scenario, 1 worker (CI)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--tmp", help="keep generated pcaps here (default: a fresh temporary directory)")
    ap.add_argument("--hugepages", type=int, default=0,
                    help="run both processes on this many 2 MiB huge pages, reserved for the run (root); "
                         "default 4 KiB pages (--no-huge)")
    ap.add_argument("--baseline", default="macswap",
                    help="the baseline's testpmd mode: macswap (the targets'), 5tswap, csum, or noisy:MB:READS:WRITES")
    args = ap.parse_args()
    if not re.fullmatch(r"macswap|5tswap|csum|noisy:\d+:\d+:\d+", args.baseline):
        sys.exit(f"bench: --baseline: '{args.baseline}' is not macswap, 5tswap, csum or noisy:MB:READS:WRITES")
    global BASELINE
    BASELINE = args.baseline
    if args.smoke:
        args.rounds, args.seconds, args.workers = 1, 2, "1"
        args.scenarios = args.scenarios or "est-4k,reload-100ms"
    args.scenarios = args.scenarios or ",".join(SCENARIOS)
    tmp = args.tmp or tempfile.mkdtemp(prefix="anylb-bench-")
    os.makedirs(tmp, exist_ok=True)
    try:
        if args.hugepages:
            global HUGE_DIR
            with HugePages(args.hugepages, tmp) as HUGE_DIR:
                run_all(args, tmp)
        else:
            run_all(args, tmp)
    finally:
        if not args.tmp:
            subprocess.run(["rm", "-rf", tmp])


def run_all(args, tmp):
    results = []
    print(f"{'scenario':14} {'w':>2} {'baseline Mpps':>14} {'anylb Mpps':>11} {'ns/pkt':>7} {'cyc/pkt':>8} "
          f"{'ratio min/med/max':>20}  notes", flush=True)
    for name in args.scenarios.split(","):
        sc = SCENARIOS[name]
        for workers in [int(w) for w in args.workers.split(",")]:
            files = generate(tmp, name, sc, workers)
            base, ours, ratios, extras = [], [], [], []
            for r in range(args.rounds):
                tag = f"{os.getpid()}-{name}-{workers}-{r}"
                b = run_testpmd(files, workers, args.seconds, sc, tag) if sc.get("baseline", True) else None
                a, extra = run_anylb(args.dataplane, files, workers, args.seconds, sc, tag, tmp)
                base.append(b)
                ours.append(a)
                extras.append(extra)
                if b:
                    ratios.append(a / b)
            a_med = statistics.median(ours)
            tsc = extras[0]["tsc_hz"]
            ns = 1e3 / a_med * workers
            cyc = tsc / (a_med * 1e6) * workers
            notes = []
            if sc.get("reload_ms"):
                notes.append(f"reloads to gen {extras[-1]['generation']}, lost {sum(e['lost'] for e in extras)}")
            if any(e["drops"] for e in extras):
                notes.append(f"drops {sum(e['drops'] for e in extras)}")
            ratio = (f"{min(ratios):.2f}/{statistics.median(ratios):.2f}/{max(ratios):.2f}" if ratios else "-")
            b_med = f"{statistics.median(base):.2f}" if ratios else "-"
            print(f"{name:14} {workers:>2} {b_med:>14} {a_med:>11.2f} {ns:>7.1f} {cyc:>8.0f} {ratio:>20}  "
                  f"{'; '.join(notes)}", flush=True)
            results.append({"scenario": name, "workers": workers, "flows": sc["flows"], "baseline_mpps": base,
                            "anylb_mpps": ours, "ratios": ratios, "ns_per_packet": ns, "cycles_per_packet": cyc,
                            "lost": sum(e["lost"] for e in extras), "tsc_hz": tsc, "baseline": BASELINE,
                            "hugepages": HUGE_DIR is not None})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    # A broken harness (no figures) fails; slow figures never do.
    lost = sum(r["lost"] for r in results)
    if lost:
        print(f"bench: {lost} packets lost across service changes")
        sys.exit(1)


if __name__ == "__main__":
    main()
