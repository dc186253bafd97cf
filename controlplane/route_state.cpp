#include "route_state.hpp"

namespace anylb::cp {

bool ServiceRoute::update(uint64_t now, const RouteInputs& in) {
  const Announcement before = state_;
  const uint32_t need = quorum_.needed(in.total);
  const bool quorum_ok = in.total > 0 && in.healthy >= need;
  const bool eligible = quorum_ok && in.dataplane_ok && !in.drain_expired;
  if (eligible) {
    if (!eligible_since_) eligible_since_ = now;
  } else {
    eligible_since_.reset();
  }

  const std::string counts = std::to_string(in.healthy) + "/" + std::to_string(in.total) + " healthy, quorum " +
                             std::to_string(need);
  if (!eligible) {
    if (announced()) withdrawn_at_ = now;
    state_ = Announcement::withdrawn;
    reason_ = !in.dataplane_ok   ? "dataplane not forwarding"
              : in.drain_expired ? "node drained"
                                 : counts + ": below quorum";
  } else if (!announced() && withdrawn_at_ && now - *eligible_since_ < hold_down_ms_) {
    // Eligible again, but not yet for a whole hold-down since the withdrawal.
    reason_ = counts + ": hold-down, " + std::to_string(hold_down_remaining(now) / 1000) + " s left";
  } else {
    state_ = in.node_draining ? Announcement::draining : Announcement::announced;
    reason_ = in.node_draining ? counts + ": node draining (graceful shutdown)" : counts;
  }
  return state_ != before;
}

uint64_t ServiceRoute::hold_down_remaining(uint64_t now) const {
  if (announced() || !withdrawn_at_) return 0;
  const uint64_t since = eligible_since_ ? *eligible_since_ : now;
  const uint64_t elapsed = now - since;
  return elapsed >= hold_down_ms_ ? 0 : hold_down_ms_ - elapsed;
}

}  // namespace anylb::cp
