#!/usr/bin/python3
"""Each TRex profile builds its packets and its streams. TRex's API is not
installable here: the profiles keep packet building in plain scapy, and
get_streams()/get_profile() run against trex_api_stub.py, which has TRex's
names and signatures and checks each call; the field-engine programs they
record are stepped here to count the flows they really make."""
import importlib
import ipaddress
import os
import sys

from scapy.all import IP, IPv6, TCP, UDP, Ether, raw

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # perf/, for gen_traffic's config reader
import trex_api_stub as stub  # noqa: E402

checks = []


def case(fn):
    checks.append(fn)
    return fn


def streams_of(module, **tunables):
    """The streams a profile gives TRex for these -t values (through the stub)."""
    with stub.installed() as calls:
        got = importlib.import_module(module).register().get_streams(tunables=[], **tunables)
    assert got == [c for c in calls if hasattr(c, "packet")], "get_streams returned other than the streams it built"
    return got


def key_of(stream, values):
    """What makes a packet of the stream another flow: the values written."""
    return tuple(values[name] for name, *_ in stream.packet.writes)


def five_tuple(frame):
    p = Ether(frame)
    l3 = p[IP] if IP in p else p[IPv6]
    l4 = p[TCP] if TCP in p else p[UDP]
    return l3.src, l3.dst, "tcp" if TCP in p else "udp", l4.sport, l4.dport


def served():
    """(vip, proto, port) of perf/bench.conf's services."""
    services = importlib.import_module("gen_traffic").services_from_config(os.path.join(HERE, "..", "bench.conf"))
    return {(str(vip), proto, port) for vip, proto, port in services}


def check_stream(stream):
    """Aimed at a served service; an IPv4 header written is fixed after."""
    pkt, program = stream.packet.pkt, stream.packet.vm.program
    _, dst, proto, _, dport = five_tuple(raw(pkt))
    assert (dst, proto, dport) in served(), f"{dst} {proto}/{dport} is not a bench.conf service"
    if IP not in pkt:
        return
    ip_at = stub.layer_offset(pkt, "IP")
    writes = iter(stream.packet.writes)  # in program order
    last_ip_write = -1
    for i, (op, _) in enumerate(program):
        if op == "write" and ip_at <= next(writes)[1] < ip_at + 20:
            last_ip_write = i
    fixed = any(op in ("fix_chksum", "fix_chksum_hw") and i > last_ip_write for i, (op, _) in enumerate(program))
    assert last_ip_write < 0 or fixed, "IPv4 header written, checksum not fixed (anylb drops those)"


def distinct_flows(stream, packets):
    """Distinct flows in the first `packets` packets, and whether the next
    packet starts the walk again."""
    keys = (key_of(stream, values) for values in stub.simulate(stream.packet.vm, packets + 1))
    first = next(keys)
    seen = {first}
    for n, k in enumerate(keys, 1):
        if n == packets:
            return len(seen), k == first
        seen.add(k)


@case
def flows_profile_builds_64_byte_and_imix_frames():
    m = importlib.import_module("stl_flows")
    (p, _), = m.build_packets("64")
    assert len(raw(p)) == 60 and p[IP].dst == "203.0.113.10" and p[TCP].dport == 80 and p[TCP].flags == "A"
    # Simple IMIX: 40, 576 and 1500-byte IP packets, frames of 60, 590, 1514 (TRex's) without the FCS.
    frames = sorted({len(raw(q)) for q, _ in m.build_packets("imix")})
    assert frames == [60, 590, 1514], frames
    assert sorted(len(q[IP]) for q, _ in m.build_packets("imix")) == [46, 576, 1500]
    (p6, _), = m.build_packets("64", ipv6=True)
    assert p6[IPv6].dst == "2001:db8::10" and len(raw(p6)) >= 60


@case
def syn_flood_profile_sends_syns():
    m = importlib.import_module("stl_syn_flood")
    (p, _), = m.build_packets("64")
    assert p[TCP].flags == "S" and len(raw(p)) == 60
    Ether(raw(p))  # re-dissects


@case
def mix_profile_has_every_kind():
    m = importlib.import_module("stl_mix")
    pkts = [p for p, _, _ in m.build_packets()]
    assert any(IPv6 in p for p in pkts) and any(UDP in p for p in pkts)
    assert any(TCP in p and p[TCP].flags == "S" for p in pkts)


@case
def client_range_covers_up_to_the_most_flows():
    ap = importlib.import_module("anylb_profiles")
    for flows in (1, 4096, 1_000_000, 10_000_000):
        lo, hi = ap.client_range(flows)
        hosts = int(ipaddress.ip_address(hi)) - int(ipaddress.ip_address(lo)) + 1
        assert hosts * (ap.PORT_MAX - ap.PORT_MIN + 1) >= flows


@case
def the_stub_refuses_what_trex_has_not():
    # The point of the stub: a name or argument TRex lacks fails here.
    with stub.installed():
        try:
            from trex_stl_lib.api import STLFlowVM  # noqa: F401
            raise AssertionError("STLFlowVM imported: TRex has no such class")
        except ImportError:
            pass
        from trex_stl_lib.api import STLTXCont, STLVM
        for bad in (lambda: STLVM().var(name="x", min_value=1, max_value=2, size=3, op="inc"),
                    lambda: STLVM().var(name="x", min_value=1, max_value=2, size=2, op="inc", bogus=1),
                    lambda: STLVM().write(fv_name="undefined", pkt_offset="IP.src"),
                    lambda: STLTXCont(pps=1, percentage=10)):
            try:
                bad()
                raise AssertionError("accepted")
            except (TypeError, stub.StubError):
                pass


@case
def every_stl_profile_builds_streams_for_trex():
    for module, tunables in (("stl_flows", {}), ("stl_flows", dict(size="imix", ipv6=1)), ("stl_flows", dict(syn=1)),
                             ("stl_syn_flood", {}), ("stl_syn_flood", dict(ipv6=1)), ("stl_mix", {}),
                             ("stl_mix", dict(size="64", flows=4096))):
        streams = streams_of(module, **tunables)
        assert streams, f"{module} {tunables}: no stream"
        for s in streams:
            check_stream(s)


@case
def flows_profile_makes_exactly_the_asked_flows():
    # Two counters stepping together would make lcm(hosts, ports) flows, not hosts x ports.
    for flows, tunables in ((1, {}), (1000, {}), (4096, {}), (4096, dict(ipv6=1)), (100_000, {}),
                            (1_000_000, {})):
        for s in streams_of("stl_flows", flows=flows, **tunables):
            count, wraps = distinct_flows(s, flows)
            assert count == flows and wraps, f"flows={flows} {tunables}: {count} distinct, wraps {wraps}"


@case
def imix_rates_are_packet_rates_7_4_1():
    streams = streams_of("stl_flows", size="imix")
    assert all(s.mode.unit == "pps" for s in streams), "IMIX weights must be packet rates, not % of the link"
    rates = sorted((len(raw(s.packet.pkt)), s.mode.rate) for s in streams)
    assert [r for _, r in rates] == [7, 4, 1], rates


def mix_share(streams, pred):
    total = sum(s.mode.rate for s in streams)
    return sum(s.mode.rate for s in streams if pred(s.packet.pkt)) / total


@case
def mix_profile_keeps_the_bench_mix_shares():
    streams = streams_of("stl_mix")
    assert all(s.mode.unit == "pps" for s in streams)
    shares = [mix_share(streams, lambda p: TCP in p and p[TCP].flags == "S"), mix_share(streams, lambda p: UDP in p),
              mix_share(streams, lambda p: IPv6 in p)]
    assert all(abs(got - want) < 1e-9 for got, want in zip(shares, (0.25, 0.2, 0.2))), f"SYN, UDP, IPv6: {shares}"


@case
def mix_profile_walks_clients_and_keeps_syns_new():
    flows = 262144
    streams = streams_of("stl_mix", flows=flows, size="64")
    syns = [s for s in streams if TCP in s.packet.pkt and s.packet.pkt[TCP].flags == "S"]
    est = [s for s in streams if s not in syns]
    total, est_tuples = 0, set()
    for s in est:
        vars_ = {n for n, *_ in s.packet.writes}
        assert any(n.endswith(".ip") for n in vars_), "the client address must vary (one address: 64k flows at most)"
        count, wraps = distinct_flows(s, stream_flows(s))
        assert wraps, "the tuple walk does not come back after limit_flows"
        total += count
        est_tuples |= {five_tuple(stub.frame_bytes(s.packet, v)) for v in stub.simulate(s.packet.vm, 2000)}
    assert abs(total - flows) <= len(est), f"{total} established flows for {flows}"
    for s in syns:
        period = chain_period(s.packet.vm)
        assert period > 1 << 32, f"SYN tuples come back after {period} packets: within a flow table"
        sample = [five_tuple(stub.frame_bytes(s.packet, v)) for v in stub.simulate(s.packet.vm, 2000)]
        assert len(set(sample)) == len(sample), "a SYN repeats a tuple"
        assert not set(sample) & est_tuples, "SYNs reuse established flows' tuples"
        assert not {(a, p) for a, _, _, p, _ in sample} & {(a, p) for a, _, _, p, _ in est_tuples}


def stream_flows(stream):
    """limit_flows of the stream's tuple generator."""
    (limit,) = [a["limit_flows"] for op, a in stream.packet.vm.program if op == "tuple_var"]
    return limit


def chain_period(vm):
    """Packets before an inc var chain (next_var) comes back to its start."""
    specs = {a["name"]: a for op, a in vm.program if op == "var"}
    period = 1
    for s in specs.values():
        assert s["op"] == "inc" and s["step"] == 1, "period computed for step-1 inc chains only"
        period *= s["max"] - s["min"] + 1
    return period


@case
def astf_http_payloads_are_http():
    m = importlib.import_module("astf_http")
    req, resp = m.build_packets()
    assert req.startswith(b"GET / HTTP/1.1\r\n") and req.endswith(b"\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200 OK") and resp.endswith(b"x" * 1024)


@case
def astf_http_builds_a_profile_for_trex():
    with stub.installed() as calls:
        profile = importlib.import_module("astf_http").register().get_profile(tunables=[], cps=2500)
    assert calls == [profile]
    (t,) = profile.templates
    assert t.client.port == 80 and t.server.assoc.port == 80
    assert t.client.cps == 2500, f"-t cps=2500 gave cps {t.client.cps}"


print(f"1..{len(checks)}")
failed = 0
for i, fn in enumerate(checks, 1):
    try:
        fn()
        print(f"ok {i} - {fn.__name__}")
    except Exception as e:  # report every case
        failed += 1
        print(f"not ok {i} - {fn.__name__}: {e!r}")
sys.exit(1 if failed else 0)
