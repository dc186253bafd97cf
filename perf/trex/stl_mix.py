"""TRex STL profile: the benchmark mix: established TCP, 1 SYN in 4, 20%
IPv6, 20% UDP, IMIX sizes.

  start -f perf/trex/stl_mix.py -t flows=262144 -m 5mpps
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anylb_profiles as ap  # noqa: E402


def build_packets(size="imix"):
    out = []
    for s, w in ap.IMIX if size == "imix" else [(int(size), 1)]:
        out += [(ap.tcp_packet(s), 48 * w), (ap.tcp_packet(s, syn=True), 16 * w),
                (ap.tcp_packet(s, six=True), 16 * w), (ap.udp_packet(s), 20 * w)]
    return out


class STLMix:
    def get_streams(self, tunables=None, flows=262144, size="imix", **kwargs):
        from trex_stl_lib.api import STLFlowVM, STLPktBuilder, STLStream, STLTXCont
        hosts, ports = ap.flow_variation(int(flows))
        streams = []
        for pkt, weight in build_packets(size):
            vm = STLFlowVM()
            vm.var(name="port", min_value=1025, max_value=1024 + min(ports * hosts, 64000), size=2, op="inc")
            vm.write(fv_name="port", pkt_offset="TCP.sport" if "TCP" in pkt else "UDP.sport")
            if "IP" in pkt and "IPv6" not in pkt:
                vm.fix_chksum()
            streams.append(STLStream(packet=STLPktBuilder(pkt=pkt, vm=vm), mode=STLTXCont(percentage=weight / 10)))
        return streams


def register():
    return STLMix()
