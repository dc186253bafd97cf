#!/usr/bin/python3
"""The anycast lab: two anylb nodes behind a BIRD router doing ECMP with an
L4 hash, three HTTP (and echo) backends holding the VIP on lo for L2 direct
server return, and a client; every piece real, in network namespaces made
here and torn down on exit. Each node runs anylb-dataplane on
net_af_packet (its veth has no kernel address, like a NIC bound to DPDK),
the node's address on the dataplane's exception interface, gobgpd peering
with the router through that exception path, and anylb-controlplane
health-checking the backends (also through it).

    client 198.51.100.10 -- router (BIRD, ECMP) 198.18.0.1
                              | lan bridge 198.18.0.0/24
        node1 .2 (dp0 + exc0)   node2 .3 (dp0 + exc0)   be1..be3 .11-.13 (VIP on lo)

Run as a demo: anycast_lab.py CONTROLPLANE DATAPLANE ANYLBCTL (scripts/lab.sh
does). The end-to-end tests import it.
"""
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import bgp_lab as L  # noqa: E402  (Proc, run, wait_until: the lab helpers)

REPO = os.path.abspath(os.path.join(HERE, ".."))
CP = os.path.join(REPO, "build", "controlplane", "anylb-controlplane")
DP = os.path.join(REPO, "build", "dataplane", "dpdk", "anylb-dataplane")
CTL = os.path.join(REPO, "build", "grpc", "anylbctl", "anylbctl")
VIP = "203.0.113.10"
TAG = f"albe{os.getpid()}"
NS = {n: f"{TAG}{n}" for n in ("cl", "rt", "lan", "n1", "n2", "b1", "b2", "b3")}
DIR = f"/tmp/anylb-e2e-{os.getpid()}"
procs = {}

BIRD = """router id 198.18.0.1;
log stderr all;
protocol device { scan time 1; }
protocol kernel { merge paths yes; ipv4 { import none; export all; }; }
template bgp node { local 198.18.0.1 as 65000; hold time 6; connect delay time 1; connect retry time 2;
  error wait time 1, 4; ipv4 { import all; export none; }; }
protocol bgp n1 from node { neighbor 198.18.0.2 as 65001; }
protocol bgp n2 from node { neighbor 198.18.0.3 as 65001; }
"""

GOBGP = """[global.config]
  as = 65001
  router-id = "{me}"
  local-address-list = ["{me}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 2
    hold-time = 6
    keepalive-interval = 2
"""

ECHO = """import socket, sys, threading
name = sys.argv[1]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7)); s.listen(64)
def serve(c):
    with c:
        for line in c.makefile():
            c.sendall(f"{name}: {line}".encode())
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"""


def ns(n, *cmd, check=True):
    return L.run("ip", "netns", "exec", NS[n], *cmd, check=check)


def start(name, n, argv):
    procs[name] = L.Proc(NS[n], argv, os.path.join(DIR, f"{name}.log"))
    return procs[name]


def teardown():
    for p in procs.values():
        p.stop(signal.SIGKILL, timeout=2)
    for n in NS.values():
        L._drop_netns(n)  # also kills whatever still runs inside
    for k in ("1", "2"):
        shutil.rmtree(f"/var/run/dpdk/{TAG}{k}", ignore_errors=True)
    shutil.rmtree(DIR, ignore_errors=True)


def veth(a, name_a, b, name_b, mac=None):
    L.run("ip", "link", "add", name_a, "netns", NS[a], "type", "veth", "peer", "name", name_b, "netns", NS[b])
    if mac:  # on a's end: the backend's (or the DPDK port's) own MAC
        ns(a, "ip", "link", "set", name_a, "address", mac)
    for n, d in ((a, name_a), (b, name_b)):
        ns(n, "ip", "link", "set", d, "up")
        ns(n, "sysctl", "-qw", f"net.ipv6.conf.{d}.disable_ipv6=1")
        # veth leaves checksums to "hardware"; af_packet would hand DPDK unfinished ones.
        ns(n, "ethtool", "-K", d, "tx", "off", check=False)


def build():
    os.makedirs(DIR, exist_ok=True)
    for n in NS.values():
        L.run("ip", "netns", "add", n)
    for n in NS:
        ns(n, "ip", "link", "set", "lo", "up")
    ns("lan", "ip", "link", "add", "br0", "type", "bridge")
    ns("lan", "ip", "link", "set", "br0", "up")
    veth("cl", "eth0", "rt", "cl0")
    ns("cl", "ip", "addr", "add", "198.51.100.10/24", "dev", "eth0")
    ns("cl", "ip", "route", "add", "default", "via", "198.51.100.1")
    ns("rt", "ip", "addr", "add", "198.51.100.1/24", "dev", "cl0")
    ns("rt", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1")
    for n, port, addr, mac in (("rt", "lan0", "198.18.0.1/24", None), ("n1", "dp0", None, "02:00:00:00:01:01"),
                               ("n2", "dp0", None, "02:00:00:00:01:02"),
                               *[(f"b{i}", "eth0", f"198.18.0.1{i}/24", f"02:00:00:00:0b:0{i}") for i in (1, 2, 3)]):
        veth(n, port, "lan", f"p-{n}", mac)
        ns("lan", "ip", "link", "set", f"p-{n}", "master", "br0")
        if addr:
            ns(n, "ip", "addr", "add", addr, "dev", port)
    for i in (1, 2, 3):
        b = f"b{i}"
        ns(b, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
        ns(b, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
        ns(b, "ip", "route", "add", "default", "via", "198.18.0.1")  # DSR replies go back through the router
        start(f"http{i}", b, ["/usr/bin/python3", L.HTTP_SERVER, f"backend-{i}", 80])
        with open(os.path.join(DIR, "echo.py"), "w") as f:
            f.write(ECHO)
        start(f"echo{i}", b, ["/usr/bin/python3", os.path.join(DIR, "echo.py"), f"backend-{i}"])
    with open(os.path.join(DIR, "bird.conf"), "w") as f:
        f.write(BIRD)
    start("bird", "rt", ["/usr/sbin/bird", "-f", "-c", os.path.join(DIR, "bird.conf"), "-s", os.path.join(DIR, "bird.ctl"),
                         "-P", os.path.join(DIR, "bird.pid")])
    for k, me in (("1", "198.18.0.2"), ("2", "198.18.0.3")):
        start_node(k, me)


def start_node(k, me):
    n = f"n{k}"
    sock = os.path.join(DIR, f"dp{k}.sock")
    start(f"dp{k}", n, [DP, "--eal", f"--lcores=0@0,1@1 --no-huge -m 256 --no-pci --no-telemetry --file-prefix {TAG}{k} "
                        "--vdev=net_af_packet0,iface=dp0", "--mbufs", 4096, "--flow-capacity", 65536,
                        "--api-socket", sock, "--exception-interface", "exc0", "--node-address", me])
    L.wait_until(lambda: ns(n, "ip", "link", "show", "exc0", check=False).returncode == 0, 20, what=f"{n} exc0")
    ns(n, "ip", "addr", "add", f"{me}/24", "dev", "exc0")
    ns(n, "ip", "link", "set", "exc0", "up")
    with open(os.path.join(DIR, f"gobgpd{k}.toml"), "w") as f:
        f.write(GOBGP.format(me=me))
    if f"gobgpd{k}" not in procs or not procs[f"gobgpd{k}"].alive():
        start(f"gobgpd{k}", n, ["/usr/bin/gobgpd", "-f", os.path.join(DIR, f"gobgpd{k}.toml"), "--api-hosts",
                                "127.0.0.1:50051", "--pprof-disable", "-p"])
    svc = {"name": "web", "vip": VIP, "protocol": "tcp", "port": 80, "mode": "l2-dsr", "quorum": 1,
           "hold_down": "2s", "communities": ["no-export"],
           "check": {"type": "tcp", "interval": "500ms", "timeout": "300ms", "rise": 1, "fall": 2},
           "backends": [{"address": f"198.18.0.1{i}", "mac": f"02:00:00:00:0b:0{i}"} for i in (1, 2, 3)]}
    echo = dict(svc, name="echo", port=7)
    L.write_controlplane_config(os.path.join(DIR, f"cp{k}.yaml"), [svc, echo], gobgp_api="127.0.0.1:50051",
                                dataplane_socket=sock, node_name=n, node_addresses=(me,), next_hop=me, next_hop_v6="",
                                extra={"api": {"socket": os.path.join(DIR, f"cp{k}.sock")}})
    with open(os.path.join(DIR, f"cp{k}.yaml")) as f:  # no IPv6 here
        text = f.read().replace('  next_hop_v6: ""\n', "")
    with open(os.path.join(DIR, f"cp{k}.yaml"), "w") as f:
        f.write(text)
    start(f"cp{k}", n, [CP, "--config", os.path.join(DIR, f"cp{k}.yaml")])


def nexthops():
    out = ns("rt", "ip", "route", "show", VIP).stdout
    return {w for line in out.splitlines() for w in line.split() if w.startswith("198.18.0.")}


def diag():
    return "\n".join(f"--- {k}\n{p.log(1500)}" for k, p in procs.items() if k.startswith(("cp", "dp", "gobgpd")))




# ---- the narrated demo ------------------------------------------------------

def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(text):
    for line in text.rstrip().splitlines():
        print("   " + line, flush=True)


def requests(n, port_base):
    """n new connections from the client; counts who answered."""
    seen = {}
    for i in range(n):
        r = ns("cl", "curl", "-s", "--max-time", "2", "--local-port", str(port_base + i * 7), f"http://{VIP}/",
               check=False)
        who = r.stdout.split(" ")[0] if r.stdout else "(no answer)"
        seen[who] = seen.get(who, 0) + 1
    show("\n".join(f"{v:3} {k}" for k, v in sorted(seen.items())))


def per_node():
    """Which node carried how many packets (each node's dataplane counters)."""
    lines = []
    for k in ("1", "2"):
        r = L.run(CTL, "--dataplane", os.path.join(DIR, f"dp{k}.sock"), "--json", "stats", "--interval", "0.1",
                  check=False)
        if r.returncode != 0:
            lines.append(f"node{k}: down")
            continue
        import json
        c = json.loads(r.stdout)
        lines.append(f"node{k}: " + ", ".join(f"{b['address']} {b['packets']} packets" for b in c["backends"]
                                               if b["service"] == "web"))
    show("\n".join(lines))


def router_route():
    show(ns("rt", "ip", "route", "show", VIP).stdout or "(no route to the VIP)")


def main():
    if os.geteuid() != 0:
        sys.exit("anycast_lab.py: run as root (network namespaces)")
    global CP, DP, CTL
    if len(sys.argv) > 3:
        CP, DP, CTL = sys.argv[1:4]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        say("Building the lab in network namespaces (two nodes, a BIRD router, three backends, a client)")
        build()
        L.wait_until(lambda: nexthops() == {"198.18.0.2", "198.18.0.3"}, 60, what="both nodes announcing", diag=diag)
        say("The router learned the VIP from both nodes over BGP (through their exception interfaces): ECMP")
        router_route()
        say("24 requests, each a new connection: the router spreads them over the nodes, Maglev over the backends")
        requests(24, 20000)
        per_node()
        say("The operator's view on node 1 (anylbctl over the control plane's API)")
        show(L.run(CTL, "--controlplane", os.path.join(DIR, "cp1.sock"), "routes").stdout)
        show(L.run(CTL, "--controlplane", os.path.join(DIR, "cp1.sock"), "health").stdout)
        say("backend-2 dies: both control planes see it fail; its flows move, the others stay")
        procs["http2"].stop(signal.SIGKILL, timeout=2)
        time.sleep(2)
        requests(12, 21000)
        say("node 1 dies (its dataplane is killed): its control plane withdraws, the router keeps node 2")
        procs["dp1"].stop(signal.SIGKILL, timeout=2)
        L.wait_until(lambda: nexthops() == {"198.18.0.3"}, 20, what="route via node 2 only", diag=diag)
        router_route()
        requests(12, 22000)
        say("Every backend down: no node has a quorum, the VIP leaves the router's table")
        for i in (1, 2, 3):
            for name in (f"http{i}", f"echo{i}"):
                if name in procs:
                    procs[name].stop(signal.SIGKILL, timeout=2)
        L.wait_until(lambda: not nexthops(), 20, what="VIP withdrawn", diag=diag)
        router_route()
        say("Backends back, node 1 back: the VIP returns after the hold-down (2 s here)")
        for i in (1, 2, 3):
            start(f"http{i}", f"b{i}", ["/usr/bin/python3", L.HTTP_SERVER, f"backend-{i}", 80])
            start(f"echo{i}", f"b{i}", ["/usr/bin/python3", os.path.join(DIR, "echo.py"), f"backend-{i}"])
        procs.pop("cp1").stop(signal.SIGTERM, timeout=5)  # node 1 comes back whole
        start_node("1", "198.18.0.2")
        t0 = time.monotonic()
        L.wait_until(lambda: nexthops() == {"198.18.0.2", "198.18.0.3"}, 60, what="both nodes back", diag=diag)
        show(f"both routes back after {time.monotonic() - t0:.1f} s")
        router_route()
        requests(12, 23000)
    except KeyboardInterrupt:
        pass
    finally:
        say("Tearing down")
        teardown()


if __name__ == "__main__":
    main()
