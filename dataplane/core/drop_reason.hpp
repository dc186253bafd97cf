// Every reason the dataplane drops a packet. Each has a counter; nothing is
// logged per packet. Names are the stable keys used in counters output; the
// help texts are what the metrics say about each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace anylb {

enum class DropReason : uint8_t {
  l2_truncated,
  vlan_unsupported,
  ethertype_unsupported,
  ipv4_truncated,
  ipv4_bad_header,
  ipv4_bad_checksum,
  ipv4_bad_length,
  ipv6_truncated,
  ipv6_bad_header,
  ipv6_bad_length,
  ipv6_ext_chain_too_long,
  l4_truncated,
  tcp_bad_header,
  udp_bad_length,
  l4_bad_port,
  martian_source,
  icmp_inner_truncated,
  icmp_inner_unsupported,
  icmp_inner_mismatch,
  icmp_unsupported,
  not_our_mac,
  not_for_node,
  no_service,
  protocol_unsupported,
  fragment_dropped,
  fragment_ambiguous,
  no_backend,
  encap_no_headroom,
  encap_too_big,
  exception_no_interface,
  tx_full,
  no_mbuf,
  exception_policed,
  exception_too_big,
  // Not a reason: the packet is not dropped. Last, so that it indexes no
  // counter and its value is the number of reasons.
  none
};

struct DropReasonInfo {
  DropReason reason;
  std::string_view name;  // [a-z][a-z0-9_]*, the key in counters and the metrics' label
  std::string_view help;  // one line, no backslash (it goes into a Prometheus HELP)
};

inline constexpr DropReasonInfo kDropReasons[] = {
    {DropReason::l2_truncated, "l2_truncated", "shorter than its Ethernet (and VLAN) header"},
    {DropReason::vlan_unsupported, "vlan_unsupported", "stacked VLAN tags or an 802.1ad outer tag"},
    {DropReason::ethertype_unsupported, "ethertype_unsupported", "neither IPv4, IPv6 nor ARP"},
    {DropReason::ipv4_truncated, "ipv4_truncated", "shorter than its IPv4 header"},
    {DropReason::ipv4_bad_header, "ipv4_bad_header", "IPv4 version or header length wrong"},
    {DropReason::ipv4_bad_checksum, "ipv4_bad_checksum", "IPv4 header checksum wrong"},
    {DropReason::ipv4_bad_length, "ipv4_bad_length",
     "IPv4 total length shorter than the header or longer than the frame"},
    {DropReason::ipv6_truncated, "ipv6_truncated", "shorter than its IPv6 header"},
    {DropReason::ipv6_bad_header, "ipv6_bad_header", "IPv6 version wrong"},
    {DropReason::ipv6_bad_length, "ipv6_bad_length", "IPv6 payload length 0 (a jumbogram) or longer than the frame"},
    {DropReason::ipv6_ext_chain_too_long, "ipv6_ext_chain_too_long", "too many IPv6 extension headers"},
    {DropReason::l4_truncated, "l4_truncated", "shorter than its TCP, UDP or ICMP header"},
    {DropReason::tcp_bad_header, "tcp_bad_header", "TCP data offset wrong"},
    {DropReason::udp_bad_length, "udp_bad_length", "UDP length wrong"},
    {DropReason::l4_bad_port, "l4_bad_port", "TCP or UDP port 0"},
    {DropReason::martian_source, "martian_source", "TCP or UDP from an address no host sends from"},
    {DropReason::icmp_inner_truncated, "icmp_inner_truncated", "ICMP error quoting too little of its packet"},
    {DropReason::icmp_inner_unsupported, "icmp_inner_unsupported",
     "ICMP error quoting a packet not TCP or UDP, or of the other family"},
    {DropReason::icmp_inner_mismatch, "icmp_inner_mismatch",
     "ICMP error whose outer destination is not the quoted packet's source"},
    {DropReason::icmp_unsupported, "icmp_unsupported", "ICMP to a VIP that is not an error routed to a backend"},
    {DropReason::not_our_mac, "not_our_mac",
     "unicast to another host, or broadcast or multicast that is not the kernel's business"},
    {DropReason::not_for_node, "not_for_node", "neither to a VIP nor to one of the node's addresses"},
    {DropReason::no_service, "no_service", "to a VIP, but no service for its protocol and port"},
    {DropReason::protocol_unsupported, "protocol_unsupported", "to a VIP, but neither TCP, UDP nor ICMP"},
    {DropReason::fragment_dropped, "fragment_dropped", "a fragment, and the service's fragment policy is drop"},
    {DropReason::fragment_ambiguous, "fragment_ambiguous",
     "a fragment to a VIP with several port services, so no service to choose"},
    {DropReason::no_backend, "no_backend", "the service has no usable backend"},
    {DropReason::encap_no_headroom, "encap_no_headroom", "no room in the buffer for the encapsulation"},
    {DropReason::encap_too_big, "encap_too_big", "encapsulated, it would exceed the port MTU"},
    {DropReason::exception_no_interface, "exception_no_interface", "for the node, but no exception interface yet"},
    {DropReason::tx_full, "tx_full", "the port's TX queue did not take it"},
    {DropReason::no_mbuf, "no_mbuf", "no mbufs for its outer fragments"},
    {DropReason::exception_policed, "exception_policed", "for the node, over the exception path's rate"},
    {DropReason::exception_too_big, "exception_too_big", "for the node, larger than its exception interface's MTU"},
};

inline constexpr std::size_t kDropReasonCount = std::size(kDropReasons);

namespace drop_reason_detail {
constexpr bool rows_in_enum_order() {
  for (std::size_t i = 0; i < kDropReasonCount; ++i)
    if (static_cast<std::size_t>(kDropReasons[i].reason) != i) return false;
  return true;
}
constexpr bool help_fits_prometheus() {
  for (const DropReasonInfo& r : kDropReasons)
    if (r.help.empty() || r.help.find_first_of("\\\n") != std::string_view::npos) return false;
  return true;
}
}  // namespace drop_reason_detail

static_assert(kDropReasonCount == static_cast<std::size_t>(DropReason::none),
              "kDropReasons needs one row for every DropReason");
static_assert(drop_reason_detail::rows_in_enum_order(), "kDropReasons' rows must follow the enum's order");
static_assert(drop_reason_detail::help_fits_prometheus(), "a help text is empty or has a backslash or line feed");

constexpr std::string_view drop_reason_name(DropReason r) {
  return r == DropReason::none ? std::string_view("none") : kDropReasons[static_cast<std::size_t>(r)].name;
}

}  // namespace anylb
