#!/usr/bin/python3
"""Floods of one-packet flows on a full flow table (issue 25, part 3), on
the real dataplane: 4,000 established flows (SYN, then the handshake's
ACK), then spoofed floods of ACKs, flagless segments and UDP datagrams,
200k packets each, through a table of 16,384 slots; then a backend is
added and each established flow sends again. What leaves the port says
which backend each flow's packets went to before and after: none may
move. Before issue 25 a flood flow got the full timeout and eviction took
the flow with the least time left (the established ones): 792 of 4,000
moved."""
import ipaddress
import struct

import harness as h

tap = h.Tap()

VIP = "203.0.113.10"
ESTABLISHED = 4000
FLOOD = 200_000
CAPACITY = 8192  # 16,384 slots: the floods fill it many times over
BASE = [f"node-address = {h.NODE4}",
        f"service = name=web vip={VIP} proto=tcp port=80 mode=l2-dsr",
        f"service = name=dns vip={VIP} proto=udp port=53 mode=l2-dsr",
        "backend = service=dns address=198.18.2.10 mac=02:00:00:00:22:0a"]


def config(backends):
    return BASE + h.backend_lines("web", "198.18.1", backends, mac_base=0x11)


def established(flags):
    return [h.to_vip(VIP, 10000 + i, src=f"198.51.100.{i % 200 + 1}", flags=flags) for i in range(ESTABLISHED)]


def _checksum(header):
    s = sum(struct.unpack("!10H", header))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def flood(kind, count, first_source):
    """Raw frames (scapy is too slow for 200k): TCP with `kind` as flags, or
    UDP (kind None), each from its own spoofed source in 100.64.0.0/10."""
    eth = bytes.fromhex(h.PORT_MAC.replace(":", "") + h.CLIENT_MAC.replace(":", "")) + b"\x08\x00"
    dst = ipaddress.IPv4Address(VIP).packed
    proto = 17 if kind is None else 6
    l4_len = 8 if kind is None else 20
    frames = []
    for i in range(count):
        src = (int(ipaddress.IPv4Address("100.64.0.0")) + first_source + i).to_bytes(4, "big")
        sport = 1024 + (i * 7919) % 60000
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + l4_len, i & 0xffff, 0, 64, proto, 0, src, dst)
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        if kind is None:
            l4 = struct.pack("!HHHH", sport, 53, 8, 0)  # no UDP checksum (IPv4 allows it)
        else:
            l4 = struct.pack("!HHIIBBHHH", sport, 80, i, 0, 5 << 4, kind, 65535, 0, 0)
        frames.append(eth + header + l4)
    return frames


def established_backends(path):
    """client (address, port) -> the backend MACs its packets went to, in
    order, read from the output pcap without scapy (600k frames)."""
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    at = 24
    while at + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        frame = data[at + 16:at + 16 + caplen]
        at += 16 + caplen
        if len(frame) < 38 or frame[12:14] != b"\x08\x00" or frame[23] != 6 or frame[26:29] != bytes([198, 51, 100]):
            continue
        ihl = (frame[14] & 0x0f) * 4
        sport = struct.unpack_from("!H", frame, 14 + ihl)[0]
        out.setdefault((frame[29], sport), []).append(frame[0:6].hex(":"))
    return out


def run(extra_args, flows_per_round):
    """Establishes the flows, floods, adds a backend, sends the flows again;
    returns (client -> backend MACs, final counters)."""
    dp = h.Dataplane(config(4), fifo=True, extra_args=extra_args)
    dp.args[dp.args.index("--flow-capacity") + 1] = str(CAPACITY)
    pcaps = {}
    dp._sent_packets = lambda: pcaps.update(out=established_backends(dp.out)) or []
    with dp:
        sent = 0
        syn, ack = established("S"), established("A")
        for first in range(0, ESTABLISHED, flows_per_round):  # within --new-flow-rate, if any
            dp.send(syn[first:first + flows_per_round])
            dp.send(ack[first:first + flows_per_round])
            sent += 2 * len(syn[first:first + flows_per_round])
            dp.wait_forwarded(sent)
        for n, kind in enumerate((0x10, 0x00, None)):  # ACK, flagless, UDP
            dp.send(flood(kind, FLOOD, n * FLOOD))
            sent += FLOOD
            dp.wait_forwarded(sent, timeout=120)
        dp.reload(config(5))
        dp.send(established("A"))
        sent += ESTABLISHED
        dp.wait_forwarded(sent)
        dp.stop()
    return pcaps["out"], dp.final


def moved(backends):
    assert len(backends) == ESTABLISHED, f"{len(backends)} established flows seen"
    for client, macs in backends.items():
        assert len(macs) == 3, f"{client}: {len(macs)} packets left"
        assert macs[0] == macs[1], f"{client} moved within its handshake"
    return sum(1 for macs in backends.values() if macs[2] != macs[1])


@tap.case
def floods_on_a_full_table_evict_only_unconfirmed_flows():
    # No rate limit, and every timeout alike (30 s): the flood's flows have
    # more time left than the established ones, so only their being
    # unconfirmed keeps them from being evicted first.
    backends, c = run(["--new-flow-rate", "0", "--tcp-timeout", "30", "--tcp-syn-timeout", "30",
                       "--udp-timeout", "30"], ESTABLISHED)
    f = c["flows"]
    assert f["evictions"] > FLOOD, f"the floods did not overflow the table: {f}"
    n = moved(backends)
    assert n == 0, f"{n} of {ESTABLISHED} established flows moved backend; flows {f}"
    assert f["confirmed_evictions"] == 0, f
    assert c["flows_not_inserted"] == 0
    assert not h.drops(c), h.drops(c)


@tap.case
def past_the_new_flow_rate_floods_are_forwarded_unpinned():
    # 20,000 new flows a second (2,000 of burst): the handshakes come 500 at
    # a time, the floods far faster; with the default timeouts.
    backends, c = run(["--new-flow-rate", "20000"], 500)
    f = c["flows"]
    n = moved(backends)
    assert n == 0, f"{n} of {ESTABLISHED} established flows moved backend; flows {f}"
    assert c["flows_not_inserted"] > 2 * FLOOD, (c["flows_not_inserted"], f)
    assert f["inserts"] < ESTABLISHED + FLOOD, f
    assert f["confirmed_evictions"] == 0, f
    assert not h.drops(c), h.drops(c)


if __name__ == "__main__":
    tap.run()
