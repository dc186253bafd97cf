"""BGP integration: the lab itself, and the node's gobgpd as the controlplane
uses it: paths announced by hand reach the router, gobgpd restarted, paths
the controlplane does not own left alone, gobgpd's peers passed on.

Usage (root): test_bgp_gobgpd.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, SESSION_TIMEOUT, VIP_P, WITHDRAW_WITHIN, announce_by_hand,
                        controlplane_case, lab, main, service, start_cp, stays, tap, until_routed)


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
def withdrawals_touch_only_our_paths(lb):
    # GoBGP withdraws every local path on a DeletePath naming neither uuid nor
    # path: ours always name the path.
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


if __name__ == "__main__":
    main()
