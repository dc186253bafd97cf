"""BGP integration: the routes follow the dataplane (invariant 6): killed,
frozen, a stalled worker, a port without link, a state it refuses.

Usage (root): test_bgp_liveness.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import json
import os
import signal
import struct
import threading
import time

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, DP, FALL, HOLD_DOWN, INTERVAL, VIP, VIP2, VIP2_P, VIP_P, controlplane_case,
                        ctl, dp_backend_state, drop_arms, forwarded, main, make_arms, service, start_cp, start_cp_api,
                        start_two_armed_dataplane, stays, until_backends_up_in_dataplane, until_routed)


@controlplane_case
def dataplane_killed_routes_withdrawn(lb):
    start_cp(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.stop("dataplane", signal.SIGKILL)
    until_routed(lb, VIP_P, 10, present=False)
    lb.start_dataplane(DP)  # same state file: it comes back with the service
    until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN + 5)


@controlplane_case
def dataplane_frozen_routes_withdrawn(lb):
    start_cp(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.procs["dataplane"].send(signal.SIGSTOP)  # socket still open, nobody answers
    until_routed(lb, VIP_P, 15, present=False)
    lb.procs["dataplane"].send(signal.SIGCONT)
    until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN + 5)


@controlplane_case
def a_stalled_worker_withdraws_the_routes(lb):
    # Invariant 6 with the dataplane's API still answering: its one worker
    # blocks reading its port (a pipe nobody writes for a while), so
    # GetLiveness finds 0 of 1 workers polling and the route goes; once
    # frames come again it comes back, after the hold-down.
    fifo = lb.path("rx.fifo")
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    feeding, done = threading.Event(), threading.Event()
    feeding.set()

    def writer():  # a pcap stream of 60-byte frames no one wants (dropped), 10k a second while feeding
        deadline = time.monotonic() + 30
        while True:  # until the dataplane opens its end
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                if done.is_set() or time.monotonic() > deadline:
                    return
                time.sleep(0.02)
        os.set_blocking(fd, True)
        frames = (struct.pack("<IIII", 0, 0, 60, 60) + bytes(60)) * 50
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
            while not done.is_set():
                if feeding.is_set():
                    f.write(frames)
                    f.flush()
                time.sleep(0.005)

    feeder = threading.Thread(target=writer, daemon=True)
    feeder.start()
    lb.stop("dataplane")
    try:
        lb.start_dataplane(DP, vdev=f"net_pcap0,rx_pcap={fifo},tx_pcap={lb.path('tx.pcap')}")
        start_cp(lb, [service()])
        until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
        feeding.clear()
        until_routed(lb, VIP_P, 10, present=False)
        assert lb.procs["dataplane"].alive(), "the dataplane itself should still run"
        assert "0 of 1 workers polling" in lb.procs["controlplane"].log(20000), lb.procs["controlplane"].log()
        feeding.set()
        until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN + 5)
    finally:
        done.set()  # the pipe closes: a worker blocked on it reads its end and can stop
        feeder.join(timeout=5)
        lb.stop("dataplane")  # the next case starts a net_null one


@controlplane_case
def a_port_without_link_withdraws_the_routes(lb):
    # Invariant 6 with every worker polling: a two-armed dataplane (uplink
    # in, --tx-port out to the backends) on af_packet over veths. When the
    # backend side loses its carrier everything it would forward goes
    # nowhere, so the route goes, naming the port (anylbctl node); back,
    # after the hold-down, once the link returns. The uplink's own carrier
    # loss is left to its router (it drops the session on that link).
    # Traffic sent in by the uplink leaves by the backend side before, and
    # again once the routes are back.
    make_arms(lb)
    lb.stop("dataplane")
    try:
        start_two_armed_dataplane(lb)
        start_cp_api(lb, [service()])
        until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
        until_backends_up_in_dataplane(lb)
        assert forwarded(lb, VIP) == 20, f"not forwarding before the link went\n{lb.diag()}"
        L.run("ip", "-n", lb.node, "link", "set", "dpoutp", "down")  # dpout: NO-CARRIER
        gone = until_routed(lb, VIP_P, 10, present=False)
        node = ctl(lb, "node")
        assert not node["dataplane_alive"], node
        assert "net_af_packet1, whose link is down" in node["dataplane_problem"], node
        assert lb.procs["dataplane"].alive(), "the dataplane itself should still run"
        L.run("ip", "-n", lb.node, "link", "set", "dpoutp", "up")
        back = until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN + 5)
        assert back - gone >= HOLD_DOWN - 0.5, f"back {back - gone:.1f} s after the withdrawal, inside the hold-down"
        assert ctl(lb, "node")["dataplane_problem"] == "", ctl(lb, "node")
        sent = forwarded(lb, VIP)
        assert sent == 20, f"{sent} of 20 SYNs forwarded once the link was back\n{lb.diag()}"
        # The uplink down alone: nothing reaches this node by it, and the
        # backend side still forwards; the route stays.
        L.run("ip", "-n", lb.node, "link", "set", "dpinp", "down")
        assert stays(lb, VIP_P, 3, present=True), f"withdrawn for the uplink's own carrier\n{lb.diag()}"
    finally:
        lb.stop("dataplane")  # the next case starts a net_null one
        drop_arms(lb)


@controlplane_case
def a_service_the_dataplane_refuses_is_not_announced(lb):
    start_cp_api(lb, [service(quorum=1)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    # Every backend up in the dataplane first: web's state is then the same
    # in both processes, so only what is added after counts as refused.
    until_backends_up_in_dataplane(lb)
    # The dataplane can no longer write its state file (a directory in its
    # place), so it refuses every new state, though it still forwards.
    path = lb.path("dataplane.state.json")
    os.unlink(path)
    os.mkdir(path)
    try:
        ctl(lb, "service", "add", "tun", VIP2, "tcp", 80)
        ctl(lb, "backend", "add", "tun", L.backend_addr(1), "--mac", L.backend_mac(1))  # it listens on 80: checks pass

        def tun_health():  # shown once a control loop pass has run since the add
            r = ctl(lb, "service", "show", "tun", check=False)
            return r.returncode == 0 and [b["health"] for b in json.loads(r.stdout)["backends"]]
        L.wait_until(lambda: tun_health() == ["up"], ANNOUNCE_WITHIN, what="tun's backend found up by its checks")
        assert stays(lb, VIP2_P, 4, present=False), \
            f"announced a service the dataplane does not have\n{lb.diag()}"
        routes = {r["prefix"]: r for r in ctl(lb, "routes")}
        assert not routes[VIP2_P]["announced"] and "does not serve it as pushed" in routes[VIP2_P]["reason"], routes
        assert VIP_P in lb.router_routes(), "web, which the dataplane holds as pushed, was withdrawn"
    finally:
        os.rmdir(path)
    # The next push lands: tun is announced.
    until_routed(lb, VIP2_P, ANNOUNCE_WITHIN)


@controlplane_case
def a_service_the_dataplane_refuses_does_not_hold_up_the_others(lb):
    # api's backends have no MAC, and this dataplane has no exception
    # interface to resolve one: it refuses api. The push used to be refused
    # whole, every pass, so health changes stopped reaching the dataplane.
    # Now web is pushed and announced as usual, its dead backend reaches the
    # dataplane, and api alone is withdrawn, saying why.
    api = service("api", VIP2, quorum=1)
    for b in api["backends"]:
        del b["mac"]
    start_cp_api(lb, [service(quorum=2), api])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    until_backends_up_in_dataplane(lb)
    lb.stop_backend(3)
    L.wait_until(lambda: dp_backend_state(lb, L.backend_addr(3)) == "down", FALL * INTERVAL + 3,
                 what="web's dead backend down in the dataplane", diag=lb.diag)
    assert VIP_P in lb.router_routes(), f"web (quorum 2 of 3) was withdrawn\n{lb.diag()}"
    assert stays(lb, VIP2_P, 2, present=False), f"api, which the dataplane refuses, was announced\n{lb.diag()}"
    refused = {r["service"]: r["reason"] for r in ctl(lb, "node")["refused"]}
    assert set(refused) == {"api"} and "key 'mac'" in refused["api"], refused
    routes = {r["prefix"]: r for r in ctl(lb, "routes")}
    assert not routes[VIP2_P]["announced"] and "key 'mac'" in routes[VIP2_P]["reason"], routes[VIP2_P]
    metrics = L.run("ip", "netns", "exec", lb.node, "curl", "-s", "--max-time", "3",
                    "http://127.0.0.1:19100/metrics", check=False).stdout
    assert 'anylb_service_refused{service="api"} 1' in metrics and \
        'anylb_service_refused{service="web"} 0' in metrics, metrics


if __name__ == "__main__":
    main()
