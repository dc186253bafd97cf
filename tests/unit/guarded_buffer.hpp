// A buffer whose last byte sits just before an inaccessible page, so code
// that reads one byte past the span it was given crashes at once, even in a
// build without AddressSanitizer.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <vector>

namespace anylb::test {

class GuardedBuffer {
 public:
  GuardedBuffer() : page_(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))) {
    void* m = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<std::byte*>(m);
    if (mprotect(base_ + page_, page_, PROT_NONE) != 0) throw std::bad_alloc();
  }
  ~GuardedBuffer() { munmap(base_, 2 * page_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // Copies the first `len` bytes of `bytes` so that they end at the guard page.
  std::span<const std::byte> place(const std::vector<std::byte>& bytes, std::size_t len) {
    if (len > page_ || len > bytes.size()) throw std::bad_alloc();
    std::byte* start = base_ + page_ - len;
    if (len != 0) std::memcpy(start, bytes.data(), len);
    return {start, len};
  }
  std::span<const std::byte> place(const std::vector<std::byte>& bytes) { return place(bytes, bytes.size()); }

 private:
  std::size_t page_;
  std::byte* base_ = nullptr;
};

}  // namespace anylb::test
