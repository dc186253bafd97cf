"""BGP integration: one fault at a time, checked at the router and in what
the controlplane and dataplane say: gobgpd killed (its paths come back
without a controlplane restart), gobgpd stopped (SIGSTOP: the controlplane
goes on checking and pushing, and says why BGP is stuck), the dataplane
killed in the middle of a large apply (it comes back with the old state or
the new one whole, is pushed the desired one, forwards again), the
controlplane's state file on a full filesystem (changes refused whole,
routes still follow health).

Usage (root): test_bgp_faults.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import glob
import json
import os
import signal
import subprocess
import time

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, CTL, FALL, HOLD_DOWN, INTERVAL, SESSION_TIMEOUT, VIP, VIP2, VIP2_P, VIP_P,
                       controlplane_case, ctl, dp_backend_state, drop_arms, forwarded, main, make_arms, service,
                       start_cp_api, start_two_armed_dataplane, stays, until_backends_up_in_dataplane, until_routed,
                       write_cp_api_config)


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



# ---- the dataplane killed in the middle of an apply ---------------------------
BIG_N = 40000                 # backends of `big`: its apply writes a state file of ~6 MB
BIG_VIP = "203.0.113.12"
KILL_ATTEMPTS = 3             # each a reload whose push the kill must land in


def big_service(weight):
    """A service of BIG_N backends, every one at `weight`, checked once an
    hour at an address with no route (down, cheaply): what changes between
    two pushes is the weights alone, and each push carries every backend."""
    return {"name": "big", "vip": BIG_VIP, "protocol": "tcp", "port": 80, "mode": "l2-dsr", "quorum": 1,
            "check": {"type": "tcp", "port": 80, "interval": "60m", "timeout": "1s", "rise": 1, "fall": 1},
            "backends": [{"address": f"198.19.{i >> 8}.{i & 255}", "mac": f"02:00:00:{i >> 8:02x}:{i & 255:02x}:02",
                          "weight": weight} for i in range(BIG_N)]}


def dataplane_holds(lb):
    """What the dataplane reports it holds (anylbctl against its socket):
    (generation, {service: [(address, weight)]})."""
    r = subprocess.run([CTL, "--dataplane", lb.path("dataplane.sock"), "--json", "state"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"anylbctl state: exit {r.returncode}: {r.stderr}"
    st = json.loads(r.stdout)
    held = {s["name"]: [] for s in st["services"]}
    for b in st["backends"]:
        held[b["service"]].append((b["address"], b["weight"]))
    return st["generation"], held


def whole(held, weight):
    """True if `held` is the desired state at `weight`: web's 3 backends and
    big's BIG_N, each at `weight`."""
    return (sorted(held) == ["big", "web"] and len(held["web"]) == 3 and len(held["big"]) == BIG_N and
            {w for _, w in held["big"]} == {weight})


def temporaries(lb):
    """The dataplane state file's temporary copies: `dataplane.state.json.tmp-`
    and mkstemp's six random characters (no fixed name to plant a link at)."""
    return glob.glob(glob.escape(lb.path("dataplane.state.json")) + ".tmp-??????")


def kill_in_push(lb, seconds=30):
    """SIGKILLs the dataplane as soon as a temporary copy of its state file
    exists (ApplyState writes it after decoding and building the state,
    before the rename that makes it the state file). True if the copy is
    still there after the kill: the process died between its open and the
    rename, mid-apply. Polled every 0.5 ms; the copy of a BIG_N state lives
    for 10-30 ms (its write and fsync)."""
    dp = lb.procs["dataplane"]
    deadline = time.monotonic() + seconds
    while not temporaries(lb):
        assert time.monotonic() < deadline, f"no push within {seconds}s\n{lb.diag()}"
        time.sleep(0.0005)
    os.kill(dp.pid, signal.SIGKILL)
    lb.stop("dataplane", signal.SIGKILL)  # reaped
    return bool(temporaries(lb))


@controlplane_case
def a_dataplane_killed_mid_apply_comes_back_whole(lb):
    # The controlplane pushes a state of 40,003 backends (a reload changing
    # every weight of `big`); the dataplane is killed -9 while it writes
    # it. Meanwhile the route is withdrawn; restarted as before (same state
    # file and options), it reports the old state or the new one, whole
    # (counted through its API, with the controlplane frozen so it cannot
    # have pushed yet); then it is pushed the new one, the route returns and
    # it forwards. Bounded: KILL_ATTEMPTS reloads, one must land mid-write.
    make_arms(lb)
    lb.stop("dataplane")
    try:
        start_two_armed_dataplane(lb)
        p = start_cp_api(lb, [service(), big_service(1)])
        until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
        until_backends_up_in_dataplane(lb)
        L.wait_until(lambda: whole(dataplane_holds(lb)[1], 1), 60, interval=0.5, what="big pushed", diag=lb.diag)
        assert forwarded(lb, VIP) == 20, f"not forwarding before the fault\n{lb.diag()}"
        landed = []
        for attempt in range(1, KILL_ATTEMPTS + 1):
            old, new = attempt, attempt + 1
            write_cp_api_config(lb, [service(), big_service(new)])
            p.send(signal.SIGHUP)
            mid = kill_in_push(lb)
            landed.append(mid)
            until_routed(lb, VIP_P, 10, present=False)
            assert p.alive(), f"the controlplane exited:\n{p.log()}"
            p.send(signal.SIGSTOP)  # no push until the restored state is read
            try:
                start_two_armed_dataplane(lb)
                generation, held = dataplane_holds(lb)
            finally:
                p.send(signal.SIGCONT)
            counts = {name: len(b) for name, b in held.items()}
            weights = sorted({w for _, w in held.get("big", [])})
            assert whole(held, old) or whole(held, new), \
                f"attempt {attempt}: restored neither whole state: {counts}, big's weights {weights}"
            print(f"# attempt {attempt}: killed {'mid-write' if mid else 'outside the write'}; "
                  f"restored generation {generation}: {counts}, big at weight {weights[0]}", flush=True)
            L.wait_until(lambda: whole(dataplane_holds(lb)[1], new), 30, interval=0.5,
                         what="the new state pushed to the restarted dataplane", diag=lb.diag)
            until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN + 5)
            until_backends_up_in_dataplane(lb)
            sent = forwarded(lb, VIP)
            assert sent == 20, f"attempt {attempt}: {sent} of 20 SYNs forwarded after the restart\n{lb.diag()}"
            stats = subprocess.run([CTL, "--dataplane", lb.path("dataplane.sock"), "--json", "stats"],
                                   capture_output=True, text=True, timeout=30)
            web = next(s for s in json.loads(stats.stdout)["services"] if s["service"] == "web")
            assert web["packets"] == 20, f"attempt {attempt}: web counted {web['packets']} packets, not 20"
            assert not temporaries(lb), f"the half-written copy outlived the restart: {temporaries(lb)}"
            if mid:
                break
        assert any(landed), f"no kill of {KILL_ATTEMPTS} landed while the state file was being written"
    finally:
        lb.stop("dataplane")  # the next case starts a net_null one
        drop_arms(lb)



# ---- the controlplane's state file on a full filesystem -----------------------

def fill(directory):
    """Writes a ballast file until `directory`'s filesystem is full."""
    path = os.path.join(directory, "ballast")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(fd)
    return path


@controlplane_case
def a_full_state_filesystem_refuses_changes_whole_and_routes_still_follow_health(lb):
    # The controlplane's state file on a 256 KiB tmpfs, then filled. An API
    # change is refused, saying why, and nothing of it is taken: not in the
    # file (unchanged, no temporary copy left), not in what runs, not in the
    # dataplane, not at the router. What does not need the file goes on: a
    # dead backend is withdrawn at the router (the record of that withdrawal
    # waits for room). Room again: the same change lands and is announced,
    # and the withdrawal is on file.
    fs = lb.path("cpfs")
    os.mkdir(fs)
    L.run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", fs)
    try:
        state = os.path.join(fs, "cp-state.json")
        p = start_cp_api(lb, [service(quorum=2), service("api", VIP2, quorum=3)], state_path=state)
        until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
        until_routed(lb, VIP2_P, ANNOUNCE_WITHIN)
        ctl(lb, "service", "add", "tun", "203.0.113.13", "tcp", 80)  # room: taken and written
        L.wait_until(lambda: ctl(lb, "service", "show", "tun", check=False).returncode == 0, 5,
                     what="tun shown (after the next pass)")
        with open(state) as f:
            before = f.read()
        assert "tun" in before, before
        ballast = fill(fs)
        r = ctl(lb, "backend", "add", "tun", L.backend_addr(1), "--mac", L.backend_mac(1), check=False)
        assert r.returncode != 0 and f"cannot write the state file '{state}'" in r.stderr, (r.returncode, r.stderr)
        with open(state) as f:
            assert f.read() == before, "the state file changed under a refused change"
        assert sorted(os.listdir(fs)) == ["ballast", "cp-state.json"], os.listdir(fs)
        assert ctl(lb, "service", "show", "tun")["backends"] == [], "a refused change runs"
        st = lb.dataplane_state()
        assert not [b for b in st["backends"] if b["service"] == "tun"], "a refused change reached the dataplane"
        # Health still decides the routes: api (quorum 3) loses a backend.
        lb.stop_backend(3)
        until_routed(lb, VIP2_P, FALL * INTERVAL + 5, present=False)
        assert VIP_P in lb.router_routes(), f"web (quorum 2 of 3) left the router\n{lb.diag()}"
        assert p.alive() and "cannot write the state file" in p.log(20000), p.log()
        with open(state) as f:
            assert f.read() == before, "the state file changed while full"
        os.unlink(ballast)
        ctl(lb, "backend", "add", "tun", L.backend_addr(1), "--mac", L.backend_mac(1))
        until_routed(lb, "203.0.113.13/32", ANNOUNCE_WITHIN)
        with open(state) as f:
            saved = json.load(f)
        assert "api" in json.dumps(saved.get("withdrawn_routes")), f"api's withdrawal not on file: {saved}"
        assert sorted(os.listdir(fs)) == ["cp-state.json"], os.listdir(fs)
        assert stays(lb, VIP2_P, 1, present=False), "api announced with 2 of its quorum of 3"
    finally:
        lb.stop("controlplane")  # its file is on the tmpfs
        L.run("umount", fs, check=False)
        os.rmdir(fs)


if __name__ == "__main__":
    main()
