#include "route_state.hpp"

#include <algorithm>
#include <cmath>

namespace anylb::cp {

void ServiceRoute::retune(Quorum quorum, uint64_t hold_down_ms) {
  quorum_ = quorum;
  const double factor =
      hold_down_ms_ == 0 ? 1 : static_cast<double>(current_hold_down_ms_) / static_cast<double>(hold_down_ms_);
  hold_down_ms_ = hold_down_ms;
  current_hold_down_ms_ = static_cast<uint64_t>(static_cast<double>(hold_down_ms) * factor);
}

double decayed_penalty(double penalty, uint64_t elapsed_ms) {
  return penalty * std::exp2(-static_cast<double>(elapsed_ms) / kDampingHalfLifeMs);
}

double damping_factor(double penalty) { return std::min(kMaxDampingFactor, std::exp2(std::max(0.0, penalty - 1))); }

double ServiceRoute::penalty(uint64_t now) const {
  return decayed_penalty(penalty_, now > penalty_at_ ? now - penalty_at_ : 0);
}

void ServiceRoute::restore_penalty(double penalty, uint64_t now) {
  penalty_ = penalty;
  penalty_at_ = now;
  if (!announced())
    current_hold_down_ms_ = static_cast<uint64_t>(static_cast<double>(hold_down_ms_) * damping_factor(penalty));
}

bool ServiceRoute::keep_from_earlier_run() {
  if (announced() || withdrawn_at_) return false;  // this run decided already
  state_ = Announcement::announced;
  kept_ = true;
  reason_ = "kept from an earlier run while the first checks run";
  return true;
}

bool ServiceRoute::update(uint64_t now, const RouteInputs& in) {
  const Announcement before = state_;
  const uint32_t need = quorum_.needed(in.total);
  kept_ = kept_ && announced() && in.first_checks_running;
  const uint32_t counted = kept_ ? std::max(in.healthy, in.not_found_down) : in.healthy;
  const bool quorum_ok = in.total > 0 && counted >= need;
  const bool eligible = quorum_ok && in.dataplane_ok && in.dataplane_holds && !in.drain_expired;
  if (eligible) {
    if (!eligible_since_) eligible_since_ = now;
  } else {
    eligible_since_.reset();
  }

  const std::string counts =
      std::to_string(counted) + "/" + std::to_string(in.total) + (kept_ ? " not found down" : " healthy") +
      ", quorum " + std::to_string(need);
  if (!eligible) {
    if (announced()) {
      withdrawn_at_ = now;
      if (!in.drain_expired) {  // a flap, not an operator's drain
        penalty_ = penalty(now) + 1;
        penalty_at_ = now;
      }
      current_hold_down_ms_ = static_cast<uint64_t>(static_cast<double>(hold_down_ms_) * damping_factor(penalty(now)));
    }
    state_ = Announcement::withdrawn;
    reason_ = !in.dataplane_ok   ? "dataplane not forwarding"
              : in.drain_expired ? "node drained"
              : !quorum_ok       ? counts + ": below quorum"
                                 : "dataplane does not serve it as pushed (see the log)";
  } else if (!announced() && withdrawn_at_ && now - *eligible_since_ < current_hold_down_ms_) {
    // Eligible again, but not yet for a whole hold-down since the withdrawal.
    reason_ = counts + ": hold-down" +
              (current_hold_down_ms_ > hold_down_ms_
                   ? " (damped: flapped, " + std::to_string(current_hold_down_ms_ / 1000) + " s)"
                   : std::string()) +
              ", " + std::to_string(hold_down_remaining(now) / 1000) + " s left";
  } else {
    state_ = in.node_draining ? Announcement::draining : Announcement::announced;
    reason_ = in.node_draining ? counts + ": node draining (graceful shutdown)" : counts;
    if (kept_) reason_ += "; kept from an earlier run while the first checks run";
  }
  if (!announced()) kept_ = false;
  return state_ != before;
}

uint64_t ServiceRoute::hold_down_remaining(uint64_t now) const {
  if (announced() || !withdrawn_at_) return 0;
  const uint64_t since = eligible_since_ ? *eligible_since_ : now;
  const uint64_t elapsed = now - since;
  return elapsed >= current_hold_down_ms_ ? 0 : current_hold_down_ms_ - elapsed;
}

}  // namespace anylb::cp
