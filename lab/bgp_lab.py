"""A BGP lab in network namespaces made by the test itself.

    router (BIRD, AS 65000)  --veth 198.18.100.0/30, 2001:db8:ff:100::/64--
    node   (gobgpd, AS 65001; anylb-dataplane and anylb-controlplane run here)
           --veth 198.18.1.1/24-- lan (a bridge) --veth-- be1..beN (198.18.1.11..)

BIRD imports everything and exports it to the router namespace's kernel table
(proto bird), so `router_routes()` is the end-to-end view of what the node
announced. gobgpd's API listens on the node namespace's loopback only: every
gRPC client (the gobgp CLI, the controlplane) runs inside that namespace.

Every daemon is started in a session of its own (setsid) and stopped by its
PID; namespaces are deleted on exit (atexit, SIGTERM/SIGINT/SIGHUP), after
killing whatever still runs inside them.
"""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROUTER_AS, NODE_AS = 65000, 65001
ROUTER_LINK4, NODE_LINK4 = "198.18.100.1", "198.18.100.2"
ROUTER_LINK6, NODE_LINK6 = "2001:db8:ff:100::1", "2001:db8:ff:100::2"
NODE_LAN4, NODE_LAN6 = "198.18.1.1", "2001:db8:ff:1::1"
# What the labs' nodes may announce (node.allowed_prefixes): the
# documentation ranges every lab VIP and covering prefix is taken from
# (RFC 5737, RFC 3849).
ALLOWED_PREFIXES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
GOBGP_API_PORT = 50051  # on the node namespace's own loopback: no clash with the host
NO_EXPORT = "65535:65281"
HTTP_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_http.py")


def backend_addr(i):
    return f"198.18.1.{10 + i}"


def backend_addr6(i):
    return f"2001:db8:ff:1::{10 + i:x}"


def backend_mac(i):
    return f"02:00:00:00:0b:{i:02x}"


def wait_until(predicate, timeout, interval=0.1, what="condition", diag=None):
    """Polls until predicate() is truthy; returns its value or raises with
    diag() appended. Bounded by timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            extra = ("\n" + diag()) if diag else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def holds_for(predicate, seconds, interval=0.1):
    """True if predicate() stays truthy for `seconds`; False at its first miss."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(interval)
    return bool(predicate())


def run(*cmd, check=True, timeout=20):
    """Runs a command (arguments str()-ed); raises on failure unless check=False."""
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {r.returncode}: {r.stderr.strip()}")
    return r


class Proc:
    """A daemon in its own session inside a namespace, output to a log file."""

    def __init__(self, netns, argv, log_path):
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self._log = open(log_path, "ab")  # appended: a restart keeps the earlier run for diagnostics
        self._log_start = self._log.tell()  # log() shows this run only
        # `ip netns exec` execs the command, so the PID is the daemon's own.
        self.p = subprocess.Popen(["ip", "netns", "exec", netns, *self.argv], stdin=subprocess.DEVNULL,
                                  stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.p.pid
        _started.append(self)

    def alive(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops it (sig, then SIGKILL to its whole session); returns the exit code."""
        if self.alive():
            os.kill(self.pid, sig)
            if self.wait(timeout) is None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)  # the session we created: children too
                except ProcessLookupError:
                    pass
                self.p.wait(timeout=10)
        self._log.close()
        if self in _started:
            _started.remove(self)
        return self.p.returncode

    def log(self, tail=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_start)
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""


_labs = []
_started = []  # every Proc of this process (a lab's, or the anycast lab's), for the signal path


def close_all():
    for lab in list(_labs):
        lab.close()


def _kill_started():
    """SIGKILLs every started daemon's session at once. Each runs in a session
    of its own, which meson's kill of the test's process group misses, and
    meson allows half a second after its SIGTERM: no time to stop them one by
    one. Only live ones: a reaped PID may have been reused."""
    for p in _started:
        if p.p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _on_signal(signum, _frame):
    _kill_started()
    close_all()  # namespaces, runtime and temporary directories (what is left, the next sweep_stale takes)
    sys.exit(128 + signum)


atexit.register(close_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def _drop_netns(ns):
    # Anything a daemon forked inside (health-check children...) goes too:
    # listed by PID, only in namespaces this lab made.
    for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run("ip", "netns", "del", ns, check=False)


def sweep_stale():
    """Removes what a SIGKILLed earlier run left (its PID is gone): its
    namespaces, their processes, its DPDK runtime and temporary directories."""
    for line in run("ip", "netns", "list").stdout.splitlines():
        m = re.match(r"(albg(\d+)[a-z]\w*)", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            _drop_netns(m.group(1))
    for d in os.listdir("/var/run/dpdk") if os.path.isdir("/var/run/dpdk") else ():
        m = re.match(r"albg(\d+)_", d)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            shutil.rmtree(os.path.join("/var/run/dpdk", d), ignore_errors=True)
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        m = re.match(r"anylb-bgp-(\d+)-", d)
        if m and not os.path.exists(f"/proc/{m.group(1)}") and not os.environ.get("ANYLB_KEEP_LAB"):
            shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)


class Lab:
    def __init__(self, backends=3, backend_vips=()):
        self.tag = f"albg{os.getpid()}"
        self.router, self.node, self.lan = f"{self.tag}r", f"{self.tag}n", f"{self.tag}l"
        self.backends = [f"{self.tag}b{i}" for i in range(1, backends + 1)]
        self.dir = tempfile.mkdtemp(prefix=f"anylb-bgp-{os.getpid()}-")
        self.bird_sock = os.path.join(self.dir, "bird.ctl")
        self.procs = {}  # name -> Proc
        self.namespaces = []
        self.backend_vips = list(backend_vips)
        self.dpdk_prefixes = []
        _labs.append(self)

    # ---- construction -------------------------------------------------
    def start(self, timeout=30):
        sweep_stale()
        try:
            self._build_links()
            self.start_bird()
            self.start_gobgpd()
            for i in range(1, len(self.backends) + 1):
                self.start_backend(i)
            self.wait_established(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _netns_add(self, ns):
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")

    def _veth(self, ns_a, name_a, ns_b, name_b, mac_b=None):
        run("ip", "-n", ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)
        if mac_b:
            run("ip", "-n", ns_b, "link", "set", name_b, "address", mac_b)
        run("ip", "-n", ns_a, "link", "set", name_a, "up")
        run("ip", "-n", ns_b, "link", "set", name_b, "up")

    def _build_links(self):
        for ns in (self.router, self.node, self.lan, *self.backends):
            self._netns_add(ns)
        self._veth(self.router, "down0", self.node, "up0")
        run("ip", "-n", self.router, "addr", "add", f"{ROUTER_LINK4}/30", "dev", "down0")
        run("ip", "-n", self.node, "addr", "add", f"{NODE_LINK4}/30", "dev", "up0")
        # nodad: BIRD only accepts an IPv6 next hop on a usable connected network.
        run("ip", "-n", self.router, "addr", "add", f"{ROUTER_LINK6}/64", "dev", "down0", "nodad")
        run("ip", "-n", self.node, "addr", "add", f"{NODE_LINK6}/64", "dev", "up0", "nodad")
        run("ip", "-n", self.lan, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.lan, "link", "set", "br0", "up")
        self._veth(self.lan, "p0", self.node, "lan0")
        run("ip", "-n", self.lan, "link", "set", "p0", "master", "br0")
        run("ip", "-n", self.node, "addr", "add", f"{NODE_LAN4}/24", "dev", "lan0")
        run("ip", "-n", self.node, "addr", "add", f"{NODE_LAN6}/64", "dev", "lan0", "nodad")
        for i, be in enumerate(self.backends, 1):
            self._veth(self.lan, f"p{i}", be, "eth0", mac_b=backend_mac(i))
            run("ip", "-n", self.lan, "link", "set", f"p{i}", "master", "br0")
            run("ip", "-n", be, "addr", "add", f"{backend_addr(i)}/24", "dev", "eth0")
            run("ip", "-n", be, "addr", "add", f"{backend_addr6(i)}/64", "dev", "eth0", "nodad")
            for vip in self.backend_vips:  # as for direct server return
                run("ip", "-n", be, "addr", "add", vip + ("/128" if ":" in vip else "/32"), "dev", "lo")

    # ---- BIRD (router) -------------------------------------------------
    def start_bird(self):
        conf = os.path.join(self.dir, "bird.conf")
        with open(conf, "w") as f:
            f.write(BIRD_CONF.format(router=ROUTER_LINK4, node=NODE_LINK4, ras=ROUTER_AS, nas=NODE_AS))
        self.procs["bird"] = Proc(self.router, ["/usr/sbin/bird", "-f", "-c", conf, "-s", self.bird_sock,
                                                "-P", os.path.join(self.dir, "bird.pid")],
                                  os.path.join(self.dir, "bird.log"))
        wait_until(lambda: self.birdc("show", "status", check=False).returncode == 0, 10,
                   what="BIRD control socket", diag=lambda: self.procs["bird"].log())

    def birdc(self, *args, check=True):
        return run("/usr/sbin/birdc", "-s", self.bird_sock, *args, check=check)

    def bgp_established(self):
        r = self.birdc("show", "protocols", "node", check=False)
        return r.returncode == 0 and "Established" in r.stdout

    def wait_established(self, timeout=30):
        wait_until(self.bgp_established, timeout, interval=0.25, what="BGP session BIRD <-> gobgpd",
                   diag=self.diag)

    def router_routes(self):
        """Prefixes BIRD installed into the router namespace's kernel table."""
        out = set()
        for fam in ("-4", "-6"):
            r = run("ip", "-n", self.router, fam, "route", "show", "proto", "bird")
            for line in r.stdout.splitlines():
                dst = line.split()[0] if line.strip() else ""
                if dst and "/" not in dst:
                    dst += "/32" if fam == "-4" else "/128"
                if dst:
                    out.add(dst)
        return out

    def router_communities(self, prefix):
        """BGP communities ("A:B") of BIRD's route for exactly `prefix`;
        None when BIRD has no such route."""
        r = self.birdc("show", "route", prefix, "all", check=False)
        if prefix.split("/")[0] not in r.stdout:
            return None
        comms = set()
        for m in re.finditer(r"BGP\.community:\s*(.*)", r.stdout):
            comms.update(f"{a}:{b}" for a, b in re.findall(r"\((\d+),\s*(\d+)\)", m.group(1)))
        return comms

    def router_route_detail(self, prefix):
        return self.birdc("show", "route", prefix, "all", check=False).stdout

    # ---- gobgpd (node) -------------------------------------------------
    def start_gobgpd(self):
        conf = os.path.join(self.dir, "node.toml")
        with open(conf, "w") as f:
            f.write(gobgpd_conf(NODE_LINK4, ROUTER_LINK4, NODE_AS, ROUTER_AS))
        self.procs["gobgpd"] = Proc(self.node, ["/usr/bin/gobgpd", "-f", conf, "--api-hosts",
                                                f"127.0.0.1:{GOBGP_API_PORT}", "--pprof-disable", "-p"],
                                    os.path.join(self.dir, "gobgpd.log"))
        wait_until(lambda: self.gobgp("global", check=False).returncode == 0, 15, interval=0.2,
                   what="gobgpd API", diag=lambda: self.procs["gobgpd"].log())

    def stop_gobgpd(self):
        p = self.procs.pop("gobgpd", None)
        return p.stop() if p else None

    def restart_gobgpd(self):
        self.stop_gobgpd()
        self.start_gobgpd()

    def gobgp(self, *args, check=True):
        """The gobgp CLI inside the node namespace, against gobgpd's API."""
        return run("ip", "netns", "exec", self.node, "/usr/bin/gobgp", "-u", "127.0.0.1",
                    "-p", GOBGP_API_PORT, *args, check=check)

    def clear_local_paths(self):
        """Withdraws every path originated in gobgpd (what a controlplane left)."""
        for fam in ("ipv4", "ipv6"):
            self.gobgp("global", "rib", "-a", fam, "del", "all", check=False)

    # ---- backends --------------------------------------------------------
    def start_backend(self, i):
        """(Re)starts backend i's HTTP server (port 80, answers its name) and
        waits until it listens."""
        be = self.backends[i - 1]
        self.stop_backend(i)
        status = os.path.join(self.dir, f"be{i}.status")
        self.procs[be] = Proc(be, ["/usr/bin/python3", HTTP_SERVER, f"be{i}", "80", status],
                              os.path.join(self.dir, f"be{i}.log"))
        wait_until(lambda: ":80 " in run("ip", "netns", "exec", be, "ss", "-Hltn", "sport", "=", ":80").stdout + " ",
                   10, what=f"backend {i} listening", diag=lambda: self.procs[be].log())

    def stop_backend(self, i, sig=signal.SIGKILL):
        p = self.procs.pop(self.backends[i - 1], None)
        if p:
            p.stop(sig)

    def set_backend_status(self, i, code):
        """Makes backend i answer HTTP `code` (None: back to 200) while still listening."""
        path = os.path.join(self.dir, f"be{i}.status")
        if code is None:
            if os.path.exists(path):
                os.unlink(path)
        else:
            with open(path, "w") as f:
                f.write(str(code))

    def backend_alive(self, i):
        p = self.procs.get(self.backends[i - 1])
        return bool(p and p.alive())

    # ---- anylb binaries in the node namespace ----------------------------
    def start_dataplane(self, binary, name="dataplane", extra=(), vdev="net_null0,no-rx=1", mbufs=2048,
                        flow_capacity=4096, memory_mb=256):
        """anylb-dataplane (on net_null unless `vdev` says otherwise) with no
        services: the controlplane pushes them. A pcap replayed in a loop
        (net_pcap's infinite_rx) holds the whole file in mbufs: more mbufs
        and EAL memory (`memory_mb`) then."""
        prefix = f"{self.tag}_{name}"
        self.dpdk_prefixes.append(prefix)
        sock = os.path.join(self.dir, f"{name}.sock")
        if os.path.exists(sock):
            os.unlink(sock)
        eal = (f"--lcores=0@0,1@1 --no-huge -m {memory_mb} --no-pci --no-telemetry --file-prefix {prefix} "
               f"--vdev={vdev}")
        p = Proc(self.node, [binary, "--eal", eal, "--mbufs", mbufs, "--flow-capacity", flow_capacity,
                             "--api-socket", sock, "--state-file", os.path.join(self.dir, f"{name}.state.json"),
                             "--node-address", NODE_LAN4, *extra], os.path.join(self.dir, f"{name}.log"))
        self.procs[name] = p
        wait_until(lambda: os.path.exists(sock) or not p.alive(), 30, what="dataplane API socket")
        assert p.alive(), "dataplane exited at start:\n" + p.log()
        return sock

    def dataplane_state(self, name="dataplane"):
        try:
            with open(os.path.join(self.dir, f"{name}.state.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def start_controlplane(self, binary, config_path, name="controlplane", extra=("--log-level", "debug")):
        p = Proc(self.node, [binary, "--config", config_path, *extra], os.path.join(self.dir, f"{name}.log"))
        self.procs[name] = p
        return p

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        return p.stop(sig) if p else None

    def path(self, name):
        return os.path.join(self.dir, name)

    # ---- diagnostics and teardown ----------------------------------------
    def diag(self):
        parts = [f"--- birdc show protocols all node\n{self.birdc('show', 'protocols', 'all', 'node', check=False).stdout}"]
        for name, p in self.procs.items():
            if not name.startswith(self.tag):
                parts.append(f"--- {name} (pid {p.pid}, {'alive' if p.alive() else 'exited'}) log tail\n{p.log(2500)}")
        return "\n".join(parts)

    def close(self):
        for name in list(self.procs):
            try:
                self.procs.pop(name).stop(signal.SIGTERM, timeout=5)
            except Exception:  # keep tearing down
                pass
        for ns in reversed(self.namespaces):
            _drop_netns(ns)
        self.namespaces = []
        for prefix in self.dpdk_prefixes:
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        self.dpdk_prefixes = []
        if os.environ.get("ANYLB_KEEP_LAB"):
            print(f"# lab files kept in {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self in _labs:
            _labs.remove(self)


# Short timers everywhere: a lost session must come back in seconds.
BIRD_CONF = """\
router id {router};
log stderr all;
protocol device {{ scan time 1; }}
protocol kernel {{ ipv4 {{ import none; export all; }}; }}
protocol kernel {{ ipv6 {{ import none; export all; }}; }}
protocol bgp node {{
  local {router} as {ras};
  neighbor {node} as {nas};
  hold time 9; keepalive time 3;
  ttl security on;
  connect delay time 1; connect retry time 2; error wait time 1, 4;
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
"""

def gobgpd_conf(node, router, nas, ras, connect_retry=5, hold_time=9, keepalive=3, local_address=True, gtsm=True):
    """gobgpd's TOML: AS `nas` at `node` peering with `router` (AS `ras`) for
    IPv4 and IPv6 unicast; the session's source pinned to `node` unless
    local_address is false (the anycast lab's nodes let the kernel pick).
    With gtsm, GTSM (RFC 5082: sent with TTL 255, only 255 accepted; the
    router's BIRD says `ttl security on`), which the control plane passes
    on to the dataplane's policer."""
    transport = f"""  [neighbors.transport.config]
    local-address = "{node}"
""" if local_address else ""
    if gtsm:
        transport += """  [neighbors.ttl-security.config]
    enabled = true
    ttl-min = 255
"""
    return f"""[global.config]
  as = {nas}
  router-id = "{node}"
  local-address-list = ["{node}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{router}"
    peer-as = {ras}
{transport}  [neighbors.timers.config]
    connect-retry = {connect_retry}
    hold-time = {hold_time}
    keepalive-interval = {keepalive}
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"""


def write_controlplane_config(path, services, gobgp_api=f"127.0.0.1:{GOBGP_API_PORT}", dataplane_socket="",
                              node_name="node1", node_addresses=(NODE_LAN4, NODE_LAN6), next_hop=NODE_LINK4,
                              next_hop_v6=NODE_LINK6, extra=None, allowed_prefixes=ALLOWED_PREFIXES):
    """Writes the controlplane's YAML (block style; every scalar JSON-quoted,
    which YAML reads as is: no "65000:100" read as a base-60 number)."""
    doc = {"node": {"name": node_name, "dataplane_socket": dataplane_socket,
                    "node_addresses": list(node_addresses), "allowed_prefixes": list(allowed_prefixes),
                    "next_hop": next_hop,
                    "next_hop_v6": next_hop_v6},
           "gobgp": {"api": gobgp_api}, "services": services}
    if extra:
        doc.update(extra)
    text = "\n".join(_yaml(doc, 0)) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # a reload never reads half a file
    return text


def _yaml(v, indent):
    pad = " " * indent
    if isinstance(v, dict):
        lines = []
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                lines.append(f"{pad}{k}:")
                lines.extend(_yaml(x, indent + 2))
            else:
                lines.append(f"{pad}{k}: {_scalar(x)}")
        return lines
    lines = []
    for x in v:
        sub = _yaml(x, indent + 2) if isinstance(x, (dict, list)) and x else [" " * (indent + 2) + _scalar(x)]
        lines.append(pad + "- " + sub[0].lstrip())
        lines.extend(sub[1:])
    return lines


def _scalar(x):
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, (list, dict)):  # empty
        return "[]" if isinstance(x, list) else "{}"
    return json.dumps(str(x))
