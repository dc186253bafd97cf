"""BGP integration: what the router's route carries and when: communities,
MED, IPv6 host routes, covering prefixes and VIPs shared by services.

Usage (root): test_bgp_attributes.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import signal
import time

import bgp_lab as L
from bgp_cases import (ANNOUNCE_WITHIN, CP, VIP2, VIP2_P, VIP_P, WITHDRAW_WITHIN, controlplane_case, ctl, main,
                        route_of, service, start_cp, start_cp_api, stop_by_sigterm, until_routed,
                        write_cp_api_config)


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
def communities_arrive_as_configured(lb):
    start_cp(lb, [service(), service("api", VIP2, communities=["65000:200", "65000:201"])])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    until_routed(lb, VIP2_P, ANNOUNCE_WITHIN)
    assert lb.router_communities(VIP_P) == {L.NO_EXPORT, "65000:100"}, lb.router_route_detail(VIP_P)
    assert lb.router_communities(VIP2_P) == {"65000:200", "65000:201"}, lb.router_route_detail(VIP2_P)


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


if __name__ == "__main__":
    main()
