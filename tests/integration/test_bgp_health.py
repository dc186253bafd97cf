"""BGP integration: a VIP announced and withdrawn by its backends' health:
quorum, the withdrawal's time bound, the hold-down.

Usage (root): test_bgp_health.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import time

from bgp_cases import (ANNOUNCE_WITHIN, Down, FALL, HOLD_DOWN, INTERVAL, Out, RISE, Row, Step, Up, VIP, VIP_P,
                        WITHDRAW_WITHIN, controlplane_case, main, row_case, service, start_cp, stays,
                        until_routed)


# Backends in, the router's table out: a VIP is announced only at its quorum
# and goes within the promised bound once below it.
ROWS = (
    Row("vip_announced_only_with_quorum", [service(quorum=2)], down=(2, 3), steps=(
        Step(expect={VIP_P: Out(4)}),  # 1 healthy backend of quorum 2
        Step(start=(2,), expect={VIP_P: Up(ANNOUNCE_WITHIN)}, dataplane_has=VIP),
    )),
    Row("vip_quorum_as_percentage", [service(quorum="50%")], down=(2, 3), steps=(
        Step(expect={VIP_P: Out(3)}),  # 1 of 3 is under 50 %, 2 of 3 over it
        Step(start=(3,), expect={VIP_P: Up(ANNOUNCE_WITHIN)}),
    )),
    Row("vip_withdrawn_within_fall_times_interval", [service(quorum=2)], steps=(
        Step(expect={VIP_P: Up(ANNOUNCE_WITHIN)}),
        # Refused connections on 2, a wrong status from 3 (still listening).
        Step(stop=(2,), status={3: 500}, expect={VIP_P: Down(WITHDRAW_WITHIN)}),
    )),
)
for _row in ROWS:
    row_case(_row)


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
