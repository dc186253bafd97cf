// FlowTable: insert and lookup, idle expiry (including across the wrap of
// the 32-bit millisecond clock), the sweep, eviction when full, and touch.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "flow_table.hpp"
#include "frame_builder.hpp"

namespace anylb::test {
namespace {

// Distinct flows: client port and client address vary with i.
FlowKey key(uint32_t i) {
  FlowKey k = flow_key(kClient4, kVip4, static_cast<uint16_t>(1024 + i % 60000), 80, kProtoTcp);
  store_be32(k.src.data(), 0xc6336400u + i / 60000);  // 198.51.100.0 + i / 60000
  return k;
}

struct Flow {
  FlowKey key;
  uint64_t hash;
};
Flow flow(uint32_t i) {
  const FlowKey k = key(i);
  return {k, flow_hash(k)};
}

constexpr FlowClock kTimeout = 1000;

TEST(FlowTable, SizedForCapacity) {
  for (uint64_t capacity : {1u, 1000u, 4096u, 100000u}) {
    FlowTable t(capacity);
    EXPECT_GE(t.slots(), capacity);
    EXPECT_EQ(t.slots() % FlowTable::kWays, 0u);
    EXPECT_EQ(t.stats().occupancy.read(), 0u);
  }
}

TEST(FlowTable, InsertThenLookupHitsAndOthersMiss) {
  FlowTable t(1024);
  const FlowClock now = 5000;
  for (uint32_t i = 0; i < 100; ++i) {
    const Flow f = flow(i);
    ASSERT_EQ(t.lookup(f.key, f.hash, now), FlowTable::kMiss) << "flow " << i << " found before insert";
    t.insert(f.key, f.hash, 7 + i, 3, now, now + kTimeout);
  }
  EXPECT_EQ(t.stats().occupancy.read(), 100u);
  EXPECT_EQ(t.stats().inserts.read(), 100u);
  for (uint32_t i = 0; i < 100; ++i) {
    const Flow f = flow(i);
    const int32_t slot = t.lookup(f.key, f.hash, now + 1);
    ASSERT_NE(slot, FlowTable::kMiss) << "flow " << i;
    EXPECT_EQ(t.entry(slot).key, f.key);
    EXPECT_EQ(t.entry(slot).backend_id(), 7 + i);
    EXPECT_EQ(t.entry(slot).service_id(), 3u);
  }
  for (uint32_t i = 100; i < 200; ++i) {
    const Flow f = flow(i);
    EXPECT_EQ(t.lookup(f.key, f.hash, now + 1), FlowTable::kMiss) << "flow " << i << " was never inserted";
  }
}

// peek: what another lcore sees of a table (an ICMP error's worker).
TEST(FlowTable, PeekFindsLiveFlowsOnly) {
  FlowTable t(1024);
  const FlowClock now = 5000;
  for (uint32_t i = 0; i < 100; ++i) t.insert(flow(i).key, flow(i).hash, 7 + i, 3, now, now + kTimeout);
  for (uint32_t i = 0; i < 100; ++i) {
    const FlowTable::Pinned p = t.peek(flow(i).key, flow(i).hash, now + 1);
    EXPECT_EQ(p.backend_id, 7 + i);
    EXPECT_EQ(p.service_id, 3u);
  }
  EXPECT_EQ(t.peek(flow(100).key, flow(100).hash, now + 1).backend_id, 0u) << "never inserted";
  EXPECT_EQ(t.peek(flow(0).key, flow(0).hash, now + kTimeout + 1).backend_id, 0u) << "expired";
}

// Peeked while the owner keeps rewriting the same few buckets (a 1024-flow
// table taking 20000 flows): a flow found always comes with its own
// backend, never with the one of the flow that took its entry.
TEST(FlowTable, PeekWhileTheOwnerWritesNeverMixesFlows) {
  FlowTable t(1024);
  std::atomic<bool> done{false};
  std::thread owner([&] {
    for (uint32_t round = 0; round < 20 && !done.load(); ++round)
      for (uint32_t i = 0; i < 20000; ++i) t.insert(flow(i).key, flow(i).hash, 1 + i, 1, 0, kTimeout);
    done.store(true);
  });
  uint64_t found = 0, peeks = 0;
  for (uint32_t i = 0; !done.load() && peeks < 20'000'000; i = (i + 7919) % 20000, ++peeks) {
    const FlowTable::Pinned p = t.peek(flow(i).key, flow(i).hash, 1);
    if (p.backend_id == 0) continue;
    ++found;
    ASSERT_EQ(p.backend_id, 1 + i) << "flow " << i << " peeked with another flow's backend";
  }
  done.store(true);
  owner.join();
  EXPECT_GT(found, 0u);
}

// Repinned (pipeline: a backend that no longer keeps the flow) while
// peeked: the ids are one word, so a peek sees the old pair or the new one,
// never one's backend with the other's service. Flow i is pinned to
// backend 1000 * service + i in every round.
TEST(FlowTable, PeekWhileTheOwnerRepinsSeesOnePair) {
  FlowTable t(1024);
  for (uint32_t i = 0; i < 500; ++i) t.insert(flow(i).key, flow(i).hash, 1000 + i, 1, 0, kTimeout);
  std::atomic<bool> done{false};
  std::thread owner([&] {
    for (uint32_t round = 0; round < 2000 && !done.load(); ++round)
      for (uint32_t i = 0; i < 500; ++i) {
        const int32_t slot = t.lookup(flow(i).key, flow(i).hash, 1);
        const uint32_t service = 1 + round % 7;
        t.repin(slot, 1000 * service + i, service);
        t.touch(slot, kTimeout + round);
      }
    done.store(true);
  });
  uint64_t found = 0;
  for (uint32_t i = 0; !done.load(); i = (i + 1) % 500) {
    const FlowTable::Pinned p = t.peek(flow(i).key, flow(i).hash, 1);
    ASSERT_NE(p.backend_id, 0u) << "flow " << i << " is never unpublished by a repin";
    ++found;
    ASSERT_EQ(p.backend_id, 1000 * p.service_id + i) << "flow " << i << ": backend and service of two pinnings";
  }
  owner.join();
  EXPECT_GT(found, 0u);
}

// Swept (expired entries cleared) and refilled while peeked.
TEST(FlowTable, PeekWhileTheOwnerSweepsAndRefills) {
  FlowTable t(1024);
  const uint32_t buckets = static_cast<uint32_t>(t.slots() / FlowTable::kWays);
  std::atomic<bool> done{false};
  std::thread owner([&] {
    for (uint32_t round = 0; round < 200; ++round) {
      const FlowClock now = round * 2 * kTimeout;
      t.sweep(now, buckets);
      for (uint32_t i = 0; i < 800; ++i) t.insert(flow(i).key, flow(i).hash, 1 + i, 2, now, now + kTimeout);
    }
    done.store(true);
  });
  while (!done.load())
    for (uint32_t i = 0; i < 800; i += 13) {
      const FlowTable::Pinned p = t.peek(flow(i).key, flow(i).hash, 0);
      if (p.backend_id != 0) {
        ASSERT_EQ(p.backend_id, 1 + i);
      }
    }
  owner.join();
}

// The signature only narrows the search: the key decides. A different key
// looked up with an inserted flow's hash must miss.
TEST(FlowTable, SameHashDifferentKeyMisses) {
  FlowTable t(1024);
  const Flow a = flow(1);
  t.insert(a.key, a.hash, 1, 1, 0, kTimeout);
  FlowKey other = a.key;
  other.dst_port = 443;
  EXPECT_EQ(t.lookup(other, a.hash, 1), FlowTable::kMiss);
  other = a.key;
  other.proto = kProtoUdp;
  EXPECT_EQ(t.lookup(other, a.hash, 1), FlowTable::kMiss);
  EXPECT_NE(t.lookup(a.key, a.hash, 1), FlowTable::kMiss);
}

TEST(FlowTable, EntryExpiresAfterItsTimeout) {
  FlowTable t(1024);
  const Flow f = flow(0);
  const FlowClock now = 10'000;
  t.insert(f.key, f.hash, 1, 1, now, now + kTimeout);
  EXPECT_NE(t.lookup(f.key, f.hash, now + kTimeout - 1), FlowTable::kMiss);
  EXPECT_EQ(t.lookup(f.key, f.hash, now + kTimeout + 1), FlowTable::kMiss);
  EXPECT_EQ(t.lookup(f.key, f.hash, now + 10 * kTimeout), FlowTable::kMiss);
}

TEST(FlowTable, TouchExtendsLife) {
  FlowTable t(1024);
  const Flow f = flow(0);
  FlowClock now = 10'000;
  int32_t slot = t.insert(f.key, f.hash, 1, 1, now, now + kTimeout);
  // Touched every 900 ms for 10 s: it never idles for a whole timeout.
  for (int i = 0; i < 11; ++i) {
    now += 900;
    slot = t.lookup(f.key, f.hash, now);
    ASSERT_NE(slot, FlowTable::kMiss) << "expired although touched, at " << now;
    t.touch(slot, now + kTimeout);
  }
  EXPECT_NE(t.lookup(f.key, f.hash, now + kTimeout - 1), FlowTable::kMiss);
  EXPECT_EQ(t.lookup(f.key, f.hash, now + kTimeout + 1), FlowTable::kMiss);
}

// The sweep reclaims expired entries, and only those.
TEST(FlowTable, SweepReclaimsExpiredEntriesOnly) {
  FlowTable t(4096);
  const uint32_t buckets = static_cast<uint32_t>(t.slots() / FlowTable::kWays);
  const FlowClock now = 50'000;
  for (uint32_t i = 0; i < 1000; ++i) {  // even flows short-lived, odd ones long-lived
    const Flow f = flow(i);
    t.insert(f.key, f.hash, 1, 1, now, now + (i % 2 == 0 ? kTimeout : 100 * kTimeout));
  }
  ASSERT_EQ(t.stats().occupancy.read(), 1000u);

  t.sweep(now + kTimeout / 2, buckets);  // nothing has expired yet
  EXPECT_EQ(t.stats().occupancy.read(), 1000u);
  EXPECT_EQ(t.stats().expirations.read(), 0u);

  // Half a sweep round reclaims some, a full round all of the expired.
  t.sweep(now + 2 * kTimeout, buckets / 2);
  const uint64_t after_half = t.stats().occupancy.read();
  EXPECT_LT(after_half, 1000u);
  EXPECT_GT(after_half, 500u);
  t.sweep(now + 2 * kTimeout, buckets / 2);
  EXPECT_EQ(t.stats().occupancy.read(), 500u);
  EXPECT_EQ(t.stats().expirations.read(), 500u);
  for (uint32_t i = 0; i < 1000; ++i) {
    const Flow f = flow(i);
    EXPECT_EQ(t.lookup(f.key, f.hash, now + 2 * kTimeout) != FlowTable::kMiss, i % 2 == 1) << "flow " << i;
  }
}

// The clock is milliseconds in 32 bits: it wraps every 49.7 days, and a flow
// inserted just before the wrap must live and die by its timeout.
TEST(FlowTable, ExpiryAcrossClockWrap) {
  FlowTable t(1024);
  const uint32_t buckets = static_cast<uint32_t>(t.slots() / FlowTable::kWays);
  const FlowClock now = 0xffffffffu - 300;
  const FlowClock expires = now + kTimeout;  // wraps to 699
  ASSERT_LT(expires, now);
  for (uint32_t i = 0; i < 50; ++i) {
    const Flow f = flow(i);
    t.insert(f.key, f.hash, 1, 1, now, expires);
  }
  const Flow f = flow(7);
  EXPECT_NE(t.lookup(f.key, f.hash, now + 200), FlowTable::kMiss) << "before the wrap";
  EXPECT_NE(t.lookup(f.key, f.hash, static_cast<FlowClock>(now + 500)), FlowTable::kMiss) << "just after the wrap";
  EXPECT_NE(t.lookup(f.key, f.hash, expires - 1), FlowTable::kMiss);
  EXPECT_EQ(t.lookup(f.key, f.hash, expires + 1), FlowTable::kMiss);

  t.sweep(static_cast<FlowClock>(now + 500), buckets);
  EXPECT_EQ(t.stats().occupancy.read(), 50u) << "swept live entries across the wrap";
  t.sweep(expires + 1, buckets);
  EXPECT_EQ(t.stats().occupancy.read(), 0u);
  EXPECT_EQ(t.stats().expirations.read(), 50u);
}

// An expired entry's way is reused by an insert without waiting for the
// sweep; that counts as an expiration, not an eviction.
TEST(FlowTable, InsertReusesExpiredWays) {
  FlowTable t(1024);
  const uint64_t slots = t.slots();
  FlowClock now = 1000;
  for (uint32_t i = 0; i < slots; ++i) {
    const Flow f = flow(i);
    t.insert(f.key, f.hash, 1, 1, now, now + kTimeout);
  }
  now += 2 * kTimeout;
  const uint64_t evictions = t.stats().evictions.read();
  for (uint32_t i = 0; i < 200; ++i) {
    const Flow f = flow(1'000'000 + i);
    const int32_t slot = t.insert(f.key, f.hash, 2, 1, now, now + kTimeout);
    EXPECT_EQ(t.lookup(f.key, f.hash, now), slot);
  }
  EXPECT_EQ(t.stats().evictions.read(), evictions) << "expired entries are not evictions";
  EXPECT_LE(t.stats().occupancy.read(), slots);
}

// Far more live flows than slots: the table evicts (counted), never holds
// more than slots(), and a flow just inserted is always found.
TEST(FlowTable, EvictsWhenFull) {
  FlowTable t(1024);
  const uint64_t slots = t.slots();
  const uint32_t flows = static_cast<uint32_t>(20 * slots);
  FlowClock now = 1;
  for (uint32_t i = 0; i < flows; ++i, ++now) {
    const Flow f = flow(i);
    const int32_t slot = t.insert(f.key, f.hash, i, 1, now, now + 1'000'000);
    ASSERT_EQ(t.lookup(f.key, f.hash, now), slot) << "flow " << i << " not found right after its insert";
    ASSERT_LE(t.stats().occupancy.read(), slots) << "after flow " << i;
  }
  const FlowTableStats& s = t.stats();
  EXPECT_EQ(s.inserts.read(), flows);
  EXPECT_GT(s.evictions.read(), 0u);
  EXPECT_EQ(s.expirations.read(), 0u);
  EXPECT_EQ(s.inserts.read(), s.occupancy.read() + s.evictions.read()) << "every insert either fills or evicts";
  EXPECT_GE(s.occupancy.read(), slots * 9 / 10) << "two-choice buckets should fill the table";
  // The newest flows are the last to go: the most recent ones are all there.
  for (uint32_t i = flows - 64; i < flows; ++i) {
    const Flow f = flow(i);
    const int32_t slot = t.lookup(f.key, f.hash, now);
    ASSERT_NE(slot, FlowTable::kMiss) << "recent flow " << i << " was evicted";
    EXPECT_EQ(t.entry(slot).backend_id(), i);
  }
}

TEST(FlowTable, EvictionTakesTheFlowClosestToExpiry) {
  FlowTable t(1024);
  const uint64_t slots = t.slots();
  // A long-lived flow must outlast a flood of later but shorter-lived
  // flows: eviction takes the entry closest to expiry, not the oldest.
  const Flow keeper = flow(0);
  t.insert(keeper.key, keeper.hash, 42, 1, 1, 1 + 1'000'000);
  for (uint32_t i = 1; i < 10 * slots; ++i) {
    const Flow f = flow(i);
    t.insert(f.key, f.hash, 1, 1, 2, 2 + 1000);
  }
  const int32_t slot = t.lookup(keeper.key, keeper.hash, 3);
  ASSERT_NE(slot, FlowTable::kMiss) << "the longest-lived flow was evicted before shorter-lived ones";
  EXPECT_EQ(t.entry(slot).backend_id(), 42u);
}

// An insert is unconfirmed, a touch confirms; the stamp's bit moves the
// expiry by at most a millisecond, down.
TEST(FlowTable, InsertIsUnconfirmedUntilTouched) {
  FlowTable t(1024);
  for (FlowClock expires : {FlowClock{20'000}, FlowClock{20'001}}) {
    const Flow f = flow(expires);
    const int32_t slot = t.insert(f.key, f.hash, 1, 1, 10'000, expires);
    EXPECT_FALSE(t.confirmed(slot));
    EXPECT_LE(t.expires(slot), expires);
    EXPECT_GE(t.expires(slot), expires - 1);
    t.touch(slot, expires);
    EXPECT_TRUE(t.confirmed(slot));
    EXPECT_LE(t.expires(slot), expires);
    EXPECT_GE(t.expires(slot), expires - 1);
  }
}

// A full table evicts unconfirmed entries before confirmed ones, even when
// the confirmed ones have far less time left; among confirmed ones, still
// the least time left.
TEST(FlowTable, EvictionTakesUnconfirmedFlowsFirst) {
  FlowTable t(1024);
  const uint64_t slots = t.slots();
  const uint32_t kept = static_cast<uint32_t>(slots / 4);
  for (uint32_t i = 0; i < kept; ++i) {  // confirmed, 10 ms left
    const Flow f = flow(i);
    t.touch(t.insert(f.key, f.hash, 42, 1, 1, 11), 11);
  }
  for (uint32_t i = kept; i < 10 * slots; ++i) {  // unconfirmed, 1000 s left
    const Flow f = flow(i);
    t.insert(f.key, f.hash, 1, 1, 2, 2 + 1'000'000);
  }
  EXPECT_GT(t.stats().evictions.read(), slots);
  EXPECT_EQ(t.stats().confirmed_evictions.read(), 0u);
  for (uint32_t i = 0; i < kept; ++i) {
    const Flow f = flow(i);
    const int32_t slot = t.lookup(f.key, f.hash, 3);
    ASSERT_NE(slot, FlowTable::kMiss) << "confirmed flow " << i << " evicted before unconfirmed ones";
    EXPECT_EQ(t.entry(slot).backend_id(), 42u);
  }
}

// The flow hash feeds three consumers: its low bits pick the bucket, its
// high bits the signature and, through reduce32, the Maglev slot. Keys that
// differ only in a client port (a client's connections) or only in a client
// address must spread evenly over each, and every key bit must reach every
// output bit.
TEST(FlowHash, SpreadsPortsAndAddressesOverBucketsAndMaglevSlots) {
  constexpr uint32_t kBins = 1024, kKeys = 1 << 18;
  for (int family = 0; family < 2; ++family) {
    for (int vary = 0; vary < 2; ++vary) {  // 0: client port, 1: client address
      std::vector<uint32_t> low(kBins), high(kBins);
      for (uint32_t i = 0; i < kKeys; ++i) {
        FlowKey k = family == 0 ? flow_key(kClient4, kVip4, 1024, 443, kProtoTcp)
                                : flow_key(kClient6, kVip6, 1024, 443, kProtoTcp);
        if (vary == 0) {
          k.src_port = static_cast<uint16_t>(1024 + i % 64000);
          store_be32(k.src.data() + (family == 0 ? 0 : 12), 0x0a000000u + i / 64000);
        } else {
          store_be32(k.src.data() + (family == 0 ? 0 : 12), 0x0a000000u + i);
        }
        const uint64_t h = flow_hash(k);
        ++low[static_cast<uint32_t>(h) % kBins];
        ++high[reduce32(static_cast<uint32_t>(h >> 32), kBins)];
      }
      // 256 keys a bin: a uniform hash stays within +-30% (5 standard deviations).
      for (const auto* bins : {&low, &high})
        for (uint32_t b = 0; b < kBins; ++b) {
          ASSERT_GT((*bins)[b], 256u * 7 / 10) << "family " << family << " vary " << vary << " bin " << b;
          ASSERT_LT((*bins)[b], 256u * 13 / 10) << "family " << family << " vary " << vary << " bin " << b;
        }
    }
  }
}

TEST(FlowHash, EveryKeyBitFlipsAboutHalfTheOutputBits) {
  std::mt19937_64 rng(7);
  for (int family = 0; family < 2; ++family) {
    const std::size_t key_bits = family == 0 ? (4 + 4 + 2 + 2 + 1) * 8 : (16 + 16 + 2 + 2 + 1) * 8;
    for (std::size_t bit = 0; bit < key_bits; ++bit) {
      uint32_t flips[64] = {};
      constexpr int kTrials = 400;
      for (int t = 0; t < kTrials; ++t) {
        FlowKey k = family == 0 ? flow_key(kClient4, kVip4, 1, 1, kProtoTcp) : flow_key(kClient6, kVip6, 1, 1, kProtoTcp);
        const uint64_t r1 = rng(), r2 = rng(), r3 = rng(), r4 = rng(), r5 = rng();
        const std::size_t alen = family == 0 ? 4 : 16;
        std::memcpy(k.src.data(), &r1, alen > 8 ? 8 : alen);
        std::memcpy(k.dst.data(), &r2, alen > 8 ? 8 : alen);
        if (alen > 8) {
          std::memcpy(k.src.data() + 8, &r3, 8);
          std::memcpy(k.dst.data() + 8, &r4, 8);
        }
        k.src_port = static_cast<uint16_t>(r5);
        k.dst_port = static_cast<uint16_t>(r5 >> 16);
        k.proto = static_cast<uint8_t>(r5 >> 32);
        FlowKey flipped = k;
        // The bit's byte: source address, destination address, then ports and protocol.
        const std::size_t byte = bit / 8;
        std::byte* at = byte < alen ? &flipped.src[byte]
                        : byte < 2 * alen ? &flipped.dst[byte - alen]
                        : byte < 2 * alen + 4 ? reinterpret_cast<std::byte*>(&flipped.src_port) + (byte - 2 * alen)
                                              : reinterpret_cast<std::byte*>(&flipped.proto);
        *at ^= std::byte{static_cast<uint8_t>(1u << (bit % 8))};
        const uint64_t diff = flow_hash(k) ^ flow_hash(flipped);
        for (int o = 0; o < 64; ++o) flips[o] += static_cast<uint32_t>((diff >> o) & 1);
      }
      for (int o = 0; o < 64; ++o) {
        ASSERT_GT(flips[o], kTrials * 3 / 10) << "family " << family << " key bit " << bit << " output bit " << o;
        ASSERT_LT(flips[o], kTrials * 7 / 10) << "family " << family << " key bit " << bit << " output bit " << o;
      }
    }
  }
}

}  // namespace
}  // namespace anylb::test
