#!/usr/bin/python3
"""The anycast lab: two anylb nodes behind a BIRD router doing ECMP with an
L4 hash, three HTTP (and echo) backends, and a client; every piece real, in
network namespaces made here and torn down on exit. Each node runs
anylb-dataplane on net_af_packet (its veth has no kernel address, like a NIC
bound to DPDK), the node's addresses on the dataplane's exception interface,
gobgpd peering with the router through that exception path (IPv4 and IPv6
routes over one session), and anylb-controlplane health-checking the
backends (also through it).

    client 198.51.100.10, 2001:db8:51::10
      |
    router (BIRD, ECMP, L4 hash) 198.18.0.1, 2001:db8:18::1
      | lan bridge 198.18.0.0/24, 2001:db8:18::/64, MTU 1600 (room for ipip, GUE)
    node1 .2/::2 (dp0 + exc0)   node2 .3/::3 (dp0 + exc0)   be1..be3 .11-.13/::11-::13

Services (the same on both nodes):
    web    203.0.113.10:80  l2-dsr (VIP on the backends' lo)   echo  203.0.113.10:7
    web6   [2001:db8:10::10]:80  l2-dsr                        echo6 [2001:db8:10::10]:7
    tunnel 203.0.113.20:80  ipip (the backends' ipip0 device: lab/tunnel_decap.py)
    tunnel-gue 203.0.113.21:80  gue, UDP 6080 (their gue0 device: the same script)

Run as a demo: anycast_lab.py CONTROLPLANE DATAPLANE ANYLBCTL (scripts/lab.sh
does). The end-to-end tests import it.
"""
import atexit
import json
import os
import re
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bgp_lab as L  # noqa: E402  (Proc, run, wait_until: the lab helpers)

REPO = os.path.abspath(os.path.join(HERE, ".."))
CP = os.path.join(REPO, "build", "controlplane", "anylb-controlplane")
DP = os.path.join(REPO, "build", "dataplane", "dpdk", "anylb-dataplane")
CTL = os.path.join(REPO, "build", "grpc", "anylbctl", "anylbctl")
VIP, VIP6, VIP_TUN, VIP_GUE = "203.0.113.10", "2001:db8:10::10", "203.0.113.20", "203.0.113.21"
VIPS = (VIP, VIP_TUN, VIP6, VIP_GUE)  # every VIP the lab's services announce
GUE_PORT = 6080
ROUTER6 = "2001:db8:18::1"
CLIENT, CLIENT6 = "198.51.100.10", "2001:db8:51::10"
NODES = {"1": ("198.18.0.2", "2001:db8:18::2"), "2": ("198.18.0.3", "2001:db8:18::3")}
LAN_MTU = 1600  # the underlay leaves room for the tunnel headers, as an operator would
HOLD_DOWN = 2.0
TAG = f"albe{os.getpid()}"
NS = {n: f"{TAG}{n}" for n in ("cl", "rt", "lan", "n1", "n2", "b1", "b2", "b3")}
DIR = f"/tmp/anylb-e2e-{os.getpid()}"
# What a lab run needs besides the project's binaries.
TOOLS = ("/usr/sbin/bird", "/usr/bin/gobgpd", "/usr/sbin/ethtool", "/usr/bin/curl")
procs = {}
DP_EXTRA = []  # more anylb-dataplane options (a test's: a low --exception-rate)

BIRD = """router id 198.18.0.1;
log stderr all;
protocol device { scan time 1; }
protocol kernel { merge paths yes; ipv4 { import none; export all; }; }
protocol kernel { merge paths yes; ipv6 { import none; export all; }; }
template bgp node { local 198.18.0.1 as 65000; hold time 6; ttl security on; connect delay time 1; connect retry time 2;
  error wait time 1, 4; ipv4 { import all; export none; }; ipv6 { import all; export none; }; }
protocol bgp n1 from node { neighbor 198.18.0.2 as 65001; }
protocol bgp n2 from node { neighbor 198.18.0.3 as 65001; }
"""

ECHO = """import socket, sys, threading
name = sys.argv[1]
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", 7)); s.listen(64)
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
    # A second Ctrl-C or a SIGTERM (a test's timeout) must not stop it halfway.
    held = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs.values():
            p.stop(signal.SIGKILL, timeout=2)
        procs.clear()
        for n in NS.values():
            L._drop_netns(n)  # also kills whatever still runs inside
        for k in ("1", "2"):
            shutil.rmtree(f"/var/run/dpdk/{TAG}{k}", ignore_errors=True)
        shutil.rmtree(DIR, ignore_errors=True)
    finally:
        for s, h in held.items():
            signal.signal(s, h)


def sweep_stale():
    """What an earlier lab killed outright (its PID gone) left: its
    namespaces and what runs in them, its DPDK runtime and lab directories."""
    def dead(pid):
        return not os.path.exists(f"/proc/{pid}")
    for line in L.run("ip", "netns", "list").stdout.splitlines():
        m = re.match(r"albe(\d+)", line)
        if m and dead(m.group(1)):
            L._drop_netns(line.split()[0])
    if os.path.isdir("/var/run/dpdk"):
        for d in os.listdir("/var/run/dpdk"):
            m = re.match(r"albe(\d+)", d)
            if m and dead(m.group(1)):
                shutil.rmtree(f"/var/run/dpdk/{d}", ignore_errors=True)
    for d in os.listdir("/tmp"):
        m = re.fullmatch(r"anylb-e2e-(\d+)", d)
        if m and dead(m.group(1)):
            shutil.rmtree(f"/tmp/{d}", ignore_errors=True)


def leftovers(pid=None):
    """What the lab of process `pid` (default: this one) left behind once torn
    down: namespaces, host links, processes, DPDK runtime and lab directories.
    Empty when nothing is."""
    pid = os.getpid() if pid is None else pid
    tag, directory = f"albe{pid}", f"/tmp/anylb-e2e-{pid}"
    left = []
    names = L.run("ip", "netns", "list").stdout
    left += [f"namespace {n.split()[0]}" for n in names.splitlines() if n.startswith(tag)]
    links = L.run("ip", "-o", "link").stdout
    left += [f"host link {n}" for n in ("p-n1", "p-b1", "exc0", "dp0@") if n in links]
    left += [f"process {a}" for a in L.run("ps", "-eo", "args").stdout.splitlines() if f"{directory}/" in a]
    if os.path.isdir("/var/run/dpdk"):
        left += [f"/var/run/dpdk/{d}" for d in os.listdir("/var/run/dpdk") if d.startswith(tag)]
    if os.path.exists(directory):
        left.append(directory)
    return left


def veth(a, name_a, b, name_b, mac=None, mtu=1500, ipv6=()):
    """A veth pair; IPv6 stays off on the ends not named in ipv6 (the DPDK
    port's kernel side and the bridge ports must stay silent)."""
    L.run("ip", "link", "add", name_a, "netns", NS[a], "type", "veth", "peer", "name", name_b, "netns", NS[b])
    if mac:  # on a's end: the backend's (or the DPDK port's) own MAC
        ns(a, "ip", "link", "set", name_a, "address", mac)
    for n, d in ((a, name_a), (b, name_b)):
        ns(n, "ip", "link", "set", d, "mtu", str(mtu), "up")
        if d not in ipv6:
            ns(n, "sysctl", "-qw", f"net.ipv6.conf.{d}.disable_ipv6=1")
        # veth leaves checksums to "hardware"; af_packet would hand DPDK unfinished ones.
        ns(n, "ethtool", "-K", d, "tx", "off", check=False)


def dpdk_port_only(n, dev):
    """What reaches the DPDK port's veth is the dataplane's alone, as on a
    NIC bound to DPDK. Without this the kernel took every IPv4 frame for
    the node's addresses (they are on exc0, and Linux accepts a local
    address on any interface) straight from the veth too: BGP and the
    probes' replies reached it twice, once around the dataplane and its
    exception policer. Strict reverse-path filtering drops them (each
    source's route is via exc0), and the kernel never answers ARP there.
    (IPv6 is off on it; tc cannot drop: no action modules here.)"""
    ns(n, "sysctl", "-qw", f"net.ipv4.conf.{dev}.rp_filter=1", f"net.ipv4.conf.{dev}.arp_ignore=8")


_torn_down_at_exit = False


def build():
    global _torn_down_at_exit
    if not _torn_down_at_exit:  # whatever ends this process: a test's timeout (SIGTERM) too
        atexit.register(teardown)
        _torn_down_at_exit = True
    sweep_stale()
    os.makedirs(DIR, exist_ok=True)
    for n in NS.values():
        L.run("ip", "netns", "add", n)
    for n in NS:
        ns(n, "ip", "link", "set", "lo", "up")
    with open(os.path.join(DIR, "echo.py"), "w") as f:
        f.write(ECHO)
    ns("lan", "ip", "link", "add", "br0", "type", "bridge")
    ns("lan", "ip", "link", "set", "br0", "mtu", str(LAN_MTU), "up")
    veth("cl", "eth0", "rt", "cl0", ipv6=("eth0", "cl0"))
    ns("cl", "ip", "addr", "add", f"{CLIENT}/24", "dev", "eth0")
    ns("cl", "ip", "addr", "add", f"{CLIENT6}/64", "dev", "eth0", "nodad")
    ns("cl", "ip", "route", "add", "default", "via", "198.51.100.1")
    ns("cl", "ip", "-6", "route", "add", "default", "via", "2001:db8:51::1")
    ns("rt", "ip", "addr", "add", "198.51.100.1/24", "dev", "cl0")
    ns("rt", "ip", "addr", "add", "2001:db8:51::1/64", "dev", "cl0", "nodad")
    ns("rt", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1",
       "net.ipv6.conf.all.forwarding=1", "net.ipv6.fib_multipath_hash_policy=1")
    lan = [("rt", "lan0", "198.18.0.1", ROUTER6, None),
           ("n1", "dp0", None, None, "02:00:00:00:01:01"), ("n2", "dp0", None, None, "02:00:00:00:01:02"),
           *[(f"b{i}", "eth0", f"198.18.0.1{i}", f"2001:db8:18::1{i}", f"02:00:00:00:0b:0{i}") for i in (1, 2, 3)]]
    for n, port, addr, addr6, mac in lan:
        veth(n, port, "lan", f"p-{n}", mac, mtu=LAN_MTU, ipv6=(port,) if addr6 else ())
        ns("lan", "ip", "link", "set", f"p-{n}", "master", "br0")
        if addr:
            ns(n, "ip", "addr", "add", f"{addr}/24", "dev", port)
            ns(n, "ip", "addr", "add", f"{addr6}/64", "dev", port, "nodad")
        else:
            dpdk_port_only(n, port)
    for i in (1, 2, 3):
        b = f"b{i}"
        for vip in VIPS:
            ns(b, "ip", "addr", "add", vip, "dev", "lo")
        ns(b, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
           "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        ns(b, "ip", "route", "add", "default", "via", "198.18.0.1")  # DSR replies go back through the router
        ns(b, "ip", "-6", "route", "add", "default", "via", ROUTER6)
        start_backend(i)
        for dev, how in (("ipip0", ["ipip"]), ("gue0", ["gue", str(GUE_PORT)])):
            start(f"{dev}-{i}", b, ["/usr/bin/python3", os.path.join(HERE, "tunnel_decap.py"), dev, *how])
            L.wait_until(lambda: ns(b, "ip", "link", "show", dev, check=False).returncode == 0, 10,
                         what=f"{b} {dev}")
            ns(b, "sysctl", "-qw", f"net.ipv4.conf.{dev}.rp_filter=0")  # inner sources are clients far away
            ns(b, "ip", "link", "set", dev, "up")
    with open(os.path.join(DIR, "bird.conf"), "w") as f:
        f.write(BIRD)
    start("bird", "rt", ["/usr/sbin/bird", "-f", "-c", os.path.join(DIR, "bird.conf"), "-s", os.path.join(DIR, "bird.ctl"),
                         "-P", os.path.join(DIR, "bird.pid")])
    for k in NODES:
        start_node(k)


def start_backend(i):
    """backend-i's HTTP server (port 80, IPv4 and IPv6) and echo server (port 7)."""
    start(f"http{i}", f"b{i}", ["/usr/bin/python3", L.HTTP_SERVER, f"backend-{i}", 80])
    start(f"echo{i}", f"b{i}", ["/usr/bin/python3", os.path.join(DIR, "echo.py"), f"backend-{i}"])


def services():
    check = {"type": "tcp", "interval": "500ms", "timeout": "300ms", "rise": 1, "fall": 2}
    web = {"name": "web", "vip": VIP, "protocol": "tcp", "port": 80, "mode": "l2-dsr", "quorum": 1,
           "hold_down": f"{HOLD_DOWN:g}s", "communities": ["no-export"], "check": check,
           "backends": [{"address": f"198.18.0.1{i}"} for i in (1, 2, 3)]}  # MACs: the kernel's neighbours
    web6 = dict(web, name="web6", vip=VIP6,
                backends=[{"address": f"2001:db8:18::1{i}"} for i in (1, 2, 3)])
    return [web, dict(web, name="echo", port=7), web6, dict(web6, name="echo6", port=7),
            dict(web, name="tunnel", vip=VIP_TUN, mode="ipip"),
            dict(web, name="tunnel-gue", vip=VIP_GUE, mode="gue", gue_port=GUE_PORT)]


def start_node(k):
    n, (me, me6) = f"n{k}", NODES[k]
    sock = os.path.join(DIR, f"dp{k}.sock")
    start(f"dp{k}", n, [DP, "--eal", f"--lcores=0@0,1@1 --no-huge -m 256 --no-pci --no-telemetry --file-prefix {TAG}{k} "
                        "--vdev=net_af_packet0,iface=dp0", "--mbufs", 4096, "--flow-capacity", 65536,
                        "--mtu", LAN_MTU, "--api-socket", sock, "--exception-interface", "exc0",
                        "--node-address", me, "--node-address", me6, *DP_EXTRA])
    L.wait_until(lambda: ns(n, "ip", "link", "show", "exc0", check=False).returncode == 0, 20, what=f"{n} exc0", diag=diag)
    ns(n, "ip", "addr", "add", f"{me}/24", "dev", "exc0")
    ns(n, "ip", "addr", "add", f"{me6}/64", "dev", "exc0", "nodad")
    ns(n, "ip", "link", "set", "exc0", "up")
    with open(os.path.join(DIR, f"gobgpd{k}.toml"), "w") as f:
        f.write(L.gobgpd_conf(me, "198.18.0.1", 65001, 65000, connect_retry=2, hold_time=6, keepalive=2,
                              local_address=False))
    if f"gobgpd{k}" not in procs or not procs[f"gobgpd{k}"].alive():
        start(f"gobgpd{k}", n, ["/usr/bin/gobgpd", "-f", os.path.join(DIR, f"gobgpd{k}.toml"), "--api-hosts",
                                "127.0.0.1:50051", "--pprof-disable", "-p"])
    L.write_controlplane_config(os.path.join(DIR, f"cp{k}.yaml"), services(), gobgp_api="127.0.0.1:50051",
                                dataplane_socket=sock, node_name=n, node_addresses=(me, me6), next_hop=me,
                                next_hop_v6=me6, extra={"api": {"socket": os.path.join(DIR, f"cp{k}.sock")}})
    start(f"cp{k}", n, [CP, "--config", os.path.join(DIR, f"cp{k}.yaml")])


def nexthops(vip=VIP):
    """The nodes the router's kernel table sends the VIP to."""
    out = ns("rt", "ip", "-6" if ":" in vip else "-4", "route", "show", vip).stdout
    return {w for line in out.splitlines() for w in line.split() if w.startswith(("198.18.0.", "2001:db8:18::"))}


def all_healthy():
    """Every backend of every service up on both control planes (a VIP is
    announced at quorum 1, before the others have risen)."""
    for k in NODES:
        r = L.run(CTL, "--controlplane", os.path.join(DIR, f"cp{k}.sock"), "--json", "health", check=False)
        if r.returncode != 0 or [b["health"] for b in json.loads(r.stdout)] != ["up"] * 3 * len(services()):
            return False
    return True


def backend_health(node, service, address):
    """One backend's health as node's control plane reports it (None: not reachable)."""
    r = L.run(CTL, "--controlplane", os.path.join(DIR, f"cp{node}.sock"), "--json", "health", check=False)
    if r.returncode != 0:
        return None
    return next((b["health"] for b in json.loads(r.stdout) if b["service"] == service and b["address"] == address),
                None)


def all_announced():
    both = ({"198.18.0.2", "198.18.0.3"}, {"2001:db8:18::2", "2001:db8:18::3"})
    return all(nexthops(v) == both[":" in v] for v in VIPS)


def diag():
    return "\n".join(f"--- {k}\n{p.log(1500)}" for k, p in procs.items() if k.startswith(("cp", "dp", "gobgpd")))




# ---- the narrated demo ------------------------------------------------------

def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(text):
    for line in text.rstrip().splitlines():
        print("   " + line, flush=True)


def clients(address, port, first, count, step=7):
    """count new connections from the client, from local ports first,
    first+step, ...: {local port: who answered ("-" for nobody)}."""
    r = ns("cl", "/usr/bin/python3", os.path.join(HERE, "http_client.py"), address, str(port), str(first), str(count),
           str(step), check=False)
    answers = {int(p): who for p, who in (line.split() for line in r.stdout.splitlines())}
    # A client that died part-way must not read as fewer (or no) answers, all good.
    if r.returncode != 0 or len(answers) != count:
        raise AssertionError(f"http_client.py to {address}:{port}: {len(answers)} of {count} requests reported, "
                             f"exit {r.returncode}: {r.stderr[-2000:]}")
    return answers


def tally(answers):
    seen = {}
    for who in answers.values():
        seen[who] = seen.get(who, 0) + 1
    return seen


def requests(address, count, first):
    seen = tally(clients(address, 80, first, count))
    show("  ".join(f"{k}: {v}" for k, v in sorted(seen.items())))


def per_node():
    """Which node carried how many packets (each node's dataplane counters)."""
    lines = []
    for k in NODES:
        r = L.run(CTL, "--dataplane", os.path.join(DIR, f"dp{k}.sock"), "--json", "stats", "--interval", "0.1",
                  check=False)
        if r.returncode != 0:
            lines.append(f"node{k}: down")
            continue
        c = json.loads(r.stdout)
        lines.append(f"node{k}: " + ", ".join(f"{b['address']} {b['packets']}" for b in c["backends"]
                                               if b["service"] == "web") + " packets (service web)")
    show("\n".join(lines))


def router_route():
    for vip in VIPS:
        show(ns("rt", "ip", "-6" if ":" in vip else "-4", "route", "show", vip).stdout or f"(no route to {vip})")


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
        L.wait_until(all_announced, 60, what="both nodes announcing every VIP", diag=diag)
        L.wait_until(all_healthy, 20, what="every backend up on both nodes", diag=diag)
        say("The router learned each VIP from both nodes over BGP (through their exception interfaces): ECMP")
        router_route()
        say(f"30 requests to http://{VIP}/ (l2-dsr), each a new connection: ECMP over nodes, Maglev over backends")
        before = clients(VIP, 80, 20000, 30)
        show("  ".join(f"{k}: {v}" for k, v in sorted(tally(before).items())))
        per_node()
        say(f"The same over IPv6, http://[{VIP6}]/, and through the ipip and GUE services, http://{VIP_TUN}/ "
            f"and http://{VIP_GUE}/")
        requests(VIP6, 15, 21000)
        requests(VIP_TUN, 15, 22000)
        requests(VIP_GUE, 15, 25000)
        say("The operator's view on node 1 (anylbctl over the control plane's API)")
        show(L.run(CTL, "--controlplane", os.path.join(DIR, "cp1.sock"), "routes").stdout)
        show(L.run(CTL, "--controlplane", os.path.join(DIR, "cp1.sock"), "health").stdout)
        say("backend-2 dies: both control planes see it fail; only its flows move (same 30 connections again)")
        procs["http2"].stop(signal.SIGKILL, timeout=2)
        # Until both control planes have found it down: each pushes that to
        # its dataplane in the same pass as it shows it (a fixed wait was
        # too short on a loaded machine).
        L.wait_until(lambda: all(backend_health(k, "web", "198.18.0.12") == "down" for k in NODES), 20,
                     what="backend-2 down on both nodes", diag=diag)
        after = clients(VIP, 80, 20000, 30)
        kept = sum(1 for p, who in before.items() if who != "backend-2" and after.get(p) == who)
        moved = sum(1 for p, who in before.items() if who == "backend-2" and after.get(p) not in (who, "-"))
        show(f"{kept} of {sum(1 for w in before.values() if w != 'backend-2')} connections kept their backend; "
             f"{moved} of {sum(1 for w in before.values() if w == 'backend-2')} of backend-2's moved")
        say("node 1 dies (its dataplane is killed): its control plane withdraws, the router keeps node 2")
        procs["dp1"].stop(signal.SIGKILL, timeout=2)
        L.wait_until(lambda: nexthops() == {"198.18.0.3"}, 20, what="route via node 2 only", diag=diag)
        router_route()
        requests(VIP, 12, 23000)
        say("Every backend down: no node has a quorum, each VIP leaves the router's table")
        for i in (1, 2, 3):
            for name in (f"http{i}", f"echo{i}"):
                if name in procs:
                    procs[name].stop(signal.SIGKILL, timeout=2)
        L.wait_until(lambda: not any(nexthops(v) for v in VIPS), 20, what="VIPs withdrawn", diag=diag)
        router_route()
        say(f"Backends back, node 1 back: the VIPs return after the hold-down ({HOLD_DOWN:g} s here)")
        for i in (1, 2, 3):
            start_backend(i)
        procs.pop("cp1").stop(signal.SIGTERM, timeout=5)  # node 1 comes back whole
        start_node("1")
        t0 = time.monotonic()
        L.wait_until(all_announced, 60, what="both nodes back", diag=diag)
        show(f"every route back through both nodes after {time.monotonic() - t0:.1f} s")
        router_route()
        requests(VIP, 12, 24000)
    except KeyboardInterrupt:
        pass
    finally:
        say("Tearing down")
        teardown()


if __name__ == "__main__":
    main()
