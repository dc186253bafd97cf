// The drop reasons' table: names are counter keys and metric labels, so each
// must be present, unique and plain; help texts go into a Prometheus HELP.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "drop_reason.hpp"

namespace anylb {
namespace {

// Lower case, digits (l2, ipv4) and underscores, from a letter: the names
// counters and scrapes already carry.
TEST(DropReason, EveryNameIsNonEmptyUniqueAndPlain) {
  std::set<std::string_view> seen;
  for (const DropReasonInfo& r : kDropReasons) {
    EXPECT_FALSE(r.name.empty()) << "reason " << static_cast<int>(r.reason);
    EXPECT_EQ(r.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string_view::npos) << r.name;
    EXPECT_TRUE(!r.name.empty() && r.name[0] >= 'a' && r.name[0] <= 'z') << r.name;
    EXPECT_TRUE(seen.insert(r.name).second) << "twice: " << r.name;
    EXPECT_FALSE(r.help.empty()) << r.name;
  }
  EXPECT_EQ(seen.size(), kDropReasonCount);
}

TEST(DropReason, NoneIsNotAReason) {
  EXPECT_EQ(static_cast<std::size_t>(DropReason::none), kDropReasonCount);
  EXPECT_EQ(drop_reason_name(DropReason::none), "none");
  EXPECT_EQ(drop_reason_name(DropReason::exception_too_big), "exception_too_big");
}

}  // namespace
}  // namespace anylb
