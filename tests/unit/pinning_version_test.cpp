// Golden values of what pins a new flow on every node: the flow hash, the
// Maglev slot it picks and the Maglev table. If one of these tests fails,
// the change alters which backend a node picks for a flow it has no state
// for, so nodes of the old and the new build disagree: bump
// kFlowPinningVersion (pinning_version.hpp) and the version below, then
// update the values.
#include <gtest/gtest.h>

#include <vector>

#include "flow_key.hpp"
#include "frame_builder.hpp"
#include "hash.hpp"
#include "maglev.hpp"
#include "pinning_version.hpp"

namespace anylb {
namespace {

using test::flow_key;

TEST(PinningVersion, IsTheOneTheseValuesBelongTo) { EXPECT_EQ(kFlowPinningVersion, 3u); }

TEST(PinningVersion, FlowHash) {
  EXPECT_EQ(flow_hash(flow_key("198.51.100.7", "203.0.113.10", 40000, 80, kProtoTcp)), 0x39e129d77a313a73ULL);
  EXPECT_EQ(flow_hash(flow_key("198.51.100.7", "203.0.113.10", 40001, 80, kProtoTcp)), 0x8035da825935de37ULL);
  EXPECT_EQ(flow_hash(flow_key("198.51.100.7", "203.0.113.10", 53000, 53, kProtoUdp)), 0x21302bd09478fcf3ULL);
  EXPECT_EQ(flow_hash(flow_key("198.51.100.7", "203.0.113.10", 0, 0, kProtoTcp)), 0xa1a5af895dbb8f72ULL);  // a fragment's 3-tuple
  EXPECT_EQ(flow_hash(flow_key("2001:db8:c::7", "2001:db8:10::10", 40000, 443, kProtoTcp)), 0x8a9290f031e49995ULL);
}

TEST(PinningVersion, MaglevSlot) {
  const uint64_t h = flow_hash(flow_key("198.51.100.7", "203.0.113.10", 40000, 80, kProtoTcp));
  EXPECT_EQ(reduce32(static_cast<uint32_t>(h >> 32), kMaglevDefaultSize), 14817u);
}

// 64-bit FNV-1a over each slot's owner's address bytes, in slot order.
uint64_t table_digest(const std::vector<MaglevBackend>& backends) {
  const std::vector<uint16_t> table = build_maglev_table(backends, kMaglevDefaultSize);
  uint64_t digest = 0xcbf29ce484222325ULL;
  for (uint16_t owner : table)
    for (std::byte b : backends.at(owner).address.bytes) digest = (digest ^ std::to_integer<uint8_t>(b)) * 0x100000001b3ULL;
  return digest;
}

std::vector<MaglevBackend> golden_backends() {
  std::vector<MaglevBackend> backends;
  for (const char* a : {"198.18.1.10", "198.18.1.11", "198.18.1.12", "2001:db8:be::10"})
    backends.push_back({*IpAddress::parse(a), 100});
  backends.push_back({*IpAddress::parse("198.18.1.13"), 250});
  return backends;
}

// Version 3 (slots by largest remainder) moved 1 slot of this table.
TEST(PinningVersion, MaglevTable) { EXPECT_EQ(table_digest(golden_backends()), 0x868b1c738c239a92ULL); }

// Equal weights: the same table since version 1.
TEST(PinningVersion, MaglevTableOfEqualWeights) {
  std::vector<MaglevBackend> backends = golden_backends();
  backends.back().weight = 100;
  EXPECT_EQ(table_digest(backends), 0x54928a5926c8c9c2ULL);
}

}  // namespace
}  // namespace anylb
