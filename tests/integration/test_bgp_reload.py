"""BGP integration: the configuration file: a bad one refused naming its
line, a bad reload changing nothing, reloads that must not flap a route.

Usage (root): test_bgp_reload.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import os
import re
import signal
import time

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, CP, INTERVAL, RISE, VIP2, VIP2_P, VIP_P, controlplane_case, ctl,
                        dp_backend_state, main, service, start_cp, start_cp_api, stays, until_routed,
                        write_cp_api_config)


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


if __name__ == "__main__":
    main()
