#!/usr/bin/python3
"""Spoofed floods at a node's exception path (issue 25, part 4), on the
built-in anycast lab (lab/anycast_lab.py): gobgpd peers with BIRD through
node 1's dataplane, with GTSM on both sides, and its control plane
health-checks the backends through it too. The dataplanes police what they
hand their kernel at a low rate (RATE frames a second a class), so that a
flood within a class would starve it. Floods spoofed from the BGP peer's
address (TTL 64: from off the link) and from the backends' addresses (to
ports the probes do not use) must leave the session up in BIRD, its routes
in the router's table, and every backend up. Two last cases flood inside
the classes (TTL 255, the probes' ports) and show that the floods are
strong enough to starve them: the first cases can fail.

Usage (root): test_exception_floods.py CONTROLPLANE DATAPLANE [ANYLBCTL]
"""
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lab"))
import bgp_lab as L  # noqa: E402
from tap import Skip, Tap  # noqa: E402

import anycast_lab as A  # noqa: E402

if len(sys.argv) > 2:
    A.CP, A.DP = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:
    A.CTL = sys.argv[3]
# Frames a second a class and worker: low, so that a flood of a few tens
# of thousands a second (what one Python loop sends on two shared cores,
# in bursts) starves a class it lands in. The probes get the lab's
# services web and web6 alone, probed once a second (six probes a second,
# a few frames each), so that they fit.
RATE = 50
A.DP_EXTRA = ["--exception-rate", str(RATE)]
_all_services = A.services
A.services = lambda: [dict(s, check=dict(s["check"], interval="1s")) for s in _all_services()
                      if s["name"] in ("web", "web6")]
A.VIPS = (A.VIP, A.VIP6)
FLOOD = os.path.join(HERE, "..", "..", "lab", "spoof_flood.py")
ROUTER, NODE1, NODE1_MAC = "198.18.0.1", A.NODES["1"][0], "02:00:00:00:01:01"
BACKENDS = ",".join(f"198.18.0.1{i}" for i in (1, 2, 3))
BGP_SECONDS = 12  # twice the hold time (6 s): long enough to lose a starved session
BACKEND_SECONDS = 8  # eight probes of each backend (down after two failures in a row)

tap = Tap(teardown=A.teardown)


def need_lab():
    if not A.procs:
        raise Skip("lab not built")


def dp1(*args):
    r = L.run(A.CTL, "--dataplane", os.path.join(A.DIR, "dp1.sock"), "--json", *args, check=False)
    assert r.returncode == 0, f"anylbctl --dataplane {' '.join(args)}: {r.stderr}"
    return json.loads(r.stdout)


def policed():
    return dp1("stats", "--interval", "0.1")["drops"].get("exception_policed", 0)


def n1_protocol():
    """BIRD's session with node 1: (state, since), e.g. ("Established", "00:31:02.123")."""
    out = A.ns("rt", "/usr/sbin/birdc", "-s", os.path.join(A.DIR, "bird.ctl"), "show", "protocols", "n1",
               check=False).stdout
    m = re.search(r"^n1\s+BGP\s+\S+\s+\S+\s+(\S+)\s+(\S+)", out, re.M)
    return (m.group(2), m.group(1)) if m else (None, out)


def same_time(a, b):
    """BIRD's "since" times ("01:03:22.075") within half a second: it shows
    a monotonic time in wall-clock terms, so the last digit jitters; a flap
    would move it by at least its error wait (1 s)."""
    def seconds(t):
        h, m, x = t.split(":")
        return int(h) * 3600 + int(m) * 60 + float(x)
    try:
        return abs(seconds(a) - seconds(b)) < 0.5
    except ValueError:
        return a == b


def node1_health():
    r = L.run(A.CTL, "--controlplane", os.path.join(A.DIR, "cp1.sock"), "--json", "health", check=False)
    return [(b["service"], b["address"], b["health"]) for b in json.loads(r.stdout)] if r.returncode == 0 else None


def via_node1():
    """The VIPs whose route in the router's kernel table goes via node 1."""
    return {v for v in A.VIPS if NODE1 in A.nexthops(v) or A.NODES["1"][1] in A.nexthops(v)}


def flood(seconds, kind, sources, ttl=64, ports="1024-60999"):
    """Starts spoof_flood.py in the router's namespace, aimed at node 1's port."""
    return subprocess.Popen(["ip", "netns", "exec", A.NS["rt"], "/usr/bin/python3", FLOOD, "lan0", NODE1_MAC, NODE1,
                             str(seconds), kind, sources, str(ttl), ports],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def watch(p, sample, seconds, stop=None):
    """Samples sample() every 0.25 s while flood `p` runs (bounded by
    seconds + 10), or until stop(sample) holds; returns the samples and
    what the flooder said."""
    samples, deadline = [], time.monotonic() + seconds + 10
    while p.poll() is None and time.monotonic() < deadline:
        samples.append(sample())
        if stop and stop(samples[-1]):
            break
        time.sleep(0.25)
    if p.poll() is None:
        p.terminate()
    out = p.communicate(timeout=10)[0].strip()
    return samples, out


def strong_enough(before, seconds, said):
    """The flood reached the dataplane's policer at many times its rate."""
    n = policed() - before
    assert n >= 10 * RATE * seconds, f"only {n} frames policed in {seconds} s ({said}): too weak a flood to tell"
    return n


@tap.case
def the_lab_comes_up_with_gtsm():
    A.build()
    L.wait_until(A.all_announced, 90, what="ECMP routes via both nodes for every VIP", diag=A.diag)
    L.wait_until(A.all_healthy, 30, what="every backend up on both nodes", diag=A.diag)
    # Node 2 goes: its worker would share node 1's core (two cores), and the
    # floods are at node 1 alone.
    for name in ("cp2", "dp2", "gobgpd2"):
        A.procs.pop(name).stop(timeout=5)
    L.wait_until(lambda: via_node1() == set(A.VIPS) and all(A.nexthops(v) for v in A.VIPS), 20,
                 what="the VIPs via node 1 alone", diag=A.diag)


@tap.case
def the_dataplane_knows_the_gtsm_peer_and_the_probes_ports():
    need_lab()
    node = L.wait_until(lambda: (lambda n: n if n.get("gtsm_peers") else None)(dp1("node")), 10,
                        what="gtsm_peers in node 1's dataplane state", diag=lambda: json.dumps(dp1("node")))
    assert node["gtsm_peers"] == [ROUTER] and ROUTER in node["bgp_peers"], node
    assert node["probe_ports"] == "61000-61999", node


@tap.case
def a_spoofed_bgp_flood_from_off_the_link_leaves_the_session_up():
    need_lab()
    state, since = n1_protocol()
    assert state == "Established", (state, since)
    before = policed()
    samples, said = watch(flood(BGP_SECONDS, "bgp", ROUTER, ttl=64), lambda: (n1_protocol(), via_node1()),
                          BGP_SECONDS)
    n = strong_enough(before, BGP_SECONDS, said)
    lost = [s for s in samples if s[0][0] != "Established" or not same_time(s[0][1], since) or s[1] != set(A.VIPS)]
    assert not lost, f"the session or its routes went ({len(lost)} of {len(samples)} samples), first: {lost[0]}; " \
                     f"flood: {said}, {n} policed\n{A.diag()}"
    print(f"# {said}; {n} policed; BIRD stayed Established since {since} over {len(samples)} samples", flush=True)


@tap.case
def a_flood_spoofed_from_the_backends_marks_none_down():
    need_lab()
    before = policed()
    samples, said = watch(flood(BACKEND_SECONDS, "tcp", BACKENDS), node1_health, BACKEND_SECONDS)
    n = strong_enough(before, BACKEND_SECONDS, said)
    down = [s for s in samples if s is None or any(h != "up" for _, _, h in s)]
    assert not down, f"backends went down ({len(down)} of {len(samples)} samples): {down[0]}; flood: {said}, {n} policed"
    # Then UDP, as a DNS server's answers would come.
    before = policed()
    samples, said = watch(flood(BACKEND_SECONDS, "udp", BACKENDS), node1_health, BACKEND_SECONDS)
    n = strong_enough(before, BACKEND_SECONDS, said)
    down = [s for s in samples if s is None or any(h != "up" for _, _, h in s)]
    assert not down, f"backends went down under UDP ({len(down)} of {len(samples)}): {down[0]}; flood: {said}"
    print(f"# {said}; {n} policed; every backend stayed up over {len(samples)} samples", flush=True)


@tap.case
def the_same_flood_to_the_probes_ports_would_mark_them_down():
    # What the key defends against, shown: an attacker who knows the range.
    need_lab()
    samples, said = watch(flood(BACKEND_SECONDS, "tcp", BACKENDS, ports="61000-61999"), node1_health, BACKEND_SECONDS,
                          stop=lambda s: s and any(h != "up" for _, _, h in s))
    assert any(s and any(h != "up" for _, _, h in s) for s in samples), \
        f"no backend went down under a flood in its own class ({said}): too weak a flood to tell"
    L.wait_until(lambda: all(h == "up" for _, _, h in node1_health() or [("", "", "")]), 30,
                 what="every backend up again after the flood", diag=A.diag)


@tap.case
def the_same_bgp_flood_at_ttl_255_would_starve_the_session():
    # GTSM does not stop a sender on the link itself (RFC 5082, 5): it
    # takes the session's bucket, as every spoofed flood did before.
    need_lab()
    L.wait_until(lambda: n1_protocol()[0] == "Established", 30, what="BIRD's session with node 1", diag=A.diag)
    samples, said = watch(flood(3 * BGP_SECONDS, "bgp", ROUTER, ttl=255), n1_protocol, 3 * BGP_SECONDS,
                          stop=lambda s: s[0] != "Established")
    assert any(s[0] != "Established" for s in samples), \
        f"BIRD kept the session under a flood in its own class ({said}): too weak a flood to tell"


if __name__ == "__main__":
    tap.skip_unless_root("network namespaces")
    tap.skip_unless(A.TOOLS)
    tap.run()
