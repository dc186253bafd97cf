"""TRex STL profile: N established flows (TCP ACKs) to the anylb VIP.

  start -f perf/trex/stl_flows.py -t flows=1000000,size=64,ipv6=0 -m 10mpps

size: 64 or imix. Flows vary the client address (250 hosts) and port.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anylb_profiles as ap  # noqa: E402


def build_packets(size="64", ipv6=False):
    """The base packets, one per frame size (scapy only)."""
    sizes = [(int(size), 1)] if size != "imix" else ap.IMIX
    return [(ap.tcp_packet(s, six=ipv6), weight) for s, weight in sizes]


class STLFlows:
    def get_streams(self, tunables=None, flows=4096, size="64", ipv6=0, syn=0, **kwargs):
        from trex_stl_lib.api import STLFlowVM, STLPktBuilder, STLStream, STLTXCont  # TRex's own library
        hosts, ports = ap.flow_variation(int(flows))
        streams = []
        for pkt, weight in build_packets(size, bool(int(ipv6))):
            if int(syn):
                pkt = ap.tcp_packet(len(pkt) + 4, six=bool(int(ipv6)), syn=True)
            vm = STLFlowVM()
            src_field = "IPv6.src" if int(ipv6) else "IP.src"
            vm.var(name="host", min_value=1, max_value=hosts, size=1, op="inc")
            vm.var(name="port", min_value=1025, max_value=1024 + ports, size=2, op="inc")
            vm.write(fv_name="host", pkt_offset=src_field, offset_fixup=3 if not int(ipv6) else 15)
            vm.write(fv_name="port", pkt_offset="TCP.sport")
            if not int(ipv6):
                vm.fix_chksum()
            streams.append(STLStream(packet=STLPktBuilder(pkt=pkt, vm=vm), mode=STLTXCont(percentage=weight)))
        return streams


def register():
    return STLFlows()
