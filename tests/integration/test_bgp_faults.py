"""BGP integration: one fault at a time around gobgpd, checked at the router
and in what the controlplane says: gobgpd killed (its paths come back
without a controlplane restart), gobgpd stopped (SIGSTOP: the controlplane
goes on checking and pushing, and says why BGP is stuck).

Usage (root): test_bgp_faults.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import signal

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, FALL, INTERVAL, SESSION_TIMEOUT, VIP_P, controlplane_case, ctl,
                       dp_backend_state, main, service, start_cp_api, until_backends_up_in_dataplane, until_routed)


@controlplane_case
def a_killed_gobgpd_gets_the_paths_back_without_a_controlplane_restart(lb):
    p = start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.procs.pop("gobgpd").stop(signal.SIGKILL)
    until_routed(lb, VIP_P, 15, present=False)  # the session went with it
    L.wait_until(lambda: ctl(lb, "node")["gobgp_problem"] != "", 5, what="gobgpd's death in anylbctl node")
    lb.start_gobgpd()  # empty: the controlplane must push its paths again
    until_routed(lb, VIP_P, SESSION_TIMEOUT)
    assert p.alive(), f"the controlplane exited:\n{p.log()}"
    L.wait_until(lambda: ctl(lb, "node")["gobgp_problem"] == "", 5, what="gobgpd answering again")


@controlplane_case
def a_stopped_gobgpd_holds_up_neither_checks_nor_pushes(lb):
    start_cp_api(lb, [service(quorum=2)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    until_backends_up_in_dataplane(lb)
    gobgpd = lb.procs["gobgpd"]
    gobgpd.send(signal.SIGSTOP)
    try:
        # Its API hangs (each call waits its deadline): health changes must
        # still reach the dataplane as fast as ever.
        lb.stop_backend(3)
        L.wait_until(lambda: dp_backend_state(lb, L.backend_addr(3)) == "down", FALL * INTERVAL + 3,
                     what="a dead backend down in the dataplane while gobgpd is stopped", diag=lb.diag)
        node = ctl(lb, "node")
        assert node["gobgp_problem"] and "answering" not in node["gobgp_problem"], node
        routes = {r["prefix"]: r for r in ctl(lb, "routes")}
        assert "gobgpd unreachable" in routes[VIP_P]["reason"], routes[VIP_P]
    finally:
        gobgpd.send(signal.SIGCONT)
    L.wait_until(lambda: ctl(lb, "node")["gobgp_problem"] == "", 10, what="gobgpd answering again")
    assert VIP_P in lb.router_routes(), f"web (2 of 3 healthy, quorum 2) left the router\n{lb.diag()}"


if __name__ == "__main__":
    main()
