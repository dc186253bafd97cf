// Outer IPv4 fragmentation (RFC 791 3.2; RFC 2003 5.1: the encapsulator
// fragments the outer packet when the inner one allows it). A packet
// without DF that no longer fits the port's MTU once encapsulated leaves as
// fragments of the outer packet, which the backend's IP layer reassembles.
// Pure: the worker brings the buffers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace anylb {

struct Ipv4Fragments {
  uint32_t l3_offset = 0;    // Ethernet (and VLAN tag) bytes in front of the IPv4 header
  uint32_t payload_len = 0;  // the whole packet's IP payload
  uint32_t chunk = 0;        // payload bytes in each fragment but the last: a multiple of 8
  uint32_t count = 0;        // 0: the frame cannot be fragmented
  uint32_t frame_len(uint32_t k) const {
    const uint32_t rest = payload_len - k * chunk;
    return l3_offset + 20 + (rest < chunk ? rest : chunk);
  }
};

// How `frame` (Ethernet, optionally one 802.1Q tag, then IPv4 without
// options, DF or fragment fields) splits into IP packets of at most `mtu`
// bytes; count 0 when it cannot.
Ipv4Fragments plan_ipv4_fragments(const std::byte* frame, uint32_t len, uint32_t mtu);

// Fragment k >= 1, whole (the frame's Ethernet header, the IPv4 header with
// its length, offset, MF and checksum, its slice of the payload), into `out`
// (room for plan.frame_len(k) bytes). Reads the frame as planned: write
// these before cutting the frame to fragment 0.
void write_ipv4_fragment(const std::byte* frame, const Ipv4Fragments& plan, uint32_t k, std::byte* out);

// The frame itself becomes fragment 0; its length is then plan.frame_len(0).
void cut_first_ipv4_fragment(std::byte* frame, const Ipv4Fragments& plan);

}  // namespace anylb
