// When a VIP's route is announced: the pure state machine behind the
// control plane's BGP announcements (RFC 4786 4.4.1, 4.7, 4.8), unit-tested
// on its own. Time is passed in; nothing here talks to gobgpd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace anylb::cp {

struct Quorum {
  uint32_t count = 1;       // at least this many healthy backends...
  uint32_t percent = 0;     // ...or, when set, this share of the configured ones (rounded up)
  uint32_t needed(uint32_t total) const {
    if (percent == 0) return count;
    return static_cast<uint32_t>((static_cast<uint64_t>(total) * percent + 99) / 100);
  }
};

enum class Announcement { withdrawn, announced, draining };  // draining: announced with GRACEFUL_SHUTDOWN

struct RouteInputs {
  uint32_t healthy = 0;
  uint32_t total = 0;
  bool dataplane_ok = true;
  bool dataplane_holds = true;  // the dataplane serves it as pushed, to a quorum (it may refuse a push)
  bool node_draining = false;
  bool drain_expired = false;  // the node drain's wait is over: withdraw
  // While this run's first checks run (rise probes for every backend), a
  // route an earlier run left announced (ServiceRoute::keep_from_earlier_run)
  // counts the backends not yet found down (`fall` failures in a row) as
  // healthy: a restart or upgrade does not flap its VIP, yet a service the
  // checks find dead is withdrawn as soon as they do.
  bool first_checks_running = false;
  uint32_t not_found_down = 0;
};

// One service's host route. After a withdrawal, the route comes back only
// once the service has been eligible, without a break, for the hold-down:
// a backend that oscillates faster than the hold-down keeps it withdrawn
// instead of making it flap (GoBGP has no damping of its own).
//
// A service that fails more slowly than that would still withdraw and come
// back every cycle, and upstream damping (RFC 2439) would then suppress the
// prefix for every node sharing the AS path (RFC 4786 4.4.4, which asks for
// aggressive damping inside the node instead). So each withdrawal adds 1 to
// a penalty that halves every kDampingHalfLifeMs, and the hold-down after a
// withdrawal is the configured one times 2^(penalty - 1), at most
// kMaxDampingFactor times. A first withdrawal, or one long after the last,
// waits the configured hold-down. A node drain is not a flap: no penalty.
inline constexpr uint64_t kDampingHalfLifeMs = 15 * 60 * 1000;  // the usual BGP damping half-life
inline constexpr double kMaxDampingFactor = 16;

// A penalty `elapsed_ms` after it was taken, and the hold-down factor one
// gives: what a running route and one restored after a restart both use.
double decayed_penalty(double penalty, uint64_t elapsed_ms);
double damping_factor(double penalty);

class ServiceRoute {
 public:
  ServiceRoute(Quorum quorum, uint64_t hold_down_ms)
      : quorum_(quorum), hold_down_ms_(hold_down_ms), current_hold_down_ms_(hold_down_ms) {}

  // New quorum or hold-down (a reload, an API change): the announcement,
  // the withdrawal being held down and the penalty carry on.
  void retune(Quorum quorum, uint64_t hold_down_ms);

  // Feeds the current inputs; returns true when the announcement changed.
  bool update(uint64_t now_ms, const RouteInputs& in);
  // The route was withdrawn by an earlier run (when does not matter): it
  // comes back only after a hold-down, as after a withdrawal of this run.
  void remember_withdrawal() {
    if (!announced()) withdrawn_at_ = 0;
  }
  // The route an earlier run left announced in gobgpd: a route of this run
  // that has neither been announced nor withdrawn yet takes it over as
  // announced, so that leaving it is a withdrawal like any other (hold-down,
  // damping penalty, the state file's record). Returns true if taken over.
  bool keep_from_earlier_run();
  // Taken over, and kept on the first checks' count (RouteInputs) so far.
  bool kept_from_earlier_run() const { return kept_; }
  // The damping penalty at `now_ms` (decayed).
  double penalty(uint64_t now_ms) const;
  // An earlier run's penalty, decayed to `now_ms` (a restart must not reset
  // damping): a withdrawal remembered from that run is held down as damped.
  void restore_penalty(double penalty, uint64_t now_ms);

  Announcement state() const { return state_; }
  bool announced() const { return state_ != Announcement::withdrawn; }
  const std::string& reason() const { return reason_; }
  uint64_t hold_down_remaining(uint64_t now_ms) const;
  uint32_t needed(uint32_t total) const { return quorum_.needed(total); }

 private:
  Quorum quorum_;
  uint64_t hold_down_ms_;
  uint64_t current_hold_down_ms_;  // the configured one, damped at the last withdrawal
  double penalty_ = 0;             // as of penalty_at_
  uint64_t penalty_at_ = 0;
  Announcement state_ = Announcement::withdrawn;
  std::optional<uint64_t> withdrawn_at_;    // set once a route has been withdrawn
  std::optional<uint64_t> eligible_since_;  // start of the current unbroken eligible run
  std::string reason_ = "not evaluated yet";
  bool kept_ = false;  // keep_from_earlier_run, until the first checks are over or it is withdrawn
};

// RFC 4786 4.8: any = coupled to any one service (4.8.3), all = pessimistic
// withdrawal, off-line when one service is (4.8.2).
enum class CoverPolicy { any, all };

// A covering prefix: announced while any (or all) of its services are.
inline bool covering_announced(CoverPolicy policy, const std::vector<bool>& services_announced) {
  if (services_announced.empty()) return false;
  bool any = false, all = true;
  for (bool a : services_announced) {
    any |= a;
    all &= a;
  }
  return policy == CoverPolicy::any ? any : all;
}

}  // namespace anylb::cp
