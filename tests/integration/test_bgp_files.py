"""BGP integration: the files the daemons write and the processes they run.
State files (the dataplane's and the controlplane's) are mode 0600 and
written through a temporary made by mkstemp: a symlink planted at the old
fixed `.tmp` name, or at the file itself, is never written through (its
target stays as it was). An exec health check runs as health.exec_user
(nobody) with only the ANYLB_* variables and a fixed PATH; an unknown
exec_user is refused by --check naming the line and the key.

Usage (root): test_bgp_files.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import glob
import os
import pwd
import shutil
import stat
import subprocess
import tempfile

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, CP, INTERVAL, VIP_P, Skip, controlplane_case, ctl, main, service, start_cp_api,
                       tap, until_routed)

TUN = "203.0.113.13"


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def plant(lb, name, text):
    """A victim file with `text`, and a symlink to it at `name` in the lab."""
    victim = lb.path(name + ".victim")
    with open(victim, "w") as f:
        f.write(text)
    if os.path.lexists(lb.path(name)):
        os.unlink(lb.path(name))
    os.symlink(victim, lb.path(name))
    return victim


def read(path):
    with open(path) as f:
        return f.read()


def leftovers(lb):
    return glob.glob(lb.path("*.tmp-??????"))


@controlplane_case
def state_files_are_0600_and_no_planted_link_is_followed(lb):
    # Links at the fixed names a writer used before (state.json.tmp), then,
    # once both daemons have written their files, the files themselves
    # replaced by links to copies: an API change (persisted by the
    # controlplane, pushed to and persisted by the dataplane) replaces each
    # link with a regular file of mode 0600 and leaves every target as it was.
    old_tmp = {n: plant(lb, n + ".tmp", "precious " + n) for n in ("dataplane.state.json", "cp-state.json")}
    start_cp_api(lb, [service()])
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    ctl(lb, "service", "add", "tun", TUN, "tcp", 80)
    L.wait_until(lambda: "tun" in read(lb.path("cp-state.json")) and "tun" in read(lb.path("dataplane.state.json")),
                 10, what="tun in both state files", diag=lb.diag)
    finals = {n: plant(lb, n, read(lb.path(n))) for n in ("dataplane.state.json", "cp-state.json")}
    before = {v: read(v) for v in finals.values()}
    ctl(lb, "backend", "add", "tun", L.backend_addr(1), "--mac", L.backend_mac(1))
    L.wait_until(lambda: not any(os.path.islink(lb.path(n)) for n in finals), 10,
                 what="both state files rewritten", diag=lb.diag)
    for name, victim in finals.items():
        assert read(victim) == before[victim], f"{name}: the link at the file was written through"
        assert L.backend_addr(1) in read(lb.path(name)), f"{name} lacks the new backend: {read(lb.path(name))}"
        assert mode(lb.path(name)) == 0o600, f"{name}: mode {mode(lb.path(name)):o}, not 600"
    for name, victim in old_tmp.items():
        assert read(victim) == "precious " + name, f"{name}.tmp: the link at the old fixed name was written through"
        assert os.path.islink(lb.path(name + ".tmp")), f"{name}.tmp: the planted link was replaced"
    assert not leftovers(lb), f"temporaries left: {leftovers(lb)}"
    ctl(lb, "service", "del", "tun")
    for name in old_tmp:
        os.unlink(lb.path(name + ".tmp"))


@controlplane_case
def an_exec_check_runs_as_nobody_with_only_the_anylb_variables(lb):
    # The command writes who it ran as and its own environment (as execve
    # gave it: /proc/$$/environ, nothing the shell adds) per backend, into a
    # directory nobody may write, then succeeds: the VIP is announced, every
    # backend reported nobody's uid and exactly ANYLB_BACKEND, ANYLB_PORT,
    # ANYLB_SERVICE and PATH, none of the controlplane's own (a token set in
    # its environment for the test).
    out = tempfile.mkdtemp(prefix="anylb-exec-")
    os.chmod(out, 0o777)
    os.environ["ANYLB_TEST_TOKEN"] = "leak"
    os.environ["SECRET_TOKEN"] = "leak"
    try:
        web = service()
        web["check"] = {"type": "exec", "interval": f"{int(INTERVAL * 1000)}ms", "timeout": "400ms", "rise": 2,
                        "fall": 2,
                        "command": f"id -u > {out}/uid-$ANYLB_BACKEND && "
                                   f"tr '\\000' '\\n' < /proc/$$/environ | sort > {out}/env-$ANYLB_BACKEND"}
        p = start_cp_api(lb, [web])
        del os.environ["ANYLB_TEST_TOKEN"], os.environ["SECRET_TOKEN"]
        until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
        nobody = pwd.getpwnam("nobody").pw_uid
        for i in (1, 2, 3):
            addr = L.backend_addr(i)
            assert read(os.path.join(out, f"uid-{addr}")).strip() == str(nobody), \
                f"{addr}: ran as uid {read(os.path.join(out, f'uid-{addr}')).strip()}, not nobody's {nobody}"
            env = read(os.path.join(out, f"env-{addr}")).split()
            want = [f"ANYLB_BACKEND={addr}", "ANYLB_PORT=80", "ANYLB_SERVICE=web",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
            assert env == want, f"{addr}: environment {env}, want {want}"
            assert os.stat(os.path.join(out, f"uid-{addr}")).st_uid == nobody, f"{addr}: its file is not nobody's"
        assert p.alive(), p.log()
    finally:
        os.environ.pop("ANYLB_TEST_TOKEN", None)
        os.environ.pop("SECRET_TOKEN", None)
        shutil.rmtree(out)


@tap.case
def an_unknown_exec_user_is_refused_by_check_naming_line_and_key():
    if not os.access(CP, os.X_OK):
        raise Skip(f"no controlplane binary at {CP}")
    d = tempfile.mkdtemp(prefix="anylb-exec-user-")
    try:
        path = os.path.join(d, "cp.yaml")
        L.write_controlplane_config(path, [service()], extra={"health": {"exec_user": "no-such-user-anylb"}})
        line = next(n for n, text in enumerate(read(path).splitlines(), 1) if "exec_user" in text)
        r = subprocess.run([CP, "--config", path, "--check"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, f"exit {r.returncode} (want 2): {r.stdout}{r.stderr}"
        assert f"{path} line {line}: key 'health.exec_user'" in r.stderr and "no-such-user-anylb" in r.stderr, \
            f"does not name line {line} and health.exec_user: {r.stderr}"
        L.write_controlplane_config(path, [service()], extra={"health": {"exec_user": "nobody"}})
        r = subprocess.run([CP, "--config", path, "--check"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"nobody refused: exit {r.returncode}: {r.stderr}"
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
