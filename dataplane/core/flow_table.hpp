// Per-lcore connection table: 5-tuple -> backend id, with idle timeouts.
//
// One table per worker lcore, so no locks. Layout follows VPP's
// lb hash: 64-byte buckets of 8 signatures and 8 expiry stamps, expiring by
// timestamp (no deletes on the packet path). Keys live in a parallel entry
// array, one cache line each, so a lookup touches two lines, both of which the
// burst loop prefetches. Each key has two candidate buckets; a full pair
// evicts an unconfirmed entry (inserted, never touched since) before a
// confirmed one, and within each the entry closest to expiry (counted). An
// incremental sweep reclaims expired entries so occupancy stays exact.
//
// Confirmed is the expiry stamp's low bit (0: confirmed), so that eviction
// reads it from the bucket line it already has, and the entry stays one
// line: `insert` stores an odd stamp, `touch` an even one, each rounding
// the stamp down by at most a millisecond.
//
// Only the owning lcore writes a table; one other reader, `peek`, may read
// it from another lcore at any time. Every field `peek` reads (a way's
// signature and expiry stamp, an entry's key and ids) is therefore written
// with atomic (std::atomic_ref) or streaming stores and read by `peek` with
// atomic loads; the owner's own reads stay plain. The signature is the
// entry's sequence word: `insert` clears it before rewriting a used entry
// and sets it (release) after, and `peek` reads it before and after the
// entry. The ids are one 64-bit word, written whole.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "flow_key.hpp"
#include "relaxed_counter.hpp"

namespace anylb {

// Milliseconds on a wrapping 32-bit clock; compared by signed difference, so
// timeouts must stay below 24 days.
using FlowClock = uint32_t;

inline bool flow_time_before(FlowClock a, FlowClock b) { return static_cast<int32_t>(a - b) < 0; }

struct FlowTableStats {
  RelaxedCounter occupancy;
  RelaxedCounter inserts;
  RelaxedCounter evictions;    // live entries pushed out by a full bucket pair
  RelaxedCounter confirmed_evictions;  // of those, confirmed ones (more than one packet seen)
  RelaxedCounter expirations;  // entries reclaimed after their idle timeout
};

class FlowTable {
 public:
  static constexpr uint32_t kWays = 8;
  static constexpr int32_t kMiss = -1;

  struct alignas(64) Entry {
    FlowKey key;
    // Backend id (low half) and service id (high half) in one word, so that
    // `peek` never sees one flow's backend with another pinning's service:
    // written only whole (insert, repin).
    uint64_t ids;
    uint8_t closing;  // TCP: a FIN or RST was seen (set at insert; the pipeline keeps it)
    uint8_t spare_[15];
    uint32_t backend_id() const { return static_cast<uint32_t>(ids); }
    uint32_t service_id() const { return static_cast<uint32_t>(ids >> 32); }
  };
  struct alignas(64) Bucket {
    uint32_t sig[kWays];      // 0 = empty
    FlowClock expires[kWays];
  };
  static_assert(sizeof(Entry) == 64 && sizeof(Bucket) == 64);

  // Sized for `capacity` flows with headroom for uneven buckets. Memory is
  // an anonymous mapping on huge pages where the kernel allows, written once
  // here: construct the table on its lcore so pages land on its NUMA node.
  // Slots are int32_t: at most kMaxCapacity flows (24 GiB of table).
  static constexpr uint64_t kMaxCapacity = uint64_t{1} << 28;
  explicit FlowTable(uint64_t capacity);
  ~FlowTable();
  // The memory a table for `capacity` flows maps.
  static uint64_t bytes_for(uint64_t capacity);
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  uint64_t slots() const { return static_cast<uint64_t>(mask_ + 1) * kWays; }
  const FlowTableStats& stats() const { return stats_; }

  // Burst helpers, in three passes over a burst so that each waits on
  // memory the pass before asked for: prefetch the first bucket; then the
  // entry its signature points at, or else the second bucket; then, for
  // those, the second bucket's entry (a new flow's entry is not fetched:
  // `insert` writes it whole without reading it). prefetch_entry returns
  // the first bucket's live signature matches (0: none), which lookup can
  // take instead of matching again as long as nothing was inserted in
  // between.
  void prefetch_bucket(uint64_t hash) const { __builtin_prefetch(&buckets_[first_bucket(hash)]); }
  inline uint32_t prefetch_entry(uint64_t hash, FlowClock now) const;
  inline void prefetch_second(uint64_t hash, FlowClock now) const;

  // What prefetch_entry returns, without the prefetch.
  inline uint32_t first_matches(uint64_t hash, FlowClock now) const;
  // The slot holding `key` if it is live, else kMiss.
  inline int32_t lookup(const FlowKey& key, uint64_t hash, FlowClock now) const;
  // The same, given prefetch_entry's answer for this hash at this `now`,
  // with no insert since.
  inline int32_t lookup(const FlowKey& key, uint64_t hash, FlowClock now, uint32_t first_matches) const;
  // Another lcore's look at this table (an ICMP error about a flow that
  // RSS gave another worker): `key`'s live entry's backend and service, or
  // backend 0. The owner may be writing the entry meanwhile, and no lock
  // orders the two: every load is atomic, and the way's signature is read
  // again after the entry, so an entry being rewritten reads as a miss.
  // (A rewrite for another flow with the same 31-bit signature in the same
  // slot within that window is not detected; the key is still compared, and
  // the caller checks the ids against its forwarding state before use.)
  struct Pinned {
    uint32_t backend_id = 0;
    uint32_t service_id = 0;
  };
  Pinned peek(const FlowKey& key, uint64_t hash, FlowClock now) const;
  Entry& entry(int32_t slot) { return entries_[slot]; }
  const Entry& entry(int32_t slot) const { return entries_[slot]; }
  // Sets a flow's expiry and confirms it (a second packet of it came).
  // Atomic stores (`peek` reads them from another lcore): a plain mov on x86.
  void touch(int32_t slot, FlowClock expires) {
    std::atomic_ref<FlowClock>(buckets_[slot / kWays].expires[slot % kWays])
        .store(expires & ~kUnconfirmed, std::memory_order_relaxed);
  }
  // Moves a flow to another backend (and service): the ids in one store.
  void repin(int32_t slot, uint32_t backend_id, uint32_t service_id) {
    std::atomic_ref<uint64_t>(entries_[slot].ids)
        .store((uint64_t{service_id} << 32) | backend_id, std::memory_order_release);
  }
  FlowClock expires(int32_t slot) const { return buckets_[slot / kWays].expires[slot % kWays]; }
  // Inserted and not touched since: one packet seen (a spoofed flood's every flow).
  bool confirmed(int32_t slot) const { return (expires(slot) & kUnconfirmed) == 0; }
  // The expiry stamp's bit that marks an unconfirmed entry.
  static constexpr FlowClock kUnconfirmed = 1;
  bool live(int32_t slot, FlowClock now) const {
    return buckets_[slot / kWays].sig[slot % kWays] != 0 && !flow_time_before(expires(slot), now);
  }

  // Stores a flow known to be absent, unconfirmed; returns its slot.
  int32_t insert(const FlowKey& key, uint64_t hash, uint32_t backend_id, uint32_t service_id,
                 FlowClock now, FlowClock expires, uint8_t closing = 0);

  // Reclaims expired entries in the next `buckets` buckets (round robin).
  void sweep(FlowClock now, uint32_t buckets);

 private:
  uint32_t first_bucket(uint64_t hash) const { return static_cast<uint32_t>(hash) & mask_; }
  uint32_t second_bucket(uint64_t hash) const {
    const uint32_t first = first_bucket(hash);
    const uint32_t second = (first ^ (signature(hash) * 0x9e3779b1u)) & mask_;
    return second == first ? first ^ 1u : second;
  }
  static uint32_t signature(uint64_t hash) { return static_cast<uint32_t>(hash >> 32) | 1u; }
  // The slot among bucket `b`'s ways in `matches` that holds `key`, else kMiss.
  inline int32_t find_in(uint32_t b, uint32_t matches, const FlowKey& key) const;
  enum class SlotKind { free, expired, evicted };
  // Where `insert` puts a new flow: a free way, else an expired one, else the
  // unconfirmed live entry closest to expiry, else the confirmed one.
  [[gnu::always_inline]] inline int32_t insert_slot(uint64_t hash, FlowClock now, SlotKind& kind) const;

  Bucket* buckets_ = nullptr;
  Entry* entries_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t sweep_cursor_ = 0;
  std::size_t mapped_bytes_ = 0;
  void* mapping_ = nullptr;
  FlowTableStats stats_;
};

// The per-packet lookups, inline: every established packet runs them, and a
// call per step cost more instructions than the steps (callgrind).

// Ways whose signature matches and which have not expired, as a bit mask:
// with AVX2 two compares of the bucket's two halves and one movemask (the
// compiler did not vectorise the loop: 60 instructions a lookup, callgrind).
inline uint32_t live_matches(const FlowTable::Bucket& bucket, uint32_t sig, FlowClock now) {
#if defined(__AVX2__)
  const __m256i sigs = _mm256_load_si256(reinterpret_cast<const __m256i*>(bucket.sig));
  const __m256i expires = _mm256_load_si256(reinterpret_cast<const __m256i*>(bucket.expires));
  const __m256i same = _mm256_cmpeq_epi32(sigs, _mm256_set1_epi32(static_cast<int32_t>(sig)));
  const __m256i left = _mm256_sub_epi32(expires, _mm256_set1_epi32(static_cast<int32_t>(now)));
  const __m256i live = _mm256_cmpgt_epi32(left, _mm256_set1_epi32(-1));  // time left >= 0 (wrapping clock)
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_and_si256(same, live))));
#else
  uint32_t mask = 0;
  for (uint32_t w = 0; w < FlowTable::kWays; ++w) {
    const bool hit = (bucket.sig[w] == sig) & (static_cast<int32_t>(bucket.expires[w] - now) >= 0);
    mask |= static_cast<uint32_t>(hit) << w;
  }
  return mask;
#endif
}

inline uint32_t FlowTable::first_matches(uint64_t hash, FlowClock now) const {
  return live_matches(buckets_[first_bucket(hash)], signature(hash), now);
}

inline uint32_t FlowTable::prefetch_entry(uint64_t hash, FlowClock now) const {
  const uint32_t b = first_bucket(hash);
  const uint32_t mask = first_matches(hash, now);
  if (mask != 0)
    __builtin_prefetch(&entries_[b * kWays + static_cast<uint32_t>(__builtin_ctz(mask))]);
  else
    __builtin_prefetch(&buckets_[second_bucket(hash)]);
  return mask;
}

inline void FlowTable::prefetch_second(uint64_t hash, FlowClock now) const {
  const uint32_t b = second_bucket(hash);
  const uint32_t mask = live_matches(buckets_[b], signature(hash), now);
  if (mask != 0) __builtin_prefetch(&entries_[b * kWays + static_cast<uint32_t>(__builtin_ctz(mask))]);
  // Else a new flow: insert writes its entry without reading it.
}

inline int32_t FlowTable::find_in(uint32_t b, uint32_t matches, const FlowKey& key) const {
  for (uint32_t mask = matches; mask != 0; mask &= mask - 1) {
    const int32_t slot = static_cast<int32_t>(b * kWays + static_cast<uint32_t>(__builtin_ctz(mask)));
    if (entries_[slot].key == key) return slot;
  }
  return kMiss;
}

inline int32_t FlowTable::lookup(const FlowKey& key, uint64_t hash, FlowClock now, uint32_t first_matches) const {
  const int32_t slot = find_in(first_bucket(hash), first_matches, key);
  if (slot != kMiss) return slot;
  const uint32_t second = second_bucket(hash);
  return find_in(second, live_matches(buckets_[second], signature(hash), now), key);
}

inline int32_t FlowTable::lookup(const FlowKey& key, uint64_t hash, FlowClock now) const {
  return lookup(key, hash, now, first_matches(hash, now));
}

}  // namespace anylb
