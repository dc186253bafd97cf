// The version of what pins a flow that a node holds no state for: the flow
// hash (flow_key.hpp), the Maglev slot it picks (reduce32 of its top half,
// pipeline.cpp) and the Maglev table build (maglev.cpp). Nodes behind one
// ECMP group must agree on all three, or a flow that ECMP moves between
// them (a node added, drained or restarted) lands on another backend.
//
// pinning_version_test holds golden values for all three: a change that
// alters them must bump this. Nodes report it (anylbctl node); a rolling
// upgrade across a bump re-pins the flows ECMP moves while versions are
// mixed (docs/operations.md, "Upgrades").
//
// 1: the first builds' mix64 flow hash; 2: the multiply-fold flow hash;
// 3: weighted Maglev tables give each backend floor or ceil of its share
// (largest remainder): a few slots of a weighted table move (1 to 30 in 65537
// for ordinary weights, 2770 for one at 10000 among 9999 at 1); equal
// weights' tables are unchanged.
#pragma once

#include <cstdint>

namespace anylb {

inline constexpr uint32_t kFlowPinningVersion = 3;

}  // namespace anylb
