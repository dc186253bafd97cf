"""TRex STL profile: N established flows (TCP ACKs) to the anylb VIP.

  start -f perf/trex/stl_flows.py -m 10mpps -t flows=1000000,size=64,ipv6=0

(-t takes the rest of the line: keep it last.) size: 64 or imix (Simple
IMIX, 7:4:1 in packets). Flows vary the client address (up to 250 hosts)
and port: exactly `flows` distinct 5-tuples.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anylb_profiles as ap  # noqa: E402


def build_packets(size="64", ipv6=False, syn=False):
    """The base packets, one per frame size, with their packet-rate weights (scapy only)."""
    sizes = [(int(size), 1)] if size != "imix" else ap.IMIX
    return [(ap.tcp_packet(s, six=ipv6, syn=syn), weight) for s, weight in sizes]


class STLFlows:
    def get_streams(self, tunables=None, flows=4096, size="64", ipv6=0, syn=0, **kwargs):
        from trex_stl_lib.api import STLVM, STLPktBuilder, STLStream, STLTXCont  # TRex's own library
        six = bool(int(ipv6))
        streams = []
        for pkt, weight in build_packets(str(size), six, bool(int(syn))):
            vm = ap.established_vm(STLVM(), int(flows), six)
            # pps weights: -m scales the total, the sizes keep 7:4:1 in packets.
            streams.append(STLStream(packet=STLPktBuilder(pkt=pkt, vm=vm), mode=STLTXCont(pps=weight)))
        return streams


def register():
    return STLFlows()
