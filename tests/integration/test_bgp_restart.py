"""BGP integration: the controlplane stopped and started again: the paths an
earlier run left, the grace while the first checks run, the state file.

Usage (root): test_bgp_restart.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import json
import signal
import time

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, CP, HOLD_DOWN, INTERVAL, RISE, VIP2, VIP2_P, VIP_P, WITHDRAW_WITHIN,
                        announce_by_hand, controlplane_case, dp_backend_state, leave_the_path, main, route_of,
                        service, start_cp, start_cp_api, stays, stop_by_sigterm, until_routed)


@controlplane_case
def sigterm_stops_it(lb):
    p = start_cp(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)


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
def a_withdrawal_at_start_is_held_down_and_damped(lb):
    # All announced; the controlplane killed; a backend dies (web needs all
    # three); the next start withdraws what the last run left, as it must.
    # That withdrawal is one like any other: the route comes back only
    # after HOLD_DOWN of unbroken eligibility, and it counts for damping, in
    # the state file. (It came back 0.03-0.12 s after the backend did.)
    start_cp_api(lb, [service(quorum=3)])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    lb.stop("controlplane", signal.SIGKILL)
    lb.stop_backend(3)
    start_cp_api(lb, [service(quorum=3)], fresh=False)
    until_routed(lb, VIP_P, WITHDRAW_WITHIN + 2, present=False)
    L.wait_until(lambda: "web" in json.load(open(lb.path("cp-state.json"))).get("withdrawn_routes", []), 3,
                 what="the withdrawal in the state file")
    with open(lb.path("cp-state.json")) as f:
        state = json.load(f)
    assert state["damping"]["web"]["penalty"] > 0.9, state.get("damping")
    lb.start_backend(3)
    L.wait_until(lambda: route_of(lb, "web")["healthy"] == 3, RISE * INTERVAL + 3, what="backend 3 healthy again")
    assert stays(lb, VIP_P, HOLD_DOWN - 1.5, present=False), \
        f"back before the hold-down ({HOLD_DOWN}s) of a withdrawal made at start\n{lb.diag()}"
    until_routed(lb, VIP_P, 4)


if __name__ == "__main__":
    main()
