#!/usr/bin/python3
"""anylb against the DPDK baseline, on the same pcap, in the same run.

For each scenario and worker count, alternately for several rounds:
  (a) baseline: dpdk-testpmd --forward-mode=macswap, net_pcap (infinite_rx)
      -> net_null (--baseline picks another testpmd mode, for comparison);
  (b) anylb-dataplane, net_pcap (infinite_rx) -> net_null (--tx-port).
Prints Mpps, ns and cycles per packet, and anylb/baseline (min/median/max).
anylb's rate is what it forwarded (tx), never what it read: a round where it
forwarded less than 99% of what it read is marked INVALID.

  bench.py --dataplane build/dataplane/dpdk/anylb-dataplane [--rounds 3]
           [--seconds 4] [--workers 1,2] [--scenarios est-4k,...] [--smoke]
           [--json results.json] [--hugepages N]
           [--baseline macswap|5tswap|csum|noisy:MB:READS:WRITES]

Never a pass/fail on speed: figures only (see perf/RESULTS.md). It fails
when the figures cannot be right: packets lost, an INVALID round, the
dataplane not exiting 0; and with --smoke (CI) also on any drop where every
packet should be forwarded, or a service change the dataplane refused.
"""
import argparse
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "bench.conf")
GEN = os.path.join(HERE, "gen_traffic.py")
sys.path.insert(0, HERE)
from gen_traffic import SYN_SHARE  # noqa: E402  (the mix: 1 packet in SYN_SHARE a SYN)

# name: traffic and dataplane settings. Every scenario forwards every packet
# (forwards_all=False would exempt one from the smoke run's zero drops).
SCENARIOS = {
    "est-4k": dict(flows=4096, mode="established"),
    "est-64k": dict(flows=65536, mode="established"),
    "est-256k": dict(flows=262144, mode="established"),
    "est-1m": dict(flows=1_000_000, mode="established"),
    "syn-flood": dict(flows=1_000_000, mode="syn", flow_capacity=65536),  # every packet misses: insert + evict
    # 32k established flows, and 1 packet in 4 a SYN from a pool of 128k
    # tuples a worker: twice its table's 64k slots, so that on replay each
    # SYN is again a new flow (SYN entries, closest to expiry, go first).
    "mix": dict(flows=32768, mode="mix", syn_pool_per_worker=131072, flow_capacity=32768, ipv6_share=0.2,
                udp_share=0.2),
    "imix-4k": dict(flows=4096, mode="established", size="imix"),
    "reload-100ms": dict(flows=4096, mode="established", reload_ms=100, baseline=False),
}
MIN_FORWARDED = 0.99  # of what anylb read, over the window, for a valid round


def lcores(workers):
    # main lcore on CPU 0; workers spread over the CPUs (the main one mostly sleeps).
    cpus = os.cpu_count() or 1
    return ",".join(["0@0"] + [f"{w}@{w % cpus if cpus > 1 else 0}" for w in range(1, workers + 1)]) \
        if workers > 1 else "0@0,1@1" if cpus > 1 else "0@0,1@0"


def pcap_vdev(files):
    return "net_pcap0," + ",".join(f"rx_pcap={f}" for f in files) + ",infinite_rx=1"


def packets_for(sc, workers):
    """Packets in the scenario's pcap(s): one per flow; in the mix each SYN
    tuple once, with the established packets between."""
    if sc["mode"] == "mix":
        return SYN_SHARE * sc["syn_pool_per_worker"] * workers
    return sc["flows"]


def traffic_args(sc, workers):
    return ["--flows", str(sc["flows"]), "--mode", sc["mode"], "--size", sc.get("size", "64"),
            "--ipv6-share", str(sc.get("ipv6_share", 0)), "--udp-share", str(sc.get("udp_share", 0)),
            "--syn-pool", str(sc.get("syn_pool_per_worker", 0) * workers),
            "--packets", str(packets_for(sc, workers)), "--shards", str(workers)]


def content_key(args):
    """What a pcap is made of: the generator, the config it aims at and its
    arguments. A pcap kept in --tmp is reused only under the same key."""
    h = hashlib.sha256()
    for path in (GEN, CONF):
        with open(path, "rb") as f:
            h.update(f.read())
    h.update("\0".join(args).encode())
    return h.hexdigest()[:12]


def generate(tmp, name, sc, workers):
    args = traffic_args(sc, workers)
    out = os.path.join(tmp, f"{name}-w{workers}-{content_key(args)}.pcap")
    files = [out] if workers == 1 else [f"{out}.{k}" for k in range(workers)]
    done = out + ".done"  # written last: files of a generation cut short are not reused
    if not os.path.exists(done):
        subprocess.run([sys.executable, GEN, "--config", CONF, *args, "--out", out], check=True,
                       stdout=subprocess.DEVNULL)
        open(done, "w").close()
    return files


def mbufs_for(sc):
    return sc["packets"] + 65536  # net_pcap's infinite_rx keeps the whole file in mbufs


def mem_mb(sc):
    return 512 + mbufs_for(sc) * 2304 // (1 << 20) * 2


# EAL memory: 4 KiB pages (--no-huge, what any machine has) unless main()
# set up 2 MiB huge pages (--hugepages), as a production node runs.
HUGE_DIR = None


def eal_memory(sc):
    if HUGE_DIR is None:
        return ["--no-huge", "-m", str(mem_mb(sc))]
    return ["--huge-dir", HUGE_DIR, "--huge-unlink", "-m", str(mem_mb(sc))]


# What a run must give back however it ends (normally, by an exception, or
# by SIGTERM from meson's timeout, SIGINT, SIGHUP): the DPDK processes it
# started (each in a session of its own, so no signal to ours reaches them),
# their EAL runtime dirs, and what main() set up (huge pages, the temporary
# directory), undone last first.
_children = set()
_undo = []
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def spawn(cmd, prefix, **kw):
    """Starts a DPDK process (EAL file prefix `prefix`) in a new session."""
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    p.eal_runtime = f"/var/run/dpdk/{prefix}"  # EAL leaves it behind
    _children.add(p)
    return p


def signal_group(p, sig):
    if p.returncode is None:  # not reaped: its PID (the group's id) is still its own
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass


def stop(p, sig, timeout):
    """Stops p's process group with `sig` (SIGKILL after `timeout` s),
    removes its runtime dir; returns its exit status. Safe to call twice."""
    if p.poll() is None:
        signal_group(p, sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal_group(p, signal.SIGKILL)
            p.wait()
    shutil.rmtree(p.eal_runtime, ignore_errors=True)
    _children.discard(p)
    return p.returncode


def release_all():
    """Stops every child still running, then undoes main()'s setup."""
    for p in list(_children):
        stop(p, signal.SIGTERM, 10)
    while _undo:
        _undo.pop()()


def on_signal(signum, _frame):
    # Quick, as meson sends SIGKILL 0.5 s after its SIGTERM: the children
    # first (SIGKILL, reaped by os.waitpid: the interrupted code may hold a
    # Popen's lock), then the rest; then out, skipping the interrupted code.
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    print(f"bench: {signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
    for p in list(_children):
        signal_group(p, signal.SIGKILL)
        if p.returncode is None:
            try:
                os.waitpid(p.pid, 0)
            except ChildProcessError:
                pass
        shutil.rmtree(p.eal_runtime, ignore_errors=True)
    _children.clear()
    while _undo:
        _undo.pop()()
    sys.stdout.flush()
    os._exit(128 + signum)


class HugePages:
    """Reserves `count` 2 MiB pages and mounts a private hugetlbfs for the
    run; release() (registered before anything is changed) unmounts it and
    restores the page count."""

    def __init__(self, count, tmp):
        self.count, self.dir = count, os.path.join(tmp, "hugepages")
        self.path = "/proc/sys/vm/nr_hugepages"
        self.before = None

    def reserve(self):
        with open(self.path) as f:
            self.before = int(f.read())
        _undo.append(self.release)
        with open(self.path, "w") as f:
            f.write(str(self.before + self.count))
        with open(self.path) as f:
            got = int(f.read()) - self.before
        os.makedirs(self.dir, exist_ok=True)
        if subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", self.dir]).returncode != 0:
            sys.exit(f"bench: cannot mount hugetlbfs on {self.dir}")
        if got < self.count:
            print(f"bench: only {got} of {self.count} huge pages could be reserved", file=sys.stderr)
        return self.dir

    def release(self):
        if os.path.ismount(self.dir):
            subprocess.run(["umount", self.dir], check=False)
        if self.before is not None:
            with open(self.path, "w") as f:
                f.write(str(self.before))
            self.before = None


# The baseline's forwarding: testpmd --forward-mode (macswap, as the
# targets are set; 5tswap and csum also parse L3/L4, csum checks and sets
# their checksums in software) or noisy:MB:READS:WRITES (io forwarding plus
# READS random reads and WRITES random writes a packet in MB of memory: the
# memory a flow-table lookup touches, without its logic).
BASELINE = "macswap"
DATAPLANE_ARGS = []  # --dataplane-arg


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


def lines_of(stream):
    """A queue of `stream`'s lines (None at its end), filled by a thread, so
    that a silent process cannot hold the reader past its deadline."""
    q = queue.Queue()

    def pump():
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def testpmd_rates(lines, seconds, deadline):
    """Port 0's Rx-pps of each stats period, until seconds + 2 non-zero ones,
    the output's end or the deadline; and the last lines, for an error."""
    rates, tail, port = [], [], None
    while len([r for r in rates if r > 0]) < seconds + 2:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.time()))
        except queue.Empty:
            break
        if line is None:
            break
        tail = (tail + [line])[-15:]
        m = re.search(r"NIC statistics for port (\d+)", line)
        if m:
            port = int(m.group(1))
        m = re.search(r"Rx-pps:\s+(\d+)", line)
        if m and port == 0:
            rates.append(int(m.group(1)))
    return rates, tail


def run_testpmd(files, workers, seconds, sc, tag):
    prefix = f"bench-tp-{tag}"
    cmd = testpmd_cmd(files, workers, sc, prefix)
    p = spawn(cmd, prefix, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rates, tail = testpmd_rates(lines_of(p.stdout), seconds, time.time() + seconds + 60)
    finally:
        stop(p, signal.SIGINT, 30)
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


def totals(c):
    """A counters snapshot summed: packets read and sent (every port),
    dropped, and new flows (every service)."""
    return {"rx": sum(q["rx_packets"] for q in c["ports"]), "tx": sum(q["tx_packets"] for q in c["ports"]),
            "drops": c["drops_total"], "new_flows": sum(s.get("new_flows", 0) for s in c.get("services", []))}


def window(first, last):
    """Each total's change between two snapshots, and its rate per second."""
    seconds = (last["monotonic_ms"] - first["monotonic_ms"]) / 1000
    a, b = totals(first), totals(last)
    delta = {k: b[k] - a[k] for k in a}
    return delta, {k: v / seconds for k, v in delta.items()}


def wait_counters(path, predicate, timeout):
    """Waits up to `timeout` s for a counters snapshot meeting `predicate`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        c = counters(path)
        if c and predicate(c):
            return
        time.sleep(0.05)


def reload_config(conf, base, reloads):
    """A service comes and goes: added on even reloads, removed on odd ones."""
    with open(conf + ".tmp", "w") as f:
        f.write(base + (f"service = name=churn vip=203.0.113.99 proto=udp port={1000 + reloads % 50}"
                        " mode=l2-dsr\n" if reloads % 2 == 0 else ""))
    os.replace(conf + ".tmp", conf)


def run_anylb(binary, files, workers, seconds, sc, tag, tmp):
    cpath = os.path.join(tmp, f"counters-{tag}.json")
    if os.path.exists(cpath):
        os.unlink(cpath)
    conf = os.path.join(tmp, f"anylb-{tag}.conf")
    base = open(CONF).read()
    with open(conf, "w") as f:
        f.write(base)
    prefix = f"bench-al-{tag}"
    cmd = anylb_cmd(binary, conf, files, workers, sc, prefix, cpath, os.path.join(tmp, f"api-{tag}.sock"), 0.25)
    cmd += DATAPLANE_ARGS
    log = open(os.path.join(tmp, f"anylb-{tag}.log"), "w")
    p = spawn(cmd, prefix, stdout=log, stderr=subprocess.STDOUT)
    try:
        first, last, reloads = measure(p, cpath, log.name, conf, base, sc, seconds)
    finally:
        exit_code = stop(p, signal.SIGTERM, 30)
        log.close()
    with open(log.name) as f:
        log_text = f.read()
    return figures(first, last, counters(cpath), log_text, reloads, exit_code)


def measure(p, cpath, log_name, conf, base, sc, seconds):
    """Counters at the window's start and end, and the reloads sent (SIGHUP) in it."""
    deadline = time.time() + 120
    while counters(cpath) is None:
        if p.poll() is not None or time.time() > deadline:
            raise RuntimeError("anylb-dataplane did not start; see " + log_name)
        time.sleep(0.05)
    time.sleep(2)  # warm-up
    first = counters(cpath)
    end = time.time() + seconds
    reloads = 0
    while time.time() < end:
        if sc.get("reload_ms"):  # a service comes and goes every reload_ms under load
            reload_config(conf, base, reloads)
            p.send_signal(signal.SIGHUP)
            reloads += 1
            time.sleep(sc["reload_ms"] / 1000)
        else:
            time.sleep(0.1)
    last = counters(cpath)
    if reloads:  # the last reload gets its time before SIGTERM
        wait_counters(cpath, lambda c: c["generation"] >= first["generation"] + reloads, 2)
    return first, last, reloads


def figures(first, last, final, log_text, reloads, exit_code):
    """anylb's forwarded Mpps over the window, and the rest of a round's figures."""
    delta, rate = window(first, last)
    forwarded = delta["tx"] / delta["rx"] if delta["rx"] else 0.0
    tsc = re.search(r"TSC (\d+) Hz", log_text)
    if not tsc:
        raise RuntimeError("no 'TSC ... Hz' line from anylb-dataplane:\n" + log_text[-2000:])
    end = totals(final)
    extra = {"rx_mpps": rate["rx"] / 1e6, "drops_per_s": rate["drops"], "new_flows_per_s": rate["new_flows"],
             "forwarded": forwarded, "valid": delta["rx"] > 0 and forwarded >= MIN_FORWARDED,
             "lost": end["rx"] - end["tx"] - end["drops"], "drops": end["drops"],
             "drop_reasons": {k: v for k, v in final["drops"].items() if v},
             "generation_start": first["generation"], "generation": final["generation"], "reloads": reloads,
             "exit_code": exit_code, "log_tail": log_text.splitlines()[-10:], "tsc_hz": int(tsc.group(1)),
             "evictions": final["flows"]["evictions"]}
    return rate["tx"] / 1e6, extra


def round_problems(sc, e, smoke):
    """What makes one anylb round's figures wrong, a line each."""
    out = []
    if e["exit_code"] != 0:
        out.append(f"anylb-dataplane exited {e['exit_code']}; its last lines:\n      " + "\n      ".join(e["log_tail"]))
    if e["lost"]:
        out.append(f"{e['lost']} packets lost (neither sent nor counted as dropped)")
    if not e["valid"]:
        out.append(f"INVALID: forwarded {e['forwarded']:.1%} of what it read (under {MIN_FORWARDED:.0%})")
    if smoke and sc.get("forwards_all", True) and e["drops"]:
        out.append(f"{e['drops']} drops ({e['drop_reasons']}) where every packet should be forwarded")
    if smoke and e["generation"] < e["generation_start"] + e["reloads"]:
        out.append(f"generation {e['generation_start']} -> {e['generation']} after {e['reloads']} reloads: "
                   "reloads refused or lost")
    return out


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
    ap.add_argument("--dataplane-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for anylb-dataplane (repeat: --dataplane-arg=--new-flow-rate "
                         "--dataplane-arg=0 times the SYN flood's inserts rather than the limit)")
    ap.add_argument("--baseline", default="macswap",
                    help="the baseline's testpmd mode: macswap (the targets'), 5tswap, csum, or noisy:MB:READS:WRITES")
    args = ap.parse_args()
    if not re.fullmatch(r"macswap|5tswap|csum|noisy:\d+:\d+:\d+", args.baseline):
        sys.exit(f"bench: --baseline: '{args.baseline}' is not macswap, 5tswap, csum or noisy:MB:READS:WRITES")
    global BASELINE, HUGE_DIR, DATAPLANE_ARGS
    BASELINE = args.baseline
    DATAPLANE_ARGS = list(args.dataplane_arg)
    if args.smoke:
        args.rounds, args.seconds, args.workers = 1, 2, "1"
        args.scenarios = args.scenarios or "est-4k,reload-100ms"
    args.scenarios = args.scenarios or ",".join(SCENARIOS)
    for s in STOP_SIGNALS:
        signal.signal(s, on_signal)
    tmp = args.tmp or tempfile.mkdtemp(prefix="anylb-bench-")
    os.makedirs(tmp, exist_ok=True)
    if not args.tmp:
        _undo.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    try:
        if args.hugepages:
            HUGE_DIR = HugePages(args.hugepages, tmp).reserve()
        problems = run_all(args, tmp)
    finally:
        release_all()
    # A broken harness or wrong figures fail; slow figures never do.
    if problems:
        print(f"bench: FAILED: {len(problems)} problem(s):", *problems, sep="\n  ", file=sys.stderr)
        sys.exit(1)


def notes_of(sc, extras):
    notes = []
    if sc.get("reload_ms"):
        notes.append(f"reloads to gen {extras[-1]['generation']}, lost {sum(e['lost'] for e in extras)}")
    drops = statistics.median(e["drops_per_s"] for e in extras)
    if drops:
        notes.append(f"drops {drops / 1e6:.2f}M/s")
    new_flows = statistics.median(e["new_flows_per_s"] for e in extras)
    if new_flows:
        notes.append(f"new flows {new_flows / 1e6:.2f}M/s")
    invalid = [e for e in extras if not e["valid"]]
    if invalid:
        notes.append(f"INVALID: forwarded {min(e['forwarded'] for e in invalid):.1%} of rx")
    return notes


def run_all(args, tmp):
    """Runs and prints every scenario; returns the problems found, a line each."""
    results, problems = [], []
    print(f"{'scenario':14} {'w':>2} {'baseline Mpps':>14} {'anylb Mpps':>11} {'ns/pkt':>7} {'cyc/pkt':>8} "
          f"{'ratio min/med/max':>20}  notes", flush=True)
    for name in args.scenarios.split(","):
        for workers in [int(w) for w in args.workers.split(",")]:
            sc = dict(SCENARIOS[name], packets=packets_for(SCENARIOS[name], workers))
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
                problems += [f"{name} w{workers} round {r + 1}: {p}"
                             for p in round_problems(sc, extra, args.smoke)]
            a_med = statistics.median(ours)
            tsc = extras[0]["tsc_hz"]
            ns = 1e3 / a_med * workers if a_med else float("inf")
            cyc = tsc / (a_med * 1e6) * workers if a_med else float("inf")
            ratio = (f"{min(ratios):.2f}/{statistics.median(ratios):.2f}/{max(ratios):.2f}" if ratios else "-")
            b_med = f"{statistics.median(base):.2f}" if ratios else "-"
            print(f"{name:14} {workers:>2} {b_med:>14} {a_med:>11.2f} {ns:>7.1f} {cyc:>8.0f} {ratio:>20}  "
                  f"{'; '.join(notes_of(sc, extras))}", flush=True)
            results.append({"scenario": name, "workers": workers, "flows": sc["flows"], "packets": sc["packets"],
                            "baseline_mpps": base, "anylb_mpps": ours, "ratios": ratios, "ns_per_packet": ns,
                            "cycles_per_packet": cyc, "lost": sum(e["lost"] for e in extras), "tsc_hz": tsc,
                            "baseline": BASELINE, "hugepages": HUGE_DIR is not None,
                            "valid": all(e["valid"] for e in extras),
                            "invalid_rounds": [r for r, e in enumerate(extras) if not e["valid"]],
                            "anylb_rx_mpps": [e["rx_mpps"] for e in extras],
                            "forwarded_share": [e["forwarded"] for e in extras],
                            "drops_per_s": [e["drops_per_s"] for e in extras],
                            "new_flows_per_s": [e["new_flows_per_s"] for e in extras],
                            "exit_codes": [e["exit_code"] for e in extras],
                            "generations": [e["generation"] for e in extras],
                            "reloads": [e["reloads"] for e in extras]})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return problems


if __name__ == "__main__":
    main()
