#include "flow_table.hpp"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include <emmintrin.h>  // SSE2 streaming stores: every x86-64

namespace anylb {

namespace {

// 25% headroom so two-choice buckets rarely overflow below capacity.
uint64_t buckets_for(uint64_t capacity) {
  const uint64_t want = (capacity + capacity / 4 + FlowTable::kWays - 1) / FlowTable::kWays;
  return std::bit_ceil(want < 2 ? uint64_t{2} : want);
}

}  // namespace

uint64_t FlowTable::bytes_for(uint64_t capacity) {
  return buckets_for(capacity) * (sizeof(Bucket) + kWays * sizeof(Entry));
}

FlowTable::FlowTable(uint64_t capacity) {
  const uint64_t buckets = buckets_for(capacity);
  if (capacity > kMaxCapacity) throw std::bad_alloc();
  mask_ = static_cast<uint32_t>(buckets - 1);
  const std::size_t bucket_bytes = buckets * sizeof(Bucket);
  const std::size_t table_bytes = bucket_bytes + buckets * kWays * sizeof(Entry);
  // Random lookups over a table this size miss the TLB on 4 KiB pages, so
  // map it 2 MiB-aligned, ask for transparent huge pages, and write every
  // page now (a read fault would map the 4 KiB zero page instead).
  constexpr std::size_t kHuge = 2u << 20;
  mapped_bytes_ = table_bytes + kHuge;
  mapping_ = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) throw std::bad_alloc();
  auto* aligned = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(mapping_) + kHuge - 1) & ~(kHuge - 1));
  madvise(aligned, table_bytes, MADV_HUGEPAGE);  // fine if refused
  std::memset(aligned, 0, table_bytes);
  buckets_ = reinterpret_cast<Bucket*>(aligned);
  entries_ = reinterpret_cast<Entry*>(aligned + bucket_bytes);
}

FlowTable::~FlowTable() { munmap(mapping_, mapped_bytes_); }

// Where a new flow goes in its bucket pair: a free way, else an expired
// one, else the live entry that is unconfirmed and has the least time left,
// else the confirmed one with the least time left (the first such, in way
// order, first bucket first): a flood of one-packet flows (spoofed ACKs,
// UDP) evicts its own flows, not the established ones, however long those
// have idled. The eviction key is the time left with the unconfirmed bit
// moved to the sign: all 16 ways are live, so the time left is in [0,
// 2^31) and an unconfirmed way's key is negative, below every confirmed
// one, in the same order among themselves. With AVX2 each bucket's ways are two
// vector compares and the eviction minimum a vector min; the scalar loops
// took 39 instructions per call and 80 more to evict (callgrind), and a SYN
// flood on a full table calls it for every packet.
namespace {

struct Ways {
  uint32_t free = 0, expired = 0;  // bit masks
#if defined(__AVX2__)
  __m256i key;  // each way's eviction key (time left, unconfirmed first), kept for the minimum
#endif
};

// The slot of the first way set in `mask` (not 0) of bucket `b`.
int32_t first_slot(uint32_t b, uint32_t mask) {
  return static_cast<int32_t>(b * FlowTable::kWays + static_cast<uint32_t>(__builtin_ctz(mask)));
}

// ways: a bucket's free and expired ways. least_time_left: the slot of
// buckets b1 and b2 (their ways w1, w2) with the least time left.

#if defined(__AVX2__)
uint32_t lanes(__m256i mask) { return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(mask))); }

[[gnu::always_inline]] inline Ways ways(const FlowTable::Bucket& bucket, FlowClock now) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i empty = _mm256_cmpeq_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(bucket.sig)), zero);
  const __m256i expires = _mm256_load_si256(reinterpret_cast<const __m256i*>(bucket.expires));
  const __m256i left = _mm256_sub_epi32(expires, _mm256_set1_epi32(static_cast<int32_t>(now)));  // wrapping clock
  const __m256i key = _mm256_or_si256(left, _mm256_slli_epi32(expires, 31));
  return {lanes(empty), lanes(_mm256_andnot_si256(empty, _mm256_cmpgt_epi32(zero, left))), key};
}

[[gnu::always_inline]] inline int32_t least_time_left(const FlowTable::Bucket*, uint32_t b1, const Ways& w1,
                                                      uint32_t b2, const Ways& w2, FlowClock) {
  const __m256i left1 = w1.key, left2 = w2.key;
  __m256i least = _mm256_min_epi32(left1, left2);  // then fold the 8 lanes to one, in every lane
  least = _mm256_min_epi32(least, _mm256_permute2x128_si256(least, least, 1));
  least = _mm256_min_epi32(least, _mm256_shuffle_epi32(least, 0x4e));
  least = _mm256_min_epi32(least, _mm256_shuffle_epi32(least, 0xb1));
  const uint32_t in1 = lanes(_mm256_cmpeq_epi32(left1, least));
  return in1 != 0 ? first_slot(b1, in1) : first_slot(b2, lanes(_mm256_cmpeq_epi32(left2, least)));
}
#else
[[gnu::always_inline]] inline Ways ways(const FlowTable::Bucket& bucket, FlowClock now) {
  Ways out;
  for (uint32_t w = 0; w < FlowTable::kWays; ++w) {
    const bool empty = bucket.sig[w] == 0;
    out.free |= static_cast<uint32_t>(empty) << w;
    out.expired |= static_cast<uint32_t>(!empty & (static_cast<int32_t>(bucket.expires[w] - now) < 0)) << w;
  }
  return out;
}

[[gnu::always_inline]] inline int32_t least_time_left(const FlowTable::Bucket* buckets, uint32_t b1, const Ways&,
                                                      uint32_t b2, const Ways&, FlowClock now) {
  int32_t best_left = INT32_MAX;
  int32_t best = 0;
  for (uint32_t b : {b1, b2}) {
    for (uint32_t w = 0; w < FlowTable::kWays; ++w) {
      const FlowClock expires = buckets[b].expires[w];
      const int32_t left = static_cast<int32_t>((expires - now) | (expires << 31));  // the eviction key
      const bool better = left < best_left;
      best_left = better ? left : best_left;
      best = better ? static_cast<int32_t>(b * FlowTable::kWays + w) : best;
    }
  }
  return best;
}
#endif

}  // namespace

inline int32_t FlowTable::insert_slot(uint64_t hash, FlowClock now, SlotKind& kind) const {
  const uint32_t b1 = first_bucket(hash), b2 = second_bucket(hash);
  const Ways w1 = ways(buckets_[b1], now);
  kind = SlotKind::free;
  if (w1.free != 0) return first_slot(b1, w1.free);
  const Ways w2 = ways(buckets_[b2], now);
  if (w2.free != 0) return first_slot(b2, w2.free);
  kind = SlotKind::expired;
  if (w1.expired != 0) return first_slot(b1, w1.expired);
  if (w2.expired != 0) return first_slot(b2, w2.expired);
  kind = SlotKind::evicted;  // all 16 live
  return least_time_left(buckets_, b1, w1, b2, w2, now);
}

namespace {

// `peek`'s loads of what the owner may be writing (atomic_ref of const
// arrives in C++26; the memory is writable).
template <typename T>
T load(const T& v, std::memory_order order) {
  return std::atomic_ref<T>(const_cast<T&>(v)).load(order);
}

}  // namespace

int32_t FlowTable::insert(const FlowKey& key, uint64_t hash, uint32_t backend_id, uint32_t service_id,
                          FlowClock now, FlowClock expires, uint8_t closing) {
  SlotKind kind;
  const int32_t slot = insert_slot(hash, now, kind);
  Bucket& bucket = buckets_[slot / kWays];
  std::atomic_ref<uint32_t> sig(bucket.sig[slot % kWays]);
  // A `peek` may be reading a used entry: clear its signature first, so
  // that peek's second look at it fails. Streaming stores may pass older
  // stores, hence the sfence. (A free way's signature is 0 already.)
  const auto unpublish = [&sig] {
    sig.store(0, std::memory_order_relaxed);
#if !defined(__SANITIZE_THREAD__)
    std::atomic_signal_fence(std::memory_order_seq_cst);
    _mm_sfence();
#endif
  };
  switch (kind) {
    case SlotKind::free: stats_.occupancy.add(); break;
    case SlotKind::expired: stats_.expirations.add(); unpublish(); break;
    case SlotKind::evicted:
      stats_.evictions.add();
      if ((bucket.expires[slot % kWays] & kUnconfirmed) == 0) stats_.confirmed_evictions.add();
      unpublish();
      break;
  }
  // The entry is written whole, a line of streaming stores: a plain store
  // would first read the line for ownership, though every byte of it
  // changes, and for a new flow (a SYN flood's every packet) that line is
  // nowhere in cache: one of its three DRAM lines. A core sees its own
  // streaming stores in program order (queries are answered on this
  // lcore); another lcore's `peek` sees them only after the sfence below
  // and the release store of the signature. The line is put together in
  // registers (an aligned Entry on the stack cost a realigned frame: 26
  // instructions, callgrind).
  static_assert(offsetof(Entry, ids) == 40 && offsetof(Entry, closing) == 48);
  uint64_t key_tail;  // the key's last 8 bytes, 32-39
  std::memcpy(&key_tail, reinterpret_cast<const std::byte*>(&key) + 32, 8);
  const uint64_t ids = (uint64_t{service_id} << 32) | backend_id;  // bytes 40-47
#if defined(__SANITIZE_THREAD__)
  // TSan sees neither streaming stores nor sfence: under it the line is
  // written with release stores, which order the same way for peek.
  {
    uint64_t words[8] = {};
    std::memcpy(words, &key, sizeof key);
    words[5] = ids;
    words[6] = closing;
    auto* to = reinterpret_cast<uint64_t*>(&entries_[slot]);
    for (int i = 0; i < 8; ++i) std::atomic_ref<uint64_t>(to[i]).store(words[i], std::memory_order_release);
  }
#else
  const auto* k = reinterpret_cast<const __m128i*>(&key);
  auto* to = reinterpret_cast<__m128i*>(&entries_[slot]);
  _mm_stream_si128(to, _mm_loadu_si128(k));
  _mm_stream_si128(to + 1, _mm_loadu_si128(k + 1));
  _mm_stream_si128(to + 2, _mm_set_epi64x(static_cast<int64_t>(ids), static_cast<int64_t>(key_tail)));
  _mm_stream_si128(to + 3, _mm_cvtsi32_si128(closing));  // closing, then zeros
  // Streaming stores are weakly ordered: the whole line before the signature.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  _mm_sfence();
#endif
  // Unconfirmed: an odd stamp, rounded down ((e - 1) | 1 is e or e - 1).
  std::atomic_ref<FlowClock>(bucket.expires[slot % kWays]).store((expires - 1) | kUnconfirmed, std::memory_order_relaxed);
  sig.store(signature(hash), std::memory_order_release);
  stats_.inserts.add();
  return slot;
}

FlowTable::Pinned FlowTable::peek(const FlowKey& key, uint64_t hash, FlowClock now) const {
  // A seqlock read with the way's signature as the sequence: the signature
  // (acquire), the entry (acquire loads, so that none is done after the
  // second look), the signature again. Not the owner's vector lookup: every
  // load here must be atomic.
  const uint32_t want = signature(hash);
  for (const uint32_t b : {first_bucket(hash), second_bucket(hash)}) {
    const Bucket& bucket = buckets_[b];
    for (uint32_t w = 0; w < kWays; ++w) {
      if (load(bucket.sig[w], std::memory_order_acquire) != want) continue;
      if (flow_time_before(load(bucket.expires[w], std::memory_order_relaxed), now)) continue;
      const auto* from = reinterpret_cast<const uint64_t*>(&entries_[b * kWays + w]);
      uint64_t words[5];
      for (int i = 0; i < 5; ++i) words[i] = load(from[i], std::memory_order_acquire);
      const uint64_t ids = load(from[5], std::memory_order_acquire);
      if (load(bucket.sig[w], std::memory_order_relaxed) != want) continue;  // rewritten meanwhile
      FlowKey seen;
      std::memcpy(&seen, words, sizeof seen);
      if (seen == key) return Pinned{static_cast<uint32_t>(ids), static_cast<uint32_t>(ids >> 32)};
    }
  }
  return {};
}

void FlowTable::sweep(FlowClock now, uint32_t buckets) {
  for (uint32_t i = 0; i < buckets; ++i) {
    Bucket& bucket = buckets_[sweep_cursor_];
    for (uint32_t m = ways(bucket, now).expired; m != 0; m &= m - 1) {  // the worker loop sweeps every turn
      std::atomic_ref<uint32_t>(bucket.sig[__builtin_ctz(m)]).store(0, std::memory_order_relaxed);
      stats_.occupancy.sub();
      stats_.expirations.add();
    }
    sweep_cursor_ = (sweep_cursor_ + 1) & mask_;
  }
}

}  // namespace anylb
