"""TRex STL profile: the bench's `mix` shares: 1 packet in 4 a SYN opening
a new flow, 20% UDP, 20% IPv6, the rest ACKs of established flows; IMIX
sizes by default (the bench's `mix` is 64 B: size=64).

  start -f perf/trex/stl_mix.py -m 5mpps -t flows=262144,size=imix

(-t takes the rest of the line: keep it last.)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anylb_profiles as ap  # noqa: E402

# Packets per 100, as gen_traffic.py's mix draws them: (proto, IPv6, share).
ESTABLISHED = [("tcp", False, 44), ("tcp", True, 11), ("udp", False, 16), ("udp", True, 4)]
NEW = [(False, 20), (True, 5)]  # SYNs, each a new flow from the SYN client ranges


def build_packets(size="imix"):
    """(packet, packet-rate weight, kind): kind is the share of the
    established flows the stream carries, or "new" for SYNs (scapy only)."""
    sizes = ap.IMIX if size == "imix" else [(int(size), 1)]
    est_total = sum(share for _, _, share in ESTABLISHED)
    out = []
    for s, w in sizes:
        for proto, six, share in ESTABLISHED:
            pkt = ap.tcp_packet(s, six=six) if proto == "tcp" else ap.udp_packet(s, six=six)
            out.append((pkt, share * w, share / est_total))
        for six, share in NEW:
            src = ap.SYN_CLIENT6 if six else ap.SYN_CLIENT4
            out.append((ap.tcp_packet(s, six=six, syn=True, src=src), share * w, "new"))
    return out


class STLMix:
    def get_streams(self, tunables=None, flows=262144, size="imix", **kwargs):
        from trex_stl_lib.api import STLVM, STLPktBuilder, STLStream, STLTXCont
        streams = []
        for pkt, weight, kind in build_packets(str(size)):
            six = "IPv6" in pkt
            if kind == "new":
                vm = ap.new_flows_vm(STLVM(), six)
            else:  # this stream's part of the established flows
                vm = ap.established_vm(STLVM(), max(1, round(int(flows) * kind)), six, "TCP" if "TCP" in pkt else "UDP")
            streams.append(STLStream(packet=STLPktBuilder(pkt=pkt, vm=vm), mode=STLTXCont(pps=weight)))
        return streams


def register():
    return STLMix()
