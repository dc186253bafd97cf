"""The operator API's callers (issue 25 part 2, transport and roles): TLS with
client certificates on TCP, the role a certificate carries, the unix
sockets' mode, group and role, who a change is logged as, and a daemon that
refuses a socket path a live process serves.

Certificates are made here with openssl (a CA, the server's, an operator's,
two registrars' of one subject, one with no role, one of another CA, an
expired one).

Usage (root): test_api_auth.py [CONTROLPLANE [DATAPLANE [ANYLBCTL]]] [--only=CASE,CASE]
(the lab and the controlplane's fixtures: bgp_cases.py).
"""
import grp
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile

from bgp_cases import L  # lab/bgp_lab.py, on the path bgp_cases sets
from bgp_cases import (ANNOUNCE_WITHIN, CP, CTL, DP, DRAIN_WAIT, HOLD_DOWN, VIP2_P, VIP_P, WITHDRAW_WITHIN,
                        controlplane_case, ctl, dp_backend_state, main, service, start_cp_api, stays,
                        until_routed, write_cp_api_config)

TLS_PORT = 19443
ROLE = "urn:anylb:role:"
DENIED = "is not allowed to the registrar role"
_certs = {}


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"openssl {' '.join(map(str, args))}: {r.stderr}"


def certs():
    """The test's certificates, made once: {name: (cert, key)} and 'ca'."""
    if _certs:
        return _certs
    d = tempfile.mkdtemp(prefix="anylb-auth-certs-")
    _certs["dir"] = d
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=anylb test {ca}", cwd=d)

    def issue(name, subject, san, ca="ca", dates=None):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n")
        if dates is None:
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                    "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
        else:  # `openssl ca` takes explicit dates (x509 -req only -days from now)
            with open(os.path.join(d, "ca.cnf"), "w") as f:
                f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
                        "default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
            open(os.path.join(d, "index.txt"), "w").close()
            with open(os.path.join(d, "serial"), "w") as f:
                f.write("1000\n")
            openssl("ca", "-batch", "-config", "ca.cnf", "-cert", f"{ca}.pem", "-keyfile", f"{ca}.key",
                    "-in", f"{name}.csr", "-out", f"{name}.pem", "-startdate", dates[0], "-enddate", dates[1],
                    "-extfile", f"{name}.ext", cwd=d)
        _certs[name] = (os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key"))

    issue("server", "/CN=anylb-node", "DNS:anylb-node,IP:127.0.0.1")
    issue("operator", "/O=anylb test/CN=alice", f"URI:{ROLE}operator")
    issue("registrar", "/CN=backend3", f"URI:{ROLE}registrar,IP:{L.backend_addr(3)}")
    # Another key, the same subject and SAN: another registrar all the same.
    issue("registrar2", "/CN=backend3", f"URI:{ROLE}registrar,IP:{L.backend_addr(3)}")
    issue("norole", "/CN=nobody-in-particular", "DNS:somewhere.example")
    issue("untrusted", "/CN=mallory", f"URI:{ROLE}operator", ca="other-ca")
    issue("expired", "/CN=old-alice", f"URI:{ROLE}operator", dates=("20200101000000Z", "20200102000000Z"))
    _certs["ca"] = os.path.join(d, "ca.pem")
    return _certs


def cert_id(who):
    """'sha256:' and the first 16 hex digits of the certificate's fingerprint, as the owner names it."""
    r = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", certs()[who][0]],
                       capture_output=True, text=True, timeout=20, check=True)
    return "sha256:" + r.stdout.split("=", 1)[1].strip().replace(":", "").lower()[:16]


def tls_api(lb):
    c = certs()
    return {"socket": lb.path("cp.sock"), "tcp": f"127.0.0.1:{TLS_PORT}",
            "tls": {"ca": c["ca"], "cert": c["server"][0], "key": c["server"][1]}}


def tls_ctl(lb, who, *args):
    """anylbctl in the node's namespace against the TLS listener, as `who`."""
    c = certs()
    cert, key = c[who]
    return subprocess.run(["ip", "netns", "exec", lb.node, CTL, "--controlplane", f"127.0.0.1:{TLS_PORT}",
                           "--tls-ca", c["ca"], "--tls-cert", cert, "--tls-key", key, "--tls-server-name",
                           "anylb-node", "--json", *map(str, args)], capture_output=True, text=True, timeout=20)


def two_backends():
    svc = service()
    svc["backends"] = svc["backends"][:2]  # backend 3 joins by registering
    # Registrars may register .8-.15, one at a time (registration.*), with
    # the MAC they name: the lab's dataplane has no exception interface to
    # resolve one from.
    svc["registration"] = {"prefixes": ["198.18.1.8/29"], "max_backends": 1, "registrar_mac": True}
    return svc


def start_tls_cp(lb):
    p = start_cp_api(lb, [two_backends()], extra={"api": tls_api(lb)})
    L.wait_until(lambda: "TLS clients" in p.log(20000) or not p.alive(), 10, what="the TLS listener")
    assert p.alive(), p.log()
    until_routed(lb, VIP_P, ANNOUNCE_WITHIN)
    return p


def not_draining(lb):
    return ctl(lb, "node")["draining"] is False


@controlplane_case
def operator_over_tls_does_everything(lb):
    start_tls_cp(lb)
    a1, a2 = L.backend_addr(1), L.backend_addr(2)
    for args in (("service", "add", "api", "203.0.113.11", "tcp", 80),
                 ("backend", "add", "api", a1, "--mac", L.backend_mac(1)),
                 ("backend", "add", "api", a2, "--mac", L.backend_mac(2)),
                 ("backend", "disable", "web", a1), ("backend", "weight", "web", a2, 7)):
        r = tls_ctl(lb, "operator", *args)
        assert r.returncode == 0, f"{args}: {r.stderr}"
    until_routed(lb, VIP2_P, ANNOUNCE_WITHIN)
    L.wait_until(lambda: dp_backend_state(lb, a1) == "down", 5, what="web's backend 1 disabled in the dataplane")
    assert tls_ctl(lb, "operator", "backend", "enable", "web", a1).returncode == 0  # web's quorum is 2
    L.wait_until(lambda: dp_backend_state(lb, a1) == "up", 5, what="web's backend 1 enabled again")
    r = tls_ctl(lb, "operator", "node", "drain")
    assert r.returncode == 0, r.stderr
    until_routed(lb, VIP_P, DRAIN_WAIT + WITHDRAW_WITHIN, present=False)
    assert tls_ctl(lb, "operator", "node", "undrain").returncode == 0
    # web went below quorum while backend 1 was disabled: its hold-down
    # runs from the enable, a moment before the drain.
    until_routed(lb, VIP_P, HOLD_DOWN + ANNOUNCE_WITHIN)
    r = tls_ctl(lb, "operator", "service", "list")
    assert r.returncode == 0 and '"api"' in r.stdout, r.stdout + r.stderr


@controlplane_case
def registrar_over_tls_only_registers(lb):
    p = start_tls_cp(lb)
    a1, a3 = L.backend_addr(1), L.backend_addr(3)
    refused = {"AddService": ("service", "add", "evil", "203.0.113.12", "tcp", 80),
               "DeleteService": ("service", "del", "web"),
               "AddBackend": ("backend", "add", "web", a3, "--mac", L.backend_mac(3)),
               "SetBackendState": ("backend", "disable", "web", a1),
               "SetBackendWeight": ("backend", "weight", "web", a1, 1),
               "DeleteBackend": ("backend", "del", "web", a1),
               "DrainNode": ("node", "drain"),
               "GetNode": ("node",), "ListServices": ("service", "list"), "ListRoutes": ("routes",)}
    for method, args in refused.items():
        r = tls_ctl(lb, "registrar", *args)
        assert r.returncode == 1 and DENIED in r.stderr and method in r.stderr, f"{method}: {r.returncode} {r.stderr}"
    assert not_draining(lb), "a registrar drained the node"
    assert dp_backend_state(lb, a1) == "up", "a registrar disabled a backend"
    assert stays(lb, VIP_P, 1, present=True), "web left the router after a registrar's calls"
    # Registering: not outside the service's prefixes, nor another address than its certificate's.
    r = tls_ctl(lb, "registrar", "backend", "register", "web", "198.18.2.13", "--ttl", 30)
    assert r.returncode == 1 and "198.18.2.13 is outside service 'web' registration.prefixes" in r.stderr, r.stderr
    r = tls_ctl(lb, "registrar", "backend", "register", "web", "198.18.1.14", "--ttl", 30)
    assert r.returncode == 1 and "198.18.1.14 is not an address the client certificate names" in r.stderr, r.stderr
    # What it may do: register the address its certificate names, heartbeat, deregister.
    r = tls_ctl(lb, "registrar", "backend", "register", "web", a3, "--mac", L.backend_mac(3), "--ttl", 30)
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout)["registration_id"]
    L.wait_until(lambda: dp_backend_state(lb, a3) == "up", 5, what="registered backend up in the dataplane")
    assert tls_ctl(lb, "registrar", "backend", "heartbeat", rid).returncode == 0
    # Its owner, and the log, name the certificate itself (its fingerprint)
    # and the SAN IP it carries (Caller.cert_addresses).
    me = cert_id("registrar")
    r = tls_ctl(lb, "registrar", "backend", "registrations")
    assert r.returncode == 0 and [(x["registration_id"], x["owner"]) for x in json.loads(r.stdout)] == \
        [(rid, f"cert:CN=backend3 {me}")], r.stdout + r.stderr
    assert f"API RegisterBackend by certificate CN=backend3 {me} (SAN IP {a3}) from ipv4:127.0.0.1:" \
        in p.log(50000), p.log()
    # A certificate of the same subject and SAN IP is another registrar: it
    # neither sees, heartbeats, deregisters nor takes over the first's.
    r = tls_ctl(lb, "registrar2", "backend", "registrations")
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout + r.stderr
    for verb in ("heartbeat", "deregister"):
        r = tls_ctl(lb, "registrar2", "backend", verb, rid)
        assert r.returncode == 1 and f"registration_id: '{rid}' is not registered" in r.stderr, f"{verb}: {r.stderr}"
    r = tls_ctl(lb, "registrar2", "backend", "register", "web", a3, "--mac", L.backend_mac(3), "--ttl", 30)
    assert r.returncode == 1 and f"{a3} is registered in 'web' by someone else" in r.stderr, r.stderr
    assert dp_backend_state(lb, a3) == "up", "the other registrar's calls touched the registration"
    assert tls_ctl(lb, "registrar", "backend", "deregister", rid).returncode == 0
    # A service that does not let registrars name a MAC (registrar_mac,
    # off by default) refuses one; without one the rules let it through to
    # be resolved, which this lab's dataplane (no exception interface)
    # cannot do: refused there, and nothing registered.
    r = tls_ctl(lb, "operator", "service", "add", "api", "203.0.113.11", "tcp", 80, "--registration",
                "198.18.1.8/29", "--max-backends", 1)
    assert r.returncode == 0, r.stderr
    r = tls_ctl(lb, "registrar", "backend", "register", "api", a3, "--mac", L.backend_mac(3), "--ttl", 30)
    assert r.returncode == 1 and "backend.mac" in r.stderr \
        and "registration.registrar_mac" in r.stderr, r.stderr
    r = tls_ctl(lb, "registrar", "backend", "register", "api", a3, "--ttl", 30)
    assert r.returncode == 1 and "refused by the dataplane" in r.stderr and "key 'mac': required" in r.stderr, r.stderr
    r = tls_ctl(lb, "operator", "backend", "registrations", "--service", "api")
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout + r.stderr


@controlplane_case
def tls_listener_refuses_plaintext_unknown_expired_and_roleless(lb):
    p = start_tls_cp(lb)
    # A plaintext HTTP/2 client (what gRPC without TLS sends first): a
    # plaintext server would answer with its SETTINGS frame (type 4).
    plain = ("import socket\ns=socket.create_connection(('127.0.0.1',%d),timeout=5)\n"
             "s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'+bytes([0,0,0,4,0,0,0,0,0]))\n"
             "b=b''\ntry:\n while len(b)<9:\n  c=s.recv(64)\n  if not c: break\n  b+=c\n"
             "except OSError: pass\nprint('SETTINGS' if len(b)>=9 and b[3]==4 else 'REFUSED', b[:16].hex())\n") % TLS_PORT
    r = subprocess.run(["ip", "netns", "exec", lb.node, "/usr/bin/python3", "-c", plain], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("REFUSED"), r.stdout + r.stderr
    for who in ("untrusted", "expired"):
        r = tls_ctl(lb, who, "node", "drain")
        assert r.returncode == 1 and "cannot reach the control plane" in r.stderr, f"{who}: {r.stderr}"
    r = tls_ctl(lb, "norole", "node", "drain")
    assert r.returncode == 1 and "names no role" in r.stderr and "CN=nobody-in-particular" in r.stderr, r.stderr
    assert not_draining(lb), "a refused caller drained the node"
    assert "API DrainNode" not in p.log(50000), p.log()
    assert stays(lb, VIP_P, 1, present=True)


@controlplane_case
def unix_sockets_mode_group_role_and_who(lb):
    d = tempfile.mkdtemp(prefix="anylb-auth-sock-")
    os.chmod(d, 0o755)  # the lab's own directory is root's alone
    op_sock, reg_sock = os.path.join(d, "cp.sock"), os.path.join(d, "reg.sock")
    op_gid, reg_gid = grp.getgrnam("daemon").gr_gid, grp.getgrnam("bin").gr_gid
    try:
        write_cp_api_config(lb, [two_backends()], extra={"api": {
            "socket": op_sock, "group": "daemon", "registrar_socket": reg_sock, "registrar_group": str(reg_gid)}})
        p = lb.start_controlplane(CP, lb.path("cp.yaml"))
        L.wait_until(lambda: os.path.exists(reg_sock) or not p.alive(), 10, what="the registrar socket")
        for path, gid in ((op_sock, op_gid), (reg_sock, reg_gid)):
            st = os.stat(path)
            assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == gid, f"{path}: {oct(st.st_mode)} gid {st.st_gid}"

        def as_user(sock, gid, *args):
            c = subprocess.Popen([CTL, "--controlplane", sock, "--json", *map(str, args)], user=65534, group=gid,
                                 extra_groups=[], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = c.communicate(timeout=20)
            return c.pid, c.returncode, out, err

        # Not in the socket's group: not even connected.
        _, rc, _, err = as_user(op_sock, 65534, "node", "drain")
        assert rc == 1 and "cannot reach" in err, err
        # In it: an operator, and the change is logged with its uid, gid and pid.
        pid, rc, _, err = as_user(op_sock, op_gid, "node", "drain")
        assert rc == 0, err
        line = f"API DrainNode by uid 65534 gid {op_gid} pid {pid} on {op_sock} (operator)"
        L.wait_until(lambda: line in p.log(50000), 5, what=line, diag=lambda: p.log())
        _, rc, _, err = as_user(op_sock, op_gid, "node", "undrain")
        assert rc == 0, err
        # The registrar socket: a registrar's calls only.
        _, rc, _, err = as_user(reg_sock, reg_gid, "node", "drain")
        assert rc == 1 and DENIED in err and "DrainNode" in err, err
        _, rc, _, err = as_user(reg_sock, reg_gid, "backend", "disable", "web", L.backend_addr(1))
        assert rc == 1 and DENIED in err and "SetBackendState" in err, err
        pid, rc, out, err = as_user(reg_sock, reg_gid, "backend", "register", "web", L.backend_addr(3), "--mac",
                                    L.backend_mac(3), "--ttl", 30)
        assert rc == 0, err
        assert f"API RegisterBackend by uid 65534 gid {reg_gid} pid {pid} on {reg_sock} (registrar)" in p.log(50000)
        # One registration at a time (max_backends 1), whoever asks.
        _, rc, _, err = as_user(reg_sock, reg_gid, "backend", "register", "web", "198.18.1.14", "--ttl", 30)
        assert rc == 1 and "holds 1 registrations, its registration.max_backends" in err, err
        assert not_draining_at(op_sock)
    finally:
        lb.stop("controlplane")
        shutil.rmtree(d, ignore_errors=True)


def not_draining_at(sock):
    r = subprocess.run([CTL, "--controlplane", sock, "--json", "node"], capture_output=True, text=True, timeout=20)
    return r.returncode == 0 and '"draining": false' in r.stdout


@controlplane_case
def live_socket_refused_stale_socket_replaced(lb):
    start_cp_api(lb, [two_backends()])
    sock = lb.path("cp.sock")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    # A second control plane (another gobgpd, so another instance lock) on
    # the same socket path: refused, naming the path; the first keeps it.
    other = lb.path("cp-other.yaml")
    L.write_controlplane_config(other, [], gobgp_api="127.0.0.1:1", node_name="other",
                                dataplane_socket=lb.path("dataplane.sock"),
                                extra={"api": {"socket": sock}})
    with open(other) as f:
        text = f.read().replace("node:\n", "node:\n  orphan_timeout: 0ms\n", 1)
    with open(other, "w") as f:
        f.write(text)
    r = subprocess.run(["ip", "netns", "exec", lb.node, CP, "--config", other], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and f"'{sock}' is in use by a running process" in r.stderr, r.stderr
    assert "key 'api.socket'" in r.stderr, r.stderr
    assert ctl(lb, "node")["name"] == "node1", "the first control plane lost its socket"
    lb.stop("controlplane")
    # A stale socket (nobody listening): replaced.
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.close()
    p = start_cp_api(lb, [two_backends()], fresh=False)
    L.wait_until(lambda: p.alive() and ctl(lb, "node", check=False).returncode == 0, 10,
                 what="the control plane serving on a stale socket's path", diag=lambda: p.log())
    # The dataplane's socket: mode 0660, and a second dataplane on it is refused.
    dsock = lb.path("dataplane.sock")
    assert stat.S_IMODE(os.stat(dsock).st_mode) == 0o660, oct(os.stat(dsock).st_mode)
    eal = f"--lcores=0@0,1@1 --no-huge -m 128 --no-pci --no-telemetry --file-prefix {lb.tag}_dp2 --vdev=net_null1,no-rx=1"
    lb.dpdk_prefixes.append(f"{lb.tag}_dp2")
    # The live one's own state file too: the refused one must touch none of it.
    live_state = lb.path("dataplane.state.json")
    before = os.stat(live_state)
    r = L.run("ip", "netns", "exec", lb.node, DP, "--eal", eal, "--api-socket", dsock, "--mbufs", 2048,
              "--flow-capacity", 4096, "--state-file", live_state, "--node-address", L.NODE_LAN4,
              check=False, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and f"'{dsock}' is in use by a running process" in out, out
    after = os.stat(live_state)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "the live state file was rewritten"
    assert lb.procs["dataplane"].alive()
    d = subprocess.run([CTL, "--dataplane", dsock, "--json", "node"], capture_output=True, text=True, timeout=20)
    assert d.returncode == 0, d.stderr


@controlplane_case
def tcp_without_tls_refused_by_check_start_and_reload(lb):
    p = start_cp_api(lb, [two_backends()])
    good = lb.path("cp.yaml")
    with open(good) as f:
        valid = f.read()
    write_cp_api_config(lb, [two_backends()], extra={"api": {"socket": lb.path("cp.sock"),
                                                             "tcp": f"127.0.0.1:{TLS_PORT}"}})
    r = subprocess.run([CP, "--check", "--config", good], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "key 'api.tcp'" in r.stderr and "TLS and client certificates" in r.stderr \
        and " line " in r.stderr, r.stderr
    p.send(signal.SIGHUP)
    L.wait_until(lambda: "reload refused" in p.log(50000) and "api.tcp" in p.log(50000), 5, what="reload refused",
                 diag=lambda: p.log())
    assert p.alive() and ctl(lb, "node")["name"] == "node1"
    lb.stop("controlplane")
    q = start_cp_api(lb, [two_backends()], fresh=False, extra={"api": {"socket": lb.path("cp.sock"),
                                                                        "tcp": f"127.0.0.1:{TLS_PORT}"}})
    assert q.wait(20) == 2 and "api.tcp" in q.log(), q.log()
    with open(good, "w") as f:
        f.write(valid)


if __name__ == "__main__":
    try:
        main()
    finally:
        if "dir" in _certs:
            shutil.rmtree(_certs["dir"], ignore_errors=True)
