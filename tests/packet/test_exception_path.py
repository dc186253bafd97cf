#!/usr/bin/python3
"""The exception path: traffic for the node's own addresses goes to a kernel
TAP interface, and what the kernel answers leaves through the data port. The
dataplane runs in a namespace of the test's own, where the TAP appears."""
from scapy.all import ARP, ICMP, IP, TCP, Ether

import harness as h

tap = h.Tap()

CONFIG = [f"node-address = {h.NODE4}",
          "service = name=web vip=203.0.113.10 proto=tcp port=80 mode=l2-dsr"] + \
    h.backend_lines("web", "198.18.1", 2, mac_base=0x11)
PEER = "198.18.0.2"
# An ipip service whose backend is two hops away, behind the lan's gateways.
FAR = [f"node-address = {h.NODE4}", "service = name=far vip=203.0.113.20 proto=tcp port=80 mode=ipip",
       "backend = service=far address=10.99.0.5"]


def exception_interface_up(dp, address):
    """The kernel's side of the port: exc0 with `address`, IPv4 only."""
    dp._ns("ip", "addr", "add", address, "dev", "exc0")
    dp._ns("ip", "link", "set", "exc0", "up")
    dp._ns("sysctl", "-qw", "net.ipv6.conf.exc0.disable_ipv6=1")


# A backend given no MAC: the dataplane takes it from the kernel.
NO_MAC = CONFIG + ["backend = service=web address=198.18.1.20"]


def with_exception_interface(config, *options):
    """The dataplane, fed by a pipe, in a namespace of its own where its TAP exc0 appears."""
    return h.Dataplane(config, fifo=True, in_netns=True, extra_args=("--exception-interface", "exc0", *options))


def arp_for_the_node():
    """The peer's broadcast ARP request for the node's address."""
    return Ether(dst="ff:ff:ff:ff:ff:ff", src=h.CLIENT_MAC) / ARP(op=1, hwsrc=h.CLIENT_MAC, psrc=PEER, pdst=h.NODE4)


def keep_polling(dp, seconds):
    """The worker blocks reading its pipe between bursts: filler, every
    0.1 s for `seconds`, keeps it looping and polling the TAP, so the
    kernel's frames leave through the port."""
    deadline = h.time.time() + seconds
    while h.time.time() < deadline:
        dp.send([])
        h.time.sleep(0.1)


def tunnelled_to(out, mac, count):
    """Checks that `count` packets left encapsulated to the far backend, all to `mac`."""
    tunnelled = [p for p in out if IP in p and p[IP].proto == 4]
    assert len(tunnelled) == count, f"{len(tunnelled)} of {count} encapsulated"
    assert all(p[Ether].dst == mac and p[IP].dst == "10.99.0.5" for p in tunnelled), tunnelled[0].summary()


@tap.case
def arp_and_ping_to_the_node_are_answered_by_the_kernel():
    with with_exception_interface(CONFIG) as dp:
        exception_interface_up(dp, f"{h.NODE4}/24")
        arp = arp_for_the_node()
        ping = Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IP(src=PEER, dst=h.NODE4) / ICMP(id=7, seq=1) / b"anylb"
        vip = h.to_vip("203.0.113.10", 1234)
        dp.send([arp, ping, vip])
        # The worker blocks reading the pipe between bursts: more filler makes
        # it loop, and poll the TAP for the kernel's answers (bounded).
        for _ in range(20):
            c = dp.counters()
            if c["from_kernel_packets"] >= 2:
                break
            h.time.sleep(0.1)
            dp.send([])
        dp.wait_for(lambda c: c["from_kernel_packets"] >= 2 and c["exception_packets"] >= 2, what="kernel answers")
        out = dp.stop()
    replies = [p for p in out if p[Ether].dst == h.CLIENT_MAC]
    arp_reply = [p for p in replies if ARP in p and p[ARP].op == 2]
    assert arp_reply and arp_reply[0][ARP].psrc == h.NODE4 and arp_reply[0][ARP].hwsrc == h.PORT_MAC, \
        f"no ARP reply with the port's MAC: {[p.summary() for p in out]}"
    echo = [p for p in replies if ICMP in p and p[ICMP].type == 0]
    assert echo and echo[0][IP].src == h.NODE4 and bytes(echo[0][ICMP].payload) == b"anylb", \
        f"no echo reply: {[p.summary() for p in out]}"
    assert echo[0][Ether].src == h.PORT_MAC
    # VIP traffic still goes to a backend, not to the kernel.
    assert any(TCP in p and p[Ether].dst.startswith("02:00:00:00:11:") for p in out)
    assert dp.final["drops"]["exception_no_interface"] == 0


@tap.case
def a_flood_at_the_node_is_policed_and_arp_still_answered():
    # --exception-rate 20: each worker hands the kernel 20 frames a second of
    # each class (a burst of 32). 300 pings at once: the burst gets through,
    # the rest is dropped and counted; the ARP request after them has a
    # bucket of its own, and is answered.
    with with_exception_interface(CONFIG, "--exception-rate", "20") as dp:
        exception_interface_up(dp, f"{h.NODE4}/24")
        pings = [Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IP(src=PEER, dst=h.NODE4) / ICMP(id=7, seq=i)
                 for i in range(300)]
        arp = arp_for_the_node()
        dp.send(pings + [arp])
        keep_polling(dp, 2)
        dp.wait_for(lambda c: c["from_kernel_packets"] >= 1, what="the kernel's answers")
        out = dp.stop()
    policed = dp.final["drops"]["exception_policed"]
    assert 300 - 32 - 20 <= policed <= 300 - 32, f"{policed} of 300 pings policed"  # the burst, and up to 1 s of refill
    assert dp.final["exception_packets"] == 301 - policed
    assert any(ARP in p and p[ARP].op == 2 and p[ARP].psrc == h.NODE4 for p in out), "the ARP request went unanswered"


@tap.case
def a_spoofed_bgp_flood_leaves_the_peers_session_its_share():
    # --bgp-peer: only the peer's port-179 traffic is policed as BGP. 300
    # SYNs to port 179 from a source that is not the peer go in the rest's
    # bucket; the peer's SYN after them still reaches the kernel, whose
    # answer (a reset: nothing listens on 179 here) leaves the port.
    with with_exception_interface(CONFIG, "--exception-rate", "20", "--bgp-peer", PEER) as dp:
        exception_interface_up(dp, f"{h.NODE4}/24")
        spoofed = [Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IP(src="198.18.0.66", dst=h.NODE4) /
                   TCP(sport=30000 + i, dport=179, flags="S") for i in range(300)]
        peer_syn = Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IP(src=PEER, dst=h.NODE4) / TCP(sport=45000, dport=179,
                                                                                           flags="S")
        dp.send([arp_for_the_node()] + spoofed + [peer_syn])  # the ARP request tells the kernel the peer's MAC
        keep_polling(dp, 2)
        dp.wait_for(lambda c: c["from_kernel_packets"] >= 2, what="the kernel's answers")
        out = dp.stop()
    policed = dp.final["drops"]["exception_policed"]
    assert 300 - 32 - 20 <= policed <= 300 - 32, f"{policed} of 300 spoofed SYNs policed"
    assert any(TCP in p and p[IP].dst == PEER and p[TCP].sport == 179 and p[TCP].dport == 45000 and "R" in p[TCP].flags
               for p in out), "the peer's SYN did not reach the kernel"


@tap.case
def a_frame_too_big_for_the_kernel_interface_is_dropped_alone():
    # --mtu 2000 on the port, 1500 on the TAP: net_tap would refuse the big
    # frame and every frame queued after it; the worker drops it alone.
    with with_exception_interface(CONFIG, "--mtu", "2000") as dp:
        exception_interface_up(dp, f"{h.NODE4}/24")
        big = Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IP(src=PEER, dst=h.NODE4) / ICMP(id=7, seq=1) / (b"x" * 1900)
        arp = arp_for_the_node()
        dp.send([big, arp])
        keep_polling(dp, 2)
        dp.wait_for(lambda c: c["from_kernel_packets"] >= 1, what="the kernel's ARP reply")
        out = dp.stop()
    assert dp.final["drops"]["exception_too_big"] == 1 and dp.final["drops"]["tx_full"] == 0, h.drops(dp.final)
    assert any(ARP in p and p[ARP].op == 2 for p in out), "the ARP request queued after the big frame was lost"


def let_the_kernel_ask_for(dp, address):
    """Waits for the kernel's neighbour entry the dataplane asked for, then
    keeps the (fifo-blocked) worker looping while the kernel's ARP requests
    (one a second) come out of the TAP."""
    deadline = h.time.time() + 10
    while address not in dp._ns("ip", "neigh", "show", address).stdout:
        assert h.time.time() < deadline, f"the kernel was not asked for {address}"
        h.time.sleep(0.1)
    keep_polling(dp, 1.5)


def forwarding_state(dp, address):
    """The state `anylbctl stats` shows for a backend: the one it forwards in."""
    stats = dp.ctl("stats", "--interval", "0.1", json_out=True)
    return next(b["state"] for b in stats["backends"] if b["address"] == address)


def arp_requests_for(out, address):
    return [p for p in out if ARP in p and p[ARP].op == 1 and p[ARP].pdst == address and p[Ether].src == h.PORT_MAC]


@tap.case
def backend_mac_comes_from_the_neighbour_table():
    # 198.18.1.20 has no MAC in the configuration: no new flows until the
    # kernel knows it on the exception interface, which the dataplane asks
    # the kernel to resolve (the ARP request leaves through the port).
    resolved = "02:00:00:00:11:20"
    with with_exception_interface(NO_MAC) as dp:
        exception_interface_up(dp, "198.18.1.1/24")
        dp.wait_for(lambda c: c["unresolved_backends"] == 1, what="one unresolved backend")
        assert forwarding_state(dp, "198.18.1.20") == "down", "stats show a backend with no MAC as up"
        first = [h.to_vip("203.0.113.10", 10000 + i) for i in range(200)]
        dp.send(first)
        dp.wait_forwarded(200)
        let_the_kernel_ask_for(dp, "198.18.1.20")
        dp._ns("ip", "neigh", "replace", "198.18.1.20", "lladdr", resolved, "dev", "exc0", "nud", "permanent")
        dp.wait_for(lambda c: c["unresolved_backends"] == 0, what="the neighbour resolved")
        assert forwarding_state(dp, "198.18.1.20") == "up"
        second = [h.to_vip("203.0.113.10", 30000 + i) for i in range(300)]
        dp.send(second)
        dp.wait_forwarded(500)
        out = dp.stop()
    assert arp_requests_for(out, "198.18.1.20"), f"nobody asked for the backend: {[p.summary() for p in out[:5]]}"
    flows = [p for p in out if TCP in p]
    before, after = flows[:200], flows[200:500]
    assert resolved not in {p[Ether].dst for p in before}, "a flow went to a backend with no MAC yet"
    assert sum(p[Ether].dst == resolved for p in after) > 30, "the resolved backend got no new flows"


@tap.case
def a_neighbour_the_kernel_drops_is_held_before_its_backend_goes():
    # The kernel sees no traffic to backends (the dataplane sends it), so it
    # may drop their entries; the dataplane asks again, and meanwhile keeps
    # the MAC for 6 rounds of 500 ms rather than move the backend's flows.
    # A backend that stays unanswered is unresolved after that.
    with with_exception_interface(NO_MAC) as dp:
        exception_interface_up(dp, "198.18.1.1/24")
        dp._ns("ip", "neigh", "replace", "198.18.1.20", "lladdr", "02:00:00:00:11:20", "dev", "exc0", "nud",
               "permanent")
        dp.wait_for(lambda c: c["unresolved_backends"] == 0, what="the neighbour resolved")
        dp._ns("ip", "neigh", "del", "198.18.1.20", "dev", "exc0")
        held_until = h.time.time() + 2.0  # at least 2.5 s: the first round without it comes within 0.5 s
        while h.time.time() < held_until:
            c = dp.counters()
            assert c is None or c["unresolved_backends"] == 0, "the backend went at the first round without its entry"
            h.time.sleep(0.05)
        dp.wait_for(lambda c: c["unresolved_backends"] == 1, timeout=10, what="the backend unresolved after the hold")
        dp.stop()


@tap.case
def a_stale_neighbour_is_checked_again():
    # The kernel sends nothing to backends (the dataplane does), so a STALE
    # entry would stay STALE for good: a backend that took a new MAC without
    # a gratuitous ARP would keep getting frames for its old one. The
    # dataplane has the kernel use the entry, and the kernel probes it: a
    # unicast ARP request to the MAC it holds.
    old = "02:00:00:00:11:20"
    with with_exception_interface(NO_MAC) as dp:
        exception_interface_up(dp, "198.18.1.1/24")
        dp._ns("sysctl", "-qw", "net.ipv4.neigh.exc0.delay_first_probe_time=1")
        dp._ns("ip", "neigh", "replace", "198.18.1.20", "lladdr", old, "dev", "exc0", "nud", "stale")
        dp.wait_for(lambda c: c["unresolved_backends"] == 0, what="the stale entry used")
        keep_polling(dp, 6)  # a round (0.5 s), the first probe's delay (1 s), its way out
        out = dp.stop()
    probes = [p for p in arp_requests_for(out, "198.18.1.20") if p[Ether].dst == old]
    assert probes, f"the stale entry was never probed: {[p.summary() for p in out if ARP in p]}"


@tap.case
def a_backend_behind_a_gateway_takes_the_gateways_mac():
    # An ipip backend two hops away: its packets go to the kernel's gateway
    # for it, whose MAC the kernel resolves.
    gateway, gateway_mac = "198.18.1.254", "02:00:00:00:22:54"
    with with_exception_interface(FAR) as dp:
        exception_interface_up(dp, "198.18.1.1/24")
        dp._ns("ip", "route", "add", "10.99.0.0/24", "via", gateway, "dev", "exc0")
        dp.wait_for(lambda c: c["unresolved_backends"] == 1, what="the backend waiting for its gateway")
        let_the_kernel_ask_for(dp, gateway)
        dp._ns("ip", "neigh", "replace", gateway, "lladdr", gateway_mac, "dev", "exc0", "nud", "permanent")
        dp.wait_for(lambda c: c["unresolved_backends"] == 0, what="the gateway resolved")
        dp.send([h.to_vip("203.0.113.20", 20000 + i) for i in range(50)])
        dp.wait_forwarded(50)
        out = dp.stop()
    assert arp_requests_for(out, gateway) and not arp_requests_for(out, "10.99.0.5"), \
        f"the kernel should ask for the gateway: {[p.summary() for p in out if ARP in p]}"
    tunnelled_to(out, gateway_mac, 50)



@tap.case
def a_backend_behind_a_multipath_route_takes_the_kernels_chosen_gateway():
    # Two equal gateways for the backend's network: the route lookup the
    # dataplane makes (RTM_GETROUTE, as `ip route get`) returns the one path
    # the kernel picks for that address, and its MAC is the one used.
    gateways = {"198.18.1.253": "02:00:00:00:22:53", "198.18.1.254": "02:00:00:00:22:54"}
    with with_exception_interface(FAR) as dp:
        exception_interface_up(dp, "198.18.1.1/24")
        dp.wait_for(lambda c: c["unresolved_backends"] == 1, what="the backend without a route")
        for gateway, mac in gateways.items():
            dp._ns("ip", "neigh", "replace", gateway, "lladdr", mac, "dev", "exc0", "nud", "permanent")
        dp._ns("ip", "route", "add", "10.99.0.0/24", "nexthop", "via", "198.18.1.253", "dev", "exc0",
               "nexthop", "via", "198.18.1.254", "dev", "exc0")
        chosen = dp._ns("ip", "route", "get", "10.99.0.5").stdout.split()
        assert "via" in chosen, f"no gateway in {chosen}"
        chosen = chosen[chosen.index("via") + 1]
        assert chosen in gateways, chosen
        dp.wait_for(lambda c: c["unresolved_backends"] == 0, what="the backend resolved")
        dp.send([h.to_vip("203.0.113.20", 20000 + i) for i in range(50)])
        dp.wait_forwarded(50)
        out = dp.stop()
    tunnelled_to(out, gateways[chosen], 50)  # the gateway the kernel chose

if __name__ == "__main__":
    tap.run()
