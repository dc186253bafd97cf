"""TRex STL profile: SYN flood, every packet a new flow (random client
address and port), for the all-new-flows figure.

  start -f perf/trex/stl_syn_flood.py -m 5mpps -t size=64

(-t takes the rest of the line: keep it last.)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anylb_profiles as ap  # noqa: E402


def build_packets(size="64", ipv6=False):
    return [(ap.tcp_packet(int(size), six=ipv6, syn=True), 1)]


class STLSynFlood:
    def get_streams(self, tunables=None, size="64", ipv6=0, **kwargs):
        from trex_stl_lib.api import STLVM, STLPktBuilder, STLStream, STLTXCont
        six = bool(int(ipv6))
        pkt, _ = build_packets(size, six)[0]
        vm = STLVM()
        # 1.0.0.1 to 126.255.255.255: no martian source (0/8, 127/8) that anylb drops.
        vm.var(name="src", min_value=0x01000001, max_value=0x7effffff, size=4, op="random")
        vm.var(name="sport", min_value=ap.PORT_MIN, max_value=ap.PORT_MAX, size=2, op="random")
        vm.write(fv_name="src", **ap.src_write(six))
        vm.write(fv_name="sport", pkt_offset="TCP.sport")
        if not six:
            vm.fix_chksum()
        return [STLStream(packet=STLPktBuilder(pkt=pkt, vm=vm), mode=STLTXCont(pps=1))]


def register():
    return STLSynFlood()
