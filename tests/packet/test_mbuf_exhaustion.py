#!/usr/bin/python3
"""The mbuf pool exhausted under live traffic, then given back: a DPDK
secondary process (tests/faults/mbuf_hog.cpp, argv[3]) takes the running
dataplane's own pool and holds it; no hook in the dataplane.

What this shows (DPDK 22.11, net_af_packet on a veth):
  - an empty pool stops reception: net_af_packet leaves a frame it has no
    mbuf for in the kernel's ring (512 frames) and counts nothing (neither
    rx_no_mbuf nor rx_missed); the worker keeps looping, the API answers,
    and once the mbufs are back every held frame is read and forwarded;
  - an outer fragment that finds no mbuf drops its packet as `no_mbuf`;
  - afterwards: every new flow forwarded, no further drops.

The dataplane runs on 2 MiB huge pages (a secondary cannot attach to a
--no-huge primary: "Could not open .../hugepage_data") and with no lcore
mbuf cache: a worker frees every mbuf into the cache it took it from, so
with a cache it keeps its own stock, which another process cannot take
(a_warm_lcore_cache_rides_out_an_empty_pool shows it).
"""
import os
import subprocess
import sys
import time

from scapy.all import IP

import harness as h

tap = h.Tap()

WEB = "203.0.113.10"   # l2-dsr: one mbuf a packet
TUN = "203.0.113.11"   # ipip: a 1500-byte packet leaves as two outer fragments
CONFIG = [f"node-address = {h.NODE4}",
          f"service = name=web vip={WEB} proto=tcp port=80 mode=l2-dsr",
          f"service = name=tun vip={TUN} proto=tcp port=80 mode=ipip",
          *h.backend_lines("web", "198.18.1", 3), *h.backend_lines("tun", "198.18.2", 3, mac_base=0x12)]
MBUFS = 4096           # the harness's --mbufs
NO_CACHE = ("--mbuf-cache", "0")
HUGE_PAGES = 160       # -m 256 and some room


def hog_binary():
    return sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(h.binary()), "..", "..", "tests",
                                                              "mbuf_hog")


def web(sport):
    return h.to_vip(WEB, sport)


def big(sport):
    """A full-size packet to the ipip VIP, DF clear: 20 bytes of IPIP make it
    1520, so it leaves as two outer fragments (one fresh mbuf)."""
    p = h.to_vip(TUN, sport, flags="A", payload=b"z" * 1460)
    p[IP].flags = 0
    return p


class Hog:
    """mbuf_hog against one dataplane, stopped by its PID at teardown."""

    def __init__(self, dp, leave=0):
        self.dp, self.leave, self.proc = dp, leave, None

    def __enter__(self):
        h.track(self)
        self.proc = subprocess.Popen(
            [hog_binary(), "--leave", str(self.leave), "--", "--file-prefix", self.dp.prefix, "--log-level=error"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "held H of S (...)", or nothing if it failed
        if not line.startswith("held "):
            self.proc.wait(timeout=10)
            raise AssertionError(f"mbuf_hog did not start ({self.proc.returncode}): {line}{self.proc.stderr.read()}")
        words = line.split()
        self.held, self.size = int(words[1]), int(words[3])
        return self

    def release(self):
        """Closes its stdin: every mbuf goes back; returns how many."""
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        assert self.proc.wait(timeout=10) == 0, f"mbuf_hog exited {self.proc.returncode}: {self.proc.stderr.read()}"
        h.untrack(self)
        return int(out.split()[1])

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        h.untrack(self)

    def __exit__(self, *exc):
        self.kill()


def seen(c):
    return c["ports"][0]["rx_packets"]


def forwarded(c):
    return sum(s["packets"] for s in c["services"])


def conserved(c):
    """Every frame the dataplane read is forwarded (as counted by its
    service), handed to the kernel, or dropped with a reason; what left the
    second port is what was forwarded, each fragment a frame, less what was
    lost after the decision (no_mbuf, tx_full: in both a service and the drops)."""
    after_decision = c["drops"]["no_mbuf"] + c["drops"]["tx_full"]
    assert seen(c) == forwarded(c) + c["exception_packets"] + c["drops_total"] - after_decision, c
    frames = forwarded(c) - after_decision + c["outer_fragments_sent"] // 2  # each fragmented packet: two frames
    assert c["ports"][1]["tx_packets"] == frames, (c["ports"][1], c["outer_fragments_sent"], c["drops"])


def flows_out(out):
    return {h.flow_of(p)[2] for p in out}


@tap.case
def an_empty_pool_stops_reception_and_everything_recovers():
    with h.Dataplane(CONFIG, live=True, huge_dir=HUGE.dir, extra_args=NO_CACHE) as dp:
        dp.send([web(1000 + i) for i in range(50)])
        dp.wait_forwarded(50)
        with Hog(dp) as hog:
            assert (hog.held, hog.size) == (MBUFS, MBUFS), (hog.held, hog.size)  # the whole pool: no cache, none in flight
            before = dp.counters()
            # 300 new flows: fewer than the 512 frames af_packet's ring holds.
            dp.send([web(2000 + i) for i in range(300)], wait=False)
            time.sleep(1.0)
            starved = dp.counters()
            assert seen(starved) == seen(before) and forwarded(starved) == 50, starved["ports"][0]
            assert starved["drops_total"] == 0, h.drops(starved, exclude=())
            # Alive while starved: the worker loops, the API answers.
            loops = starved["lcores"][0]["loops"]
            node = dp.ctl("node", json_out=True)
            stats = dp.ctl("stats", "--interval", "0.1", json_out=True)
            assert dp.counters()["lcores"][0]["loops"] > loops, "the worker stopped looping"
            assert node["lcores_alive"] == node["lcores"] == 1 and node["packets_forwarded"] == 50, node
            assert [s["packets"] for s in stats["services"]] == [50, 0], stats["services"]
            nic = starved["ports"][0]
            print(f"# starved: held {hog.held} mbufs, read 0 of 300 frames; port rx_no_mbuf {nic['rx_no_mbuf']} "
                     f"rx_missed {nic['rx_missed']} (af_packet counts neither)", flush=True)
            assert hog.release() == MBUFS
        # Every frame the kernel held is read and forwarded.
        dp.wait_forwarded(350)
        # Recovery: 200 new flows, all forwarded, no drops.
        dp.send([web(3000 + i) for i in range(200)])
        c = dp.wait_forwarded(550)
        assert c["drops_total"] == 0, h.drops(c, exclude=())
        conserved(c)
        out = dp.stop()
    conserved(dp.final)
    assert dp.final["drops_total"] == 0 and forwarded(dp.final) == 550, h.drops(dp.final, exclude=())
    got = flows_out(out)
    assert {2000 + i for i in range(300)} <= got, f"{len({2000 + i for i in range(300)} - got)} starved flows lost"
    assert {3000 + i for i in range(200)} <= got, f"{len({3000 + i for i in range(200)} - got)} new flows lost"
    assert len(out) == 550, len(out)


@tap.case
def an_outer_fragment_without_an_mbuf_is_counted_no_mbuf():
    with h.Dataplane(CONFIG, live=True, huge_dir=HUGE.dir, extra_args=NO_CACHE) as dp:
        dp.send([big(4000 + i) for i in range(10)])
        dp.wait_for(lambda c: c["outer_fragments_sent"] == 20, what="10 packets as 20 outer fragments")
        # One mbuf left: a frame is read into it, its second fragment finds none.
        with Hog(dp, leave=1) as hog:
            assert hog.held == MBUFS - 1, hog.held
            dp.send([big(5000 + i) for i in range(30)])
            c = dp.wait_for(lambda c: c["drops"]["no_mbuf"] == 30, what="30 no_mbuf drops")
            assert h.drops(c, exclude=()) == {"no_mbuf": 30} and c["outer_fragments_sent"] == 20, (
                h.drops(c, exclude=()), c["outer_fragments_sent"])
            # A packet that needs no fragment still goes, in that one mbuf.
            dp.send([h.to_vip(TUN, 6000 + i) for i in range(20)])
            c = dp.wait_forwarded(10 + 30 + 20)
            conserved(c)
            assert hog.release() == MBUFS - 1
        dp.send([big(7000 + i) for i in range(30)])
        c = dp.wait_for(lambda c: c["outer_fragments_sent"] == 80, what="30 more packets as 60 outer fragments")
        assert h.drops(c, exclude=()) == {"no_mbuf": 30}, h.drops(c, exclude=())
        conserved(c)
        out = dp.stop()
    conserved(dp.final)
    frags = [p for p in out if IP in p and p[IP].proto == 4 and (p[IP].flags.MF or p[IP].frag)]
    assert len(frags) == 80, len(frags)  # 10 before, 30 after; none of the 30 starved
    assert len(out) == 80 + 20, len(out)


@tap.case
def a_warm_lcore_cache_rides_out_an_empty_pool():
    # The default cache (256 a lcore, flushed at 384): the worker refilled
    # its cache with its first packet and keeps recycling it.
    with h.Dataplane(CONFIG, live=True, huge_dir=HUGE.dir) as dp:
        dp.send([web(1000 + i) for i in range(10)])
        dp.wait_forwarded(10)
        with Hog(dp) as hog:
            assert MBUFS - 384 <= hog.held < MBUFS, hog.held  # the rest is in the worker's cache
            dp.send([web(2000 + i) for i in range(100)] + [big(3000 + i) for i in range(20)])
            c = dp.wait_forwarded(130)
            assert c["drops_total"] == 0 and c["outer_fragments_sent"] == 40, (h.drops(c, exclude=()), c)
            conserved(c)
            print(f"# warm cache: the hog held {hog.held} of {hog.size}; the worker forwarded on its own cache", flush=True)
            hog.release()
        dp.stop()


if __name__ == "__main__":
    HUGE = h.HugePages(HUGE_PAGES)
    try:
        HUGE.reserve()
    except (AssertionError, OSError, subprocess.CalledProcessError) as e:
        HUGE.release()
        tap.skip_all(f"no 2 MiB huge pages here: {e}")
    tap.run()
