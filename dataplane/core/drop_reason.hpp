// Every reason the dataplane drops a packet. Each has a counter; nothing is
// logged per packet. Names are the stable keys used in counters output.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace anylb {

enum class DropReason : uint8_t {
  l2_truncated,
  vlan_unsupported,        // stacked tags or 802.1ad outer tag
  ethertype_unsupported,
  ipv4_truncated,
  ipv4_bad_header,         // version or IHL wrong
  ipv4_bad_checksum,
  ipv4_bad_length,         // total length shorter than the header or longer than the frame
  ipv6_truncated,
  ipv6_bad_header,
  ipv6_bad_length,
  ipv6_ext_chain_too_long,
  l4_truncated,
  tcp_bad_header,
  udp_bad_length,
  l4_bad_port,             // port 0
  martian_source,          // TCP/UDP from an address no host sends from (is_martian_ipv4_source, ...)
  icmp_inner_truncated,
  icmp_inner_unsupported,  // inner packet not TCP/UDP, or of the other family
  icmp_inner_mismatch,     // outer destination is not the inner source
  icmp_unsupported,        // ICMP to a VIP that is not an error we route
  not_our_mac,             // unicast to another host, or broadcast/multicast that is not the kernel's business
  not_for_node,            // neither a VIP nor one of the node's addresses
  no_service,              // a VIP, but no service for this protocol and port
  protocol_unsupported,    // a VIP, but neither TCP, UDP nor ICMP
  fragment_dropped,        // the service's fragment policy is drop
  fragment_ambiguous,      // several port services on the VIP: a fragment cannot choose
  no_backend,              // the service has no usable backend
  encap_no_headroom,
  encap_too_big,           // the encapsulated frame would exceed the port MTU
  exception_no_interface,  // for the node, but no exception interface yet
  tx_full,                 // the port's TX queue did not take the packet
  no_mbuf,                 // outer fragments: the mempool had no mbufs for them
  exception_policed,       // for the node, over the exception path's rate (--exception-rate)
  exception_too_big,       // for the node, larger than its exception interface takes (its MTU)
  count_
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::count_);

inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonNames = {
    "l2_truncated",         "vlan_unsupported",     "ethertype_unsupported",
    "ipv4_truncated",       "ipv4_bad_header",      "ipv4_bad_checksum",
    "ipv4_bad_length",      "ipv6_truncated",       "ipv6_bad_header",
    "ipv6_bad_length",      "ipv6_ext_chain_too_long", "l4_truncated",
    "tcp_bad_header",       "udp_bad_length",       "l4_bad_port",          "martian_source",
    "icmp_inner_truncated", "icmp_inner_unsupported", "icmp_inner_mismatch",
    "icmp_unsupported",     "not_our_mac",          "not_for_node",         "no_service",
    "protocol_unsupported", "fragment_dropped",     "fragment_ambiguous",
    "no_backend",           "encap_no_headroom",    "encap_too_big",
    "exception_no_interface", "tx_full",           "no_mbuf",
    "exception_policed",    "exception_too_big",
};

constexpr std::string_view drop_reason_name(DropReason r) {
  return kDropReasonNames[static_cast<std::size_t>(r)];
}

}  // namespace anylb
