"""TRex STL profile: SYN flood, every packet a new flow (random client
address and port), for the all-new-flows figure.

  start -f perf/trex/stl_syn_flood.py -t size=64 -m 5mpps
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anylb_profiles as ap  # noqa: E402


def build_packets(size="64", ipv6=False):
    return [(ap.tcp_packet(int(size), six=ipv6, syn=True), 1)]


class STLSynFlood:
    def get_streams(self, tunables=None, size="64", ipv6=0, **kwargs):
        from trex_stl_lib.api import STLFlowVM, STLPktBuilder, STLStream, STLTXCont
        pkt, _ = build_packets(size, bool(int(ipv6)))[0]
        vm = STLFlowVM()
        vm.var(name="src", min_value=0x01000001, max_value=0x7effffff, size=4, op="random")
        vm.var(name="sport", min_value=1025, max_value=65535, size=2, op="random")
        if not int(ipv6):
            vm.write(fv_name="src", pkt_offset="IP.src")
            vm.fix_chksum()
        else:
            vm.write(fv_name="src", pkt_offset="IPv6.src", offset_fixup=12)
        vm.write(fv_name="sport", pkt_offset="TCP.sport")
        return [STLStream(packet=STLPktBuilder(pkt=pkt, vm=vm), mode=STLTXCont())]


def register():
    return STLSynFlood()
