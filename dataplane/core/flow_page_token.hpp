// ListFlows pages: where a page ended, as the opaque token the API hands
// back ("worker:cursor"), and the check that a token handed in is one this
// dataplane could have given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anylb {

struct FlowPageToken {
  std::size_t worker = 0;  // the worker whose table the next page starts in
  uint64_t cursor = 0;     // the slot of that table it starts at
};

std::string to_string(const FlowPageToken& t);

// The token, or nullopt unless both numbers are whole decimals (no sign,
// nothing after), the worker exists and the cursor is within its table
// (`slots` by worker).
std::optional<FlowPageToken> parse_flow_page_token(std::string_view text, const std::vector<uint64_t>& slots);

}  // namespace anylb
