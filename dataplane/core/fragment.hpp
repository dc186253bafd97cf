// Outer fragmentation of encapsulated packets (RFC 2003 5.1, RFC 2473 7.1:
// the encapsulator fragments the outer packet when the inner one allows
// it). An IPv4 packet without DF, or an IPv6 packet of at most 1280 bytes
// (outer_may_fragment), that no longer fits the port's MTU once
// encapsulated leaves as fragments of the outer packet, which the
// backend's IP layer reassembles: IPv4 fragments (RFC 791 3.2) of an IPv4
// outer packet, or, over IPv6, fragments with a Fragment header (RFC 8200
// 4.5; we are the outer packet's source, the one node IPv6 lets fragment).
// Pure: the worker brings the buffers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace anylb {

struct OuterFragments {
  uint32_t l3_offset = 0;    // Ethernet (and VLAN tag) bytes in front of the IP header
  uint32_t header_len = 0;   // each fragment's IP headers: 20 (IPv4), 40 + 8 (IPv6 and its Fragment header)
  uint32_t grows = 0;        // bytes fragment 0 gains in front (IPv6: the Fragment header)
  uint32_t payload_len = 0;  // the whole outer packet's payload
  uint32_t chunk = 0;        // payload bytes in each fragment but the last: a multiple of 8
  uint32_t count = 0;        // 0: the frame cannot be fragmented
  uint32_t frame_len(uint32_t k) const {
    const uint32_t rest = payload_len - k * chunk;
    return l3_offset + header_len + (rest < chunk ? rest : chunk);
  }
};

// How `frame` (Ethernet, optionally one 802.1Q tag, then either IPv4
// without options, DF or fragment fields, or IPv6 without extension
// headers: an outer header as encapsulate writes it) splits into IP packets
// of at most `mtu` bytes; count 0 when it cannot.
OuterFragments plan_outer_fragments(const std::byte* frame, uint32_t len, uint32_t mtu);

// Fragment k >= 1, whole (the frame's Ethernet header, the IP header with
// its length, offset, more-fragments flag and checksum or Fragment header,
// its slice of the payload), into `out` (room for plan.frame_len(k)
// bytes). `id`: the IPv6 Fragment header's identification, the same for
// every fragment of a packet (IPv4 keeps the header's own). Reads the frame
// as planned: write these before cutting the frame to fragment 0.
void write_fragment(const std::byte* frame, const OuterFragments& plan, uint32_t k, uint32_t id, std::byte* out);

// The frame becomes fragment 0, of plan.frame_len(0) bytes starting at
// `start`: plan.grows bytes before the frame, which the caller has made
// room for (mbuf headroom).
void cut_first_fragment(std::byte* start, const OuterFragments& plan, uint32_t id);

}  // namespace anylb
