#include "pipeline.hpp"

#include <algorithm>
#include <cstring>

#include "too_big.hpp"

namespace anylb {

namespace {

// IPv6 multicast (ND, MLD) and link-local unicast (the kernel's neighbour
// discovery and routing protocols use its fe80:: address): the kernel's,
// though no node address names them.
bool is_ipv6_link_traffic(const FlowKey& k) {
  return k.family == IpFamily::v6 && (load_u8(k.dst.data()) == 0xff || is_ipv6_link_local(k.dst.data()));
}

// A MAC address as the low 48 bits of a little-endian word: one compare
// (memcmp of 6 bytes took 14 instructions with the group bit test,
// callgrind). Reads 8 bytes: callers have at least that.
uint64_t mac_bits(const std::byte* mac) {
  uint64_t w;
  std::memcpy(&w, mac, 8);
  return w & 0xffff'ffff'ffffULL;
}

bool needs_hash(PacketKind k) {
  return k == PacketKind::flow || k == PacketKind::icmp_error || k == PacketKind::fragment;
}

}  // namespace

void Pipeline::process_burst(const ForwardingState& st, const PortContext& port, FlowClock now,
                             std::span<const FrameBuffer> frames, Verdict* verdicts) {
  const std::size_t n = frames.size() < kMaxBurst ? frames.size() : kMaxBurst;
  if constexpr (kCeilingBuild) {
    for (std::size_t i = 0; i < n; ++i) {
      verdicts[i] = Verdict{};
      std::byte mac[6];
      if (frames[i].len < 12) continue;  // the verdict stays a drop
      std::memcpy(mac, frames[i].data, 6);
      std::memcpy(frames[i].data, frames[i].data + 6, 6);
      std::memcpy(frames[i].data + 6, mac, 6);
      verdicts[i] = Verdict{Action::forward, DropReason::none, 0, frames[i].len, 0};
    }
    return;
  }

  // Stage 1: parse and hash the whole burst, prefetching each flow's bucket.
  for (std::size_t i = 0; i < n; ++i) {
    ParsedPacket& p = parsed_[i];
    drops_[i] = parse_packet({frames[i].data, frames[i].len}, p);
    hashes_[i] = 0;
    if (drops_[i] == DropReason::none && needs_hash(p.kind)) {
      hashes_[i] = flow_hash(p.key);
      if (p.kind == PacketKind::flow) flows_.prefetch_bucket(hashes_[i]);
    }
  }
  // Stage 2: with buckets on their way, prefetch the entries they point at;
  // where the first bucket has none, the second bucket...
  uint64_t misses = 0;  // bit i: packet i's flow is not in its first bucket
  for (std::size_t i = 0; i < n; ++i) {
    first_matches_[i] = 0;
    if (drops_[i] == DropReason::none && parsed_[i].kind == PacketKind::flow) {
      first_matches_[i] = flows_.prefetch_entry(hashes_[i], now);
      if (first_matches_[i] == 0) misses |= uint64_t{1} << i;
    }
  }
  // ...then its entry, if it is there.
  for (uint64_t m = misses; m != 0; m &= m - 1) flows_.prefetch_second(hashes_[__builtin_ctzll(m)], now);
  // Stage 3: decide and rewrite.
  services_ = st.services.data();
  backends_ = st.backends.data();
  service_counters_ = counters_.services.data();
  backend_counters_ = counters_.backends.data();
  memo_service_ = 0;
  inserted_ = false;
  std::array<std::byte, 8> rx_mac{};
  std::memcpy(rx_mac.data(), port.rx_mac.bytes.data(), 6);
  rx_mac_bits_ = mac_bits(rx_mac.data());
  for (std::size_t i = 0; i < n; ++i)
    verdicts[i] = drops_[i] == DropReason::none
                      ? decide(st, port, now, frames[i], parsed_[i], hashes_[i], first_matches_[i])
                      : parse_drop(st, frames[i], parsed_[i], drops_[i], now);
}

// Dropped, but for one case: an ICMP error whose quote is no flow of ours
// (it quotes a ping, a probe, the kernel's own fragment) is dropped for a
// VIP; to a node address it is the kernel's, which needs it for path MTU
// discovery (RFC 1191, RFC 8201) and to fail its probes fast. The parser
// left the outer key.
Verdict Pipeline::parse_drop(const ForwardingState& st, FrameBuffer f, const ParsedPacket& p, DropReason why,
                             FlowClock now) {
  if (why != DropReason::icmp_inner_truncated && why != DropReason::icmp_inner_unsupported &&
      why != DropReason::icmp_inner_mismatch)
    return dropped(why);
  if (mac_bits(f.data) != rx_mac_bits_) return dropped(why);  // a group MAC, or another host's
  const AddressEntry* dst = st.addresses.find(p.key.dst, p.key.family);
  if (dst == nullptr || !dst->node) return dropped(why);
  return to_kernel(st, p, f, now);
}

Verdict Pipeline::to_kernel(const ForwardingState& st, const ParsedPacket& p, FrameBuffer f, FlowClock now) {
  if (!exception_present_) return dropped(DropReason::exception_no_interface);
  const IpAddress src{p.key.src, p.key.family};
  const bool ip = p.kind != PacketKind::arp;
  ExceptionSource s{ip && st.is_backend(src), ip && st.may_be_bgp_peer(src), ip && st.is_gtsm_peer(src), 0};
  if (s.gtsm)  // IPv4's TTL, IPv6's hop limit (the fixed header's, whatever follows)
    s.ttl = load_u8(f.data + p.l3_offset + (p.family == IpFamily::v4 ? 8 : 7));
  if (!policer_.admit(p, s, st.probe_ports, now))
    return dropped(DropReason::exception_policed);
  counters_.exception_packets.add();
  return Verdict{Action::exception, DropReason::none, 0, f.len, 0};
}

uint32_t Pipeline::pick_backend(const ForwardingState& st, uint32_t service_id, uint64_t hash) const {
  const MaglevPair* m = st.services[service_id].maglev.get();
  if (m == nullptr || m->primary.empty()) return 0;
  const uint32_t slot = reduce32(static_cast<uint32_t>(hash >> 32), st.maglev_size);
  uint16_t local = m->primary[slot];
  if (local == kMaglevNoBackend) return 0;
  if (st.backends[m->backend_ids[local]].state != BackendState::up) {
    local = m->fallback[slot];
    if (local == kMaglevNoBackend) return 0;
  }
  return m->backend_ids[local];
}

inline uint32_t Pipeline::flow_backend(const ForwardingState& st, uint32_t service_id, const ParsedPacket& p,
                                       uint64_t hash, uint32_t first_matches, FlowClock now) {
  const bool tcp = p.key.proto == kProtoTcp;

  // Stage 2's match of the first bucket holds unless this burst inserted
  // (a flow's second packet in one burst must find what its first put).
  if (inserted_) first_matches = flows_.first_matches(hash, now);
  const int32_t slot = flows_.lookup(p.key, hash, now, first_matches);
  if (slot != FlowTable::kMiss) {
    FlowTable::Entry& e = flows_.entry(slot);
    FlowClock timeout = timeouts_.udp_ms;
    if (tcp) {
      const uint32_t t = tcp_timeout_index(p.tcp_flags, e.closing);
      timeout = tcp_timeouts_[t];
      if (tcp_closing_after_[t] != e.closing) e.closing = tcp_closing_after_[t];
    }
    const BackendEntry& b = backends_[e.backend_id()];
    // A backend that no longer keeps the flow loses it to the current table.
    if (b.keeps_flows_of(service_id)) {
      flows_.touch(slot, now + timeout);
      return e.backend_id();
    }
    const uint32_t moved = pick_backend(st, service_id, hash);
    if (moved == 0) return 0;
    flows_.repin(slot, moved, service_id);  // one store: another lcore's peek may read it
    flows_.touch(slot, now + timeout);
    counters_.flows_repinned.add();
    return moved;
  }
  const uint32_t backend = pick_backend(st, service_id, hash);
  if (backend == 0) return 0;
  // Past this worker's new-flow rate the flow is not pinned: Maglev alone
  // picks the same backend for its every packet while the backends stay.
  if (!new_flows_.take(now)) [[unlikely]] {
    counters_.flows_not_inserted.add();
    return backend;
  }
  // Unconfirmed until its next packet (touch): at most the SYN timeout.
  const uint32_t t = tcp_timeout_index(p.tcp_flags, 0);
  const FlowClock timeout = std::min(tcp ? tcp_timeouts_[t] : timeouts_.udp_ms, timeouts_.tcp_syn_ms);
  flows_.insert(p.key, hash, backend, service_id, now, now + timeout, tcp ? tcp_closing_after_[t] : 0);
  inserted_ = true;
  service_counters_[service_id].new_flows.add();
  backend_counters_[backend].new_flows.add();
  return backend;
}

inline Verdict Pipeline::decide(const ForwardingState& st, const PortContext& port, FlowClock now, FrameBuffer f,
                                const ParsedPacket& p, uint64_t hash, uint32_t first_matches) {
  // A NIC drops frames for other hosts; a promiscuous port (af_packet on a
  // bridge that floods) hands them to us, and forwarding them would
  // duplicate another node's traffic.
  const uint64_t to = mac_bits(f.data);  // a parsed frame has its 14-byte header
  const bool group_mac = (to & 1u) != 0;
  if (!group_mac && to != rx_mac_bits_) return dropped(DropReason::not_our_mac);
  if (p.kind == PacketKind::flow && memo_service_ != 0 && !group_mac && same_destination(memo_key_, p.key))
    return forward_flow(st, port, now, f, p, hash, first_matches, memo_service_);
  const AddressEntry* dst = p.kind == PacketKind::arp ? nullptr : st.addresses.find(p.key.dst, p.key.family);
  if (p.kind == PacketKind::arp || (dst != nullptr && dst->node) ||
      (dst == nullptr && is_ipv6_link_traffic(p.key)))  // ARP, ND, MLD, BGP, probes: the kernel's business
    return to_kernel(st, p, f, now);
  if (group_mac) return dropped(DropReason::not_our_mac);  // a flow is never broadcast to us
  if (dst == nullptr) return dropped(DropReason::not_for_node);

  switch (p.kind) {
    case PacketKind::flow: {
      const uint32_t sid = st.addresses.service(*dst, p.key.proto, p.key.dst_port);
      if (sid == 0) return dropped(DropReason::no_service);
      memo_key_ = p.key;
      memo_service_ = sid;
      return forward_flow(st, port, now, f, p, hash, first_matches, sid);
    }
    case PacketKind::icmp_error: {
      // About a flow we carry: follow the flow table if this lcore has the
      // flow, else another worker's (pinned_elsewhere), else the Maglev
      // table (which gave the flow its backend).
      const uint32_t sid = st.addresses.service(*dst, p.key.proto, p.key.dst_port);
      if (sid == 0) return dropped(DropReason::no_service);
      uint32_t backend = 0;
      const int32_t slot = flows_.lookup(p.key, hash, now);
      if (slot != FlowTable::kMiss) {
        if (st.backends[flows_.entry(slot).backend_id()].keeps_flows_of(sid)) backend = flows_.entry(slot).backend_id();
      } else {
        backend = pinned_elsewhere(st, sid, p.key, hash, now);
      }
      if (backend == 0) backend = pick_backend(st, sid, hash);
      if (backend == 0) return dropped(DropReason::no_backend);
      const Verdict v = forward(st, port, now, f, p, hash, sid, backend);
      if (v.action != Action::drop) counters_.icmp_errors_forwarded.add();  // counted as sent, not as tried
      return v;
    }
    case PacketKind::fragment:
      return fragment(st, port, now, f, p, hash, *dst);
    case PacketKind::icmp_other:
      return dropped(DropReason::icmp_unsupported);
    case PacketKind::other_ip:
    case PacketKind::arp:
      break;
  }
  return dropped(DropReason::protocol_unsupported);
}

inline Verdict Pipeline::forward_flow(const ForwardingState& st, const PortContext& port, FlowClock now, FrameBuffer f,
                                      const ParsedPacket& p, uint64_t hash, uint32_t first_matches,
                                      uint32_t service_id) {
  const uint32_t backend = flow_backend(st, service_id, p, hash, first_matches, now);
  if (backend == 0) return dropped(DropReason::no_backend);
  return forward(st, port, now, f, p, hash, service_id, backend);
}

inline Verdict Pipeline::forward(const ForwardingState& st, const PortContext& port, FlowClock now, FrameBuffer f,
                                 const ParsedPacket& p, uint64_t hash, uint32_t service_id, uint32_t backend_id) {
  const ServiceSpec& svc = services_[service_id].spec;
  const BackendEntry& b = backends_[backend_id];
  RewriteResult r;
  Action action = Action::forward;
  if (svc.mode == ForwardingMode::l2_dsr) {
    r = rewrite_l2_dsr(f, b.mac, port.mac);
  } else {
    const bool gue = svc.mode == ForwardingMode::gue;
    const uint32_t overhead = encap_overhead(b.address.is_v4(), gue);
    EncapParams e{b.address.is_v4() ? &st.encap_source_v4 : &st.encap_source_v6,
                  &b.address,
                  b.mac,
                  port.mac,
                  static_cast<uint16_t>(gue ? svc.gue_port : 0),
                  hash,
                  port.mtu,
                  &ipv4_ids_};
    r = encapsulate(f, p, e);
    if (r.drop == DropReason::encap_too_big) return too_big(port, now, f, p, overhead);
    if (r.fragment) action = Action::forward_fragments;
  }
  if (r.drop != DropReason::none) return dropped(r.drop);
  EndpointCounters& sc = service_counters_[service_id];
  sc.packets.add();
  sc.bytes.add(r.len);
  EndpointCounters& bc = backend_counters_[backend_id];
  bc.packets.add();
  bc.bytes.add(r.len);
  return Verdict{action, DropReason::none, static_cast<uint16_t>(r.prepended), r.len, backend_id};
}

Pipeline::Pipeline(FlowTable& flows, LcoreCounters& counters, FlowTimeouts timeouts)
    : flows_(flows), counters_(counters), timeouts_(timeouts) {
  for (uint32_t i = 0; i < 2 * kClosingBit; ++i) {
    const uint32_t f = i & kTimeoutFlags;
    const bool opening = (f & (kTcpSyn | kTcpAck)) == kTcpSyn;  // SYN without ACK: half-open
    const bool closing = (f & (kTcpFin | kTcpRst)) != 0 || ((i & kClosingBit) != 0 && !opening);
    tcp_closing_after_[i] = closing ? 1 : 0;
    tcp_timeouts_[i] = closing ? timeouts.tcp_closing_ms : opening ? timeouts.tcp_syn_ms : timeouts.tcp_ms;
  }
}

// An ICMP error about a flow this lcore does not carry (invariant 5: it
// reaches the flow's backend): RSS hashed the error's outer addresses, not
// the flow's, so the flow's packets mostly come to another worker. The
// backend that worker's table pinned the flow to, if usable; else 0 (the
// Maglev pick, which gave the flow its backend unless the service's
// backends changed since).
uint32_t Pipeline::pinned_elsewhere(const ForwardingState& st, uint32_t service_id, const FlowKey& key,
                                    uint64_t hash, FlowClock now) {
  if (others_ == nullptr || !others_->lookups.take(now)) return 0;
  for (const FlowTable* t : others_->tables) {
    const FlowTable::Pinned pin = t->peek(key, hash, now);
    if (pin.backend_id == 0) continue;
    if (pin.service_id != service_id || pin.backend_id >= st.backends.size() ||  // checked, never trusted
        !st.backends[pin.backend_id].keeps_flows_of(service_id))
      return 0;
    counters_.icmp_errors_pinned_elsewhere.add();
    return pin.backend_id;  // a flow lives in one worker's table
  }
  return 0;
}

Verdict Pipeline::fragment(const ForwardingState& st, const PortContext& port, FlowClock now, FrameBuffer f,
                           const ParsedPacket& p, uint64_t hash, const AddressEntry& dst) {
  const uint32_t sid = fragment_service(dst, p.key.proto, p.key.family);
  if (sid == 0) return dropped(DropReason::no_service);
  if (sid == kAmbiguous) return dropped(DropReason::fragment_ambiguous);
  // A first fragment behind Destination Options: not the service's
  // protocol, it is none of its traffic (its later fragments go there too,
  // but nothing can reassemble them without this one).
  if (p.fragment_l4 != 0 && p.fragment_l4 != st.services[sid].spec.proto) return dropped(DropReason::no_service);
  if (st.services[sid].spec.fragments == FragmentPolicy::drop) return dropped(DropReason::fragment_dropped);
  const uint32_t backend = pick_backend(st, sid, hash);  // 3-tuple hash: every fragment alike
  if (backend == 0) return dropped(DropReason::no_backend);
  const Verdict v = forward(st, port, now, f, p, hash, sid, backend);
  if (v.action == Action::forward || v.action == Action::forward_fragments)  // not a Packet Too Big answered
    counters_.fragments_hashed.add();
  return v;
}

Verdict Pipeline::too_big(const PortContext& port, FlowClock now, FrameBuffer f, const ParsedPacket& p,
                          uint32_t overhead) {
  if (now != too_big_window_) {
    too_big_window_ = now;
    too_big_in_window_ = 0;
  }
  if (too_big_in_window_ >= kTooBigPerMs || port.mtu <= overhead) return dropped(DropReason::encap_too_big);
  const RewriteResult r = make_too_big_reply(f, p, port.rx_mac, port.mtu - overhead);
  if (r.drop != DropReason::none) return dropped(r.drop);
  ++too_big_in_window_;
  counters_.icmp_too_big_sent.add();
  return Verdict{Action::reply, DropReason::none, static_cast<uint16_t>(r.prepended), r.len, 0};
}

}  // namespace anylb
