// A counter with one writer (its lcore) and any number of readers.
//
// Relaxed load + store compile to a plain add on x86 (no lock prefix), yet
// keep concurrent reads from the control thread well-defined, which plain
// integers would not be.
#pragma once

#include <atomic>
#include <cstdint>

namespace anylb {

class RelaxedCounter {
 public:
  // Forced inline: GCC left it out of line in the packet loop (a call and
  // return around a two-instruction add, twice a packet).
  [[gnu::always_inline]] void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  uint64_t read() const { return v_.load(std::memory_order_relaxed); }
  // From another thread only while the writer cannot write it (a reused id
  // during its quarantine: no published state names it).
  void reset() { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace anylb
