"""BGP integration: the operator API (anylb.v1) through anylbctl: backends
changed, registered and drained, the node drained, metrics.

Usage (root): test_bgp_api.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import json
import re
import signal
import time

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, DRAIN_WAIT, HOLD_DOWN, INTERVAL, RISE, VIP, VIP2, VIP_P,
                        WITHDRAW_WITHIN, controlplane_case, ctl, dp_backend_state, main, service, start_cp_api,
                        stays, stop_by_sigterm, until_routed, write_cp_api_config)


def metrics(text):
    """A scrape's samples: {'name{labels}': value} (comments left out)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


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
    # Someone else's address (issue 25's reproduction): refused, naming the
    # field, and never announced (node.allowed_prefixes).
    r = ctl(lb, "service", "add", "notours", "8.8.8.8", "tcp", 80, "--mode", "ipip", check=False)
    assert r.returncode == 1 and "service.vip: service 'notours': vip '8.8.8.8' is outside node.allowed_prefixes" \
        in r.stderr, r.stderr
    r = ctl(lb, "backend", "add", "notours", L.backend_addr(1), check=False)
    assert r.returncode == 1, r.stdout
    assert stays(lb, "8.8.8.8/32", 2, present=False), lb.router_routes()
    # A GUE service added here keeps the outer port asked for (it got 6080).
    ctl(lb, "service", "add", "tun", VIP2, "tcp", 8080, "--mode", "gue", "--gue-port", 7000)
    L.wait_until(lambda: [s.get("gue_port") for s in (lb.dataplane_state() or {}).get("services", [])
                          if s["name"] == "tun"] == [7000], 5, what="GUE port 7000 in the dataplane",
                 diag=lambda: str(lb.dataplane_state()))


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
    # An operator disables it; registering anew does not undo that (issue
    # 25: a registration never overrides what an operator set; it used to
    # start enabled). The operator enables it.
    ctl(lb, "backend", "disable", "web", me)
    L.wait_until(lambda: dp_backend_state(lb, me) == "down", 5, what="disabled registered backend down")
    rid2 = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 2)["registration_id"]
    assert stays_state(lb, me, "down", 1.5), "re-registration undid the operator's disable"
    row = next(b for b in ctl(lb, "service", "show", "web")["backends"] if b["address"] == me)
    assert row["admin_state"] == "disabled", row
    ctl(lb, "backend", "heartbeat", rid2)
    ctl(lb, "backend", "enable", "web", me)
    L.wait_until(lambda: dp_backend_state(lb, me) == "up", 5, what="enabled by the operator: up")
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


def stays_state(lb, address, state, seconds):
    """The dataplane holds `address` in `state` all along `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if dp_backend_state(lb, address) != state:
            return False
        time.sleep(0.1)
    return True


@controlplane_case
def registration_opt_in_serves_and_refuses(lb):
    # web opts in (the backends' /24, two at once, weight 60); db does not.
    web = service(quorum=1)
    web["backends"] = web["backends"][:2]  # backend 3 joins by registering
    web["registration"] = {"prefixes": ["198.18.1.0/24"], "max_backends": 2, "weight": 60, "registrar_mac": False}
    db = service("db", VIP2, quorum=1)
    db["backends"] = db["backends"][:1]
    start_cp_api(lb, [web, db])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    assert ctl(lb, "service", "show", "web")["registration"] == web["registration"]
    assert "registration" not in ctl(lb, "service", "show", "db")
    me = L.backend_addr(3)
    rid = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 30)["registration_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid  # 128 random bits (they were r1, r2, ...)
    L.wait_until(lambda: dp_backend_state(lb, me) == "up", 5, what="registered backend up in the dataplane")
    weights = {b["address"]: b["weight"] for b in lb.dataplane_state()["backends"] if b["service"] == "web"}
    assert weights == {L.backend_addr(1): 100, L.backend_addr(2): 100, me: 60}, weights
    L.wait_until(lambda: next(b for b in ctl(lb, "service", "show", "web")["backends"] if b["address"] == me)["serving"],
                 RISE * INTERVAL + 3, what="the registered backend serving")
    regs = ctl(lb, "backend", "registrations")
    assert [(r["registration_id"], r["service"], r["address"], r["weight"], r["alive"]) for r in regs] == \
        [(rid, "web", me, 60, True)], regs
    assert ctl(lb, "backend", "registrations", "--service", "db") == []
    # An operator's weight stands over the registration's, across a
    # re-registration.
    ctl(lb, "backend", "weight", "web", me, 7)
    rid2 = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 30)["registration_id"]
    assert rid2 != rid
    L.wait_until(lambda: [b["weight"] for b in lb.dataplane_state()["backends"] if b["address"] == me] == [7], 5,
                 what="the operator's weight kept", diag=lambda: str(lb.dataplane_state()))
    # Refusals, each naming its field: an id that is not held, a configured
    # backend, a service added with registration rules that do not hold.
    for verb in ("heartbeat", "deregister"):
        r = ctl(lb, "backend", verb, rid, check=False)
        assert r.returncode == 1 and f"registration_id: '{rid}' is not registered" in r.stderr, r.stderr
    r = ctl(lb, "backend", "register", "web", L.backend_addr(1), "--ttl", 30, check=False)
    assert r.returncode == 1 and f"backend.address: {L.backend_addr(1)} is already a backend of 'web'" in r.stderr, \
        r.stderr
    for flags, why in ((["--registration", "198.18.1.1/24", "--max-backends", 2], "service.registration.prefixes[0]"),
                       (["--registration", "198.18.1.0/24", "--max-backends", 70000],
                        "--max-backends"),
                       (["--registration", "198.18.1.0/24"], "--registration and --max-backends")):
        r = ctl(lb, "service", "add", "tun", VIP2, "tcp", 8080, *flags, check=False)
        assert r.returncode in (1, 2) and why in r.stderr, (flags, r.stderr)
    # A service opted in through the API keeps its rules across a restart,
    # and an operator's registration into it without a weight gets its own.
    ctl(lb, "service", "add", "tun", VIP2, "tcp", 8080, "--registration", "198.18.1.0/24,2001:db8:ff:1::/64",
        "--max-backends", 4, "--registration-weight", 30, "--registrar-mac", "yes")
    lb.stop("controlplane")
    start_cp_api(lb, [web, db], fresh=False)
    with open(lb.path("cp-state.json")) as f:
        saved = json.load(f)
    tun = next(s for s in saved["added_services"] if s["name"] == "tun")
    assert tun["registration"] == {"prefixes": ["198.18.1.0/24", "2001:db8:ff:1::/64"], "max_backends": 4,
                                   "weight": 30, "registrar_mac": True}, tun
    assert "next_registration" not in saved, saved.keys()
    assert ctl(lb, "service", "show", "tun")["registration"] == tun["registration"]
    ctl(lb, "backend", "register", "tun", L.backend_addr(2), "--mac", L.backend_mac(2), "--ttl", 30)
    L.wait_until(lambda: [b["weight"] for b in lb.dataplane_state()["backends"] if b["service"] == "tun"] == [30], 5,
                 what="tun's registration at its registration.weight", diag=lambda: str(lb.dataplane_state()))
    # Restarted, the registration into web kept its id and the operator's weight.
    assert [r["registration_id"] for r in ctl(lb, "backend", "registrations", "--service", "web")] == [rid2]
    L.wait_until(lambda: [b["weight"] for b in lb.dataplane_state()["backends"]
                          if b["address"] == me and b["service"] == "web"] == [7], 5,
                 what="restarted: the operator's weight kept", diag=lambda: str(lb.dataplane_state()))
    # Deleting it forgets the operator's weight as well: registering again
    # gets the service's.
    ctl(lb, "backend", "del", "web", me)
    L.wait_until(lambda: dp_backend_state(lb, me) is None or
                 [b for b in lb.dataplane_state()["backends"] if b["address"] == me and b["service"] == "web"] == [],
                 5, what="deleted registered backend gone")
    ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 30)
    L.wait_until(lambda: [b["weight"] for b in lb.dataplane_state()["backends"]
                          if b["address"] == me and b["service"] == "web"] == [60], 5,
                 what="registered after a delete: the service's weight", diag=lambda: str(lb.dataplane_state()))
    # A registration that expired leaves the operator's state for its
    # address (it holds for the next one); `backend del` forgets it.
    rid = ctl(lb, "backend", "register", "web", me, "--mac", L.backend_mac(3), "--ttl", 1)["registration_id"]
    ctl(lb, "backend", "disable", "web", me)
    L.wait_until(lambda: ctl(lb, "backend", "registrations", "--service", "web") == [], 1 + DRAIN_WAIT + 3,
                 what="the silent registration removed")
    with open(lb.path("cp-state.json")) as f:
        assert [a["address"] for a in json.load(f)["admin"]] == [me], "the operator's disable went with it"
    r = ctl(lb, "backend", "disable", "web", me, check=False)
    assert r.returncode == 1 and "not a backend" in r.stderr, r.stderr
    ctl(lb, "backend", "del", "web", me)
    with open(lb.path("cp-state.json")) as f:
        assert json.load(f)["admin"] == [], "backend del left the operator's state"


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


@controlplane_case
def a_change_the_dataplane_would_refuse_is_refused_naming_the_field(lb):
    # This dataplane has no exception interface: a backend without a MAC
    # would never resolve. The control plane asks the dataplane before it
    # takes the change, so the call is refused with the field named, and
    # nothing changes: later health changes still reach the dataplane.
    start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    r = ctl(lb, "backend", "add", "web", "198.18.1.99", check=False)
    assert r.returncode != 0 and "key 'mac'" in r.stderr, (r.returncode, r.stderr)
    assert "198.18.1.99" not in json.dumps(ctl(lb, "service", "show", "web")), "the refused backend was kept"
    with open(lb.path("cp-state.json")) as f:
        assert "198.18.1.99" not in f.read(), "the refused backend was persisted"
    lb.stop_backend(3)
    L.wait_until(lambda: dp_backend_state(lb, L.backend_addr(3)) == "down", WITHDRAW_WITHIN,
                 what="a dead backend down in the dataplane after the refusal", diag=lb.diag)


if __name__ == "__main__":
    main()
