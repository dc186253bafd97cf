// Counters kept per worker lcore (one writer each) and summed by the reader.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "drop_reason.hpp"
#include "relaxed_counter.hpp"

namespace anylb {

inline constexpr std::size_t kMaxPorts = 16;

struct PortCounters {
  RelaxedCounter rx_packets, rx_bytes, tx_packets, tx_bytes;
};

struct EndpointCounters {  // a service or a backend
  RelaxedCounter packets, bytes, new_flows;
  void reset() {  // for an id given to a new service or backend (see RelaxedCounter::reset)
    packets.reset();
    bytes.reset();
    new_flows.reset();
  }
};

struct alignas(64) LcoreCounters {
  LcoreCounters(uint32_t max_services, uint32_t max_backends)
      : services(max_services + 1), backends(max_backends + 1) {}

  std::array<PortCounters, kMaxPorts> ports;
  std::array<RelaxedCounter, kDropReasonCount> drops;
  RelaxedCounter exception_packets;    // handed to the kernel (or dropped without an exception interface)
  RelaxedCounter from_kernel_packets;  // sent by the kernel on an exception interface
  RelaxedCounter fragments_hashed;
  RelaxedCounter icmp_errors_forwarded;
  RelaxedCounter icmp_too_big_sent;  // our own errors for packets too big to encapsulate
  RelaxedCounter outer_fragments_sent;  // encapsulated packets without DF, sent as outer IPv4 fragments
  RelaxedCounter flows_repinned;  // a flow whose backend went down, moved on its next packet
  std::vector<EndpointCounters> services;  // by service id; sized once, never resized
  std::vector<EndpointCounters> backends;  // by backend id
  // Of icmp_errors_forwarded, those to the backend another worker's table
  // pinned. Last: a counter added before the vectors moved them, and the
  // burst loop reads them.
  RelaxedCounter icmp_errors_pinned_elsewhere;
  // New flows past --new-flow-rate: forwarded by Maglev, not pinned.
  RelaxedCounter flows_not_inserted;

  void drop(DropReason r) { drops[static_cast<std::size_t>(r)].add(); }
};

}  // namespace anylb
