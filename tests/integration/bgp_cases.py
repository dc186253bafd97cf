"""What the BGP integration tests (test_bgp*.py) share: the one lab a file's
cases run in, the controlplane they start in it, and the runner of the cases
written as rows.

Each file is one process (one lab, one TAP stream). Run as root:
FILE [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
The scaffolding cases announce by hand with the gobgp CLI; the controlplane
cases are skipped while the controlplane binary does not exist.
ANYLB_KEEP_LAB=1 keeps the lab's configs and daemon logs in /tmp/anylb-bgp-PID-*.
"""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lab"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bgp_lab as L  # noqa: E402  (lab/: the namespaces, daemons and configs the lab and tests share)
from tap import Skip, Tap  # noqa: E402  (tests/tap.py, shared with the packet tests)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARGS = [a for a in sys.argv[1:] if not a.startswith("--only")]
ONLY = next((a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--only=")), None)
CP = ARGS[0] if len(ARGS) > 0 else os.path.join(REPO, "build", "controlplane", "anylb-controlplane")
DP = ARGS[1] if len(ARGS) > 1 else os.path.join(REPO, "build", "dataplane", "dpdk", "anylb-dataplane")
CTL = ARGS[2] if len(ARGS) > 2 else os.path.join(REPO, "build", "grpc", "anylbctl", "anylbctl")

VIP, VIP2 = "203.0.113.10", "203.0.113.11"
VIP_P, VIP2_P = VIP + "/32", VIP2 + "/32"
INTERVAL, FALL, RISE, HOLD_DOWN = 0.5, 2, 2, 6.0
SESSION_TIMEOUT = 30
DRAIN_WAIT = 3
ANNOUNCE_WITHIN = RISE * INTERVAL + 5  # first checks, then BGP
WITHDRAW_WITHIN = FALL * INTERVAL + 3  # the bound the controlplane promises

tap = Tap(teardown=L.close_all)
_lab = {}


def main():
    tap.skip_unless_root("network namespaces")
    tap.skip_unless(("/usr/sbin/bird", "/usr/sbin/birdc", "/usr/bin/gobgpd", "/usr/bin/gobgp"),
                    " (apt-get install bird2 gobgpd)")
    tap.run(ONLY)


def lab():
    """The one lab every case of a file shares (a BGP session takes seconds to come up)."""
    if "error" in _lab:
        raise AssertionError(f"lab did not start: {_lab['error']}")
    if "lab" not in _lab:
        try:
            _lab["lab"] = L.Lab(backends=3, backend_vips=(VIP, VIP2)).start(SESSION_TIMEOUT)
        except Exception as e:
            _lab["error"] = e
            raise
    return _lab["lab"]


def announce_by_hand(lab, family, prefix, next_hop, *attrs):
    lab.gobgp("global", "rib", "-a", family, "add", prefix, "nexthop", next_hop, *attrs)


# ---- controlplane ------------------------------------------------------------

def service(name=None, vip=VIP, quorum=2, communities=("no-export", "65000:100"), hold_down=HOLD_DOWN):
    addr = L.backend_addr6 if ":" in vip else L.backend_addr
    return {
        "name": name or "web", "vip": vip, "protocol": "tcp", "port": 80, "mode": "l2-dsr",
        "quorum": quorum, "hold_down": f"{hold_down:g}s", "communities": list(communities),
        "check": {"type": "http", "port": 80, "path": "/", "expect_status": 200,
                  "interval": f"{int(INTERVAL * 1000)}ms", "timeout": "300ms", "rise": RISE, "fall": FALL},
        "backends": [{"address": addr(i), "mac": L.backend_mac(i), "weight": 100} for i in (1, 2, 3)],
    }


def controlplane_case(fn):
    """Skips without the binaries; otherwise gives the case a clean lab (every
    backend up, gobgpd with no paths, a dataplane) and stops its controlplane."""
    def run():
        for what, path in (("controlplane", CP), ("dataplane", DP)):
            if not os.access(path, os.X_OK):
                raise Skip(f"no {what} binary at {path}")
        lb = lab()
        reset(lb)
        try:
            fn(lb)
        finally:
            if "dataplane" in lb.procs:  # a case may have frozen it
                lb.procs["dataplane"].send(signal.SIGCONT)
            lb.stop("controlplane")
    run.__name__ = fn.__name__
    return tap.case(run)


def reset(lb):
    lb.stop("controlplane")
    for i in range(1, len(lb.backends) + 1):
        lb.set_backend_status(i, None)
        if not lb.backend_alive(i):
            lb.start_backend(i)
    if "gobgpd" not in lb.procs or not lb.procs["gobgpd"].alive():
        lb.start_gobgpd()
    dp = lb.procs.get("dataplane")
    if not dp or not dp.alive():
        lb.stop("dataplane")
        lb.start_dataplane(DP)
    lb.clear_local_paths()  # a controlplane need not withdraw at exit
    L.wait_until(lambda: not lb.router_routes(), 10, what="router table empty", diag=lb.diag)
    lb.wait_established(SESSION_TIMEOUT)


def start_cp(lb, services, extra=None):
    L.write_controlplane_config(lb.path("cp.yaml"), services, dataplane_socket=lb.path("dataplane.sock"),
                                extra=extra)
    return lb.start_controlplane(CP, lb.path("cp.yaml"))


def start_cp_api(lb, services, state_file=True, fresh=True, extra=None, state_path=None):
    """A controlplane with its API socket, state file (emptied first unless
    not `fresh`: an earlier case's would carry over; at `state_path` if
    given, else in the lab) and metrics in the lab; `extra`: more top-level
    sections."""
    state_path = state_path or lb.path("cp-state.json")
    if state_file and fresh and os.path.exists(state_path):
        os.unlink(state_path)
    write_cp_api_config(lb, services, state_file, extra, state_path)
    p = lb.start_controlplane(CP, lb.path("cp.yaml"))
    L.wait_until(lambda: os.path.exists(lb.path("cp.sock")) or not p.alive(), 10, what="controlplane API socket")
    return p


def write_cp_api_config(lb, services, state_file=True, extra=None, state_path=None):
    """start_cp_api's configuration (also for a reload)."""
    state_path = state_path or lb.path("cp-state.json")
    sections = {"api": {"socket": lb.path("cp.sock")}, "metrics": {"listen": "127.0.0.1:19100"}, **(extra or {})}
    L.write_controlplane_config(lb.path("cp.yaml"), services, dataplane_socket=lb.path("dataplane.sock"),
                                extra=sections)
    if state_file:  # node keys go under node: (write_controlplane_config has no knob for them)
        with open(lb.path("cp.yaml")) as f:
            text = f.read()
        text = text.replace("node:\n", f"node:\n  state_file: \"{state_path}\"\n  drain_wait: {DRAIN_WAIT}s\n", 1)
        with open(lb.path("cp.yaml"), "w") as f:
            f.write(text)


def ctl(lb, *args, check=True):
    """anylbctl against the lab's controlplane: its JSON answer (check) or the run."""
    r = subprocess.run([CTL, "--controlplane", lb.path("cp.sock"), "--json", *map(str, args)],
                       capture_output=True, text=True, timeout=20)
    if check:
        assert r.returncode == 0, f"anylbctl {' '.join(map(str, args))}: exit {r.returncode}: {r.stderr}"
        return json.loads(r.stdout)
    return r


def dp_backend_state(lb, address):
    st = lb.dataplane_state() or {}
    return next((b["state"] for b in st.get("backends", []) if b["address"] == address), None)


def until_backends_up_in_dataplane(lb):
    """Waits until the dataplane holds the lab's three backends up."""
    L.wait_until(lambda: all(dp_backend_state(lb, L.backend_addr(i)) == "up" for i in (1, 2, 3)), ANNOUNCE_WITHIN,
                 what="the backends up in the dataplane", diag=lb.diag)


# ---- a dataplane that forwards real frames ------------------------------------
# Two veths in the node namespace: frames go in by dpinp -> dpin (port 0),
# what the dataplane forwards leaves by dpout (--tx-port) and is read on dpoutp.
TWO_ARMED = "net_af_packet0,iface=dpin --vdev=net_af_packet1,iface=dpout"
TWO_ARMED_OPTS = ("--tx-port", "net_af_packet1", "--rx-descriptors", 512)


def make_arms(lb):
    for name in ("dpin", "dpout"):
        L.run("ip", "-n", lb.node, "link", "add", name, "type", "veth", "peer", "name", name + "p")
        for dev in (name, name + "p"):
            L.run("ip", "netns", "exec", lb.node, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            L.run("ip", "-n", lb.node, "link", "set", dev, "up")


def drop_arms(lb):
    for name in ("dpin", "dpout"):
        L.run("ip", "-n", lb.node, "link", "del", name, check=False)


def start_two_armed_dataplane(lb):
    """The lab's dataplane (its state file, socket, options) on the arms."""
    return lb.start_dataplane(DP, vdev=TWO_ARMED, extra=TWO_ARMED_OPTS)


# Runs in the node namespace: sends SYNs to a VIP into dpinp (to dpin's MAC)
# and prints how many frames for that VIP left by dpout to one of the MACs
# given, within a few seconds (bounded).
_SEND_AND_COUNT = r"""
import socket, sys, time
from scapy.all import Ether, IP, TCP, raw
vip, count, dst, macs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
macs = {bytes.fromhex(m.replace(":", "")) for m in macs}
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
rx.bind(("dpoutp", 0))
rx.settimeout(0.2)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind(("dpinp", 0))
for i in range(count):
    tx.send(raw(Ether(dst=dst, src="02:00:00:00:00:99") / IP(src="198.51.100.%d" % (i % 200 + 1), dst=vip) /
                TCP(sport=20000 + i, dport=80, flags="S")))
seen, deadline = 0, time.monotonic() + 3
while seen < count and time.monotonic() < deadline:
    try:
        f = rx.recv(4096)
    except socket.timeout:
        continue
    if f[:6] in macs and f[30:34] == socket.inet_aton(vip):
        seen += 1
print(seen)
"""


def forwarded(lb, vip, count=20, macs=None):
    """How many of `count` SYNs to `vip` sent into dpin the dataplane
    forwarded out of dpout to a backend's MAC (the lab's three by default)."""
    dst = L.run("ip", "netns", "exec", lb.node, "cat", "/sys/class/net/dpin/address").stdout.strip()
    macs = macs or [L.backend_mac(i) for i in (1, 2, 3)]
    r = L.run("ip", "netns", "exec", lb.node, "/usr/bin/python3", "-c", _SEND_AND_COUNT, vip, count, dst,
              ",".join(macs), timeout=60)
    return int(r.stdout.strip())


def until_routed(lb, prefix, timeout, present=True):
    L.wait_until(lambda: (prefix in lb.router_routes()) == present, timeout,
                 what=f"{prefix} {'announced' if present else 'withdrawn'} at the router", diag=lb.diag)
    return time.monotonic()


def stays(lb, prefix, seconds, present):
    return L.holds_for(lambda: (prefix in lb.router_routes()) == present, seconds)


def stop_by_sigterm(p):
    """Stops a controlplane as an operator does; it must exit 0."""
    p.send(signal.SIGTERM)
    rc = p.wait(10)
    assert rc == 0, f"exit {rc} after SIGTERM:\n{p.log()}"


def leave_the_path(lb, p):
    """Waits for the VIP at the router, then stops controlplane `p` as an
    operator does: its path stays in gobgpd (no --withdraw-on-exit)."""
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)
    assert VIP_P in lb.router_routes(), f"a stopped controlplane's path left the router\n{lb.diag()}"


def route_of(lb, service_name):
    """The controlplane's route status of one service (anylbctl routes)."""
    return next(r for r in ctl(lb, "routes") if r["service"] == service_name)


# ---- cases as rows: a configuration in, the router's state out ----------------
# A row starts a controlplane on `services` (backends `down` stopped first),
# then runs its steps: each acts on the backends or reloads the file, then
# waits for every prefix it names, in order, each within `within` seconds of
# the wait before it (the first: of the step's actions), and only then checks
# what the announced ones carry, as the hand-written cases did.

@dataclasses.dataclass(frozen=True)
class Up:
    """Announced within `within` s, carrying exactly `communities` (if given),
    through `via` (if given), with every string of `detail` in BIRD's route."""
    within: float
    communities: set = None
    via: str = None
    detail: tuple = ()


@dataclasses.dataclass(frozen=True)
class Down:
    """Withdrawn within `within` s."""
    within: float


@dataclasses.dataclass(frozen=True)
class Out:
    """Not announced, and stays so for `seconds`."""
    seconds: float


@dataclasses.dataclass(frozen=True)
class Step:
    stop: tuple = ()       # backends killed (connections refused)
    start: tuple = ()      # backends started again
    status: dict = dataclasses.field(default_factory=dict)   # backend: HTTP status it answers, listening
    reload: list = None    # services written to the file, then SIGHUP
    expect: dict = dataclasses.field(default_factory=dict)   # prefix: Up | Down | Out, waited for in order
    reasons: dict = dataclasses.field(default_factory=dict)  # service: (announced, words of its reason)
    dataplane_has: str = None  # a VIP the dataplane's state must hold


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    services: list
    steps: tuple
    down: tuple = ()       # backends stopped before the controlplane starts
    extra: dict = None     # more top-level config sections (covering_prefixes...)
    api: bool = False      # with its API (no state file): for `reasons` and reloads


def row_case(row):
    """Registers `row` as a TAP case of its own, named row.name."""
    def fn(lb):
        run_row(lb, row)
    fn.__name__ = row.name
    return controlplane_case(fn)


def run_row(lb, row):
    for i in row.down:
        lb.stop_backend(i)
    if row.api:
        p = start_cp_api(lb, row.services, state_file=False, extra=row.extra)
    else:
        p = start_cp(lb, row.services, extra=row.extra)
    for n, step in enumerate(row.steps, 1):
        where = f"step {n}"
        for i in step.stop:
            lb.stop_backend(i)
        for i in step.start:
            lb.start_backend(i)
        for i, code in step.status.items():
            lb.set_backend_status(i, code)
        if step.reload is not None:
            if row.api:
                write_cp_api_config(lb, step.reload, state_file=False, extra=row.extra)
            else:
                L.write_controlplane_config(lb.path("cp.yaml"), step.reload,
                                            dataplane_socket=lb.path("dataplane.sock"), extra=row.extra)
            p.send(signal.SIGHUP)
        for prefix, want in step.expect.items():
            if isinstance(want, Out):
                assert stays(lb, prefix, want.seconds, present=False), \
                    f"{where}: {prefix} announced within {want.seconds}s\n{lb.diag()}"
            else:
                until_routed(lb, prefix, want.within, present=isinstance(want, Up))
        for prefix, want in step.expect.items():
            if isinstance(want, Up):
                check_route(lb, prefix, want, where)
        for name, (announced, words) in step.reasons.items():
            r = route_of(lb, name)
            assert r["announced"] == announced and words in r["reason"], f"{where}: {r}"
        if step.dataplane_has:
            state = lb.dataplane_state()
            assert state is not None and step.dataplane_has in str(state), \
                f"{where}: service not pushed to the dataplane: {state}"


def check_route(lb, prefix, want, where):
    detail = lb.router_route_detail(prefix)
    if want.communities is not None:
        got = lb.router_communities(prefix)
        assert got == set(want.communities), f"{where}: {prefix} carries {got}, not {set(want.communities)}\n{detail}"
    for s in want.detail:
        assert s in detail, f"{where}: no '{s}' in {prefix}\n{detail}"
    if want.via:
        fam = "-6" if ":" in prefix else "-4"
        shown = L.run("ip", "-n", lb.router, fam, "route", "show", prefix).stdout
        assert f"via {want.via}" in shown, f"{where}: {prefix} not via {want.via}: {shown}"
