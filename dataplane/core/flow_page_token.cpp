#include "flow_page_token.hpp"

#include <charconv>

namespace anylb {

std::string to_string(const FlowPageToken& t) { return std::to_string(t.worker) + ":" + std::to_string(t.cursor); }

std::optional<FlowPageToken> parse_flow_page_token(std::string_view text, const std::vector<uint64_t>& slots) {
  // from_chars, not sscanf: sscanf took "0:-1" and "1:5junk".
  FlowPageToken t;
  const char* end = text.data() + text.size();
  const auto [w_end, w_ec] = std::from_chars(text.data(), end, t.worker);
  if (w_ec != std::errc() || w_end == end || *w_end != ':') return std::nullopt;
  const auto [c_end, c_ec] = std::from_chars(w_end + 1, end, t.cursor);
  if (c_ec != std::errc() || c_end != end) return std::nullopt;
  if (t.worker >= slots.size() || t.cursor > slots[t.worker]) return std::nullopt;
  return t;
}

}  // namespace anylb
