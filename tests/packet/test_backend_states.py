#!/usr/bin/python3
"""Backend states on a running dataplane (configuration reloaded with SIGHUP
between phases of traffic written into a pipe): a backend marked down loses
exactly its own flows; a draining backend keeps its flows and gets no new
ones; a backend removed from the configuration moves only its own flows."""
import collections

from scapy.all import Ether

import harness as h

tap = h.Tap()

VIP = "203.0.113.10"
BASE = [f"node-address = {h.NODE4}",
        f"service = name=web vip={VIP} proto=tcp port=80 mode=l2-dsr"]
N = 4
VICTIM = 1  # backend index 1: 198.18.1.11, MAC 02:00:00:00:11:0b
VICTIM_MAC = h.mac_of(0x11, 10 + VICTIM)


def config(state=None, count=N):
    return BASE + h.backend_lines("web", "198.18.1", count, mac_base=0x11, state=state)


def flows(first, count, flags="S"):
    return [h.to_vip(VIP, first + i, src=f"198.51.100.{i % 200 + 1}", flags=flags) for i in range(count)]


def backend_of(out):
    """flow -> backend MAC, checking that no flow was split."""
    seen = collections.defaultdict(set)
    for p in out:
        seen[h.flow_of(p)].add(p[Ether].dst)
    assert all(len(v) == 1 for v in seen.values()), "a flow was split over backends within one phase"
    return {f: next(iter(v)) for f, v in seen.items()}


def phases(config_before, config_after, phase1, phase2):
    """Runs phase1, reloads, runs phase2; returns each phase's output."""
    with h.Dataplane(config_before, fifo=True) as dp:
        dp.send(phase1)
        dp.wait_forwarded(len(phase1))
        dp.reload(config_after)
        dp.send(phase2)
        c = dp.wait_for(lambda c: sum(s["packets"] for s in c["services"]) + c["drops"]["no_backend"]
                        >= len(phase1) + len(phase2), what="phase 2 forwarded")
        out = dp.stop()
    assert len(out) >= len(phase1)
    return out[:len(phase1)], out[len(phase1):], dp.final


@tap.case
def marking_a_backend_down_moves_only_its_flows():
    old = flows(10000, 400)
    new = flows(20000, 400)
    out1, out2, c = phases(config(), config({VICTIM: "down"}), old, [p.copy() for p in flows(10000, 400, "A")] + new)
    before = backend_of(out1)
    after = backend_of(out2)
    victims = [f for f, m in before.items() if m == VICTIM_MAC]
    assert 50 < len(victims) < 150, f"victim had {len(victims)} of 400 flows"
    for f, mac in before.items():
        if mac == VICTIM_MAC:
            assert after[f] != VICTIM_MAC, "a flow stayed on a backend that is down"
        else:
            assert after[f] == mac, "a flow of a healthy backend moved"
    moved_to = collections.Counter(after[f] for f in victims)
    assert len(moved_to) == N - 1, f"moved flows should spread over the others: {moved_to}"
    new_flows = {f: m for f, m in after.items() if f not in before}
    assert len(new_flows) == 400 and VICTIM_MAC not in new_flows.values()
    assert c["flows_repinned"] == len(victims)
    assert not h.drops(c), h.drops(c)


@tap.case
def draining_keeps_existing_flows_and_takes_no_new_ones():
    old = flows(10000, 400)
    new = flows(30000, 400)
    out1, out2, c = phases(config(), config({VICTIM: "draining"}), old, flows(10000, 400, "A") + new)
    before = backend_of(out1)
    after = backend_of(out2)
    for f, mac in before.items():
        assert after[f] == mac, "an existing flow moved although its backend only drains"
    assert sum(1 for m in before.values() if m == VICTIM_MAC) > 50
    new_flows = {f: m for f, m in after.items() if f not in before}
    assert len(new_flows) == 400
    assert VICTIM_MAC not in new_flows.values(), "a draining backend received a new flow"
    assert c["flows_repinned"] == 0
    victim = next(b for b in c["backends"] if b["address"] == f"198.18.1.{10 + VICTIM}")
    assert victim["state"] == "draining" and victim["new_flows"] == sum(1 for m in before.values() if m == VICTIM_MAC)


@tap.case
def removing_a_backend_moves_only_its_flows():
    # The flow table keeps every other flow where it was, even though plain
    # Maglev would move a few other slots when the set shrinks.
    removed_last = config(count=N)[:-1]
    last_mac = h.mac_of(0x11, 10 + N - 1)
    old = flows(10000, 400)
    out1, out2, c = phases(config(), removed_last, old, flows(10000, 400, "A"))
    before = backend_of(out1)
    after = backend_of(out2)
    moved = [f for f in before if before[f] != after[f]]
    assert moved and all(before[f] == last_mac for f in moved), "flows of remaining backends moved"
    assert all(after[f] != last_mac for f in after)
    assert len(moved) == sum(1 for m in before.values() if m == last_mac)


@tap.case
def every_backend_down_drops_with_a_counter():
    state = {i: "down" for i in range(N)}
    old = flows(10000, 50)
    with h.Dataplane(config(), fifo=True) as dp:
        dp.send(old)
        dp.wait_forwarded(len(old))
        dp.reload(config(state))
        dp.send(flows(10000, 50, "A"))
        c = dp.wait_for(lambda c: c["drops"]["no_backend"] >= 50, what="no_backend drops")
        out = dp.stop()
    assert len(out) == 50
    assert h.drops(dp.final) == {"no_backend": 50}


if __name__ == "__main__":
    tap.run()
