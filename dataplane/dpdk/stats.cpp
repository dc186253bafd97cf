#include "stats.hpp"

#include <rte_ethdev.h>

#include "atomic_file.hpp"


namespace anylb {

namespace {

std::string proto_name(uint8_t p) { return p == kProtoTcp ? "tcp" : p == kProtoUdp ? "udp" : std::to_string(p); }

}  // namespace

nlohmann::json collect_counters(const std::vector<std::unique_ptr<WorkerContext>>& workers,
                                const std::vector<PortInfo>& ports, const ForwardingState& state) {
  using nlohmann::json;
  json out;
  out["generation"] = state.generation;

  json port_list = json::array();
  for (std::size_t pi = 0; pi < ports.size(); ++pi) {
    uint64_t rxp = 0, rxb = 0, txp = 0, txb = 0;
    for (const auto& w : workers) {
      const PortCounters& pc = w->counters->ports[pi];
      rxp += pc.rx_packets.read();
      rxb += pc.rx_bytes.read();
      txp += pc.tx_packets.read();
      txb += pc.tx_bytes.read();
    }
    // What the port lost on its own, which no worker saw (invariant 7: every
    // drop counted). Zero where the PMD keeps no such count.
    rte_eth_stats nic{};
    rte_eth_stats_get(ports[pi].port_id, &nic);
    port_list.push_back({{"name", ports[pi].name}, {"mac", ports[pi].mac.to_string()}, {"rx_packets", rxp},
                         {"rx_bytes", rxb}, {"tx_packets", txp}, {"tx_bytes", txb}, {"rx_missed", nic.imissed},
                         {"rx_no_mbuf", nic.rx_nombuf}, {"rx_errors", nic.ierrors}, {"tx_errors", nic.oerrors}});
  }
  out["ports"] = port_list;

  json drops = json::object();
  uint64_t total_drops = 0;
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    uint64_t n = 0;
    for (const auto& w : workers) n += w->counters->drops[r].read();
    drops[std::string(kDropReasons[r].name)] = n;
    total_drops += n;
  }
  out["drops"] = drops;
  out["drops_total"] = total_drops;

  uint64_t exc = 0, frag = 0, icmp = 0, icmp_elsewhere = 0, too_big = 0, repinned = 0, from_kernel = 0, outer_frags = 0;
  uint64_t not_inserted = 0;
  json lcores = json::array();
  json flows = {{"occupancy", 0},   {"inserts", 0},  {"evictions", 0}, {"confirmed_evictions", 0},
                {"expirations", 0}, {"capacity", 0}};
  for (const auto& w : workers) {
    exc += w->counters->exception_packets.read();
    from_kernel += w->counters->from_kernel_packets.read();
    frag += w->counters->fragments_hashed.read();
    icmp += w->counters->icmp_errors_forwarded.read();
    icmp_elsewhere += w->counters->icmp_errors_pinned_elsewhere.read();
    too_big += w->counters->icmp_too_big_sent.read();
    outer_frags += w->counters->outer_fragments_sent.read();
    repinned += w->counters->flows_repinned.read();
    not_inserted += w->counters->flows_not_inserted.read();
    json lc = {{"worker", w->config.worker_id}, {"loops", w->loops.load(std::memory_order_relaxed)}};
    if (w->flows_ready.load(std::memory_order_acquire)) {
      const FlowTableStats& fs = w->flows->stats();
      lc["flow_occupancy"] = fs.occupancy.read();
      lc["flow_slots"] = w->flows->slots();
      flows["occupancy"] = flows["occupancy"].get<uint64_t>() + fs.occupancy.read();
      flows["inserts"] = flows["inserts"].get<uint64_t>() + fs.inserts.read();
      flows["evictions"] = flows["evictions"].get<uint64_t>() + fs.evictions.read();
      flows["confirmed_evictions"] = flows["confirmed_evictions"].get<uint64_t>() + fs.confirmed_evictions.read();
      flows["expirations"] = flows["expirations"].get<uint64_t>() + fs.expirations.read();
      // What the table can hold, the bound occupancy keeps: --flow-capacity
      // plus the headroom of its buckets (up to twice as many), not the
      // figure asked for, which occupancy passes before buckets fill.
      flows["capacity"] = flows["capacity"].get<uint64_t>() + w->flows->slots();
    }
    lcores.push_back(lc);
  }
  out["exception_packets"] = exc;
  out["from_kernel_packets"] = from_kernel;
  out["fragments_hashed"] = frag;
  out["icmp_errors_forwarded"] = icmp;
  out["icmp_errors_pinned_elsewhere"] = icmp_elsewhere;
  out["icmp_too_big_sent"] = too_big;
  out["outer_fragments_sent"] = outer_frags;
  out["flows_repinned"] = repinned;
  out["flows_not_inserted"] = not_inserted;
  out["flows"] = flows;
  out["lcores"] = lcores;

  json services = json::array();
  for (uint32_t sid = 1; sid < state.services.size(); ++sid) {
    const ServiceEntry& s = state.services[sid];
    if (!s.present) continue;
    uint64_t p = 0, b = 0, nf = 0;
    for (const auto& w : workers) {
      const EndpointCounters& c = w->counters->services[sid];
      p += c.packets.read();
      b += c.bytes.read();
      nf += c.new_flows.read();
    }
    services.push_back({{"id", sid}, {"name", s.spec.name}, {"vip", s.spec.vip.to_string()},
                        {"proto", proto_name(s.spec.proto)}, {"port", s.spec.port},
                        {"mode", std::string(to_string(s.spec.mode))}, {"packets", p}, {"bytes", b},
                        {"new_flows", nf}});
  }
  out["services"] = services;

  json backends = json::array();
  for (uint32_t bid = 1; bid < state.backends.size(); ++bid) {
    const BackendEntry& be = state.backends[bid];
    if (!be.present) continue;
    uint64_t p = 0, b = 0, nf = 0;
    for (const auto& w : workers) {
      const EndpointCounters& c = w->counters->backends[bid];
      p += c.packets.read();
      b += c.bytes.read();
      nf += c.new_flows.read();
    }
    backends.push_back({{"id", bid}, {"service", state.services[be.service_id].spec.name},
                        {"address", be.address.to_string()}, {"state", std::string(to_string(be.state))},
                        {"packets", p}, {"bytes", b}, {"new_flows", nf}});
  }
  out["backends"] = backends;
  return out;
}

bool write_counters_file(const std::string& path, const nlohmann::json& counters) {
  // Readable by all: a monitoring agent reads it; nothing in it is secret.
  return write_file_atomically(path, counters.dump(1), false, 0644);
}

std::string counters_summary(const nlohmann::json& c) {
  uint64_t rx = 0, tx = 0;
  for (const auto& p : c["ports"]) {
    rx += p["rx_packets"].get<uint64_t>();
    tx += p["tx_packets"].get<uint64_t>();
  }
  return "gen " + std::to_string(c["generation"].get<uint64_t>()) + " rx " + std::to_string(rx) + " tx " +
         std::to_string(tx) + " drops " + std::to_string(c["drops_total"].get<uint64_t>()) + " flows " +
         std::to_string(c["flows"]["occupancy"].get<uint64_t>()) + " evictions " +
         std::to_string(c["flows"]["evictions"].get<uint64_t>());
}

}  // namespace anylb
