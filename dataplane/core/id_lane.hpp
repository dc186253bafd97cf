// Identifications for packets that routers may fragment, one lane per
// worker: lane, lane + lanes, lane + 2 lanes, ... below `space` (65536 for
// an IPv4 header's 16 bits, 2^32 for an IPv6 Fragment header's 32), so that
// two workers never give the same destination the same one.
#pragma once

#include <cstdint>

namespace anylb {

class IdLane {
 public:
  IdLane(uint32_t lane, uint32_t lanes, uint64_t space)
      : step_(lanes == 0 ? 1 : lanes), first_(lane % step_), next_(first_), end_(space / step_ * step_) {}

  // A lane wraps back to its first value before `space`: were it to wrap at
  // `space`, lane + lanes would land in another lane when `space` is not a
  // multiple of `lanes` (3 lanes of 65536: 65535 + 3 is lane 2's 2).
  uint64_t next() {
    const uint64_t id = next_;
    next_ += step_;
    if (next_ >= end_) next_ = first_;
    return id;
  }

 private:
  uint64_t step_, first_, next_, end_;
};

}  // namespace anylb
