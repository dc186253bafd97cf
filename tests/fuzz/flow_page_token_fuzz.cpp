// libFuzzer: the ListFlows page token (flow_page_token.hpp) from arbitrary
// bytes. A token the parser takes is within the tables it was given and
// prints back as exactly the text it came from; and every token the
// dataplane prints parses back to itself.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "flow_page_token.hpp"

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace anylb;
  // Byte 0: how many workers; their table sizes from fixed values, so both
  // edges (cursor == slots, cursor == slots + 1) are reachable.
  if (size < 1) return 0;
  static const uint64_t kSizes[] = {0, 1, 1024, 1u << 20, UINT64_MAX};
  std::vector<uint64_t> slots;
  for (uint8_t i = 0; i < data[0] % 6; ++i) slots.push_back(kSizes[(data[0] / 6 + i) % 5]);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto token = parse_flow_page_token(text, slots);
  if (!token) return 0;
  FUZZ_CHECK(token->worker < slots.size() && token->cursor <= slots[token->worker]);
  const std::string printed = to_string(*token);
  // Leading zeros are the one way two texts name one token.
  const std::size_t colon = text.find(':');
  const bool padded = (colon > 1 && text[0] == '0') || (text.size() - colon > 2 && text[colon + 1] == '0');
  FUZZ_CHECK(printed == text || padded);
  const auto again = parse_flow_page_token(printed, slots);
  FUZZ_CHECK(again && again->worker == token->worker && again->cursor == token->cursor);
  return 0;
}
