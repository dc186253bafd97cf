"""BGP integration: a VIP announced and withdrawn by its backends' health:
quorum, the withdrawal's time bound, the hold-down.

Usage (root): test_bgp_health.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import time

from bgp_cases import (ANNOUNCE_WITHIN, FALL, HOLD_DOWN, INTERVAL, RISE, VIP, VIP_P, WITHDRAW_WITHIN,
                        controlplane_case, main, service, start_cp, stays, until_routed)


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


if __name__ == "__main__":
    main()
