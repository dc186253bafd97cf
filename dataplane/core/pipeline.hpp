// The per-burst forwarding decision, on bytes: parse, service lookup, flow
// table, Maglev, rewrite. The DPDK worker hands it frames and applies the
// verdicts to its mbufs; tests drive it directly.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "counters.hpp"
#include "encap.hpp"
#include "exception_policer.hpp"
#include "flow_table.hpp"
#include "forwarding_state.hpp"
#include "id_lane.hpp"

namespace anylb {

inline constexpr uint32_t kMaxBurst = 64;

// A measuring build (meson -Dceiling=true; perf/README.md): process_burst
// decides nothing and forwards every frame with its MACs swapped, as the
// baseline's macswap does, so that perf/bench.py times the worker loop and
// the PMDs alone: the most any decision could reach.
#if defined(ANYLB_CEILING)
inline constexpr bool kCeilingBuild = true;
#else
inline constexpr bool kCeilingBuild = false;
#endif

struct FlowTimeouts {
  FlowClock tcp_ms = 300'000;
  FlowClock tcp_closing_ms = 10'000;  // after FIN or RST
  // After a SYN without ACK: a half-open flow, all a spoofed SYN flood
  // makes. Short, so that when the table is full eviction (least time left)
  // takes these before established flows; longer than a client's first SYN
  // retries (1 + 2 + 4 s). Were it to expire before the handshake's ACK,
  // that ACK would find the same backend by Maglev.
  // Also the most an unconfirmed flow gets (one packet seen, whatever its
  // flags or protocol: a spoofed ACK or UDP flood makes only these), so
  // that it lasts no longer than a half-open one; eviction takes these first.
  FlowClock tcp_syn_ms = 10'000;
  FlowClock udp_ms = 60'000;
};

struct PortContext {
  uint16_t index = 0;
  MacAddress mac;      // source of what we send: the egress port's MAC
  MacAddress rx_mac;   // frames must be addressed to it: the receiving port's MAC
  uint32_t mtu = 1500;
};

// reply: back out of the port the packet came in on (an ICMP error we made).
// forward_fragments: forward as outer IPv4 fragments of at most the port's
// MTU (fragment.hpp).
enum class Action : uint8_t { forward, exception, drop, reply, forward_fragments };

struct Verdict {
  Action action = Action::drop;
  DropReason drop = DropReason::none;
  uint16_t prepended = 0;  // bytes added in front of the frame (headers: a few dozen)
  uint32_t len = 0;        // frame length after rewriting
  uint32_t backend_id = 0;
};
static_assert(sizeof(Verdict) == 12);

class Pipeline {
 public:
  Pipeline(FlowTable& flows, LcoreCounters& counters, FlowTimeouts timeouts);

  // Decides and rewrites up to kMaxBurst frames received on `port`.
  void process_burst(const ForwardingState& st, const PortContext& port, FlowClock now,
                     std::span<const FrameBuffer> frames, Verdict* verdicts);

  // Gives this lcore its own lane of outer IPv4 identifications (IdLane:
  // one lane per worker).
  void set_ipv4_id_lane(uint16_t lane, uint16_t lanes) { ipv4_ids_ = IdLane(lane, lanes, 65536); }
  // Whether the node has an exception path (a kernel interface; without
  // one its frames are dropped as exception_no_interface, spending no
  // tokens), and the frames a second this lcore hands it in each of the
  // ExceptionPolicer's classes (0: no limit). Default: present, no limit.
  void exception_path(bool present, uint32_t rate_per_s) {
    exception_present_ = present;
    policer_ = ExceptionPolicer(rate_per_s);
  }

  // New flows a second this lcore pins in its flow table (0: no limit;
  // default none). Past it a new flow's packet goes where Maglev says,
  // unpinned (flows_not_inserted), so a flood of new flows cannot churn
  // the table.
  void new_flow_rate(uint32_t rate_per_s) { new_flows_ = TokenBucket(rate_per_s); }

  // The other workers' flow tables, which an ICMP error about a flow this
  // lcore does not carry is looked up in (at most kOtherLookupsPerS a
  // second: a flood of forged errors costs other cores' cache lines; past
  // it, the Maglev pick). They must outlive this pipeline.
  void set_other_tables(std::vector<const FlowTable*> tables) {
    others_ = tables.empty() ? nullptr : std::make_unique<OtherTables>(std::move(tables));
  }
  static constexpr uint32_t kOtherLookupsPerS = 100000;

  // The backend a packet's flow would use now, and whether the flow table
  // decided it (for tracing and tests); 0 if none.
  uint32_t pick_backend(const ForwardingState& st, uint32_t service_id, uint64_t hash) const;

 private:
  // Defined inline in pipeline.cpp, their only caller, and forced into
  // process_burst. Measured with callgrind (instructions a packet): once
  // 626 all out of line, 599 compiler's choice, 452 with flow_backend left
  // to the compiler, 458 all forced; since the new-flow rate limit and
  // unconfirmed flows grew flow_backend, GCC no longer inlines it
  // (established 423, new flows 630), forced 386 / 598, its miss path
  // alone out of line 382 / 613.
  // `first_matches`: stage 2's live signature matches in the flow's first
  // bucket (FlowTable::prefetch_entry).
  [[gnu::always_inline]] Verdict decide(const ForwardingState& st, const PortContext& port, FlowClock now,
                                        FrameBuffer f, const ParsedPacket& p, uint64_t hash, uint32_t first_matches);
  [[gnu::always_inline]] uint32_t flow_backend(const ForwardingState& st, uint32_t service_id, const ParsedPacket& p,
                                              uint64_t hash, uint32_t first_matches, FlowClock now);
  // A flow's packet whose service is known: its pinned backend, then forward.
  [[gnu::always_inline]] Verdict forward_flow(const ForwardingState& st, const PortContext& port, FlowClock now,
                                              FrameBuffer f, const ParsedPacket& p, uint64_t hash,
                                              uint32_t first_matches, uint32_t service_id);
  [[gnu::always_inline]] Verdict forward(const ForwardingState& st, const PortContext& port, FlowClock now,
                                         FrameBuffer f, const ParsedPacket& p, uint64_t hash, uint32_t service_id,
                                         uint32_t backend_id);
  // A fragment's decision, out of the burst loop: fragments are rare, and
  // its code inline moved the loop's hot code (a SYN flood ran 8% slower
  // when its checks grew by one).
  [[gnu::noinline, gnu::cold]] Verdict fragment(const ForwardingState& st, const PortContext& port, FlowClock now,
                                                FrameBuffer f, const ParsedPacket& p, uint64_t hash,
                                                const AddressEntry& dst);
  // The backend another worker's flow table pinned an ICMP error's flow
  // to (0: none, or not usable now). Rare: out of the burst loop.
  [[gnu::noinline, gnu::cold]] uint32_t pinned_elsewhere(const ForwardingState& st, uint32_t service_id,
                                                         const FlowKey& key, uint64_t hash, FlowClock now);
  // A frame for the node: to the kernel, within the exception path's rate.
  [[gnu::noinline, gnu::cold]] Verdict to_kernel(const ForwardingState& st, const ParsedPacket& p, FrameBuffer f,
                                                 FlowClock now);
  // The verdict on a frame the parser refused: out of the burst loop.
  [[gnu::noinline, gnu::cold]] Verdict parse_drop(const ForwardingState& st, FrameBuffer f, const ParsedPacket& p,
                                                  DropReason why, FlowClock now);
  // The packet-too-big error for a packet that cannot be encapsulated,
  // at most kTooBigPerMs a millisecond per lcore (an error must not become
  // an amplifier); else the drop.
  Verdict too_big(const PortContext& port, FlowClock now, FrameBuffer f, const ParsedPacket& p, uint32_t overhead);
  static constexpr uint32_t kTooBigPerMs = 8;
  IdLane ipv4_ids_{0, 1, 65536};  // outer IPv4 identifications (EncapParams)
  FlowClock too_big_window_ = 0;
  uint32_t too_big_in_window_ = 0;

  Verdict dropped(DropReason r) {
    counters_.drop(r);
    return Verdict{Action::drop, r, 0, 0, 0};
  }

  FlowTable& flows_;
  LcoreCounters& counters_;
  FlowTimeouts timeouts_;
  // A TCP packet's idle timeout, and whether its flow is closing after it,
  // by its FIN, SYN, RST and ACK bits and whether the flow was closing:
  // loads instead of branches. Closing lasts: the ACKs after a FIN keep the
  // closing timeout (with direct server return the client's ACK of the
  // server's FIN is the flow's last packet here); a SYN without ACK opens
  // the 5-tuple anew (a client reusing its port). 14 instructions an
  // established packet (callgrind, 2026-12-01: 367 -> 381 with the closing state).
  static constexpr uint8_t kTimeoutFlags = kTcpFin | kTcpSyn | kTcpRst | kTcpAck;
  static constexpr uint32_t kClosingBit = 0x20;  // above kTimeoutFlags
  static uint32_t tcp_timeout_index(uint8_t flags, uint8_t closing) {
    return (flags & kTimeoutFlags) | (closing != 0 ? kClosingBit : 0u);
  }
  FlowClock tcp_timeouts_[2 * kClosingBit];
  uint8_t tcp_closing_after_[2 * kClosingBit];
  // Per-burst scratch, kept here so a burst does not construct it anew.
  // The last flow's (VIP, protocol, port) -> service: a burst mostly goes to
  // a few services, and one compare beats the address probe. Reset per burst
  // (the state may be new).
  FlowKey memo_key_;          // its destination fields (same_destination)
  uint32_t memo_service_ = 0;  // 0: empty
  uint64_t rx_mac_bits_ = 0;   // the receiving port's MAC (mac_bits)
  // The burst's tables and this lcore's counters by id, their vectors'
  // storage read once a burst rather than through two loads at every use
  // (callgrind: vector indexing was 25 instructions a packet).
  const ServiceEntry* services_ = nullptr;
  const BackendEntry* backends_ = nullptr;
  EndpointCounters* service_counters_ = nullptr;
  EndpointCounters* backend_counters_ = nullptr;
  ParsedPacket parsed_[kMaxBurst];
  DropReason drops_[kMaxBurst];
  uint64_t hashes_[kMaxBurst];
  uint32_t first_matches_[kMaxBurst];
  bool inserted_ = false;  // this burst inserted a flow: first_matches_ may be stale
  ExceptionPolicer policer_;  // to_kernel's
  TokenBucket new_flows_;     // flow_backend's inserts (new_flow_rate)
  bool exception_present_ = true;
  // icmp_error's, apart: one pointer in the Pipeline, whose size and
  // layout the burst loop's speed depends on (perf/RESULTS.md, "Code layout").
  struct OtherTables {
    explicit OtherTables(std::vector<const FlowTable*> t) : tables(std::move(t)) {}
    std::vector<const FlowTable*> tables;  // in worker order
    TokenBucket lookups{kOtherLookupsPerS};
  };
  std::unique_ptr<OtherTables> others_;
};

}  // namespace anylb
