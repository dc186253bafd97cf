#include "id_lane.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace anylb {
namespace {

std::vector<uint64_t> take(IdLane& l, int n) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(l.next());
  return out;
}

// 3 lanes of 10 values: each lane wraps before 9, where 9 + 3 would have
// wrapped into lane 2's 2... and no value is given by two lanes.
TEST(IdLane, LanesWrapWithinThemselves) {
  std::set<uint64_t> seen;
  const std::vector<std::vector<uint64_t>> want = {
      {0, 3, 6, 0, 3, 6, 0}, {1, 4, 7, 1, 4, 7, 1}, {2, 5, 8, 2, 5, 8, 2}};
  for (uint32_t lane = 0; lane < 3; ++lane) {
    IdLane l(lane, 3, 10);
    const auto ids = take(l, 7);
    EXPECT_EQ(ids, want[lane]) << "lane " << lane;
    for (uint64_t id : std::set<uint64_t>(ids.begin(), ids.end())) EXPECT_TRUE(seen.insert(id).second) << id;
  }
}

// A single worker (or lanes = 0, as for a pipeline nobody gave a lane) uses
// the whole space, and wraps at its end.
TEST(IdLane, OneLaneUsesTheWholeSpace) {
  for (uint32_t lanes : {0u, 1u}) {
    IdLane l(0, lanes, 4);
    EXPECT_EQ(take(l, 6), (std::vector<uint64_t>{0, 1, 2, 3, 0, 1})) << lanes << " lanes";
  }
}

// The IPv6 Fragment header's 32-bit space: lanes step without overflowing
// (the arithmetic is 64-bit), and a lane number past the count is taken
// modulo it.
TEST(IdLane, ThirtyTwoBitSpace) {
  IdLane l(1, 3, uint64_t{1} << 32);
  EXPECT_EQ(take(l, 3), (std::vector<uint64_t>{1, 4, 7}));
  IdLane past(5, 3, uint64_t{1} << 32);
  EXPECT_EQ(past.next(), 2u);
}

}  // namespace
}  // namespace anylb
