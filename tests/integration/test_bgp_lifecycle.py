"""BGP integration: the controlplane's life around its routes: a start that
fails withdraws what an earlier run left, a second instance touches
nothing, and paths no controlplane confirms go after node.orphan_timeout
(and not before, nor on a quick restart).

Usage (root): test_bgp_lifecycle.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import json
import os
import re
import signal
import time

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, CP, VIP_P, controlplane_case, main, service, start_cp_api, stays,
                       stop_by_sigterm, until_routed, write_cp_api_config)

ORPHAN_TIMEOUT = 3.0


def with_node_keys(lb, **keys):
    """Adds keys under node: to the file write_cp_api_config wrote."""
    with open(lb.path("cp.yaml")) as f:
        text = f.read()
    lines = "".join(f"  {k}: {v}\n" for k, v in keys.items())
    with open(lb.path("cp.yaml"), "w") as f:
        f.write(text.replace("node:\n", "node:\n" + lines, 1))


def start_guarded(lb, name="controlplane", fresh=True, timeout=ORPHAN_TIMEOUT):
    """The controlplane with its API, state file (emptied first unless not
    `fresh`) and an orphan timeout."""
    if fresh and os.path.exists(lb.path("cp-state.json")):
        os.unlink(lb.path("cp-state.json"))
    write_cp_api_config(lb, [service()], state_file=True)
    with_node_keys(lb, orphan_timeout=f"{timeout:g}s")
    return lb.start_controlplane(CP, lb.path("cp.yaml"), name=name)


def exits_2(p, what):
    rc = p.wait(15)
    assert rc == 2, f"{what}: exit {rc}, not 2\n{p.log()}"
    return p.log()


def import_updates(lb):
    """How many UPDATEs (announcements and withdrawals) BIRD received from the node."""
    out = lb.birdc("show", "protocols", "all", "node").stdout
    m = re.search(r"Import updates:\s+(\d+)", out)
    w = re.search(r"Import withdraws:\s+(\d+)", out)
    assert m and w, f"no import statistics in:\n{out}"
    return int(m.group(1)) + int(w.group(1))


# ---- a start that fails ------------------------------------------------------

def bad_value(lb):
    write_cp_api_config(lb, [dict(service(), check=dict(service()["check"], interval="fast"))])


def not_yaml(lb):
    # Only the state file's record names the VIP: the services cannot be read.
    with open(lb.path("cp.yaml"), "a") as f:
        f.write("services: [ {unclosed\n")


def leave_paths_then_fail(lb, break_config):
    p = start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)  # the path stays in gobgpd, as for a restart
    assert VIP_P in lb.router_routes(), f"a stopped controlplane's path left the router\n{lb.diag()}"
    break_config(lb)
    t0 = time.monotonic()
    log = exits_2(lb.start_controlplane(CP, lb.path("cp.yaml")), "a start with a bad configuration")
    assert "withdrawing the paths of our prefixes" in log, log
    t = until_routed(lb, VIP_P, 5, present=False)
    assert t - t0 < 5, f"withdrawn {t - t0:.1f}s after the failed start"


@controlplane_case
def a_start_with_a_bad_value_withdraws_what_the_last_run_left(lb):
    leave_paths_then_fail(lb, bad_value)


@controlplane_case
def a_start_with_a_file_that_is_not_yaml_withdraws_what_the_state_file_records(lb):
    leave_paths_then_fail(lb, not_yaml)


@controlplane_case
def a_start_whose_metrics_port_is_taken_withdraws(lb):
    p = start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)
    # Something else listens on the metrics address (the node's namespace).
    squatter = L.Proc(lb.node, ["/usr/bin/python3", "-c",
                                "import socket,time; s=socket.socket(); "
                                "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                                "s.bind(('127.0.0.1', 19100)); s.listen(); time.sleep(60)"],
                      lb.path("squatter.log"))
    try:
        L.wait_until(lambda: "19100" in L.run("ip", "netns", "exec", lb.node, "ss", "-ltn").stdout, 5,
                     what="the squatter listening")
        log = exits_2(lb.start_controlplane(CP, lb.path("cp.yaml")), "a start whose metrics port is taken")
        assert "withdrawing the paths" in log, log
        until_routed(lb, VIP_P, 5, present=False)
    finally:
        squatter.stop(signal.SIGKILL)


@controlplane_case
def a_second_controlplane_of_the_node_touches_nothing(lb):
    first = start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    # Same node (same gobgpd), its own files: started by mistake.
    second = lb.start_controlplane(CP, lb.path("cp.yaml"), name="controlplane2")
    log = exits_2(second, "a second controlplane of the node")
    assert "another control plane of this node is running" in log and f"pid {first.pid}" in log, log
    assert "withdraw" not in log, f"the second instance touched the routes:\n{log}"
    assert stays(lb, VIP_P, 3, present=True), f"the running one's VIP left\n{lb.diag()}"
    assert first.alive(), first.log()


# ---- a dead controlplane: node.orphan_timeout ----------------------------------

@controlplane_case
def paths_of_a_dead_controlplane_go_after_the_orphan_timeout(lb):
    p = start_guarded(lb)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    p.send(signal.SIGKILL)
    t0 = time.monotonic()
    assert stays(lb, VIP_P, ORPHAN_TIMEOUT - 1, present=True), \
        f"withdrawn before the orphan timeout ({ORPHAN_TIMEOUT}s)\n{lb.diag()}"
    t = until_routed(lb, VIP_P, ORPHAN_TIMEOUT + 2 - (time.monotonic() - t0), present=False)
    assert t - t0 <= ORPHAN_TIMEOUT + 2, f"withdrawn {t - t0:.1f}s after the kill"
    assert "no control plane confirmed it" in p.log(), p.log()
    with open(lb.path("cp-state.json")) as f:
        record = json.load(f)["announced_prefixes"]
    assert record == [VIP_P], record  # the next start still knows it was ours


@controlplane_case
def paths_of_a_stopped_controlplane_go_after_the_orphan_timeout(lb):
    p = start_guarded(lb)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    stop_by_sigterm(p)
    until_routed(lb, VIP_P, ORPHAN_TIMEOUT + 2, present=False)


@controlplane_case
def a_quick_restart_sends_the_router_no_update(lb):
    p = start_guarded(lb)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    time.sleep(1)  # the announcement settled
    before = import_updates(lb)
    p.send(signal.SIGKILL)
    lb.procs.pop("controlplane").wait(10)
    time.sleep(1)
    start_guarded(lb, fresh=False)
    # Past the old guard's timeout and the new run's first checks.
    assert stays(lb, VIP_P, ORPHAN_TIMEOUT + 3, present=True), f"the VIP left across the restart\n{lb.diag()}"
    after = import_updates(lb)
    assert after == before, f"the router received {after - before} UPDATE(s) across a quick restart\n{lb.diag()}"


@controlplane_case
def an_orphan_timeout_of_0_keeps_the_paths(lb):
    p = start_guarded(lb, timeout=0)
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    p.send(signal.SIGKILL)
    assert stays(lb, VIP_P, ORPHAN_TIMEOUT + 2, present=True), f"withdrawn with orphan_timeout 0\n{lb.diag()}"


if __name__ == "__main__":
    main()
