#include "control_state.hpp"

#include "state_file.hpp"

namespace anylb {

ApplyResult ControlState::apply(const DesiredState& state, uint64_t generation, uint64_t now_ms) {
  std::lock_guard lock(mu_);
  ApplyResult r;
  if (generation == 0) generation = generation_ + 1;
  if (generation <= generation_) {
    r.status = ApplyStatus::stale;
    r.error = "generation: " + std::to_string(generation) + " is not newer than the applied generation " +
              std::to_string(generation_);
    r.generation = generation_;
    return r;
  }
  r.error = validate_desired_state(state);
  if (!r.error.empty()) {
    r.status = ApplyStatus::invalid;
    r.generation = generation_;
    return r;
  }
  // Persist before publishing: what forwards is always what a restart restores.
  if (!state_file_.empty() && !write_file_atomically(state_file_, desired_state_to_json(state, generation))) {
    r.status = ApplyStatus::persist_failed;
    r.error = "cannot write the state file '" + state_file_ + "'";
    r.generation = generation_;
    return r;
  }
  auto built = builder_.build(state, generation, now_ms, r.error);
  if (!built) {
    r.status = ApplyStatus::exhausted;
    r.generation = generation_;
    if (!state_file_.empty()) write_file_atomically(state_file_, desired_state_to_json(desired_, generation_));
    return r;
  }
  publisher_.publish(std::move(built));
  desired_ = state;
  generation_ = generation;
  r.generation = generation;
  return r;
}

uint64_t ControlState::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

DesiredState ControlState::desired() const {
  std::lock_guard lock(mu_);
  return desired_;
}

}  // namespace anylb
