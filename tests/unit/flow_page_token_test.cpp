// The ListFlows page token (flow_page_token.hpp): what is taken, what is refused.
#include "flow_page_token.hpp"

#include <gtest/gtest.h>

namespace anylb {
namespace {

const std::vector<uint64_t> kTwoWorkers = {1024, 2048};  // slots by worker

TEST(FlowPageToken, WhatItWritesItReads) {
  for (const FlowPageToken t : {FlowPageToken{0, 0}, FlowPageToken{1, 17}, FlowPageToken{1, 2048}}) {
    const auto back = parse_flow_page_token(to_string(t), kTwoWorkers);
    ASSERT_TRUE(back) << to_string(t);
    EXPECT_EQ(back->worker, t.worker);
    EXPECT_EQ(back->cursor, t.cursor);
  }
  EXPECT_EQ(to_string({1, 17}), "1:17");
}

TEST(FlowPageToken, RefusesWhatIsNotTwoWholeNumbers) {
  for (const char* bad : {"", ":", "1", "1:", ":5", "0:-1", "-1:0", "+1:0", "1:5junk", "1:5 ", " 1:5", "1;5",
                          "0x1:5", "1:2:3", "99999999999999999999999:0", "0:99999999999999999999999"})
    EXPECT_FALSE(parse_flow_page_token(bad, kTwoWorkers)) << '"' << bad << '"';
}

TEST(FlowPageToken, RefusesAWorkerOrSlotThisDataplaneHasNot) {
  EXPECT_FALSE(parse_flow_page_token("2:0", kTwoWorkers));     // two workers: 0 and 1
  EXPECT_FALSE(parse_flow_page_token("0:1025", kTwoWorkers));  // past worker 0's table
  EXPECT_TRUE(parse_flow_page_token("0:1024", kTwoWorkers));   // its end: the next worker follows
  EXPECT_FALSE(parse_flow_page_token("0:0", {}));
}

}  // namespace
}  // namespace anylb
