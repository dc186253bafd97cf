#!/usr/bin/python3
"""The soak: the ASan+UBSan builds of the dataplane and the control plane on
the BGP lab (lab/bgp_lab.py: BIRD, gobgpd, backends in namespaces) for a
bounded run, under traffic and churn, then the invariants over the whole run.

  soak.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--seconds N] [--reports DIR]

--seconds: how long the churn runs (default $ANYLB_SOAK_SECONDS, else 120);
setup and teardown add about a minute. It stops by itself. --reports: where
the sanitizers write their reports (default a temporary directory, kept
only if a report is in it). Root only (namespaces). See README.md here.

Traffic: a pcap of established flows and a larger pool of SYNs, replayed in
a loop by net_pcap (infinite_rx: no generator on the CPU), into a flow table
smaller than the pool (every replay inserts and evicts), plus a trickle of
flows each sent once (trickle.py, on a veth) that the idle timeouts reclaim.
Churn, every second, through anylbctl: backends drained, re-weighted,
disabled, deleted and added; one backend flapped by its health check; the
control plane reloaded (SIGHUP) every 30 s and restarted once mid-run.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "lab"))
sys.path.insert(0, os.path.join(REPO, "tests"))
import bgp_lab as L  # noqa: E402  (the BGP lab the integration tests use)
from tap import Skip, Tap  # noqa: E402

VIP, VIP2 = "203.0.113.10", "203.0.113.11"
VIP_P, VIP2_P = VIP + "/32", VIP2 + "/32"
PCAP_MAC = "02:70:63:61:70:00"       # net_pcap's fixed MAC for its port 0 (gen_traffic.py's destination)
TRICKLE_MAC = "02:00:00:00:5a:01"    # the dataplane's end of the trickle veth
INTERVAL, FALL, RISE = 0.5, 2, 2     # every check; as the BGP tests
HOLD_DOWN, FLAP_HOLD_DOWN = 3.0, 1.0
WITHDRAW_LAG = FALL * INTERVAL + 3   # a failing backend's route goes within this
# The traffic: established flows to web, refreshed at every replay, and a
# pool of SYN tuples to flap, larger than what the table has left (32768
# slots for a capacity of 16384), so each replay inserts (and evicts) the
# pool again: millions of new flows over a run. While flap's backend fails,
# its packets are dropped before the table (no backend): its flows, and
# the trickle's, time out then.
EST_FLOWS, EST_PACKETS, SYN_POOL = 8192, 32768, 65536
PACKETS = EST_PACKETS + SYN_POOL
FLOW_CAPACITY = 16384
TCP_TIMEOUT, SYN_TIMEOUT = 3, 1
TRICKLE_PER_SECOND = 200
FLAP_PERIOD, FLAP_DOWN, FLAP_AT = 12, 3, 4  # backend 5 fails its checks 3 s out of every 12
RELOAD_EVERY = 30
WARM_UP = 0.2                        # of the run: RSS is judged from its end on
RSS_GROWTH = 0.05
MODEL_WITHIN = 5                     # an API change reaches the dataplane within this
SKEW = 4096                          # counters read while workers run: in flight and read skew

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("binaries", nargs="*", help="CONTROLPLANE DATAPLANE ANYLBCTL (default: build-asan's)")
ap.add_argument("--seconds", type=float, default=float(os.environ.get("ANYLB_SOAK_SECONDS") or 120))
ap.add_argument("--reports", default="")
ap.add_argument("--samples", default="", help="write the per-second samples (counters, RSS) here as JSON")
ARGS = ap.parse_args()
_bins = ARGS.binaries + [None] * 3
CP = _bins[0] or os.path.join(REPO, "build-asan", "controlplane", "anylb-controlplane")
DP = _bins[1] or os.path.join(REPO, "build-asan", "dataplane", "dpdk", "anylb-dataplane")
CTL = _bins[2] or os.path.join(REPO, "build-asan", "grpc", "anylbctl", "anylbctl")

tap = Tap(teardown=L.close_all)
S = {}  # what the run found, for the cases that judge it


def log(msg):
    print(f"# {msg}", flush=True)


# ---- sanitizers: as scripts/test-asan.sh, reports into a directory of ours ----

def sanitizer_env(reports):
    """The options of scripts/test-asan.sh, each report written under
    `reports`; set before any of our processes starts (they inherit them)."""
    # One more: ASan holds freed memory back (to catch its use) up to
    # quarantine_size_mb, 256 by default; a quarantine filling over the run
    # would read as growth. At 16 MB it fills during the warm-up.
    os.environ["ASAN_OPTIONS"] = ("detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1:"
                                  f"quarantine_size_mb=16:log_path={reports}/asan")
    os.environ["UBSAN_OPTIONS"] = ("halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1:"
                                   f"log_path={reports}/ubsan")
    os.environ["LSAN_OPTIONS"] = (f"suppressions={REPO}/tests/sanitizers/lsan.supp:print_suppressions=0")


def report_files():
    d = S["reports"]
    return sorted(os.path.join(d, f) for f in os.listdir(d)) if os.path.isdir(d) else []


# ---- the lab -------------------------------------------------------------------

def backend(i, weight=100):
    return {"address": L.backend_addr(i), "mac": L.backend_mac(i), "weight": weight}


def services(be4_weight):
    """web: backends 1-4, quorum 1 (backend 1 is never touched: web must
    never leave the router); flap: backend 5 alone, the one flapped."""
    def check():
        return {"type": "http", "port": 80, "path": "/", "expect_status": 200,
                "interval": f"{int(INTERVAL * 1000)}ms", "timeout": "300ms", "rise": RISE, "fall": FALL}
    web = {"name": "web", "vip": VIP, "protocol": "tcp", "port": 80, "mode": "l2-dsr", "quorum": 1,
           "hold_down": f"{HOLD_DOWN:g}s", "check": check(),
           "backends": [backend(1), backend(2), backend(3), backend(4, be4_weight)]}
    flap = {"name": "flap", "vip": VIP2, "protocol": "tcp", "port": 80, "mode": "l2-dsr", "quorum": 1,
            "hold_down": f"{FLAP_HOLD_DOWN:g}s", "check": check(), "backends": [backend(5)]}
    return [web, flap]


def write_config(lb, be4_weight):
    sections = {"api": {"socket": lb.path("cp.sock")}}
    L.write_controlplane_config(lb.path("cp.yaml"), services(be4_weight), dataplane_socket=lb.path("dataplane.sock"),
                                extra=sections)
    with open(lb.path("cp.yaml")) as f:
        text = f.read()
    text = text.replace("node:\n", f"node:\n  state_file: \"{lb.path('cp-state.json')}\"\n  drain_wait: 1s\n", 1)
    with open(lb.path("cp.yaml") + ".tmp", "w") as f:
        f.write(text)
    os.replace(lb.path("cp.yaml") + ".tmp", lb.path("cp.yaml"))


def start_cp(lb):
    p = lb.start_controlplane(CP, lb.path("cp.yaml"), extra=("--log-level", "info"))
    L.wait_until(lambda: os.path.exists(lb.path("cp.sock")) or not p.alive(), 30, what="controlplane API socket")
    assert p.alive(), f"the controlplane exited at start:\n{p.log()}"
    return p


def make_pcap(lb):
    """perf/gen_traffic.py's established flows to web, then its SYNs to
    flap, one file (replayed whole, in a loop)."""
    parts = []
    for name, vip, mode, flows, packets in (("web", VIP, "established", EST_FLOWS, EST_PACKETS),
                                            ("flap", VIP2, "syn", SYN_POOL, SYN_POOL)):
        conf, out = lb.path(f"{name}.conf"), lb.path(f"{name}.pcap")
        with open(conf, "w") as f:  # gen_traffic.py reads only the service lines
            f.write(f"service = name={name} vip={vip} proto=tcp port=80\n")
        L.run("/usr/bin/python3", os.path.join(REPO, "perf", "gen_traffic.py"), "--config", conf, "--mode", mode,
              "--flows", flows, "--packets", packets, "--out", out, timeout=300)
        parts.append(out)
    pcap = lb.path("soak.pcap")
    with open(pcap, "wb") as f:
        for i, part in enumerate(parts):
            with open(part, "rb") as p:
                f.write(p.read()[0 if i == 0 else 24:])  # one pcap header (24 bytes), then every record
    return pcap


def start_dataplane(lb, pcap):
    """Three ports: the pcap replayed (0), the trickle's veth (1), and
    net_null taking every forwarded packet (--tx-port)."""
    ns = lb.node
    L.run("ip", "-n", ns, "link", "add", "soak0", "type", "veth", "peer", "name", "soakinj")
    L.run("ip", "-n", ns, "link", "set", "soak0", "address", TRICKLE_MAC)
    for dev in ("soak0", "soakinj"):
        L.run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
        L.run("ip", "-n", ns, "link", "set", dev, "up")
    mbufs = PACKETS + 16384  # infinite_rx holds the whole file in mbufs
    vdev = (f"net_pcap0,rx_pcap={pcap},infinite_rx=1 --vdev=net_af_packet1,iface=soak0 "
            f"--vdev=net_null2,no-rx=1")
    lb.start_dataplane(DP, vdev=vdev, mbufs=mbufs, flow_capacity=FLOW_CAPACITY,
                       memory_mb=256 + mbufs * 2304 // (1 << 20) * 2,
                       extra=("--tx-port", "net_null2", "--counters-file", lb.path("counters.json"),
                              "--stats-interval", "0.5", "--tcp-timeout", TCP_TIMEOUT, "--tcp-syn-timeout",
                              SYN_TIMEOUT, "--tcp-closing-timeout", SYN_TIMEOUT, "--udp-timeout", SYN_TIMEOUT,
                              "--log-level", "info"))


def counters(lb):
    try:
        with open(lb.path("counters.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def bird_withdraws(lb):
    """Withdrawals BIRD has received from gobgpd (its session's route change
    stats): counts every one, however short, that polling the table may miss."""
    out = lb.birdc("show", "protocols", "all", "node").stdout
    for line in out.splitlines():
        if line.strip().startswith("Import withdraws:"):
            return int(line.split(":")[1].split()[0])
    raise AssertionError(f"no import withdraws in BIRD's protocol status:\n{out}")


def ctl(lb, *args):
    r = subprocess.run([CTL, "--controlplane", lb.path("cp.sock"), "--json", *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    return r


def dp_backends(lb):
    st = lb.dataplane_state() or {}
    return {(b.get("service"), b["address"]): b for b in st.get("backends", [])}


# ---- what the run does every second --------------------------------------------

# Two API changes a second, in this cycle (5 s): backend 2 drained,
# re-weighted, disabled, enabled; backend 3 deleted and added back. Each
# leaves web with backends 1 and 4 serving, so quorum 1 always holds.
B2, B3 = L.backend_addr(2), L.backend_addr(3)
CHURN = [
    ("drain", B2), ("weight", B3, 30), ("del", B3), ("undrain", B2), ("weight", B2, 50),
    ("add", B3, 70), ("disable", B2), ("weight", B3, 100), ("enable", B2), ("weight", B2, 100),
]


def churn_args(op):
    verb, addr = op[0], op[1]
    if verb == "add":
        return ("backend", "add", "web", addr, "--mac", L.backend_mac(3), "--weight", op[2])
    if verb == "weight":
        return ("backend", "weight", "web", addr, op[2])
    return ("backend", verb, "web", addr)


def expected_after(model, op):
    """The model of backends 2 and 3 ({address: (state, weight)} as the
    dataplane holds them; None: absent) after `op`."""
    verb, addr = op[0], op[1]
    state, weight = model[addr] or ("up", 100)
    if verb == "del":
        model[addr] = None
    elif verb == "add":
        model[addr] = ("up", op[2])
    elif verb == "weight":
        model[addr] = (state, op[2])
    else:
        model[addr] = ({"drain": "draining", "disable": "down"}.get(verb, "up"), weight)


class RouteWatch(threading.Thread):
    """Polls the router's table (what BIRD installed) every 0.2 s and keeps
    each VIP's transitions with their time."""

    def __init__(self, lb):
        super().__init__(daemon=True)
        self.lb, self.stop_flag = lb, threading.Event()
        self.events = []  # (time, prefix, present)
        self.withdrawals = []  # (time, BIRD's count of withdrawals received), when it moved
        self.polls = 0
        self.last = {VIP_P: True, VIP2_P: True}

    def run(self):
        while not self.stop_flag.is_set():
            try:
                routes = self.lb.router_routes()
                n = bird_withdraws(self.lb)
            except Exception:  # a slow `ip` or birdc under load: try again
                routes = None
            if routes is not None:
                if not self.withdrawals or n != self.withdrawals[-1][1]:
                    self.withdrawals.append((time.monotonic(), n))
                self.polls += 1
                for p in (VIP_P, VIP2_P):
                    if (p in routes) != self.last[p]:
                        self.last[p] = p in routes
                        self.events.append((time.monotonic(), p, p in routes))
            self.stop_flag.wait(0.2)


def sample(lb, t0, dp, cp):
    c = counters(lb)
    return {"t": time.monotonic() - t0, "c": c, "dp_rss": rss_kb(dp.pid), "cp_rss": rss_kb(cp.pid),
            "cp_pid": cp.pid, "reports": len(report_files())}


def accounted(c):
    """What left or was counted for the packets that came in (invariant 7):
    forwarded (what the ports sent, less what the kernel wrote on a TAP),
    handed to the kernel, or dropped by reason."""
    tx = sum(p["tx_packets"] for p in c["ports"])
    rx = sum(p["rx_packets"] for p in c["ports"])
    return rx, tx - c["from_kernel_packets"] + c["exception_packets"] - c["drops"]["exception_too_big"] + c["drops_total"]


def check_sample(s, violations, before):
    c = s["c"]
    if c is None:
        return
    rx, acc = accounted(c)
    # Read while the worker runs: a burst in flight, buffered TX, and the
    # time between reading rx and the drops (0.1 s of traffic, generously).
    skew = SKEW + ((rx - accounted(before["c"])[0]) // 10 if before and before["c"] else 0)
    if abs(rx - acc) > skew:
        violations.append(f"t={s['t']:.1f}s: {rx} packets in, {acc} out or dropped")
    f = c["flows"]
    if f["occupancy"] > f["capacity"]:
        violations.append(f"t={s['t']:.1f}s: flow table holds {f['occupancy']} > capacity {f['capacity']}")
    for lc in c["lcores"]:
        if lc.get("flow_occupancy", 0) > lc.get("flow_slots", 0):
            violations.append(f"t={s['t']:.1f}s: worker {lc['worker']} holds {lc['flow_occupancy']} flows "
                              f"in {lc.get('flow_slots')} slots")


# ---- the cases ------------------------------------------------------------------

@tap.case
def the_lab_starts_and_both_vips_are_announced():
    for what, path in (("controlplane", CP), ("dataplane", DP), ("anylbctl", CTL)):
        if not os.access(path, os.X_OK):
            raise Skip(f"no {what} binary at {path}")
    S["reports"] = ARGS.reports or tempfile.mkdtemp(prefix=f"anylb-soak-reports-{os.getpid()}-")
    os.makedirs(S["reports"], exist_ok=True)
    for f in report_files():  # an earlier run's
        os.unlink(f)
    sanitizer_env(S["reports"])
    lb = L.Lab(backends=5, backend_vips=(VIP, VIP2)).start(30)
    S["lab"] = lb
    t = time.monotonic()
    pcap = make_pcap(lb)
    log(f"pcap of {PACKETS} packets ({EST_FLOWS} established flows to web, {SYN_POOL} SYNs to flap) "
        f"in {time.monotonic() - t:.1f}s")
    start_dataplane(lb, pcap)
    L.wait_until(lambda: counters(lb) is not None, 30, what="the dataplane's first counters",
                 diag=lambda: lb.procs["dataplane"].log())
    write_config(lb, 100)
    S["cp"] = [start_cp(lb)]
    for p in (VIP_P, VIP2_P):
        L.wait_until(lambda: p in lb.router_routes(), 30, what=f"{p} at the router", diag=lb.diag)
    log(f"lab up in {time.monotonic() - t:.1f}s")


@tap.case
def soak_runs_its_course():
    lb = S.get("lab")
    if lb is None:
        raise AssertionError("no lab")
    dp = lb.procs["dataplane"]
    trickle = L.Proc(lb.node, ["/usr/bin/python3", os.path.join(HERE, "trickle.py"), "soakinj", TRICKLE_MAC, VIP,
                               80, TRICKLE_PER_SECOND, ARGS.seconds], lb.path("trickle.log"))
    watch = RouteWatch(lb)
    watch.start()
    withdraws0 = bird_withdraws(lb)
    t0 = time.monotonic()
    S.update(t0=t0, samples=[], violations=[], churn_ok=0, churn_failed=[], reloads=0, restart=None,
             flaps=[], model={B2: ("up", 100), B3: ("up", 100)}, model_checks=[], marks=[])
    cp = S["cp"][-1]
    be4_weight, op_n, tick = 100, 0, 0
    flap_down_at, flap_kill = None, False
    restarted = False
    try:
        while (now := time.monotonic() - t0) < ARGS.seconds:
            # The flap: backend 5 fails its checks (HTTP 503, or its listener
            # killed, in turn) FLAP_DOWN s out of every FLAP_PERIOD.
            phase = now % FLAP_PERIOD
            if flap_down_at is None and FLAP_AT <= phase < FLAP_AT + FLAP_DOWN and now + FLAP_DOWN < ARGS.seconds:
                flap_kill = not flap_kill
                flap_down_at = flap(lb, down=True, kill=flap_kill)
            elif flap_down_at is not None and time.monotonic() - flap_down_at >= FLAP_DOWN:
                S["flaps"].append((flap_down_at, flap(lb, down=False, kill=flap_kill)))
                flap_down_at = None
            # The control plane restarted once, halfway: SIGTERM (exit 0),
            # then started again on the same configuration and state file.
            if not restarted and now >= ARGS.seconds / 2:
                restarted = True
                t = time.monotonic()
                S["samples"].append(sample(lb, t0, dp, cp))
                cp.send(signal.SIGTERM)
                rc = cp.wait(20)
                S["cp_exits"] = [rc]
                assert rc == 0, f"the controlplane exited {rc} on SIGTERM:\n{cp.log()}"
                lb.procs.pop("controlplane", None)
                cp = start_cp(lb)
                S["cp"].append(cp)
                S["restart"] = (t - t0, time.monotonic() - t)
                S["marks"].append((t, "restart"))
            # A reload every RELOAD_EVERY s: backend 4's weight in the file
            # changes, and must reach the dataplane.
            elif int(now) // RELOAD_EVERY > S["reloads"] and now > 1:
                S["reloads"] += 1
                be4_weight = 150 if be4_weight == 100 else 100
                write_config(lb, be4_weight)
                S["marks"].append((time.monotonic(), "reload"))
                cp.send(signal.SIGHUP)
                L.wait_until(lambda: dp_backends(lb).get(("web", L.backend_addr(4)), {}).get("weight") == be4_weight,
                             10, what=f"backend 4 at weight {be4_weight} after reload {S['reloads']}",
                             diag=cp.log)
            for _ in range(2):
                op = CHURN[op_n % len(CHURN)]
                op_n += 1
                r = ctl(lb, *churn_args(op))
                if r.returncode == 0:
                    S["churn_ok"] += 1
                    expected_after(S["model"], op)
                else:
                    S["churn_failed"].append(f"t={now:.1f}s {' '.join(map(str, churn_args(op)))}: "
                                             f"exit {r.returncode}: {r.stderr.strip()}")
            if op_n % len(CHURN) == 0:  # a cycle done: what the dataplane holds must match
                S["model_checks"].append((now, dict(S["model"]), model_reached(lb, S["model"])))
            s = sample(lb, t0, dp, cp)
            check_sample(s, S["violations"], S["samples"][-1] if S["samples"] else None)
            S["samples"].append(s)
            for name, p in (("dataplane", dp), ("controlplane", cp)):
                assert p.alive(), f"the {name} died at t={now:.1f}s:\n{p.log()}\n{report_tail()}"
            tick += 1
            time.sleep(max(0.0, t0 + tick - time.monotonic()))
        if flap_down_at is not None:
            S["flaps"].append((flap_down_at, flap(lb, down=False, kill=flap_kill)))
        S["t_end"] = time.monotonic() - t0
        S["model_checks"].append((S["t_end"], dict(S["model"]), model_reached(lb, S["model"])))
    finally:
        watch.stop_flag.set()
        watch.join(5)
        S["routes"] = watch.events
        S["bird_counts"] = watch.withdrawals
        S["route_polls"] = watch.polls
        S["bird_withdraws"] = bird_withdraws(lb) - withdraws0
        S["trickle"] = trickle.stop(signal.SIGTERM)
        S["trickle_sent"] = trickle.log()
    if ARGS.samples:
        with open(ARGS.samples, "w") as f:
            json.dump([{k: v for k, v in x.items() if k != "c"} | {"flows": x["c"] and x["c"]["flows"]}
                       for x in S["samples"]], f)
    # Stopped as an operator does, each must exit 0 (LSan reports at exit).
    S["cp_exits"] = S.get("cp_exits", []) + [lb.stop("controlplane")]
    S["dp_exit"] = lb.stop("dataplane")
    S["final"] = counters(lb)
    S["dp_log"] = dp.log(3000)
    log(f"ran {S['t_end']:.0f}s: {S['churn_ok']} API changes, {len(S['churn_failed'])} refused, "
        f"{S['reloads']} reloads, restart at {S['restart'][0]:.0f}s taking {S['restart'][1]:.1f}s"
        if S["restart"] else f"ran {S['t_end']:.0f}s: no restart (too short)")


def flap(lb, down, kill):
    """Backend 5 failing its checks (killed, or answering 503) or passing
    them again; returns when that began."""
    t = time.monotonic()
    if kill and down:
        lb.stop_backend(5)
    elif kill:
        lb.start_backend(5)
    else:
        lb.set_backend_status(5, 503 if down else None)
    return t


def model_mismatch(lb, model):
    held = dp_backends(lb)
    out = []
    for addr, want in model.items():
        b = held.get(("web", addr))
        got = (b["state"], b["weight"]) if b else None
        if got != want:
            out.append(f"{addr}: dataplane holds {got}, expected {want}")
    return out


def model_reached(lb, model, within=MODEL_WITHIN):
    """[] once the dataplane holds backends 2 and 3 as the API changes left
    them (a change reaches it at the control plane's next pass), else what
    differs after `within` s."""
    deadline = time.monotonic() + within
    while (diff := model_mismatch(lb, model)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return diff


def report_tail():
    files = report_files()
    if not files:
        return ""
    with open(files[0], errors="replace") as f:
        return f"sanitizer report {files[0]}:\n{f.read()[:4000]}"


def ran():
    if "final" not in S:
        raise AssertionError("the soak did not run to its end")
    return S


@tap.case
def packets_in_equal_packets_out_plus_counted_drops():
    s = ran()
    c = s["final"]
    assert c is not None, "no final counters"
    rx, acc = accounted(c)
    flows = c["flows"]
    log(f"packets: {rx} in, {sum(p['tx_packets'] for p in c['ports'])} forwarded, {c['drops_total']} dropped "
        f"({', '.join(f'{k} {v}' for k, v in c['drops'].items() if v)}); {rx / s['t_end'] / 1e3:.0f} kpps")
    log(f"flows: {flows['inserts']} new, {flows['evictions']} evicted, {flows['expirations']} timed out; "
        f"trickle {s['trickle_sent'].strip()}")
    assert c["outer_fragments_sent"] == 0, c["outer_fragments_sent"]  # a fragment is one more packet out
    assert rx > 0 and rx == acc, f"{rx} packets in, {acc} out or dropped:\n{json.dumps(c)[:3000]}"
    mid = [v for v in s["violations"] if "packets in" in v]
    assert not mid, "during the run:\n" + "\n".join(mid[:10])
    assert len(s["samples"]) >= s["t_end"] * 0.5, f"only {len(s['samples'])} samples in {s['t_end']:.0f}s"


@tap.case
def the_flow_table_never_held_more_than_its_capacity():
    s = ran()
    bad = [v for v in s["violations"] if "flow" in v]
    assert not bad, "\n".join(bad[:10])
    f = s["final"]["flows"]
    peak = max((x["c"]["flows"]["occupancy"] for x in s["samples"] if x["c"]), default=0)
    log(f"flow table: peak {peak} of {f['capacity']}")
    # The table was full (the pool is larger), and flows left it both ways.
    assert f["evictions"] > 0, f
    assert f["expirations"] > 0, f"no flow timed out: {f}"


@tap.case
def every_api_change_and_reload_was_applied():
    s = ran()
    assert not s["churn_failed"], "\n".join(s["churn_failed"][:10])
    assert s["churn_ok"] >= s["t_end"], f"{s['churn_ok']} changes in {s['t_end']:.0f}s"
    bad = [(t, m) for t, _, m in s["model_checks"] if m]
    assert not bad, "\n".join(f"t={t:.0f}s: {'; '.join(m)}" for t, m in bad[:5])
    assert s["reloads"] >= int(s["t_end"] // RELOAD_EVERY) - 1, s["reloads"]


@tap.case
def resident_memory_flat_after_warm_up():
    s = ran()
    warm = s["t_end"] * WARM_UP
    restart_t = s["restart"][0] if s["restart"] else None

    def growth(key, lo, hi):
        """RSS (kB) of the samples in [lo, hi): the mean of the first three
        after warm-up and of the last three."""
        xs = [x[key] for x in s["samples"] if lo <= x["t"] < hi and x[key]]
        if len(xs) < 6:
            return None
        a, b = sum(xs[:3]) / 3, sum(xs[-3:]) / 3
        return a, b, (b - a) / a
    runs = [("dataplane", "dp_rss", warm, float("inf"))]
    if restart_t is None:
        runs.append(("controlplane", "cp_rss", warm, float("inf")))
    else:  # each run of the control plane from its own warm-up
        runs.append(("controlplane (first run)", "cp_rss", warm, restart_t))
        runs.append(("controlplane (second run)", "cp_rss", restart_t + warm, float("inf")))
    bad = []
    for name, key, lo, hi in runs:
        g = growth(key, lo, hi)
        if g is None:
            log(f"{name}: too few samples to judge its RSS")
            continue
        log(f"{name} RSS: {g[0] / 1024:.1f} MiB after warm-up, {g[1] / 1024:.1f} MiB at the end ({g[2]:+.1%})")
        if g[2] >= RSS_GROWTH:
            bad.append(f"{name}: {g[2]:+.1%}")
    assert not bad, "RSS grew past 5%: " + ", ".join(bad)


@tap.case
def routes_flap_only_with_the_flapping_backend():
    s = ran()
    events = s["routes"]
    shown = ", ".join(f"{t - s['t0']:.1f}s {p} {'up' if up else 'down'}" for t, p, up in events) or "none"
    log(f"routes: {len(events)} transitions in {s['route_polls']} polls ({shown}); "
        f"BIRD received {s['bird_withdraws']} withdrawals; {len(s['flaps'])} flaps of backend 5")
    web = [e for e in events if e[1] == VIP_P]
    assert not web, f"web (quorum 1, backend 1 never touched) left the router: {web}"
    down = [t for t, p, up in events if p == VIP2_P and not up]
    for t in down:
        assert any(d <= t <= u + WITHDRAW_LAG for d, u in s["flaps"]), \
            f"flap withdrawn at {t - s['t0']:.1f}s, outside every flap of its backend"
    for t in (t for t, p, up in events if p == VIP2_P and up):
        assert not any(d + WITHDRAW_LAG <= t <= u for d, u in s["flaps"]), \
            f"flap announced at {t - s['t0']:.1f}s while its only backend was failing"
    # Each withdrawal BIRD counted, matched with one the table showed near
    # it (0.2 s polls of each): what is left flapped too fast to be seen.
    unseen, seen = [], list(down)
    for (_, a), (t, b) in zip(s["bird_counts"], s["bird_counts"][1:]):
        for _ in range(b - a):
            near = [x for x in seen if abs(x - t) <= 1.0]
            if near:
                seen.remove(near[0])
            else:
                unseen.append(t)
    t0 = s["t0"]
    marks = ", ".join(f"{what} at {t - t0:.1f}s" for t, what in s["marks"])
    flaps = ", ".join(f"{d - t0:.1f}-{u - t0:.1f}s" for d, u in s["flaps"])
    unseen_at = ", ".join(f"{t - t0:.1f}s" for t in unseen)
    assert s["bird_withdraws"] == len(down) and not unseen, \
        (f"BIRD received {s['bird_withdraws']} withdrawals, the table showed {len(down)}; unseen at {unseen_at} "
         f"(polled every 0.2 s); {marks}; backend 5 failing {flaps}")
    if s["flaps"]:
        assert down, "the flapping backend never withdrew its VIP: the watch sees nothing"


@tap.case
def every_process_exited_cleanly_and_no_sanitizer_report():
    s = ran()
    files = report_files()
    assert not files, f"{len(files)} sanitizer report(s) in {S['reports']}:\n{report_tail()}"
    assert s["dp_exit"] == 0, f"the dataplane exited {s['dp_exit']}:\n{s['dp_log']}"
    assert s["cp_exits"] and all(rc == 0 for rc in s["cp_exits"]), f"the controlplane exited {s['cp_exits']}"
    assert s["trickle"] == 0, f"trickle.py exited {s['trickle']}: {s['trickle_sent']}"
    if not ARGS.reports:
        os.rmdir(S["reports"])


def main():
    tap.skip_unless_root("network namespaces")
    tap.skip_unless(("/usr/sbin/bird", "/usr/sbin/birdc", "/usr/bin/gobgpd", "/usr/bin/gobgp"),
                    " (apt-get install bird2 gobgpd)")
    tap.run()


if __name__ == "__main__":
    main()
