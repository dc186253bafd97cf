"""Stand-ins for TRex's Python API (not installable here), for
test_profiles.py: the names and signatures of TRex 2.x
(trex/stl/trex_stl_packet_builder_scapy.py, trex_stl_streams.py and
trex/astf/trex_astf_profile.py), each call checked as TRex checks it and
recorded, so a wrong class name, argument or field fails the test.

    with installed() as calls:
        streams = module.register().get_streams(...)

Only what the profiles use (and its documented neighbours) is here: a
profile using more needs it added, from TRex's own signature.
"""
import contextlib
import ipaddress
import sys
import types

from scapy.all import IP, IPv6, TCP, UDP, Packet, raw

# Where TRex resolves "Layer.field" (scapy's layout): (offset in the layer, bytes).
FIELDS = {
    "IP": (IP, {"src": (12, 4), "dst": (16, 4)}),
    "IPv6": (IPv6, {"src": (8, 16), "dst": (24, 16)}),
    "TCP": (TCP, {"sport": (0, 2), "dport": (2, 2)}),
    "UDP": (UDP, {"sport": (0, 2), "dport": (2, 2)}),
}
SIZES = (1, 2, 4, 8)


class StubError(Exception):
    """What TRex would raise (CTRexPacketBuildException, TRexError...)."""


def _value(v):
    """TRex's convert_val: an int, or an IPv4 address as a string."""
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise StubError(f"value {v!r}: an int or an IPv4 string")
    return int(ipaddress.IPv4Address(v)) if isinstance(v, str) else v


def _check(ok, what):
    if not ok:
        raise StubError(what)


def layer_offset(pkt, layer):
    """Byte offset of `layer` (a FIELDS name) in `pkt`."""
    _check(layer in FIELDS, f"layer {layer}: not in the stub (add it from scapy's layout)")
    cls = FIELDS[layer][0]
    _check(cls in pkt, f"no layer {layer} in {pkt.summary()}")
    return len(raw(pkt)) - len(raw(pkt[cls]))


def field_span(pkt, name):
    """(offset, size) of "Layer.field" in `pkt`, as TRex's _name_to_offset."""
    layer, _, field = name.partition(".")
    _check(field, f"pkt_offset {name!r}: 'Layer.field' expected")
    offset = layer_offset(pkt, layer)
    fields = FIELDS[layer][1]
    _check(field in fields, f"field {name}: not in the stub")
    at, size = fields[field]
    return offset + at, size


def _stl_api(calls):
    class STLVM:
        """The field engine program: var / tuple_var / write / fix_chksum."""

        def __init__(self):
            self.program = []  # (op, arguments), in order

        def var(self, name, min_value, max_value, size, op, step=1, split_to_cores=True, next_var=None):
            lo, hi = _value(min_value), _value(max_value)
            _check(isinstance(name, str) and name, "var: name")
            _check(size in SIZES, f"var {name}: size {size} not in {SIZES}")
            _check(op in ("inc", "dec", "random"), f"var {name}: op {op!r}")
            _check(0 <= lo <= hi < 1 << (8 * size), f"var {name}: {lo}..{hi} does not fit {size} byte(s)")
            _check(isinstance(step, int) and step > 0, f"var {name}: step {step}")
            if next_var is not None:
                _check(op != "random", f"var {name}: next_var with a random op")
                _check(next_var != name, f"var {name}: next_var is itself")
            self.program.append(("var", dict(name=name, min=lo, max=hi, size=size, op=op, step=step,
                                              split_to_cores=split_to_cores, next_var=next_var)))

        def tuple_var(self, name, ip_min, ip_max, port_min, port_max, limit_flows=0):
            lo, hi = _value(ip_min), _value(ip_max)
            _check(0 <= lo <= hi <= 0xFFFFFFFF, f"tuple_var {name}: ip {lo}..{hi}")
            _check(0 <= port_min <= port_max <= 0xFFFF, f"tuple_var {name}: port {port_min}..{port_max}")
            _check(isinstance(limit_flows, int) and limit_flows >= 0, f"tuple_var {name}: limit_flows")
            self.program.append(("tuple_var", dict(name=name, ip_min=lo, ip_max=hi, port_min=port_min,
                                                    port_max=port_max, limit_flows=limit_flows)))

        def write(self, fv_name, pkt_offset, offset_fixup=0, add_val=0, byte_order="big"):
            _check(byte_order in ("big", "little"), f"write {fv_name}: byte_order {byte_order!r}")
            _check(fv_name in self.var_sizes(), f"write: {fv_name!r} is no variable defined before it")
            self.program.append(("write", dict(fv_name=fv_name, pkt_offset=pkt_offset, offset_fixup=offset_fixup,
                                                add_val=add_val, byte_order=byte_order)))

        def fix_chksum(self, offset="IP"):
            self.program.append(("fix_chksum", dict(offset=offset)))

        def fix_chksum_hw(self, l3_offset, l4_offset, l4_type):
            self.program.append(("fix_chksum_hw", dict(l3_offset=l3_offset, l4_offset=l4_offset, l4_type=l4_type)))

        def var_sizes(self):
            """name -> bytes of every variable defined so far (a tuple_var is two)."""
            out = {}
            for op, a in self.program:
                if op == "var":
                    out[a["name"]] = a["size"]
                elif op == "tuple_var":
                    out[a["name"] + ".ip"], out[a["name"] + ".port"] = 4, 2
            return out

        def compile(self, pkt):
            """What TRex checks when the builder compiles the program against
            its packet; returns the writes as (variable, offset, size, add_val, byte_order)."""
            sizes = self.var_sizes()
            for op, a in self.program:
                if op == "var" and a["next_var"] is not None:
                    _check(a["next_var"] in sizes, f"var {a['name']}: next_var {a['next_var']!r} undefined")
            writes = []
            for op, a in self.program:
                if op == "write":
                    at, field = field_span(pkt, a["pkt_offset"]) if isinstance(a["pkt_offset"], str) \
                        else (a["pkt_offset"], sizes[a["fv_name"]])
                    size = sizes[a["fv_name"]]
                    _check(0 <= a["offset_fixup"] and a["offset_fixup"] + size <= field,
                           f"write {a['fv_name']}: {size} byte(s) at +{a['offset_fixup']} overflow {a['pkt_offset']}")
                    writes.append((a["fv_name"], at + a["offset_fixup"], size, a["add_val"], a["byte_order"]))
                elif op == "fix_chksum" and isinstance(a["offset"], str):
                    layer_offset(pkt, a["offset"])  # TRex: "no layer IP" on an IPv6 packet
            return writes

    class STLPktBuilder:
        def __init__(self, pkt=None, pkt_buffer=None, vm=None, path_relative_to_profile=False, build_raw=False,
                     remove_fcs=True):
            _check((pkt is None) != (pkt_buffer is None), "STLPktBuilder: give pkt or pkt_buffer")
            _check(pkt is None or isinstance(pkt, Packet), "STLPktBuilder: pkt is no scapy packet")
            _check(vm is None or isinstance(vm, STLVM), "STLPktBuilder: vm is no STLVM")
            self.pkt, self.vm, self.raw = pkt, vm, raw(pkt)
            self.writes = vm.compile(pkt) if vm is not None else []

    class STLTXCont:
        def __init__(self, pps=None, bps_L1=None, bps_L2=None, percentage=None):
            given = {k: v for k, v in dict(pps=pps, bps_L1=bps_L1, bps_L2=bps_L2, percentage=percentage).items()
                     if v is not None}
            _check(len(given) <= 1, f"STLTXCont: one unit only, got {sorted(given)}")
            self.unit, self.rate = next(iter(given.items())) if given else ("pps", 1.0)
            _check(isinstance(self.rate, (int, float)) and self.rate > 0, f"STLTXCont: rate {self.rate!r}")
            _check(self.unit != "percentage" or self.rate <= 100, "STLTXCont: percentage over 100")

    class STLStream:
        def __init__(self, name=None, packet=None, mode=None, enabled=True, self_start=True, isg=0.0,
                     flow_stats=None, next=None, stream_id=None, action_count=0, random_seed=0,
                     mac_src_override_by_pkt=None, mac_dst_override_mode=None, dummy_stream=False,
                     start_paused=False, core_id=-1):
            _check(isinstance(packet, STLPktBuilder), "STLStream: packet is no STLPktBuilder")
            _check(mode is None or isinstance(mode, STLTXCont), "STLStream: mode")
            self.packet, self.mode = packet, mode if mode is not None else STLTXCont(pps=1)
            calls.append(self)

    class STLProfile:
        def __init__(self, streams=None):
            self.streams = list(streams or [])

    api = types.ModuleType("trex_stl_lib.api")
    for cls in (STLVM, STLPktBuilder, STLTXCont, STLStream, STLProfile):
        setattr(api, cls.__name__, cls)
    return api


def _astf_api(calls):
    def _ip(v, what):
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            raise StubError(f"{what}: {v!r} is no IPv4 address")

    class ASTFProgram:
        def __init__(self, file=None, side="c", commands=None, stream=True, s_delay=None, udp_mtu=None, addon=None):
            self.commands = []

        def send(self, buf, size=0, fill=None):
            _check(isinstance(buf, (bytes, str)) and buf, "ASTFProgram.send: buf")
            self.commands.append(("send", buf))

        def recv(self, bytes, clear=False):  # noqa: A002 (TRex's name)
            _check(isinstance(bytes, int) and bytes > 0, "ASTFProgram.recv: bytes")
            self.commands.append(("recv", bytes))

    class ASTFIPGenDist:
        def __init__(self, ip_range, distribution="seq", per_core_distribution=None):
            _check(len(ip_range) == 2, "ASTFIPGenDist: ip_range is [first, last]")
            for v in ip_range:
                _ip(v, "ASTFIPGenDist")
            _check(distribution in ("seq", "rand"), f"ASTFIPGenDist: distribution {distribution!r}")
            self.ip_range = ip_range

    class ASTFIPGenGlobal:
        def __init__(self, ip_offset="1.0.0.0", ip_offset_server=None):
            _ip(ip_offset, "ASTFIPGenGlobal")

    class ASTFIPGen:
        def __init__(self, dist_client, dist_server, glob=None):
            _check(isinstance(dist_client, ASTFIPGenDist) and isinstance(dist_server, ASTFIPGenDist), "ASTFIPGen")
            self.dist_client, self.dist_server = dist_client, dist_server

    class ASTFAssociationRule:
        def __init__(self, port=80, ip_start=None, ip_end=None, l7_map=None, assoc_id=None):
            self.port = port

    class ASTFAssociation:
        def __init__(self, rules=None):
            self.rules = rules

    class ASTFTCPClientTemplate:
        def __init__(self, ip_gen, cluster=None, program=None, port=80, cps=1, glob_info=None, limit=None,
                     cont=None, core_base=None):
            _check(isinstance(ip_gen, ASTFIPGen) and isinstance(program, ASTFProgram), "ASTFTCPClientTemplate")
            _check(isinstance(cps, (int, float)) and cps > 0, f"ASTFTCPClientTemplate: cps {cps!r}")
            self.program, self.port, self.cps = program, port, cps

    class ASTFTCPServerTemplate:
        def __init__(self, program=None, assoc=None, glob_info=None):
            _check(isinstance(program, ASTFProgram), "ASTFTCPServerTemplate: program")
            _check(assoc is None or isinstance(assoc, (ASTFAssociation, ASTFAssociationRule)),
                   "ASTFTCPServerTemplate: assoc")
            self.program, self.assoc = program, assoc

    class ASTFTemplate:
        def __init__(self, client_template=None, server_template=None, tg_name=None):
            _check(isinstance(client_template, ASTFTCPClientTemplate), "ASTFTemplate: client_template")
            _check(isinstance(server_template, ASTFTCPServerTemplate), "ASTFTemplate: server_template")
            self.client, self.server = client_template, server_template

    class ASTFProfile:
        def __init__(self, default_ip_gen, default_c_glob_info=None, default_s_glob_info=None, templates=None,
                     cap_list=None, s_delay=None, udp_mtu=None):
            _check(isinstance(default_ip_gen, ASTFIPGen), "ASTFProfile: default_ip_gen")
            self.templates = templates if isinstance(templates, list) else [templates]
            _check(all(isinstance(t, ASTFTemplate) for t in self.templates), "ASTFProfile: templates")
            calls.append(self)

    api = types.ModuleType("trex.astf.api")
    for cls in (ASTFProgram, ASTFIPGenDist, ASTFIPGenGlobal, ASTFIPGen, ASTFAssociation, ASTFAssociationRule,
                ASTFTCPClientTemplate, ASTFTCPServerTemplate, ASTFTemplate, ASTFProfile):
        setattr(api, cls.__name__, cls)
    return api


@contextlib.contextmanager
def installed():
    """Puts the stubs on sys.modules as trex_stl_lib.api and trex.astf.api
    for the block; yields the list of streams and profiles built in it."""
    calls = []
    modules = {"trex_stl_lib": types.ModuleType("trex_stl_lib"), "trex_stl_lib.api": _stl_api(calls),
               "trex": types.ModuleType("trex"), "trex.astf": types.ModuleType("trex.astf"),
               "trex.astf.api": _astf_api(calls)}
    modules["trex_stl_lib"].api = modules["trex_stl_lib.api"]
    modules["trex"].astf = modules["trex.astf"]
    modules["trex.astf"].api = modules["trex.astf.api"]
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield calls
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def simulate(vm, packets):
    """Yields, for each of `packets` packets, the values the program writes
    (variable -> value), as TRex's field engine steps them on one core:
    an inc/dec var steps every packet unless another's next_var names it,
    then it steps when that one wraps; a tuple_var walks the address first,
    then the port, back to the start after limit_flows."""
    specs = {a["name"]: a for op, a in vm.program if op == "var"}
    tuples = [a for op, a in vm.program if op == "tuple_var"]
    if any(s["op"] == "random" for s in specs.values()):
        raise StubError("random vars cannot be simulated")
    driven = {s["next_var"] for s in specs.values() if s["next_var"]}
    state = {n: (s["max"] if s["op"] == "dec" else s["min"]) for n, s in specs.items()}

    def step(name):
        s = specs[name]
        v = state[name] + (s["step"] if s["op"] == "inc" else -s["step"])
        wrapped = v > s["max"] or v < s["min"]
        state[name] = (s["min"] if s["op"] == "inc" else s["max"]) if wrapped else v
        if wrapped and s["next_var"]:
            step(s["next_var"])

    for n in range(packets):
        values = dict(state)
        for t in tuples:
            ips, ports = t["ip_max"] - t["ip_min"] + 1, t["port_max"] - t["port_min"] + 1
            flow = n % (t["limit_flows"] or ips * ports)
            values[t["name"] + ".ip"] = t["ip_min"] + flow % ips
            values[t["name"] + ".port"] = t["port_min"] + (flow // ips) % ports
        yield values
        for name in specs:
            if name not in driven:
                step(name)


def frame_bytes(builder, values):
    """The frame a stream sends with these variable values written in."""
    b = bytearray(builder.raw)
    for name, at, size, add, order in builder.writes:
        b[at:at + size] = ((values[name] + add) % (1 << (8 * size))).to_bytes(size, order)
    return bytes(b)
