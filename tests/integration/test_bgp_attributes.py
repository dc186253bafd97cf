"""BGP integration: what the router's route carries and when: communities,
MED, IPv6 host routes, covering prefixes and VIPs shared by services.

Usage (root): test_bgp_attributes.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import time

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, Down, Row, Step, Up, VIP2, VIP2_P, VIP_P, WITHDRAW_WITHIN,
                        controlplane_case, ctl, main, row_case, service, start_cp_api, stop_by_sigterm,
                        until_routed)


VIP6, VIP6_P = "2001:db8:10::10", "2001:db8:10::10/128"
COVER = "203.0.113.0/24"
WEB_COMMUNITIES = {L.NO_EXPORT, "65000:100"}  # service()'s default


def sharing(policy):
    """Two services on one VIP, both checked on the backends' port 80: web
    needs 2 healthy backends, alt 3."""
    web, alt = service(quorum=2), service("alt", quorum=3, communities=["65000:200"])
    alt["port"] = 8080
    for s in (web, alt):
        s["vip_policy"] = policy
    return [web, alt]


# A configuration in, the router's routes and what they carry out.
ROWS = (
    Row("ipv6_vip_announced_as_host_route", [service("web6", VIP6, communities=["65000:600"])], steps=(
        Step(expect={VIP6_P: Up(ANNOUNCE_WITHIN, communities={"65000:600"}, via=L.NODE_LINK6)}),
        Step(stop=(1, 2), expect={VIP6_P: Down(WITHDRAW_WITHIN + 1)}),
    )),
    Row("communities_arrive_as_configured",
        [service(), service("api", VIP2, communities=["65000:200", "65000:201"])], steps=(
            Step(expect={VIP_P: Up(ANNOUNCE_WITHIN, communities=WEB_COMMUNITIES),
                         VIP2_P: Up(ANNOUNCE_WITHIN, communities={"65000:200", "65000:201"})}),
        )),
    # Policy "all" (RFC 4786 4.8.2): one service below quorum takes the cover
    # away while the other keeps its own route. Up(0): there already.
    Row("covering_prefix_follows_its_policy_and_med_arrives",
        [service(quorum=2) | {"med": 50}, service("api", VIP2, quorum=3, communities=["65000:200"])],
        extra={"covering_prefixes": [{"prefix": COVER, "policy": "all", "services": ["web", "api"],
                                      "communities": ["no-export"]}]},
        steps=(
            Step(expect={COVER: Up(ANNOUNCE_WITHIN, communities={L.NO_EXPORT}),
                         VIP_P: Up(0, detail=("BGP.med: 50",))}),
            # api (quorum 3) falls, web (quorum 2) stays
            Step(stop=(3,), expect={VIP2_P: Down(WITHDRAW_WITHIN + 2), COVER: Down(3), VIP_P: Up(0)}),
        )),
    # "all" (4.8.2): alt below its quorum takes the VIP away, and web's
    # traffic with it; the routes say why. "any" (4.8.3), reloaded: the VIP
    # comes back on web alone, with only web's communities, and goes when web
    # falls too.
    Row("shared_vip_follows_its_vip_policy", sharing("all"), api=True, steps=(
        Step(expect={VIP_P: Up(ANNOUNCE_WITHIN, communities=WEB_COMMUNITIES | {"65000:200"})}),
        Step(stop=(3,), expect={VIP_P: Down(WITHDRAW_WITHIN + 2)},
             reasons={"web": (False, "'alt' on the same VIP")}),
        Step(reload=sharing("any"), expect={VIP_P: Up(10, communities=WEB_COMMUNITIES)},
             reasons={"alt": (True, "'web' on the same VIP")}),
        Step(stop=(2,), expect={VIP_P: Down(WITHDRAW_WITHIN + 2)}),
    )),
)
for _row in ROWS:
    row_case(_row)


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
