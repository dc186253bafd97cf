#!/usr/bin/python3
"""The documented maxima through every API: one service of 65534 IPv6
backends (the most a service takes; 63-character name, 39-character
addresses) applied, read back, counted and listed through the dataplane's
API (anylbctl apply, state, service list, stats, flows), then pushed and
read back by the real control plane and listed through its API. Each of
these messages is over gRPC's default 4 MiB; what is asserted is that they
work and their counts, not how long they take.

argv: the dataplane, anylbctl, the control plane."""
import json
import os
import signal
import subprocess
import sys
import time

import harness as h

tap = h.Tap()

N = 65534                                 # kMaglevMaxBackends: a service's most
NAME = "m" * 63                           # the longest service name
PREFIX = "2001:db8:ffff:ffff:ffff:ffff:ffff:"  # backends ::1 .. ::fffe, canonical, up to 39 characters
VIP6 = "2001:db8:ffff:ffff:ffff:ffff:0:10"
NODE = [f"node-address = {h.NODE6}"]
FLOWS = 200


def address(i):
    return f"{PREFIX}{i + 1:x}"


def mac(i):
    return f"02:00:00:{i >> 8 & 0xff:02x}:{i & 0xff:02x}:01"


def controlplane_binary():
    return sys.argv[3]


def big_dataplane(**kw):
    """A dataplane that takes 65535 backends; counters written every half
    second (a file of every backend's counters each 50 ms is the harness's
    default, too busy at this size)."""
    dp = h.Dataplane(NODE, **kw)
    dp.args[dp.args.index("--max-backends") + 1] = str(N + 1)
    dp.args[dp.args.index("--stats-interval") + 1] = "0.5"
    dp.args[dp.args.index("--mbufs") + 1] = "8192"
    # Under ASan this dataplane took over 10 s between the SYNs and their
    # ACKs: the SYNs' flows expired, and since a first packet's flow is
    # unconfirmed (SYN timeout) the ACKs' did too before the listing.
    dp.args += ["--tcp-syn-timeout", "600"]
    return dp


def run(cmd, timeout=120):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd[:4]))} ... exited {r.returncode}: {r.stderr[-2000:]}"
    return r.stdout


# Answers about 65534 backends take seconds (2.9 s for stats in a release
# build, several times that under ASan): anylbctl waits for them.
WAIT = ["--timeout", "100"]


def ctl_json(target_flag, target, *args):
    return json.loads(run([h.anylbctl(), *WAIT, target_flag, target, "--json", *args]))


def log_tail(path):
    """The log without its 65534 'is up' lines."""
    with open(path) as f:
        return "".join(line for line in f if " is up (" not in line)[-3000:]


PACKETS = 2 * FLOWS  # a SYN and an ACK each: established, so no flow times out (SYN: 10 s) on a slow machine


def send_flows(dp):
    dp.send([h.to_vip(VIP6, 20000 + i) for i in range(FLOWS)] + [h.to_vip(VIP6, 20000 + i, flags="A") for i in range(FLOWS)])
    dp.wait_forwarded(PACKETS, timeout=30)


def check_flows(flows):
    backends = {address(i) for i in range(N)}
    assert len(flows) == FLOWS, len(flows)
    assert all(f["service"] == NAME and f["backend"] in backends for f in flows), flows[:3]


@tap.case
def a_service_of_65534_ipv6_backends_through_the_dataplane_api():
    with big_dataplane(live=True) as dp:
        doc = {"generation": 0, "node_addresses": [h.NODE6], "bgp_peers": [],
               "services": [{"name": NAME, "vip": VIP6, "proto": "tcp", "port": 80, "mode": "l2-dsr",
                             "fragments": "drop", "gue_port": 6080}],
               "backends": [{"service": NAME, "address": address(i), "mac": mac(i), "weight": 10000,
                             "state": "up"} for i in range(N)]}
        path = os.path.join(dp.dir, "apply.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        run([h.anylbctl(), *WAIT, "--dataplane", dp.api, "apply", path])
        state = ctl_json("--dataplane", dp.api, "state")
        assert len(state["backends"]) == N, len(state["backends"])
        assert [b["address"] for b in state["backends"]] == [b["address"] for b in doc["backends"]]
        assert [s["backends"] for s in ctl_json("--dataplane", dp.api, "service", "list")] == [N]
        send_flows(dp)
        stats = ctl_json("--dataplane", dp.api, "stats", "--interval", "0.1")
        assert len(stats["backends"]) == N, len(stats["backends"])
        assert sum(b["packets"] for b in stats["backends"]) == PACKETS == stats["services"][0]["packets"]
        check_flows(ctl_json("--dataplane", dp.api, "flows", "--limit", "100000"))
        dp.stop()


def controlplane_yaml(dp, api):
    lines = ["node:", "  name: limits", f"  dataplane_socket: {dp.api}", f"  node_addresses: [\"{h.NODE6}\"]",
             "  allowed_prefixes: [\"2001:db8::/32\"]",
             "  orphan_timeout: 0s", "gobgp:", "  api: 127.0.0.1:1",  # none: routes are not what is tested
             "api:", f"  socket: {api}", "services:", f"  - name: {NAME}", f"    vip: \"{VIP6}\"",
             "    protocol: tcp", "    port: 80", "    quorum: 1",
             # A connect each, answered in the namespace (below); the first
             # probes are spread over the interval.
             "    check: {type: tcp, interval: 20s, timeout: 500ms, rise: 1, fall: 3}", "    backends:"]
    lines += [f"      - {{address: \"{address(i)}\", mac: \"{mac(i)}\", weight: 10000}}" for i in range(N)]
    path = os.path.join(dp.dir, "controlplane.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


# Accepts (and closes) every connection, in the test's own namespace.
LISTENER = """
import socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 80))
s.listen(4096)
while True:
    s.accept()[0].close()
"""


@tap.case
def the_control_plane_pushes_and_reads_65534_ipv6_backends():
    # Everything in a namespace of the test's own, where the backends'
    # addresses are local (an AnyIP route) and a listener answers their
    # checks: no probe leaves the namespace.
    with big_dataplane(live=True) as dp:
        ns = ["ip", "netns", "exec", dp.netns]
        run([*ns, "ip", "link", "set", "lo", "up"])
        run([*ns, "ip", "-6", "route", "add", "local", PREFIX + "0/112", "dev", "lo"])
        listener = subprocess.Popen([*ns, sys.executable, "-c", LISTENER])
        api = os.path.join(dp.dir, "cp.sock")
        cp_log = os.path.join(dp.dir, "controlplane.log")
        cp = None
        try:
            with open(cp_log, "w") as log:
                cp = subprocess.Popen([*ns, controlplane_binary(), "--config", controlplane_yaml(dp, api)],
                                      stdout=log, stderr=subprocess.STDOUT)

            def up_in_dataplane():
                st = ctl_json("--dataplane", dp.api, "state")
                return len(st["backends"]) == N and all(b["state"] == "up" for b in st["backends"])
            deadline = time.time() + 90
            while not up_in_dataplane():
                assert cp.poll() is None, "control plane exited:\n" + log_tail(cp_log)
                assert time.time() < deadline, "backends not pushed up:\n" + log_tail(cp_log)
                time.sleep(1)
            listed = ctl_json("--controlplane", api, "service", "show", NAME)
            assert len(listed["backends"]) == N, len(listed["backends"])
            assert all(b["serving"] for b in listed["backends"]), [b for b in listed["backends"] if not b["serving"]][:3]
            assert len(ctl_json("--controlplane", api, "health")) == N
            send_flows(dp)
            stats = ctl_json("--controlplane", api, "stats", "--interval", "0.1")
            assert len(stats["backends"]) == N and sum(b["packets"] for b in stats["backends"]) == PACKETS
            check_flows(ctl_json("--controlplane", api, "flows", "--limit", "100000"))
            # Its GetState and ApplyState went through: nothing refused, no
            # message too large, and (in a release build: under a sanitizer
            # a read of 65534 backends can take longer than its deadline,
            # and is retried) none ran out of time.
            text = open(cp_log).read()
            bads = ["larger than max", "refused by the dataplane"]
            if not os.environ.get("ANYLB_SANITIZED"):
                bads += ["dataplane GetState", "dataplane ApplyState"]
            for bad in bads:
                assert bad not in text, f"'{bad}' in the control plane's log:\n" + log_tail(cp_log)
        finally:
            for p in (cp, listener):
                if p is not None and p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
        dp.stop()


if __name__ == "__main__":
    tap.run()
