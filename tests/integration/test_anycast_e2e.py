#!/usr/bin/python3
"""End to end on the built-in lab (lab/anycast_lab.py): two anylb nodes
behind a BIRD router with ECMP, every piece real and in namespaces the test
makes. Each node runs anylb-dataplane on net_af_packet (its veth carries no
kernel address), the node's addresses on the dataplane's exception
interface, gobgpd peering with the router THROUGH that exception path, and
anylb-controlplane health-checking the backends (also through it).

The cases run in order on one lab: spread and balance; a dead backend moves
only its flows; IPv6 and ipip over the same path; a packet-too-big reaches
its flow's backend; anylbctl against the live nodes; a long connection
survives losing its node; every backend down withdraws the VIPs and they
return after the hold-down; and nothing is left behind.

Usage (root): test_anycast_e2e.py CONTROLPLANE DATAPLANE [ANYLBCTL]
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lab"))
import bgp_lab as L  # noqa: E402
from tap import Skip, Tap  # noqa: E402

import anycast_lab as A  # noqa: E402  (lab/anycast_lab.py: the topology)

if len(sys.argv) > 2:
    A.CP, A.DP = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:
    A.CTL = sys.argv[3]
VIP, VIP6, VIP_TUN, VIP_GUE = A.VIP, A.VIP6, A.VIP_TUN, A.VIP_GUE
DIR, procs, ns, nexthops, diag = A.DIR, A.procs, A.ns, A.nexthops, A.diag
BACKENDS = {"backend-1", "backend-2", "backend-3"}

tap = Tap(teardown=A.teardown)
first_round = {}  # local port -> backend, from the balance case


def need_lab():
    if not procs:
        raise Skip("lab not built")


def ctl(node, *args):
    """anylbctl --json against node's control plane; the parsed answer."""
    r = L.run(A.CTL, "--controlplane", os.path.join(DIR, f"cp{node}.sock"), "--json", *args, check=False)
    assert r.returncode == 0, f"anylbctl {' '.join(args)} on node {node}: rc {r.returncode}: {r.stderr}"
    return json.loads(r.stdout)


def health_of(node, service, address):
    return next((b["health"] for b in ctl(node, "health") if b["service"] == service and b["address"] == address), None)


def backend_health_everywhere(service, address, health):
    return all(health_of(k, service, address) == health for k in A.NODES if procs[f"cp{k}"].alive())


@tap.case
def both_nodes_announce_every_vip():
    A.build()
    L.wait_until(A.all_announced, 60, what="ECMP routes via both nodes for every VIP", diag=diag)
    L.wait_until(A.all_healthy, 20, what="every backend up on both nodes", diag=diag)


@tap.case
def connections_spread_over_nodes_and_backends_within_balance():
    need_lab()
    # The lab configures no backend MAC: every answer also proves the nodes
    # took them from their kernels (an unresolved backend gets no flows).
    answers = A.clients(VIP, 80, 20000, 150)
    assert len(answers) == 150 and "-" not in answers.values(), f"unanswered: {A.tally(answers)}"
    counts = A.tally(answers)
    assert set(counts) == BACKENDS, counts
    # Equal weights: a third each; 150 flows put each within [30, 70] (over 3.4 sigma).
    assert all(30 <= n <= 70 for n in counts.values()), f"out of balance: {counts}"
    for k in A.NODES:  # ECMP: both nodes took new flows
        stats = json.loads(L.run(A.CTL, "--dataplane", os.path.join(DIR, f"dp{k}.sock"), "--json", "stats").stdout)
        web = next(s for s in stats["services"] if s["service"] == "web")
        assert web["new_flows"] > 10, f"node {k} took {web['new_flows']} of 150 flows"

    first_round.update(answers)


@tap.case
def killing_a_backend_moves_only_its_flows():
    need_lab()
    if not first_round:
        raise Skip("no first round")
    procs["http2"].stop(signal.SIGKILL, timeout=2)
    L.wait_until(lambda: backend_health_everywhere("web", "198.18.0.12", "down"), 10,
                 what="both control planes see backend-2 down", diag=diag)
    again = A.clients(VIP, 80, 20000, 150)  # exactly the same 5-tuples
    assert len(again) == 150, f"{len(again)} of 150 connections reported"
    kept = [p for p, who in first_round.items() if who != "backend-2"]
    lost = [p for p, who in first_round.items() if who == "backend-2"]
    changed = [(p, first_round[p], again.get(p)) for p in kept if again.get(p) != first_round[p]]
    assert not changed, f"flows of live backends moved: {changed[:10]}"
    stranded = [(p, again.get(p)) for p in lost if again.get(p) not in ("backend-1", "backend-3")]
    assert lost and not stranded, f"backend-2's flows not moved to a live backend: {stranded[:10]}"
    A.procs.pop("http2")
    A.procs.pop("echo2").stop(signal.SIGKILL, timeout=2)
    A.start_backend(2)
    L.wait_until(lambda: backend_health_everywhere("web", "198.18.0.12", "up"), 10, what="backend-2 back",
                 diag=diag)


@tap.case
def the_ipv6_vip_answers_over_the_same_path():
    need_lab()
    answers = A.clients(VIP6, 80, 21000, 30)
    assert len(answers) == 30 and "-" not in answers.values(), f"unanswered over IPv6: {A.tally(answers)}"
    assert len(set(answers.values())) >= 2, f"IPv6 flows not spread: {A.tally(answers)}"
    r = ns("cl", "curl", "-s", "--max-time", "3", f"http://[{VIP6}]/")
    assert r.stdout.split()[1:] == ["served", A.CLIENT6], f"the backend did not see the client: {r.stdout!r}"


def reaches_backends_through(vip, device, first_port):
    """30 connections to `vip` all answered, each backend's through `device`
    (the packets arrived tunnelled, not on the wire as is)."""
    need_lab()
    before = {i: tunnel_rx(i, device) for i in (1, 2, 3)}
    answers = A.clients(vip, 80, first_port, 30)
    assert len(answers) == 30 and "-" not in answers.values(), f"unanswered through {device}: {A.tally(answers)}"
    counts = A.tally(answers)
    assert len(counts) >= 2, f"{vip}'s flows not spread: {counts}"
    for i in (1, 2, 3):
        got = tunnel_rx(i, device) - before[i]
        if f"backend-{i}" in counts:
            assert got >= 3 * counts[f"backend-{i}"], f"backend-{i}: {got} packets on {device} for {counts}"


def tunnel_rx(i, device):
    info = json.loads(ns(f"b{i}", "ip", "-j", "-s", "link", "show", device).stdout)
    return info[0]["stats64"]["rx"]["packets"]


@tap.case
def the_ipip_service_reaches_backends_through_their_tunnel():
    reaches_backends_through(VIP_TUN, "ipip0", 22000)


@tap.case
def the_gue_service_reaches_backends_through_their_tunnel():
    reaches_backends_through(VIP_GUE, "gue0", 25000)


@tap.case
def an_icmpv6_packet_too_big_reaches_the_flows_backend():
    need_lab()
    script = os.path.join(DIR, "client6.py")
    with open(script, "w") as f:
        f.write(f"""import socket, time
s = socket.create_connection(("{VIP6}", 7), timeout=10)
s.sendall(b"hello\\n")
print(s.getsockname()[1], s.makefile().readline().split(":")[0], flush=True)
time.sleep(30)
""")
    client = A.start("client6", "cl", ["/usr/bin/python3", script])
    L.wait_until(lambda: len(client.log().split()) >= 2, 10, what="the IPv6 echo", diag=lambda: client.log())
    port, backend = client.log().split()[:2]
    before = {i: too_bigs_received(i) for i in (1, 2, 3)}
    # The router's client side is the narrow link: it tells the VIP (the
    # reply's source) that the reply to the client did not fit.
    # Sent by the router's kernel (a raw ICMPv6 socket): routed by ECMP and
    # resolved by ND like any packet it forwards.
    send = ("import socket\nfrom scapy.all import IPv6, TCP, raw\n"
            f"inner = raw(IPv6(src='{VIP6}', dst='{A.CLIENT6}', plen=1432) / TCP(sport=7, dport={port}, flags='A'))\n"
            "s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)\n"
            "s.bind(('2001:db8:51::1', 0))\n"
            f"s.sendto(bytes([2, 0, 0, 0]) + (1280).to_bytes(4, 'big') + inner, ('{VIP6}', 0))\n")
    ns("rt", "/usr/bin/python3", "-c", send)
    L.wait_until(lambda: any(too_bigs_received(i) > before[i] for i in (1, 2, 3)), 5,
                 what="a backend's kernel receiving the packet-too-big", diag=diag)
    time.sleep(0.5)  # a copy to another backend would show by now
    got = {f"backend-{i}": too_bigs_received(i) - before[i] for i in (1, 2, 3)}
    client.stop(signal.SIGKILL, timeout=2)
    assert got[backend] == 1 and sum(got.values()) == 1, f"the flow's backend is {backend}; received: {got}"


def too_bigs_received(i):
    """ICMPv6 packet-too-big messages backend-i's kernel took in (its netns's
    own /proc/net/snmp6: frames flooded to it by the bridge do not count)."""
    snmp = ns(f"b{i}", "cat", "/proc/net/snmp6").stdout
    return int(next(line.split()[1] for line in snmp.splitlines() if line.startswith("Icmp6InPktTooBigs")))


@tap.case
def anylbctl_reads_the_live_nodes():
    need_lab()
    for k in A.NODES:
        services = {s["name"]: s for s in ctl(k, "service", "list")}
        assert set(services) == {s["name"] for s in A.services()}, services.keys()
        assert services["web6"]["vip"] == VIP6 and len(services["tunnel"]["backends"]) == 3, services["tunnel"]
        health = ctl(k, "health")
        assert len(health) == 3 * len(A.services()) and all(b["health"] == "up" for b in health), health
        routes = ctl(k, "routes")
        assert {r["prefix"] for r in routes if r["announced"]} == \
            {f"{v}/{128 if ':' in v else 32}" for v in A.VIPS}, routes
        stats = ctl(k, "stats", "--interval", "0.2")
        web = [b for b in stats["backends"] if b["service"] == "web"]
        assert len(web) == 3 and all(b["packets"] > 0 for b in web), web
    # The clients' flows, through the control plane: as the dataplane lists
    # them, with their worker and the idle time they have left.
    for k in A.NODES:
        via_cp = ctl(k, "flows", "--service", "web", "--limit", 1000)
        direct = json.loads(L.run(A.CTL, "--dataplane", os.path.join(DIR, f"dp{k}.sock"), "--json", "flows",
                                  "--service", "web", "--limit", 1000).stdout)
        assert all(f["source"].startswith(A.CLIENT + ":") and f["proto"] == "tcp" and f["expires_in_ms"] > 0
                   for f in via_cp), via_cp[:3]
        seen = {(f["source"], f["backend"], f["worker"]) for f in direct}
        missing = [f for f in via_cp if (f["source"], f["backend"], f["worker"]) not in seen and f["expires_in_ms"] > 1000]
        assert not missing, f"node {k}: the control plane lists flows the dataplane does not: {missing[:3]}"
    assert any(ctl(k, "flows", "--service", "web") for k in A.NODES), "no node lists the clients' flows"
    # trace agrees with the packets: the backend that answered a known 5-tuple
    answers = A.clients(VIP, 80, 23000, 6)
    assert len(answers) == 6 and "-" not in answers.values(), f"unanswered: {answers}"
    for port, who in answers.items():
        for k in A.NODES:  # both nodes, flow table or not, name the same backend
            t = ctl(k, "trace", f"{A.CLIENT}:{port}", f"{VIP}:80", "tcp")
            assert t["backend"] == f"198.18.0.1{who[-1]}", f"node {k} traces {port} to {t}, {who} answered"


@tap.case
def a_long_connection_survives_losing_its_node():
    need_lab()
    script = os.path.join(DIR, "client.py")
    with open(script, "w") as f:
        f.write(f"""import socket, sys, time
s = socket.create_connection(("{VIP}", 7), timeout=30)
f = s.makefile()
s.sendall(b"one\\n"); print(f.readline().strip(), flush=True)
open("{DIR}/ready", "w").close()
while not __import__("os").path.exists("{DIR}/go"): time.sleep(0.1)
s.sendall(b"two\\n"); print(f.readline().strip(), flush=True)
""")
    client = A.start("client", "cl", ["/usr/bin/python3", script])
    L.wait_until(lambda: os.path.exists(os.path.join(DIR, "ready")), 15, what="first echo", diag=lambda: client.log())
    first = client.log().splitlines()[0]
    backend = first.split(":")[0]
    carrier = None  # the node whose dataplane holds the flow
    for k in A.NODES:
        flows = L.run(A.CTL, "--dataplane", os.path.join(DIR, f"dp{k}.sock"), "--json", "flows", "--service", "echo",
                      check=False).stdout
        if A.CLIENT in flows:
            carrier = k
    assert carrier, "no node has the connection's flow"
    procs[f"dp{carrier}"].stop(signal.SIGKILL, timeout=2)  # the node dies: its controlplane withdraws
    other = A.NODES["2" if carrier == "1" else "1"][0]
    L.wait_until(lambda: nexthops() == {other}, 20, what="route only via the surviving node", diag=diag)
    open(os.path.join(DIR, "go"), "w").close()
    rc = client.wait(40)
    lines = client.log().splitlines()
    assert rc == 0 and len(lines) >= 2, f"the connection did not survive: rc {rc}, output {lines}\n{diag()}"
    assert lines[1] == f"{backend}: two", f"moved to another backend: {lines}"


@tap.case
def every_backend_down_withdraws_the_vips_which_return_after_the_hold_down():
    need_lab()
    for i in (1, 2, 3):
        for name in (f"http{i}", f"echo{i}"):
            procs.pop(name).stop(signal.SIGKILL, timeout=2)
    L.wait_until(lambda: not any(nexthops(v) for v in A.VIPS), 20,
                 what="every VIP gone from the router's table", diag=diag)
    for i in (1, 2, 3):
        A.start_backend(i)
    t0 = time.monotonic()
    L.wait_until(lambda: all(nexthops(v) for v in A.VIPS), 30, what="the VIPs back",
                 diag=diag)
    took = time.monotonic() - t0
    assert took >= A.HOLD_DOWN, f"the VIPs returned after {took:.2f} s, inside the {A.HOLD_DOWN} s hold-down"
    answers = A.clients(VIP, 80, 24000, 6)
    assert len(answers) == 6 and "-" not in answers.values(), f"unanswered after recovery: {answers}"


@tap.case
def nothing_is_left_behind():
    need_lab()
    pids = [p.pid for p in procs.values()]
    A.teardown()
    alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}") and "zombie" not in
             open(f"/proc/{pid}/status").read().lower()]
    assert not alive, f"processes still running: {alive}"
    left = A.leftovers()
    assert not left, f"left behind: {left}"
    procs.clear()


if __name__ == "__main__":
    tap.skip_unless_root("network namespaces")
    tap.skip_unless(A.TOOLS)
    tap.run()
