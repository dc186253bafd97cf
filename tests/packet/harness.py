"""Runs the real anylb-dataplane on net_pcap ports and reads back what it sent.

Two ways to feed it:
  - a pcap file (rx_pcap=FILE): every packet is read once at start;
  - a named pipe (rx_pcap=FIFO): the test writes packets in phases and can
    change the configuration (SIGHUP) between or during them. net_pcap reads
    32 packets per burst and blocks until it has them, so each phase ends with
    a filler of packets to a foreign address (dropped as not_for_node) that
    pushes the phase's last packets through.

Everything lives in a fresh temporary directory, the process is stopped by its
PID, and the directory is removed on exit: at the end, at exit, and on SIGTERM
or SIGINT (meson's timeout). What an earlier run killed outright left (each
name carries its PID) is swept at the start.
"""
import atexit
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tap import Tap as _SharedTap  # noqa: E402  (tests/tap.py)

from scapy.all import Ether, IP, IPv6, TCP, UDP, rdpcap, raw  # noqa: F401

Ether = Ether  # re-exported for tests

PORT_MAC = "02:70:63:61:70:00"  # net_pcap's fixed MAC for port 0
CLIENT_MAC = "02:00:00:00:00:99"
FILLER_DST = "192.0.2.250"       # not a VIP nor a node address
FILLER_COUNT = 64
NODE4 = "198.18.0.1"
NODE6 = "2001:db8:ff::1"

_live = []


def _cleanup():
    # Processes first (a test's helpers, then dataplanes), huge pages last:
    # a hugetlbfs still mapped cannot be unmounted.
    for dp in sorted(_live, key=lambda x: isinstance(x, HugePages)):
        dp.kill()


def track(obj):
    """Has teardown (the end, atexit, SIGTERM/SIGINT) call obj.kill(); a
    process it holds as obj.proc is SIGKILLed first on a signal. The object
    takes itself off with untrack() once it has released what it holds."""
    _live.insert(0, obj)


def untrack(obj):
    if obj in _live:
        _live.remove(obj)


atexit.register(_cleanup)


def _on_signal(signum, _frame):
    # Meson allows half a second after its SIGTERM. Kill first (by PID, no
    # wait: the handler may have interrupted a wait holding Popen's lock),
    # then exit: the cases' finally blocks and atexit give back the rest.
    for dp in list(_live):
        if getattr(dp, "proc", None) and dp.proc.returncode is None:
            try:
                os.kill(dp.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    sys.exit(128 + signum)


def sweep_stale():
    """Removes what runs killed outright (SIGKILL: no handler, no atexit) left,
    once their PID is gone: namespaces anylbt<pid>_<n> and what still runs in
    them, temporary directories anylb-pkt-<pid>-*, EAL runtime directories
    anylbpkt<pid>_<n> (and test_options' anylbopt<pid>_<n>)."""
    def dead(pid):
        return not os.path.exists(f"/proc/{pid}")
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in names.splitlines():
        m = re.match(r"(anylbt(\d+)_\d+)(\s|$)", line)
        if m and dead(m.group(2)):
            pids = subprocess.run(["ip", "netns", "pids", m.group(1)], capture_output=True, text=True).stdout
            for pid in pids.split():  # by PID, only inside a namespace of a dead run
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True)
    if os.path.isdir("/var/run/dpdk"):
        for d in os.listdir("/var/run/dpdk"):
            m = re.match(r"anylb(?:pkt|opt)(\d+)_", d)
            if m and dead(m.group(1)):
                shutil.rmtree(os.path.join("/var/run/dpdk", d), ignore_errors=True)
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        m = re.match(r"anylb-pkt-(\d+)-", d)
        if m and dead(m.group(1)):
            if os.path.ismount(os.path.join(tmp, d)):  # a HugePages mount (its page count is not known now)
                subprocess.run(["umount", os.path.join(tmp, d)], check=False)
            shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)


class Tap(_SharedTap):
    """tests/tap.py's runner, stopping any dataplane a failed case left, also
    on SIGTERM and SIGINT; it sweeps what killed runs left first."""

    def __init__(self):
        super().__init__(teardown=_cleanup)
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, _on_signal)
        sweep_stale()


def binary():
    return sys.argv[1]


def anylbctl():
    """The anylbctl binary: argv[2], or beside the build's dataplane."""
    if len(sys.argv) > 2:
        return sys.argv[2]
    return os.path.join(os.path.dirname(binary()), "..", "..", "grpc", "anylbctl", "anylbctl")


class Dataplane:
    """One anylb-dataplane process with a single net_pcap port."""

    _seq = 0
    netns = None

    def _ns(self, *cmd):
        return subprocess.run(["ip", "netns", "exec", self.netns, *cmd], check=True, capture_output=True, text=True)

    def __init__(self, config_lines, rx=None, fifo=False, workers=1, extra_args=(), rx_per_queue=None,
                 tx_port=False, live=False, in_netns=False, state_file=None, huge_dir=None):
        Dataplane._seq += 1
        self.live = live
        self.writers = []  # fifo mode: one pipe a RX queue
        self.proc = None
        self.prefix = f"anylbpkt{os.getpid()}_{Dataplane._seq}"
        self.dir = tempfile.mkdtemp(prefix=f"anylb-pkt-{os.getpid()}-")  # the PID: sweep_stale knows a dead run's
        _live.append(self)  # from here on, what it made goes at teardown even if the setup below fails
        self.config = os.path.join(self.dir, "dataplane.conf")
        self.counters_path = os.path.join(self.dir, "counters.json")
        self.out = os.path.join(self.dir, "out.pcap")
        self.fifo = None
        self.log = os.path.join(self.dir, "dataplane.log")
        self.write_config(config_lines)
        if in_netns or live:  # a namespace of our own for the process and its interfaces
            netns = f"anylbt{os.getpid()}_{Dataplane._seq}"
            subprocess.run(["ip", "netns", "add", netns], check=True)
            self.netns = netns  # set once it exists: teardown deletes it
        if rx_per_queue is not None:  # one pcap per RX queue (net_pcap has no RSS)
            paths = []
            for q, pkts in enumerate(rx_per_queue):
                p = os.path.join(self.dir, f"in{q}.pcap")
                write_pcap(p, pkts)
                paths.append(p)
            vdev = "net_pcap0," + ",".join(f"rx_pcap={p},tx_pcap={self.out}.{q}" for q, p in enumerate(paths))
        elif live:
            # A veth pair inside a namespace of our own: the dataplane reads one
            # end (never blocking, so API questions reach the worker at once)
            # and send() injects on the other.
            self._ns("ip", "link", "add", "rx0", "type", "veth", "peer", "name", "inj0")
            self._ns("ip", "link", "set", "rx0", "address", PORT_MAC)  # what the test frames are addressed to
            for dev in ("rx0", "inj0"):
                self._ns("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
                self._ns("ip", "link", "set", dev, "up")
            # net_af_packet hands over every frame at once (a pcap live capture
            # may hold a few in a half-filled block); forwarded packets leave
            # through a second port into a pcap file.
            empty = os.path.join(self.dir, "empty.pcap")
            write_pcap(empty, [])
            vdev = f"net_af_packet0,iface=rx0 --vdev=net_pcap1,rx_pcap={empty},tx_pcap={self.out}"
            extra_args = (*extra_args, "--tx-port", "net_pcap1")
        elif fifo:  # True, or the number of RX queues, each fed by a pipe of its own
            self.fifos = [os.path.join(self.dir, "in.fifo" if q == 0 else f"in{q}.fifo") for q in range(int(fifo))]
            for path in self.fifos:
                os.mkfifo(path)
            self.fifo = self.fifos[0]
            vdev = (f"net_pcap0,rx_pcap={self.fifo},tx_pcap={self.out}" if len(self.fifos) == 1 else
                    "net_pcap0," + ",".join(f"rx_pcap={f},tx_pcap={self.out}.{q}" for q, f in enumerate(self.fifos)))
        else:
            rx_path = os.path.join(self.dir, "in.pcap")
            write_pcap(rx_path, rx or [])
            vdev = f"net_pcap0,rx_pcap={rx_path},tx_pcap={self.out}"
        if tx_port:  # two-armed: a second port, silent on RX, takes every forwarded packet
            empty = os.path.join(self.dir, "empty.pcap")
            write_pcap(empty, [])
            vdev += f" --vdev=net_pcap1,rx_pcap={empty},tx_pcap={self.out}.port1"
            extra_args = (*extra_args, "--tx-port", "net_pcap1")
        lcores = "0@0,1@1" if workers == 1 else "0@0," + ",".join(f"{i}@1" for i in range(1, workers + 1))
        # 4 KiB pages, unless huge_dir (a mounted hugetlbfs): a secondary
        # process can attach only to a primary on huge pages (HugePages).
        memory = f"--huge-dir {huge_dir}" if huge_dir else "--no-huge"
        eal = f"--lcores={lcores} {memory} -m 256 --no-pci --no-telemetry --file-prefix {self.prefix} --vdev={vdev}"
        self.api = os.path.join(self.dir, "api.sock")
        self.state_file = state_file or os.path.join(self.dir, "state.json")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []  # ip execs: the PID stays the dataplane's
        self.args = [*prefix, binary(), "--config", self.config, "--eal", eal, "--counters-file", self.counters_path,
                     "--api-socket", self.api, "--state-file", self.state_file,
                     "--stats-interval", "0.05", "--mbufs", "4096", "--flow-capacity", "65536",
                     "--max-backends", "4096", "--max-services", "64", *extra_args]

    def write_config(self, lines):
        tmp = self.config + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.config)  # a reload never reads half a file

    def start(self):
        self._logf = open(self.log, "w")
        self.proc = subprocess.Popen(self.args, stdout=self._logf, stderr=subprocess.STDOUT)
        if self not in _live:  # stop() took it off: started again
            _live.append(self)
        if self.fifo:
            # The dataplane opens its pipes in queue order, each once the one
            # before has its header.
            self.writers = [self._open_pipe(path) for path in self.fifos]
        self.wait_for(lambda c: c is not None, what="first counters")
        return self

    def _open_pipe(self, path):
        """Opens an RX pipe once the dataplane has its end open (bounded by
        the process dying first) and writes the pcap header."""
        deadline = time.time() + 20
        fd = None
        while fd is None:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"dataplane did not open its RX pipe {path}:\n" + self.read_log())
                time.sleep(0.02)
        os.set_blocking(fd, True)
        writer = os.fdopen(fd, "wb")
        writer.write(PCAP_HEADER)
        writer.flush()
        return writer

    def ctl(self, *args, json_out=False, check=True):
        """Runs anylbctl against this dataplane; returns (exit code, stdout, stderr) or parsed JSON."""
        cmd = [anylbctl(), "--dataplane", self.api] + (["--json"] if json_out else []) + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[3:])} exited {r.returncode}: {r.stderr}")
        if json_out and r.returncode == 0:
            return json.loads(r.stdout)
        return r.returncode, r.stdout, r.stderr

    def restart(self):
        """Stops the process and starts it again with the same files (state file kept)."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        os.unlink(self.counters_path)
        self.start()

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def send(self, packets, filler=True, queue=0, wait=True):
        """Writes packets into RX queue `queue`'s pipe (fifo mode), then the
        filler; or, live, sends them into the veth (wait=False: all at once,
        not waiting for the dataplane to read them)."""
        if self.live:
            # In chunks, each read before the next is sent: a live capture
            # socket drops what it cannot buffer, and a test must not.
            packets = list(packets)
            for at in range(0, len(packets), 64 if wait else max(len(packets), 1)):
                chunk = packets[at:at + 64] if wait else packets
                before = self.counters()["ports"][0]["rx_packets"]
                path = os.path.join(self.dir, "send.pcap")
                write_pcap(path, chunk)
                self._ns("/usr/bin/python3", "-c", "import sys\nfrom scapy.all import rdpcap, sendp\n"
                         "sendp(rdpcap(sys.argv[1]), iface='inj0', verbose=0)", path)
                if wait:
                    self.wait_for(lambda c: c["ports"][0]["rx_packets"] >= before + len(chunk),
                                  what=f"{len(chunk)} packets read from the veth")
            return
        now = time.time()
        writer = self.writers[queue]
        writer.write(b"".join(pcap_record(p, now) for p in list(packets) + (filler_packets() if filler else [])))
        writer.flush()

    def counters(self):
        try:
            with open(self.counters_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_for(self, predicate, timeout=20, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dataplane exited ({self.proc.returncode}) waiting for {what}:\n" + self.read_log())
            c = self.counters()
            try:
                if predicate(c):
                    return c
            except (KeyError, TypeError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; counters: {json.dumps(self.counters())[:2000]}")

    def wait_forwarded(self, total, timeout=20):
        """Waits until the services' packet counters add up to `total`."""
        return self.wait_for(lambda c: sum(s["packets"] for s in c["services"]) >= total, timeout,
                             what=f"{total} forwarded packets")

    def reload(self, config_lines, wait=True):
        gen = self.counters()["generation"]
        self.write_config(config_lines)
        self.proc.send_signal(signal.SIGHUP)
        if wait:
            return self.wait_for(lambda c: c["generation"] > gen, what=f"generation > {gen}")

    def stop(self):
        """Stops the process (SIGTERM by PID) and returns the packets it sent.
        Its namespace, EAL runtime dir and temporary directory go whatever
        happens (a crash at shutdown included), then the exit status is checked."""
        try:
            self._close_writer()
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    raise AssertionError("dataplane did not stop on SIGTERM:\n" + self.read_log())
            self.final = self.counters()
            self.log_text = self.read_log()
            assert self.proc.returncode == 0, f"dataplane exited {self.proc.returncode}:\n" + self.log_text
            return self._sent_packets()
        finally:
            self._release()

    def _sent_packets(self):
        pkts = []
        for o in sorted(f for f in os.listdir(self.dir) if f.startswith("out.pcap")):
            path = os.path.join(self.dir, o)
            if os.path.getsize(path) > 0:
                pkts.extend(rdpcap(path))
        return pkts

    def kill(self):
        try:
            self._close_writer()
        except OSError:
            pass
        self._release()

    def _close_writer(self):
        writers, self.writers = self.writers, []
        for writer in writers:
            writer.close()

    def _release(self):
        """Gives back what it made, the process first if still running (each step safe to repeat)."""
        if self in _live:
            _live.remove(self)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "_logf", None):
            self._logf.close()
        self._drop_netns()
        self._drop_runtime()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _drop_runtime(self):
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)  # EAL leaves it behind

    def _drop_netns(self):
        if self.netns:
            subprocess.run(["ip", "netns", "del", self.netns], check=False)
            self.netns = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None and exc[0] is not None:
            self.kill()


class HugePages:
    """`count` 2 MiB huge pages reserved and a private hugetlbfs mounted for
    one test (as perf/bench.py --hugepages does); release() unmounts it and
    gives the pages back, also when a case fails or meson stops the test
    (Tap's teardown and atexit call it). Several releases are harmless."""

    PATH = "/proc/sys/vm/nr_hugepages"

    def __init__(self, count):
        self.count, self.before = count, None
        self.dir = tempfile.mkdtemp(prefix=f"anylb-pkt-{os.getpid()}-huge-")
        _live.append(self)  # released with the dataplanes

    def reserve(self):
        with open(self.PATH) as f:
            self.before = int(f.read())
        with open(self.PATH, "w") as f:
            f.write(str(self.before + self.count))
        with open(self.PATH) as f:
            got = int(f.read()) - self.before
        if got < self.count:
            raise AssertionError(f"only {got} of {self.count} huge pages could be reserved")
        subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", self.dir], check=True)
        return self

    def kill(self):
        self.release()

    def release(self):
        if self in _live:
            _live.remove(self)
        if os.path.ismount(self.dir):
            subprocess.run(["umount", self.dir], check=False)
        if self.before is not None:
            with open(self.PATH, "w") as f:
                f.write(str(self.before))
            self.before = None
        shutil.rmtree(self.dir, ignore_errors=True)


def pcap_record(p, when):
    b = p if isinstance(p, (bytes, bytearray)) else raw(p)
    return struct.pack("<IIII", int(when), int((when % 1) * 1e6), len(b), len(b)) + bytes(b)


PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # v2.4, Ethernet


def write_pcap(path, packets):
    """Writes scapy packets or raw frames (malformed ones scapy cannot dissect)."""
    now = time.time()
    with open(path, "wb") as f:
        f.write(PCAP_HEADER + b"".join(pcap_record(p, now) for p in packets))


def filler_packets():
    return [Ether(dst=PORT_MAC, src=CLIENT_MAC) / IP(src="198.51.100.250", dst=FILLER_DST) / UDP(sport=9, dport=9)
            for _ in range(FILLER_COUNT)]


def to_vip(vip, sport, dport=80, proto="tcp", src=None, flags="S", payload=b"", vlan=None):
    """A client packet to a VIP; the client address follows from the port so
    flows differ in both."""
    six = ":" in vip
    if src is None:
        src = f"2001:db8:c::{sport:x}" if six else f"198.51.100.{sport % 200 + 1}"
    l3 = IPv6(src=src, dst=vip) if six else IP(src=src, dst=vip)
    l4 = TCP(sport=sport, dport=dport, flags=flags) if proto == "tcp" else UDP(sport=sport, dport=dport)
    eth = Ether(dst=PORT_MAC, src=CLIENT_MAC)
    if vlan is not None:
        from scapy.all import Dot1Q
        eth = eth / Dot1Q(vlan=vlan)
    return eth / l3 / l4 / payload


GUE_PORT = 6080


def innermost(pkt):
    """The client's own IP packet inside whatever the dataplane wrapped it in."""
    layer = pkt[IP] if IP in pkt else pkt[IPv6]
    while True:
        nxt = layer.payload
        if isinstance(nxt, (IP, IPv6)):
            layer = nxt
            continue
        if isinstance(nxt, UDP) and nxt.dport == GUE_PORT:
            data = raw(nxt.payload)
            layer = IP(data) if data[0] >> 4 == 4 else IPv6(data)
            continue
        return layer


def flow_of(pkt):
    """(src, dst, sport, dport) of the client packet in a frame."""
    l3 = innermost(pkt)
    l4 = l3.payload
    return (l3.src, l3.dst, getattr(l4, "sport", 0), getattr(l4, "dport", 0))


def backend_lines(service, prefix, count, start=10, state=None, weight=None, mac_base=0x10, six=False):
    lines = []
    for i in range(count):
        addr = f"2001:db8:be::{start + i:x}" if six else f"{prefix}.{start + i}"
        line = f"backend = service={service} address={addr} mac=02:00:00:00:{mac_base:02x}:{start + i:02x}"
        if weight:
            line += f" weight={weight}"
        if state and i in state:
            line += f" state={state[i]}"
        lines.append(line)
    return lines


def mac_of(service_mac_base, index):
    return f"02:00:00:00:{service_mac_base:02x}:{index:02x}"


def drops(counters, exclude=("not_for_node",)):
    return {k: v for k, v in counters["drops"].items() if v and k not in exclude}
