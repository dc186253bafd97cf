#!/usr/bin/python3
"""End to end: two anylb nodes behind a BIRD router with ECMP, every piece
real and in namespaces the test makes. Each node runs anylb-dataplane on
net_af_packet (its veth carries no kernel address), the node's addresses on
the dataplane's exception interface, gobgpd peering with the router THROUGH
that exception path, and anylb-controlplane health-checking the backends
(also through it). A long-lived TCP connection must survive the loss of the
node carrying it: ECMP moves it to the other node, whose identical Maglev
table picks the same backend.

    client 198.51.100.10 -- router (BIRD, ECMP, L4 hash) 198.18.0.1
                              | lan bridge 198.18.0.0/24
        node1 .2 (dp0 + exc0)   node2 .3 (dp0 + exc0)   be1..be3 .11-.13 (VIP on lo)

Usage (root): test_anycast_e2e.py CONTROLPLANE DATAPLANE
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lab"))
import bgp_lab as L  # noqa: E402
from tap import Skip, Tap  # noqa: E402

import anycast_lab as A  # noqa: E402  (lab/anycast_lab.py: the topology)

if len(sys.argv) > 2:
    A.CP, A.DP = sys.argv[1], sys.argv[2]
VIP, DIR, procs, ns, nexthops, diag = A.VIP, A.DIR, A.procs, A.ns, A.nexthops, A.diag
REPO = A.REPO


tap = Tap(teardown=A.teardown)


@tap.case
def both_nodes_announce_and_the_router_spreads_flows():
    if os.geteuid() != 0:
        raise Skip("needs root")
    A.build()
    L.wait_until(lambda: nexthops() == {"198.18.0.2", "198.18.0.3"}, 60, what="ECMP route via both nodes", diag=diag)
    seen = set()
    for i in range(24):
        r = ns("cl", "curl", "-s", "--max-time", "3", "--local-port", str(20000 + i * 7), f"http://{VIP}/", check=False)
        seen.add(r.stdout.split(" ")[0])
    assert {"backend-1", "backend-2", "backend-3"} <= seen, f"answers came from {seen}"


@tap.case
def a_long_connection_survives_losing_its_node():
    if not procs:
        raise Skip("lab not built")
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
    # Which node carries it: the one whose dataplane has forwarded to port 7.
    carrier = None
    for k in ("1", "2"):
        flows = L.run(os.path.join(REPO, "build", "grpc", "anylbctl", "anylbctl"), "--dataplane",
                      os.path.join(DIR, f"dp{k}.sock"), "--json", "flows", "--service", "echo", check=False).stdout
        if "198.51.100.10" in flows:
            carrier = k
    assert carrier, "no node has the connection's flow"
    procs[f"dp{carrier}"].stop(signal.SIGKILL, timeout=2)  # the node dies: its controlplane withdraws
    other = "198.18.0.3" if carrier == "1" else "198.18.0.2"
    L.wait_until(lambda: nexthops() == {other}, 20, what="route only via the surviving node", diag=diag)
    open(os.path.join(DIR, "go"), "w").close()
    rc = client.wait(40)
    lines = client.log().splitlines()
    assert rc == 0 and len(lines) >= 2, f"the connection did not survive: rc {rc}, output {lines}\n{diag()}"
    assert lines[1] == f"{backend}: two", f"moved to another backend: {lines}"


if __name__ == "__main__":
    for tool in ("/usr/sbin/bird", "/usr/bin/gobgpd", "/usr/sbin/ethtool", "/usr/bin/curl"):
        if not os.access(tool, os.X_OK):
            print(f"1..0 # SKIP {tool} missing")
            sys.exit(0)
    tap.run()
