"""BGP integration tests: what the router learns from a node.

Usage (root): test_bgp.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import json
import os
import re
import signal
import struct
import threading
import time

import bgp_lab as L
from bgp_cases import (ANNOUNCE_WITHIN, CP, DP, DRAIN_WAIT, FALL, HOLD_DOWN, INTERVAL, RISE, SESSION_TIMEOUT,
                        VIP, VIP2, VIP2_P, VIP_P, WITHDRAW_WITHIN, announce_by_hand, controlplane_case, ctl,
                        dp_backend_state, lab, leave_the_path, main, route_of, service, start_cp, start_cp_api,
                        stays, stop_by_sigterm, tap, until_routed, write_cp_api_config)


@tap.case
def scaffolding_carries_a_route():
    lb = lab()
    announce_by_hand(lb, "ipv4", VIP_P, L.NODE_LINK4, "community", "no-export")
    L.wait_until(lambda: VIP_P in lb.router_routes(), 10, what=f"{VIP_P} in the router's kernel table", diag=lb.diag)
    assert lb.router_communities(VIP_P) == {L.NO_EXPORT}, lb.router_route_detail(VIP_P)
    lb.gobgp("global", "rib", "-a", "ipv4", "del", VIP_P)
    L.wait_until(lambda: VIP_P not in lb.router_routes(), 10, what=f"{VIP_P} withdrawn", diag=lb.diag)
    assert lb.router_communities(VIP_P) is None


@tap.case
def scaffolding_carries_an_ipv6_route():
    lb = lab()
    prefix = "2001:db8:10::10/128"
    # An IPv6 path over the IPv4 session needs an explicit global next hop on the link.
    announce_by_hand(lb, "ipv6", prefix, L.NODE_LINK6, "community", "65000:100")
    L.wait_until(lambda: prefix in lb.router_routes(), 10, what=f"{prefix} at the router", diag=lb.diag)
    assert lb.router_communities(prefix) == {"65000:100"}, lb.router_route_detail(prefix)
    lb.gobgp("global", "rib", "-a", "ipv6", "del", prefix)
    L.wait_until(lambda: prefix not in lb.router_routes(), 10, what=f"{prefix} withdrawn", diag=lb.diag)


@tap.case
def scaffolding_restarts_gobgpd():
    lb = lab()
    announce_by_hand(lb, "ipv4", VIP_P, L.NODE_LINK4)
    L.wait_until(lambda: VIP_P in lb.router_routes(), 10, what=VIP_P, diag=lb.diag)
    lb.stop_gobgpd()
    L.wait_until(lambda: VIP_P not in lb.router_routes(), 10, what="route gone with gobgpd", diag=lb.diag)
    lb.start_gobgpd()  # it forgets its paths: the session comes back empty
    lb.wait_established(SESSION_TIMEOUT)
    assert L.holds_for(lambda: VIP_P not in lb.router_routes(), 1.0), "a restarted gobgpd re-announced a path"


@tap.case
def scaffolding_backends_answer_and_fail():
    lb = lab()
    curl = ("ip", "netns", "exec", lb.node, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2")
    assert L.run(*curl, f"http://{L.backend_addr(1)}/", check=False).stdout == "200"
    assert L.run(*curl, f"http://[{L.backend_addr6(2)}]/", check=False).stdout == "200"
    lb.set_backend_status(1, 503)
    assert L.run(*curl, f"http://{L.backend_addr(1)}/", check=False).stdout == "503"
    lb.set_backend_status(1, None)
    lb.stop_backend(1)
    assert L.run(*curl, f"http://{L.backend_addr(1)}/", check=False).stdout == "000"
    lb.start_backend(1)
    assert L.run(*curl, f"http://{L.backend_addr(1)}/", check=False).stdout == "200"


@controlplane_case
def vip_announced_only_with_quorum(lb):
    lb.stop_backend(2)
    lb.stop_backend(3)
    start_cp(lb, [service(quorum=2)])
    assert stays(lb, VIP_P, 4, present=False), "announced with 1 healthy backend of quorum 2"
    lb.start_backend(2)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    state = lb.dataplane_state()
    assert state is not None and VIP in str(state), f"service not pushed to the dataplane: {state}"


@controlplane_case
def vip_quorum_as_percentage(lb):
    lb.stop_backend(2)
    lb.stop_backend(3)
    start_cp(lb, [service(quorum="50%")])  # 1 of 3 is under 50 %, 2 of 3 over it
    assert stays(lb, VIP_P, 3, present=False), "announced with 1 of 3 healthy at quorum 50%"
    lb.start_backend(3)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)


@controlplane_case
def vip_withdrawn_within_fall_times_interval(lb):
    start_cp(lb, [service(quorum=2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    t0 = time.monotonic()
    lb.stop_backend(2)           # refused connections
    lb.set_backend_status(3, 500)  # listening, wrong status
    t = until_routed(lb, VIP_P, WITHDRAW_WITHIN + 5, present=False)
    assert t - t0 <= WITHDRAW_WITHIN, f"withdrawn after {t - t0:.1f}s, promised {WITHDRAW_WITHIN}s"


@controlplane_case
def vip_not_reannounced_before_hold_down(lb):
    start_cp(lb, [service(quorum=2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.stop_backend(2)
    lb.stop_backend(3)
    t_withdrawn = until_routed(lb, VIP_P, WITHDRAW_WITHIN + 5, present=False)
    lb.start_backend(2)  # eligible again after RISE checks; the hold-down runs from then
    lb.start_backend(3)
    t_back = time.monotonic()
    assert stays(lb, VIP_P, t_back + HOLD_DOWN - time.monotonic(), present=False), \
        f"re-announced within {HOLD_DOWN}s of the backends coming back (withdrawn at -{t_back - t_withdrawn:.1f}s)"
    t = until_routed(lb, VIP_P, RISE * INTERVAL + 6)
    assert t - t_back >= HOLD_DOWN, f"re-announced {t - t_back:.1f}s after the backends came back"


@controlplane_case
def vip_hold_down_restarts_on_flap(lb):
    start_cp(lb, [service(quorum=2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.stop_backend(2)
    lb.stop_backend(3)
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 5, present=False)
    lb.start_backend(2)
    lb.start_backend(3)
    time.sleep(HOLD_DOWN / 2)
    lb.stop_backend(2)  # a break below quorum in the middle of the hold-down, long enough for FALL failed checks
    lb.stop_backend(3)
    time.sleep(FALL * INTERVAL + 1)
    lb.start_backend(2)
    lb.start_backend(3)
    t_back = time.monotonic()
    assert stays(lb, VIP_P, t_back + HOLD_DOWN - time.monotonic(), present=False), \
        "re-announced before a full hold-down after the flap"
    until_routed(lb, VIP_P, RISE * INTERVAL + 6)


@controlplane_case
def ipv6_vip_announced_as_host_route(lb):
    vip6 = "2001:db8:10::10"
    prefix = vip6 + "/128"
    start_cp(lb, [service("web6", vip6, communities=["65000:600"])])
    until_routed(lb, prefix, ANNOUNCE_WITHIN)
    assert lb.router_communities(prefix) == {"65000:600"}, lb.router_route_detail(prefix)
    assert f"via {L.NODE_LINK6}" in L.run("ip", "-n", lb.router, "-6", "route", "show", prefix).stdout
    lb.stop_backend(1)
    lb.stop_backend(2)
    until_routed(lb, prefix, WITHDRAW_WITHIN + 1, present=False)


@controlplane_case
def cover_is_reported_as_gobgpd_names_it(lb):
    # An IPv6 cover written in capitals with a spelt-out zero: the status
    # names it as gobgpd and the router do, and says it is in BGP while a
    # restart keeps it (it said withdrawn when it named it as written).
    vip6, cover = "2001:db8:10::10", "2001:db8:10::/48"
    covers = {"covering_prefixes": [{"prefix": "2001:DB8:10:0::/48", "policy": "all", "services": ["web6"]}]}
    p = start_cp_api(lb, [service("web6", vip6)], state_file=False, extra=covers)
    until_routed(lb, cover, ANNOUNCE_WITHIN)

    def cover_status():
        return next((r for r in ctl(lb, "routes") if r["prefix"] == cover), None)
    L.wait_until(lambda: (cover_status() or {}).get("announced"), 5, what=f"{cover} announced in the status")
    stop_by_sigterm(p)
    slow_rise = service("web6", vip6)
    slow_rise["check"]["rise"] = 20  # the restart keeps the paths for 11 s
    start_cp_api(lb, [slow_rise], state_file=False, extra=covers)
    for _ in range(10):
        st = cover_status()
        assert st and st["announced"] and "kept from an earlier run" in st["reason"], \
            f"the kept cover is not reported so: {st}"
        assert cover in lb.router_routes(), f"{cover} left the router across the restart\n{lb.diag()}"
        time.sleep(0.2)


@controlplane_case
def communities_arrive_as_configured(lb):
    start_cp(lb, [service(), service("api", VIP2, communities=["65000:200", "65000:201"])])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    until_routed(lb, VIP2_P, ANNOUNCE_WITHIN)
    assert lb.router_communities(VIP_P) == {L.NO_EXPORT, "65000:100"}, lb.router_route_detail(VIP_P)
    assert lb.router_communities(VIP2_P) == {"65000:200", "65000:201"}, lb.router_route_detail(VIP2_P)


@controlplane_case
def gobgpd_restart_restores_routes(lb):
    start_cp(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    # Stop and start apart: the controlplane re-pushes too fast to see a restart's gap.
    lb.stop_gobgpd()
    until_routed(lb, VIP_P, 10, present=False)
    lb.start_gobgpd()  # it forgets every path: the controlplane must push them again
    until_routed(lb, VIP_P, SESSION_TIMEOUT)
    assert lb.router_communities(VIP_P) == {L.NO_EXPORT, "65000:100"}, lb.router_route_detail(VIP_P)


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
    for name in ("dpin", "dpout"):
        L.run("ip", "-n", lb.node, "link", "add", name, "type", "veth", "peer", "name", name + "p")
        L.run("ip", "-n", lb.node, "link", "set", name, "up")
        L.run("ip", "-n", lb.node, "link", "set", name + "p", "up")
    lb.stop("dataplane")
    try:
        lb.start_dataplane(DP, vdev="net_af_packet0,iface=dpin --vdev=net_af_packet1,iface=dpout",
                           extra=("--tx-port", "net_af_packet1", "--rx-descriptors", 512))
        start_cp_api(lb, [service()])
        until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
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
        # The uplink down alone: nothing reaches this node by it, and the
        # backend side still forwards; the route stays.
        L.run("ip", "-n", lb.node, "link", "set", "dpinp", "down")
        assert stays(lb, VIP_P, 3, present=True), f"withdrawn for the uplink's own carrier\n{lb.diag()}"
    finally:
        lb.stop("dataplane")  # the next case starts a net_null one
        for name in ("dpin", "dpout"):
            L.run("ip", "-n", lb.node, "link", "del", name, check=False)


def names_line(out, filename, line, key):
    """Whether the output names the file, the line ("FILE:LINE" or "line LINE") and the key."""
    where = rf"({re.escape(filename)}:{line}\b|line {line}\b)"
    return filename in out and key in out and re.search(where, out) is not None


def bad_config(lb, key, value):
    """A valid config with `key: value` replaced (or added) in the first
    service; returns (path, 1-based line of the error)."""
    path = lb.path("cp-bad.yaml")
    text = L.write_controlplane_config(path, [service()], dataplane_socket=lb.path("dataplane.sock"))
    lines = text.splitlines()
    hit = next((n for n, s in enumerate(lines) if s.strip().startswith(f"{key}:")), None)
    if hit is None:  # an unknown key: put it right after the service's name
        hit = next(n for n, s in enumerate(lines) if s.strip().startswith("- name:")) + 1
        lines.insert(hit, f"    {key}: {value}")
    else:
        lines[hit] = lines[hit].split(":", 1)[0] + f": {value}"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, hit + 1


@controlplane_case
def bad_config_exits_2_naming_file_line_key(lb):
    for key, value in (("quorum", "lots"), ("vip", '"203.0.113.300"'), ("hold_dwon", "5s")):
        path, line = bad_config(lb, key, value)
        p = lb.start_controlplane(CP, path, name="controlplane")
        rc = p.wait(10)
        out = p.log()
        lb.stop("controlplane")
        assert rc == 2, f"{key}: {value}: exit {rc} (want 2):\n{out}"
        assert names_line(out, os.path.basename(path), line, key), \
            f"{key}: {value}: exit message does not name {os.path.basename(path)}, line {line} and '{key}':\n{out}"
    assert not lb.router_routes(), "a rejected config announced something"


@controlplane_case
def bad_reload_changes_nothing(lb):
    cfg = lb.path("cp.yaml")
    p = start_cp(lb, [service(), service("api", VIP2, communities=["65000:200"])])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    until_routed(lb, VIP2_P, ANNOUNCE_WITHIN)
    sock = lb.path("dataplane.sock")
    # One good change and one bad value in the same file: neither may apply.
    text = L.write_controlplane_config(cfg, [service(communities=["65000:999"]), service("api", VIP2, quorum="lots")],
                                       dataplane_socket=sock)
    p.send(signal.SIGHUP)
    assert L.holds_for(lambda: p.alive() and {VIP_P, VIP2_P} <= lb.router_routes()
                       and lb.router_communities(VIP_P) == {L.NO_EXPORT, "65000:100"}, 4), \
        f"a bad reload changed something:\n{lb.router_route_detail(VIP_P)}\n{lb.diag()}"
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "lots" in s)
    assert names_line(p.log(), "cp.yaml", line, "quorum"), f"reload error does not name cp.yaml, line {line}, quorum"
    # The same change, valid this time, applies: so SIGHUP was read at all.
    L.write_controlplane_config(cfg, [service(communities=["65000:999"]), service("api", VIP2, communities=["65000:200"])],
                                dataplane_socket=sock)
    p.send(signal.SIGHUP)
    L.wait_until(lambda: lb.router_communities(VIP_P) == {"65000:999"}, 10, what="good reload applied", diag=lb.diag)
    # A new dataplane socket takes effect at the next restart, and the log
    # says so rather than naming a socket it does not use.
    L.write_controlplane_config(cfg, [service(communities=["65000:998"]), service("api", VIP2, communities=["65000:200"])],
                                dataplane_socket=lb.path("elsewhere.sock"))
    p.send(signal.SIGHUP)
    L.wait_until(lambda: lb.router_communities(VIP_P) == {"65000:998"}, 10, what="reload applied", diag=lb.diag)
    log = p.log(tail=1 << 24)
    assert "node.dataplane_socket changed to" in log and "still using" in log, log[-2000:]
    assert "elsewhere.sock: " not in log, "the log names a socket the node does not use"
    assert stays(lb, VIP_P, 2, present=True), "the VIP left after the reload"


@controlplane_case
def restart_keeps_the_routes_announced(lb):
    # A stopped controlplane leaves its paths in gobgpd (no --withdraw-on-exit);
    # restarted, it must not withdraw them while its first checks are under
    # way: an upgrade would flap every VIP.
    leave_the_path(lb, start_cp(lb, [service(quorum=2)]))
    p = start_cp_api(lb, [service(quorum=2)], state_file=False)
    # Its routes say announced from the first answer on, as the router has it.
    for _ in range(20):
        web = route_of(lb, "web")
        assert web["announced"], f"restarted, the controlplane reports the VIP withdrawn: {web}"
        time.sleep(0.1)
    assert stays(lb, VIP_P, ANNOUNCE_WITHIN, present=True), \
        f"the VIP left the router's table across a controlplane restart\n{lb.diag()}"
    # Not once the first checks find the service below its quorum: the path
    # left behind goes as soon as two backends have failed `fall` probes,
    # not when the time a slow rise would take is over (20 probes here, 11 s).
    stop_by_sigterm(p)
    lb.stop_backend(2)
    lb.stop_backend(3)
    slow_rise = service(quorum=2)
    slow_rise["check"]["rise"] = 20
    start_cp(lb, [slow_rise])
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 2, present=False)


@controlplane_case
def withdraw_on_exit_withdraws_what_an_earlier_run_left(lb):
    # A run left its path; the next, run with --withdraw-on-exit, is stopped
    # while it still keeps that path (its first checks under way): the path
    # goes with it (it used to withdraw only what it had sent itself).
    leave_the_path(lb, start_cp(lb, [service(quorum=2)]))
    p = lb.start_controlplane(CP, lb.path("cp.yaml"), extra=("--log-level", "debug", "--withdraw-on-exit"))
    L.wait_until(lambda: "keeping " + VIP_P in p.log(), 5, what="the restarted run keeping the left path", diag=p.log)
    stop_by_sigterm(p)
    until_routed(lb, VIP_P, 5, present=False)


@controlplane_case
def restart_with_the_dataplane_down_withdraws_at_once(lb):
    # The grace keeps a path for services whose checks are under way; with no
    # dataplane to carry the traffic it draws, it goes at the first pass, not
    # when a slow rise would be over (20 probes here, 11 s).
    p = start_cp(lb, [service(quorum=2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)
    lb.stop("dataplane", signal.SIGKILL)  # the next case's reset starts another
    slow_rise = service(quorum=2)
    slow_rise["check"]["rise"] = 20
    start_cp(lb, [slow_rise])
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 2, present=False)


@controlplane_case
def restart_keeps_the_backends_serving(lb):
    # The grace keeps the VIP announced across a restart; the dataplane must
    # go on serving it too. A restarted controlplane's checks start from
    # "not checked": until they decide, each backend keeps what the
    # dataplane has for it (it pushed them all down before: a black hole
    # for `rise` probes, 10 s here). One that died meanwhile goes down
    # after `fall` failed probes, as it would have without the restart.
    p = start_cp(lb, [service(quorum=1)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    addrs = [L.backend_addr(i) for i in (1, 2, 3)]
    L.wait_until(lambda: all(dp_backend_state(lb, a) == "up" for a in addrs), 5, what="backends up in the dataplane")
    stop_by_sigterm(p)
    lb.stop_backend(2)
    slow_rise = service(quorum=1)
    slow_rise["check"]["rise"] = 20
    start_cp(lb, [slow_rise])
    t_start = time.monotonic()
    seen = {a: set() for a in addrs}
    went_down = None
    while time.monotonic() - t_start < WITHDRAW_WITHIN + 1:
        for a in addrs:
            seen[a].add(dp_backend_state(lb, a))
        if went_down is None and dp_backend_state(lb, addrs[1]) == "down":
            went_down = time.monotonic() - t_start
        time.sleep(0.05)
    assert seen[addrs[0]] == {"up"} and seen[addrs[2]] == {"up"}, \
        f"healthy backends left 'up' in the dataplane across a controlplane restart: {seen}\n{lb.diag()}"
    assert went_down is not None and went_down <= WITHDRAW_WITHIN, \
        f"the backend that died while the controlplane was stopped: {seen[addrs[1]]}, down after {went_down}"
    assert VIP_P in lb.router_routes(), f"the VIP left the router across the restart\n{lb.diag()}"


@controlplane_case
def restart_withdraws_what_left_the_config(lb):
    # Stopped (its paths stay in gobgpd), then started with one service
    # fewer: the earlier run announced that VIP, so this one withdraws it,
    # at once (nothing configured keeps it). The other stays, as does a path
    # an operator added by hand.
    p = start_cp_api(lb, [service(), service(name="web2", vip=VIP2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    until_routed(lb, VIP2_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)
    announce_by_hand(lb, "ipv4", "192.0.2.0/24", L.NODE_LINK4)
    until_routed(lb, "192.0.2.0/24", 10)
    t0 = time.monotonic()
    start_cp_api(lb, [service()], fresh=False)
    t = until_routed(lb, VIP2_P, WITHDRAW_WITHIN, present=False)
    assert t - t0 < 3, f"withdrawn only {t - t0:.1f}s after the restart"
    assert stays(lb, VIP_P, 2, present=True), f"the configured VIP left the router\n{lb.diag()}"
    assert "192.0.2.0/24" in lb.router_routes(), "the operator's path was withdrawn"
    with open(lb.path("cp-state.json")) as f:
        record = json.load(f)["announced_prefixes"]
    assert record == [VIP_P], f"the state file's record of announced prefixes: {record}"


@controlplane_case
def reload_with_a_retuned_check_flaps_nothing(lb):
    # A reload that changes only a check's timing (interval, timeout, rise,
    # fall) keeps each backend's health: before, it started the checks over,
    # the backends went down in the dataplane and the VIP was withdrawn,
    # then held down.
    p = start_cp(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    retuned = service()
    retuned["check"].update({"interval": "600ms", "timeout": "400ms", "rise": 3, "fall": 3})
    L.write_controlplane_config(lb.path("cp.yaml"), [retuned], dataplane_socket=lb.path("dataplane.sock"))
    p.send(signal.SIGHUP)
    addrs = [L.backend_addr(i) for i in (1, 2, 3)]
    t_end = time.monotonic() + 3 * 0.6 + 1
    while time.monotonic() < t_end:
        states = [dp_backend_state(lb, a) for a in addrs]
        assert states == ["up"] * 3, f"after the reload the dataplane has {states}\n{lb.diag()}"
        assert VIP_P in lb.router_routes(), f"the VIP left the router on a reload\n{lb.diag()}"
        time.sleep(0.1)
    assert "configuration reloaded" in p.log(tail=1 << 24), "the reload did not happen:\n" + p.log()[-2000:]


@controlplane_case
def a_renamed_service_keeps_its_route_and_backends(lb):
    # Renaming a service in the file (same VIP, protocol and port) is a new
    # label on the same thing: its backends keep their health, the route
    # stays announced, and what the operator set through the API (backend
    # 3 disabled) still holds under the new name. Before, the renamed
    # service started its checks over and the VIP left the router until they
    # rose again.
    p = start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    ctl(lb, "backend", "disable", "web", L.backend_addr(3))
    L.wait_until(lambda: dp_backend_state(lb, L.backend_addr(3)) == "down", 5, what="backend 3 disabled", diag=lb.diag)
    write_cp_api_config(lb, [service(name="www")])
    p.send(signal.SIGHUP)
    L.wait_until(lambda: {s["name"] for s in (lb.dataplane_state() or {}).get("services", [])} == {"www"}, 5,
                 what="the dataplane holding the renamed service", diag=lb.diag)
    t_end = time.monotonic() + (RISE + 1) * INTERVAL + 1
    while time.monotonic() < t_end:
        states = [dp_backend_state(lb, L.backend_addr(i)) for i in (1, 2, 3)]
        assert states == ["up", "up", "down"], f"after the rename the dataplane has {states}\n{lb.diag()}"
        assert VIP_P in lb.router_routes(), f"the VIP left the router on a rename\n{lb.diag()}"
        time.sleep(0.1)
    admin = {b["address"]: b["admin_state"] for b in ctl(lb, "service", "show", "www")["backends"]}
    assert admin[L.backend_addr(3)] == "disabled", admin
    assert "renamed" in p.log(tail=1 << 24), "the rename is not logged:\n" + p.log()[-2000:]


@controlplane_case
def hold_down_holds_across_a_restart(lb):
    # Withdrawn, then restarted with the backends back: the state file says
    # the route was withdrawn, so the hold-down runs as it would have.
    p = start_cp_api(lb, [service(quorum=2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.stop_backend(2)
    lb.stop_backend(3)
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 2, present=False)
    stop_by_sigterm(p)
    # The withdrawal's damping penalty is kept too (decayed at the next start).
    with open(lb.path("cp-state.json")) as f:
        damping = json.load(f)["damping"]
    assert 0.99 < damping["web"]["penalty"] <= 1 and damping["web"]["at_unix_ms"] > 0, damping
    lb.start_backend(2)
    lb.start_backend(3)
    start_cp_api(lb, [service(quorum=2)], fresh=False)
    t_start = time.monotonic()
    t = until_routed(lb, VIP_P, ANNOUNCE_WITHIN + HOLD_DOWN)
    assert t - t_start >= HOLD_DOWN, f"re-announced {t - t_start:.1f}s after a restart, inside the hold-down"
    # Announced again, it is forgotten: the next restart announces at once.
    p = lb.procs["controlplane"]
    stop_by_sigterm(p)
    lb.clear_local_paths()
    L.wait_until(lambda: VIP_P not in lb.router_routes(), 10, what="router table empty", diag=lb.diag)
    start_cp_api(lb, [service(quorum=2)], fresh=False)
    t_start = time.monotonic()
    t = until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    assert t - t_start < HOLD_DOWN, f"announced only {t - t_start:.1f}s after a restart with no withdrawal to hold"


@controlplane_case
def sigterm_stops_it(lb):
    p = start_cp(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)


@controlplane_case
def withdrawals_touch_only_our_paths(lb):
    # GoBGP withdraws every local path on a DeletePath naming neither uuid nor
    # path (GOBGP_NOTES pitfall 3): ours always name the path.
    foreign = "203.0.113.128/25"
    start_cp(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.gobgp("global", "rib", "-a", "ipv4", "add", foreign, "nexthop", L.NODE_LINK4)
    until_routed(lb, foreign, 10)
    lb.stop_backend(2)
    lb.stop_backend(3)
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 2, present=False)
    assert stays(lb, foreign, 2, present=True), "withdrawing our VIP took another path with it"
    assert foreign in lb.gobgp("global", "rib", "-a", "ipv4").stdout


@controlplane_case
def covering_prefix_follows_its_policy_and_med_arrives(lb):
    web, api = service(quorum=2), service("api", VIP2, quorum=3, communities=["65000:200"])
    web["med"] = 50
    cover = "203.0.113.0/24"
    extra = {"covering_prefixes": [{"prefix": cover, "policy": "all", "services": ["web", "api"],
                                    "communities": ["no-export"]}]}
    L.write_controlplane_config(lb.path("cp.yaml"), [web, api], dataplane_socket=lb.path("dataplane.sock"), extra=extra)
    lb.start_controlplane(CP, lb.path("cp.yaml"))
    until_routed(lb, cover, ANNOUNCE_WITHIN)
    assert "BGP.med: 50" in lb.router_route_detail(VIP_P), lb.router_route_detail(VIP_P)
    assert lb.router_communities(cover) == {L.NO_EXPORT}
    # Policy "all" (RFC 4786 4.8.2): one service below quorum takes the cover
    # away while the other keeps its own route.
    lb.stop_backend(3)  # api (quorum 3) falls, web (quorum 2) stays
    until_routed(lb, VIP2_P, WITHDRAW_WITHIN + 2, present=False)
    until_routed(lb, cover, 3, present=False)
    assert VIP_P in lb.router_routes(), "web's own route went with the cover"


@controlplane_case
def shared_vip_follows_its_vip_policy(lb):
    # Two services on one VIP, both checked on the backends' port 80: web
    # needs 2 healthy backends, alt 3.
    def services(policy):
        web, alt = service(quorum=2), service("alt", quorum=3, communities=["65000:200"])
        alt["port"] = 8080
        for s in (web, alt):
            s["vip_policy"] = policy
        return [web, alt]
    p = start_cp_api(lb, services("all"), state_file=False)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    assert lb.router_communities(VIP_P) == {L.NO_EXPORT, "65000:100", "65000:200"}, lb.router_route_detail(VIP_P)
    # "all" (RFC 4786 4.8.2): alt below its quorum takes the VIP away, and
    # web's traffic with it; the routes say why.
    lb.stop_backend(3)
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 2, present=False)
    web = route_of(lb, "web")
    assert not web["announced"] and "'alt' on the same VIP" in web["reason"], web
    # "any" (4.8.3), reloaded: the VIP comes back on web alone, with only
    # web's communities, and goes when web falls too.
    write_cp_api_config(lb, services("any"), state_file=False)
    p.send(signal.SIGHUP)
    until_routed(lb, VIP_P, 10)
    assert lb.router_communities(VIP_P) == {L.NO_EXPORT, "65000:100"}, lb.router_route_detail(VIP_P)
    alt = route_of(lb, "alt")
    assert alt["announced"] and "'web' on the same VIP" in alt["reason"], alt
    lb.stop_backend(2)
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 2, present=False)


@controlplane_case
def the_dataplane_learns_gobgpds_peers(lb):
    # The dataplane polices port-179 traffic as BGP only from the node's
    # peers: the controlplane passes it gobgpd's neighbours, and follows
    # a neighbour added or deleted at run time.
    start_cp(lb, [service()])
    def peers():
        return (lb.dataplane_state() or {}).get("bgp_peers")
    L.wait_until(lambda: peers() == [L.ROUTER_LINK4], 10, what="the router as the dataplane's one BGP peer",
                 diag=lambda: f"{peers()}")
    extra = "198.18.100.9"  # not on the link: the session never comes up, which does not matter here
    lb.gobgp("neighbor", "add", extra, "as", "65009")
    try:
        L.wait_until(lambda: peers() == sorted([L.ROUTER_LINK4, extra]), 10, what="the added neighbour",
                     diag=lambda: f"{peers()}")
    finally:
        lb.gobgp("neighbor", "del", extra, check=False)
    L.wait_until(lambda: peers() == [L.ROUTER_LINK4], 10, what="the deleted neighbour gone", diag=lambda: f"{peers()}")


@controlplane_case
def api_changes_reach_dataplane_and_routes_and_persist(lb):
    start_cp_api(lb, [service(quorum=2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    # Announced at quorum 2: the third backend's probes, spread over the
    # interval, may need a moment more to rise.
    def all_up():
        show = ctl(lb, "service", "show", "web")
        return show if [b["health"] for b in show["backends"]] == ["up"] * 3 else None
    show = L.wait_until(all_up, RISE * INTERVAL + 2, what="every backend of web up")
    assert show["announced"], show
    ctl(lb, "backend", "disable", "web", L.backend_addr(2))
    L.wait_until(lambda: dp_backend_state(lb, L.backend_addr(2)) == "down", 5, what="disabled backend down in the dataplane")
    ctl(lb, "backend", "drain", "web", L.backend_addr(3))  # draining: takes no new flows, so not counted
    L.wait_until(lambda: dp_backend_state(lb, L.backend_addr(3)) == "draining", 5, what="drained backend draining")
    until_routed(lb, VIP_P, WITHDRAW_WITHIN, present=False)
    routes = {r["prefix"]: r for r in ctl(lb, "routes")}
    assert not routes[VIP_P]["announced"] and "below quorum" in routes[VIP_P]["reason"], routes
    # Restarted, the controlplane keeps what the API changed.
    lb.stop("controlplane")
    start_cp_api(lb, [service(quorum=2)], fresh=False)
    admin = {b["address"]: b["admin_state"] for b in ctl(lb, "service", "show", "web")["backends"]}
    assert admin[L.backend_addr(2)] == "disabled" and admin[L.backend_addr(3)] == "draining", admin
    # Had it forgotten them, the VIP would return after the first checks and
    # the hold-down (kept in the state file): watch that long.
    assert stays(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN, present=False), \
        f"restarted, the controlplane announced a VIP its API changes keep below quorum\n{lb.diag()}"
    for i in (2, 3):
        ctl(lb, "backend", "enable", "web", L.backend_addr(i))
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN + HOLD_DOWN)
    r = ctl(lb, "backend", "weight", "web", L.backend_addr(1), 0, check=False)  # anylbctl refuses it itself
    assert r.returncode == 2 and "weight" in r.stderr, r.stderr
    r = ctl(lb, "backend", "drain", "web", "198.18.1.99", check=False)
    assert r.returncode == 1 and "not a backend" in r.stderr, r.stderr
    # A configured backend deleted here can be added back, as asked (it was
    # refused as a duplicate of itself).
    me = L.backend_addr(3)
    ctl(lb, "backend", "del", "web", me)
    L.wait_until(lambda: dp_backend_state(lb, me) is None, 5, what="deleted backend gone from the dataplane")
    added = ctl(lb, "backend", "add", "web", me, "--mac", L.backend_mac(3), "--weight", 50)
    assert added["backend"]["weight"] == 50 and added["backend"]["mac"] == L.backend_mac(3), added
    # Replies carry the backend as it runs (a weight change replied weight 0).
    drained = ctl(lb, "backend", "drain", "web", me)["backend"]
    assert (drained["weight"], drained["admin_state"]) == (50, "draining"), drained
    weighed = ctl(lb, "backend", "weight", "web", me, 70)["backend"]
    assert (weighed["weight"], weighed["admin_state"]) == (70, "draining"), weighed
    ctl(lb, "backend", "weight", "web", me, 50)
    ctl(lb, "backend", "undrain", "web", me)
    r = ctl(lb, "backend", "add", "web", me, check=False)  # errors name the request's own field
    assert r.returncode == 1 and "backend.address: " + me + " is already a backend" in r.stderr, r.stderr
    L.wait_until(lambda: [b["weight"] for b in (lb.dataplane_state() or {}).get("backends", []) if b["address"] == me]
                 == [50], 5, what="re-added backend, once, with its new weight", diag=lambda: str(lb.dataplane_state()))
    # A UDP service through the API would get a TCP check its backends refuse.
    r = ctl(lb, "service", "add", "dns2", VIP2, "udp", 53, check=False)
    assert r.returncode == 1 and "service.protocol" in r.stderr, r.stderr
    # A name the dataplane would refuse is refused here, naming the field.
    r = ctl(lb, "service", "add", "web prod", VIP2, "tcp", 8080, check=False)
    assert r.returncode == 1 and "service.name: 'web prod' has ' '" in r.stderr, r.stderr
    # A GUE service added here keeps the outer port asked for (it got 6080).
    ctl(lb, "service", "add", "tun", VIP2, "tcp", 8080, "--mode", "gue", "--gue-port", 7000)
    L.wait_until(lambda: [s.get("gue_port") for s in (lb.dataplane_state() or {}).get("services", [])
                          if s["name"] == "tun"] == [7000], 5, what="GUE port 7000 in the dataplane",
                 diag=lambda: str(lb.dataplane_state()))


@controlplane_case
def node_drain_announces_graceful_shutdown_then_withdraws(lb):
    start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    node = ctl(lb, "node", "drain")
    assert node["draining"], node
    L.wait_until(lambda: "65535:0" in (lb.router_communities(VIP_P) or set()), 5,
                 what="GRACEFUL_SHUTDOWN at the router", diag=lb.diag)
    detail = lb.router_route_detail(VIP_P)
    assert f"{L.NODE_AS} {L.NODE_AS}" in detail, f"no AS-path prepend while draining:\n{detail}"
    until_routed(lb, VIP_P, DRAIN_WAIT + 3, present=False)
    ctl(lb, "node", "undrain")
    until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN)
    assert lb.router_communities(VIP_P) == {L.NO_EXPORT, "65000:100"}


@controlplane_case
def node_drain_holds_across_a_restart(lb):
    # Drained for an upgrade, then restarted: still drained (the state file
    # says so), its VIP out past the hold-down and the first checks, until
    # an operator undrains it.
    p = start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    ctl(lb, "node", "drain")
    until_routed(lb, VIP_P, DRAIN_WAIT + 3, present=False)
    stop_by_sigterm(p)
    start_cp_api(lb, [service()], fresh=False)
    assert ctl(lb, "node")["draining"], "restarted, the node forgot it was drained"
    assert stays(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN, present=False), \
        f"a drained node announced its VIP after a restart\n{lb.diag()}"
    ctl(lb, "node", "undrain")
    until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN)


@controlplane_case
def registered_backend_lives_by_heartbeat(lb):
    svc = service(quorum=1)
    svc["backends"] = svc["backends"][:2]  # backend 3 joins by registering
    start_cp_api(lb, [svc])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    me = L.backend_addr(3)
    rid = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 2)["registration_id"]
    L.wait_until(lambda: dp_backend_state(lb, me) == "up", 5, what="registered backend up in the dataplane")
    L.wait_until(lambda: dp_backend_state(lb, me) == "down", 5, what="missed heartbeats: down")

    def shown():  # (health, serving) as anylbctl shows it
        b = next(b for b in ctl(lb, "service", "show", "web")["backends"] if b["address"] == me)
        return b["health"], b["serving"]
    # Its checks still pass: health up, yet it takes no traffic, and says so.
    L.wait_until(lambda: shown() == ("up", False), 3, what="lapsed registration shown as not serving", diag=lambda: str(shown()))
    ctl(lb, "backend", "heartbeat", rid)
    L.wait_until(lambda: dp_backend_state(lb, me) == "up", 3, what="heartbeat: up again")
    L.wait_until(lambda: shown() == ("up", True), 3, what="serving again", diag=lambda: str(shown()))
    # Restarted, its id lost: it registers again, and the new registration
    # replaces the old (it used to be refused as already a backend).
    rid2 = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 2)["registration_id"]
    assert rid2 != rid
    r = ctl(lb, "backend", "heartbeat", rid, check=False)
    assert r.returncode == 1 and "not registered" in r.stderr, r.stderr
    # An operator disables it; the next registration at this address starts
    # enabled, as asked (it inherited the old one's admin state).
    ctl(lb, "backend", "disable", "web", me)
    L.wait_until(lambda: dp_backend_state(lb, me) == "down", 5, what="disabled registered backend down")
    rid2 = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 2)["registration_id"]
    L.wait_until(lambda: dp_backend_state(lb, me) == "up", 5, what="registered anew: enabled")
    ctl(lb, "backend", "deregister", rid2)
    L.wait_until(lambda: dp_backend_state(lb, me) == "draining", 3, what="deregistered: draining")
    L.wait_until(lambda: dp_backend_state(lb, me) is None, DRAIN_WAIT + 3, what="deregistered: removed after draining")
    r = ctl(lb, "backend", "heartbeat", rid2, check=False)
    assert r.returncode == 1 and "not registered" in r.stderr, r.stderr
    # Heartbeats that stop for good: down after the TTL, gone after the TTL
    # and the drain wait again (RSerPool: the pool drops a silent element).
    rid3 = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 3)["registration_id"]
    L.wait_until(lambda: dp_backend_state(lb, me) == "up", 5, what="registered again: up")
    ctl(lb, "backend", "heartbeat", rid3)
    L.wait_until(lambda: dp_backend_state(lb, me) == "down", 3 + 3, what="heartbeats stopped: down")
    L.wait_until(lambda: dp_backend_state(lb, me) is None, DRAIN_WAIT + 4, what="silent registration removed")
    # Deleting a registered backend takes its registration with it.
    ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 30)
    L.wait_until(lambda: dp_backend_state(lb, me) == "up", 5, what="registered once more: up")
    ctl(lb, "backend", "del", "web", me)
    L.wait_until(lambda: dp_backend_state(lb, me) is None, 5, what="deleted registered backend gone")
    assert me not in {b["address"] for b in ctl(lb, "service", "show", "web")["backends"]}


@controlplane_case
def a_service_the_dataplane_refuses_is_not_announced(lb):
    start_cp_api(lb, [service(quorum=1)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    # Every backend up in the dataplane first: web's state is then the same
    # in both processes, so only what is added after counts as refused.
    L.wait_until(lambda: all(dp_backend_state(lb, L.backend_addr(i)) == "up" for i in (1, 2, 3)), ANNOUNCE_WITHIN,
                 what="web's backends up in the dataplane")
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
def api_changes_and_reloads_keep_the_configuration_whole(lb):
    # A covering prefix lists web: deleting web through the API is refused,
    # naming the cover (a restart used to crash on the cover's missing service).
    cover = {"covering_prefixes": [{"prefix": "203.0.113.0/24", "policy": "any", "services": ["web"]}]}
    p = start_cp_api(lb, [service(quorum=1)], extra=cover)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    r = ctl(lb, "service", "del", "web", check=False)
    assert r.returncode == 1 and "covering_prefixes[0]" in r.stderr, r.stderr
    # A reload refused because it clashes with what the API added leaves the
    # running file in place: later API changes still apply.
    ctl(lb, "service", "add", "tun", VIP2, "tcp", 80)
    write_cp_api_config(lb, [service(quorum=1), service("clash", VIP2, quorum=1)], extra=cover)
    p.send(signal.SIGHUP)
    L.wait_until(lambda: "reload refused" in p.log(), 5, what="the clashing reload refused", diag=p.log)
    ctl(lb, "backend", "drain", "web", L.backend_addr(1))
    L.wait_until(lambda: dp_backend_state(lb, L.backend_addr(1)) == "draining", 5, what="drain applied after the refusal")
    # The API's backend written into the file as well: the file's is kept,
    # not refused as a duplicate.
    ctl(lb, "backend", "add", "tun", L.backend_addr(1), "--mac", L.backend_mac(1))
    tun = service("tun", VIP2, quorum=1)
    tun["backends"] = tun["backends"][:1]
    write_cp_api_config(lb, [service(quorum=1), tun], extra=cover)
    p.send(signal.SIGHUP)
    L.wait_until(lambda: "configuration reloaded" in p.log(), 5, what="the overlapping reload applied", diag=p.log)
    assert p.alive()
    # The file's tun then stands alone: deleting it through the API deletes it
    # (it used to delete only the API's hidden copy, and report success).
    ctl(lb, "service", "del", "tun")
    L.wait_until(lambda: "tun" not in {s["name"] for s in (lb.dataplane_state() or {}).get("services", [])}, 5,
                 what="tun gone from the dataplane", diag=lambda: str(lb.dataplane_state()))


@controlplane_case
def a_state_file_that_cannot_run_fails_closed(lb):
    # A node whose state file is damaged cannot start: it exits 2 naming the
    # file, and withdraws the paths its last run left (nothing would check
    # what they draw).
    leave_the_path(lb, start_cp_api(lb, [service(quorum=1)]))
    with open(lb.path("cp-state.json"), "w") as f:
        f.write('{"admin": [')
    p = start_cp_api(lb, [service(quorum=1)], fresh=False)
    rc = p.wait(10)
    assert rc == 2 and "cp-state.json" in p.log(), f"exit {rc}:\n{p.log()}"
    until_routed(lb, VIP_P, 5, present=False)


@controlplane_case
def metrics_show_routes_sessions_and_health(lb):
    start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)

    def scrape():
        return L.run("ip", "netns", "exec", lb.node, "curl", "-s", "--max-time", "3",
                     "http://127.0.0.1:19100/metrics", check=False).stdout

    L.wait_until(lambda: f'anylb_route_announced{{prefix="{VIP_P}",service="web"}} 1' in scrape(), 5,
                 what="route metric", diag=scrape)
    text = scrape()
    m = metrics(text)
    assert m.get("anylb_dataplane_up") == 1 and m.get('anylb_node_info{node="node1"}') == 1, text
    assert m.get(f'anylb_bgp_session_established{{peer="{L.ROUTER_LINK4}",state="established"}}') == 1, text
    assert m.get(f'anylb_backend_healthy{{service="web",backend="{L.backend_addr(1)}"}}') == 1, text
    assert m.get("anylb_node_draining") == 0 and m.get("anylb_gobgp_up") == 1, text
    # Three backends checked every 500 ms with a 300 ms timeout: a pool of at
    # least one thread, and no probe started late.
    assert m.get("anylb_health_probe_threads", 0) >= 1, text
    assert m.get("anylb_health_probes_late_total") == 0, text
    # No packet crosses the lab's net_null dataplane (no-rx): nothing dropped.
    assert m.get('anylb_drops_total{reason="no_backend"}') == 0, text
    rx = [v for k, v in m.items() if re.fullmatch(r'anylb_port_packets_total\{port="[^"]+",direction="rx"\}', k)]
    assert rx == [0], text
    missed = [v for k, v in m.items() if re.fullmatch(r'anylb_port_lost_total\{port="[^"]+",kind="rx_missed"\}', k)]
    assert missed == [0], text
    # Flows, traces and counters through the control plane (it asks the dataplane).
    t = ctl(lb, "trace", "198.51.100.7:1234", f"{VIP}:80", "tcp")
    assert t["service"] == "web" and t["backend"] in {L.backend_addr(i) for i in (1, 2, 3)}, t
    assert "Maglev slot" in t["explanation"], t
    stats = ctl(lb, "stats")
    assert [s["service"] for s in stats["services"]] == ["web"] and "no_backend" in stats["drops"], stats
    assert ctl(lb, "flows") == []  # no traffic crosses the lab's net_null dataplane
    ctl(lb, "node", "drain")
    L.wait_until(lambda: metrics(scrape()).get("anylb_node_draining") == 1, 5, what="anylb_node_draining 1",
                 diag=scrape)


def metrics(text):
    """A scrape's samples: {'name{labels}': value} (comments left out)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


if __name__ == "__main__":
    main()
