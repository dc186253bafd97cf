// A counter with one writer (its lcore) and any number of readers.
//
// The writer adds with plain arithmetic (per-lcore counters, plain, summed
// by the reader). As std::atomic relaxed load + store it cost three
// instructions an add, and GCC, which keeps no value across an atomic
// access, reloaded the state's and counters' base pointers after every one
// (callgrind: 387 -> 372 instructions a packet when made plain, 05e779b);
// plain, an add is one `add` to memory.
// Readers load it atomically: an aligned 8-byte store is single-copy atomic
// on x86-64 (the appliance's only target), so a reader sees an old or a new
// value, never a torn one, and the atomic load keeps its compiler from
// caching it. (The C++ model still calls a plain write that races an
// atomic read a data race: the trade we make, as DPDK's own
// per-queue statistics do; the name is for the readers' relaxed loads.)
#pragma once

#include <cstdint>

namespace anylb {

class RelaxedCounter {
 public:
  [[gnu::always_inline]] void add(uint64_t n = 1) { v_ += n; }
  void sub(uint64_t n = 1) { v_ -= n; }
  uint64_t read() const { return __atomic_load_n(&v_, __ATOMIC_RELAXED); }
  // From another thread only while the writer cannot write it (a reused id
  // during its quarantine: no published state names it).
  void reset() { __atomic_store_n(&v_, 0, __ATOMIC_RELAXED); }

 private:
  alignas(8) uint64_t v_ = 0;
};

}  // namespace anylb
