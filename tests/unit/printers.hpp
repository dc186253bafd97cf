// Readable names for the dataplane's enums in GoogleTest failure messages
// (found by argument-dependent lookup, so they live in namespace anylb).
#pragma once

#include <cstddef>
#include <iterator>
#include <ostream>

#include "drop_reason.hpp"
#include "flow_key.hpp"
#include "packet_parser.hpp"
#include "pipeline.hpp"

namespace anylb {

inline void PrintTo(DropReason r, std::ostream* os) {
  *os << (r == DropReason::none ? std::string_view("ok") : drop_reason_name(r));
}

inline void PrintTo(PacketKind k, std::ostream* os) {
  static constexpr const char* names[] = {"flow", "fragment", "icmp_error", "icmp_other", "other_ip", "arp"};
  *os << names[static_cast<int>(k)];
}

inline void PrintTo(Action a, std::ostream* os) {
  static constexpr const char* names[] = {"forward", "exception", "drop", "reply", "forward_fragments"};
  const auto i = static_cast<std::size_t>(a);
  if (i < std::size(names)) *os << names[i];
  else *os << "Action(" << i << ")";  // one added to the enum and not here: still printable
}

inline void PrintTo(const FlowKey& k, std::ostream* os) {
  *os << k.src_address().to_string() << ":" << k.src_port << " -> " << k.dst_address().to_string() << ":"
      << k.dst_port << " proto " << static_cast<int>(k.proto);
}

}  // namespace anylb
