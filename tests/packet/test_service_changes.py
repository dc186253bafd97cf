#!/usr/bin/python3
"""Configuration changes on a running dataplane: no packet lost while
services change under traffic; a bad reload changes nothing; a service added
at runtime starts forwarding; a reused backend id starts its counters at 0."""
import collections

from scapy.all import Ether

import harness as h

tap = h.Tap()

VIP = "203.0.113.10"
WEB = [f"node-address = {h.NODE4}",
       f"service = name=web vip={VIP} proto=tcp port=80 mode=l2-dsr"] + h.backend_lines("web", "198.18.1", 3, mac_base=0x11)


def churn(k):
    """Generation k's unrelated services: they come and go, with backends."""
    lines = []
    for j in range(k % 4 + 1):
        vip = f"203.0.113.{100 + (k + j) % 20}"
        lines.append(f"service = name=extra{j} vip={vip} proto=udp port={1000 + j} mode=ipip")
        lines += h.backend_lines(f"extra{j}", "198.18.5", k % 5 + 1, mac_base=0x20 + j)
    return lines


@tap.case
def no_packet_lost_while_services_change():
    chunks, per_chunk = 20, 250
    sent = 0
    with h.Dataplane(WEB, fifo=True) as dp:
        for k in range(chunks):
            batch = [h.to_vip(VIP, 10000 + (k * per_chunk + i) % 1500, src=f"198.51.100.{i % 150 + 1}",
                              flags="A", payload=bytes([k]) * 8) for i in range(per_chunk)]
            dp.send(batch)
            sent += len(batch)
            dp.reload(WEB + churn(k))  # while this chunk is still being forwarded
        c = dp.wait_forwarded(sent)
        out = dp.stop()
    final = dp.final
    web = [p for p in out if h.flow_of(p)[1] == VIP]
    assert len(web) == sent, f"sent {sent}, forwarded {len(web)}"
    assert final["generation"] == chunks + 1
    per_flow = collections.defaultdict(set)
    for p in web:
        per_flow[h.flow_of(p)].add(p[Ether].dst)
    assert all(len(m) == 1 for m in per_flow.values()), "a flow changed backend across unrelated changes"
    assert not h.drops(final), h.drops(final)


def web_generation(k):
    """Generation k of web itself: a backend added every third one, weights
    turning over, the first backend drained from the sixth on."""
    lines = [f"node-address = {h.NODE4}", f"service = name=web vip={VIP} proto=tcp port=80 mode=l2-dsr"]
    for b in range(3 + k // 3):
        state = "draining" if b == 0 and k >= 6 else "up"
        lines.append(f"backend = service=web address=198.18.1.{10 + b} mac={h.mac_of(0x11, 10 + b)} "
                     f"weight={100 + 50 * ((k + b) % 3)} state={state}")
    return lines


@tap.case
def flows_keep_their_backend_while_their_own_service_changes():
    # Invariant 4 under traffic: the service the flows belong to changes at
    # every chunk. Established flows stay on their backend, none is lost;
    # flows begun later reach the added backends, never the drained one.
    chunks, per_chunk = 12, 250
    sent = 0
    with h.Dataplane(web_generation(0), fifo=True) as dp:
        for k in range(chunks):
            # The same 1000 flows every 4 chunks; from chunk 6 on, half fresh ones.
            batch = [h.to_vip(VIP, 10000 + (k * per_chunk + i) % 1000, src=f"198.51.100.{i % 150 + 1}",
                              flags="A", payload=bytes([k]) * 8) for i in range(per_chunk)]
            if k >= 6:
                batch[::2] = [h.to_vip(VIP, 20000 + k * per_chunk + i, src="198.51.100.200", flags="A")
                              for i in range(0, per_chunk, 2)]
            dp.send(batch)
            sent += len(batch)
            dp.reload(web_generation(k + 1))  # while this chunk is still being forwarded
        dp.wait_forwarded(sent)
        out = dp.stop()
    assert len(out) == sent, f"sent {sent}, forwarded {len(out)}"
    assert dp.final["generation"] == chunks + 1
    assert not h.drops(dp.final), h.drops(dp.final)
    per_flow = collections.defaultdict(set)
    for p in out:
        per_flow[h.flow_of(p)].add(p[Ether].dst)
    moved = [f for f, macs in per_flow.items() if len(macs) > 1]
    assert not moved, f"{len(moved)} flows changed backend while their service changed: {moved[:3]}"
    fresh = [p[Ether].dst for p in out if h.flow_of(p)[0] == "198.51.100.200"]
    assert h.mac_of(0x11, 10) not in fresh, "a new flow went to the drained backend"
    assert set(fresh) & {h.mac_of(0x11, 10 + b) for b in range(3, 7)}, "no new flow reached an added backend"


@tap.case
def a_bad_reload_changes_nothing():
    first = [h.to_vip(VIP, 10000 + i) for i in range(50)]
    with h.Dataplane(WEB, fifo=True) as dp:
        dp.send(first)
        dp.wait_forwarded(50)
        gen = dp.counters()["generation"]
        bad = WEB + ["backend = service=nosuch address=198.18.1.99 mac=02:00:00:00:99:99"]
        dp.reload(bad, wait=False)
        # Until the refusal is logged (the reload was read), then one more
        # counters write after it: only then may the generation be compared.
        deadline = h.time.monotonic() + 10
        while "reload refused" not in dp.read_log():
            assert h.time.monotonic() < deadline and dp.proc.poll() is None, \
                "no reload refusal logged:\n" + dp.read_log()
            h.time.sleep(0.02)
        assert f"generation {gen} stays" in dp.read_log(), dp.read_log()
        seen = dp.wait_for(lambda c: "monotonic_ms" in c, what="counters")["monotonic_ms"]
        c = dp.wait_for(lambda c: c["monotonic_ms"] > seen, what="a counters write after the refusal")
        assert c["generation"] == gen, "a refused reload still changed the generation"
        dp.send([h.to_vip(VIP, 10000 + i, flags="A") for i in range(50)])
        dp.wait_forwarded(100)
        out = dp.stop()
    assert len(out) == 100
    assert "reload refused" in dp.log_text and "no service named 'nosuch'" in dp.log_text, dp.log_text


@tap.case
def a_service_added_at_runtime_forwards():
    new_vip = "203.0.113.30"
    with h.Dataplane(WEB, fifo=True) as dp:
        dp.send([h.to_vip(new_vip, 10000 + i) for i in range(20)])
        dp.wait_for(lambda c: c["drops"]["not_for_node"] >= 20, what="not_for_node before the change")
        dp.reload(WEB + [f"service = name=late vip={new_vip} proto=tcp port=80 mode=l2-dsr"]
                  + h.backend_lines("late", "198.18.6", 2, mac_base=0x30))
        dp.send([h.to_vip(new_vip, 10000 + i) for i in range(20)])
        c = dp.wait_for(lambda c: any(s["name"] == "late" and s["packets"] == 20 for s in c["services"]),
                        what="late service forwarding")
        out = dp.stop()
    assert len(out) == 20
    assert {p[Ether].dst for p in out} <= {h.mac_of(0x30, 10), h.mac_of(0x30, 11)}


@tap.case
def a_reused_backend_id_starts_with_zero_counters():
    # Timeouts of 1 s make the id quarantine (twice the longest) 2 s.
    short = ["tcp-timeout = 1", "tcp-closing-timeout = 1", "tcp-syn-timeout = 1", "udp-timeout = 1"]
    web2 = [f"node-address = {h.NODE4}", f"service = name=web vip={VIP} proto=tcp port=80 mode=l2-dsr"]
    old, new = h.backend_lines("web", "198.18.1", 2, mac_base=0x11), h.backend_lines("web", "198.18.1", 1, start=30,
                                                                                       mac_base=0x11)
    with h.Dataplane(short + web2 + old, fifo=True) as dp:
        dp.send([h.to_vip(VIP, 10000 + i) for i in range(100)])
        c = dp.wait_forwarded(100)
        ids = {b["address"]: (b["id"], b["packets"]) for b in c["backends"]}
        gone_id, gone_packets = ids["198.18.1.11"]
        assert gone_packets > 10, ids
        dp.reload(short + web2 + old[:1])  # 198.18.1.11 removed: its id quarantined
        h.time.sleep(2.5)
        c = dp.reload(short + web2 + old[:1] + new)  # 198.18.1.30 added after the quarantine
        ids = {b["address"]: (b["id"], b["packets"]) for b in c["backends"]}
        assert ids["198.18.1.30"] == (gone_id, 0), f"the new backend should reuse id {gone_id} from 0: {ids}"
        assert ids["198.18.1.10"][1] == 100 - gone_packets, "the remaining backend keeps its counts"
        dp.send([h.to_vip(VIP, 30000 + i) for i in range(100)])
        c = dp.wait_forwarded(200)
        out = dp.stop()
    sent_to_new = sum(p[Ether].dst == h.mac_of(0x11, 30) for p in out[100:])
    counted = {b["address"]: b["packets"] for b in c["backends"]}["198.18.1.30"]
    assert sent_to_new > 10 and counted == sent_to_new, f"counted {counted}, sent {sent_to_new}"

if __name__ == "__main__":
    tap.run()
