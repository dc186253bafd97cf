#include "control_state.hpp"

#include "state_file.hpp"

namespace anylb {

std::string ControlState::check(const DesiredState& state) const {
  if (std::string error = validate_desired_state(state); !error.empty()) return error;
  if (!resolves_macs_)
    for (const BackendSpec& b : state.backends)
      if (b.mac.is_zero())  // it would never resolve: down for good, and nothing said why
        return "backend " + b.address.to_string() + (b.origin.empty() ? "" : " (" + b.origin + ")") +
               ": key 'mac': required, since this dataplane has no --exception-interface to resolve it by";
  return "";
}

ApplyResult ControlState::apply(const DesiredState& state, uint64_t generation, uint64_t now_ms, StateSource source) {
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
  // A generation far ahead would lock out every later change (none above it
  // fits in 64 bits, and a reload's +1 wraps to 0), and it is persisted.
  if (generation_ != 0 && generation - generation_ > kMaxGenerationStep) {  // 0: the first, restored from the file
    r.status = ApplyStatus::invalid;
    r.error = "generation: " + std::to_string(generation) + " is more than " + std::to_string(kMaxGenerationStep) +
              " above the applied generation " + std::to_string(generation_);
    r.generation = generation_;
    return r;
  }
  r.error = check(state);
  if (!r.error.empty()) {
    r.status = ApplyStatus::invalid;
    r.generation = generation_;
    return r;
  }
  std::size_t unresolved = 0;
  auto prepared = builder_.prepare(resolve(state, unresolved), generation, now_ms, r.error);
  if (!prepared) {
    r.status = ApplyStatus::exhausted;
    r.generation = generation_;
    return r;
  }
  // Persisted only once it can be forwarded, and before it is: what forwards
  // is always what a restart restores, and a refused state is never written
  // (a restart would come back with it, or with nothing).
  if (!state_file_.empty() && !write_file_atomically(state_file_, desired_state_to_json(state, generation, source), true)) {
    r.status = ApplyStatus::persist_failed;
    r.error = "cannot write the state file '" + state_file_ + "'";
    r.generation = generation_;
    return r;
  }
  auto built = builder_.commit(std::move(*prepared));
  publish(std::move(built));
  desired_ = state;
  generation_ = generation;
  source_ = source;
  unresolved_ = unresolved;
  r.generation = generation;
  return r;
}

void ControlState::publish(std::unique_ptr<ForwardingState> built) {
  if (on_new_ids_) on_new_ids_(ids_new_in(publisher_.current(), *built));
  publisher_.publish(std::move(built));
}

DesiredState ControlState::resolve(const DesiredState& state, std::size_t& unresolved) const {
  DesiredState out = state;
  unresolved = 0;
  for (BackendSpec& b : out.backends) {
    if (!b.mac.is_zero()) continue;
    if (unresolved_mac(b)) {
      b.state = BackendState::down;
      ++unresolved;
    } else {
      b.mac = neighbours_.at(b.address);
    }
  }
  return out;
}

void ControlState::refresh_neighbours(const std::optional<NeighbourMap>& round, uint64_t now_ms) {
  if (!round) return;
  std::lock_guard lock(mu_);
  NeighbourMap neighbours = *round;
  for (const auto& [address, mac] : neighbours_) {
    if (neighbours.count(address)) {
      missing_rounds_.erase(address);
    } else if (++missing_rounds_[address] < kNeighbourHoldRounds) {
      neighbours.emplace(address, mac);  // held: not gone yet
    } else {
      missing_rounds_.erase(address);
    }
  }
  bool changed = false;
  for (const BackendSpec& b : desired_.backends) {
    if (!b.mac.is_zero()) continue;
    const auto before = neighbours_.find(b.address);
    const auto after = neighbours.find(b.address);
    const bool had = before != neighbours_.end(), has = after != neighbours.end();
    changed |= had != has || (had && has && before->second != after->second);
  }
  neighbours_ = neighbours;
  if (!changed) return;
  std::string error;
  std::size_t unresolved = 0;
  auto built = builder_.build(resolve(desired_, unresolved), generation_, now_ms, error);
  if (!built) return;  // ids exhausted: keep forwarding with the previous resolution
  publish(std::move(built));
  unresolved_ = unresolved;
}

std::vector<IpAddress> ControlState::backends_without_mac() const {
  std::lock_guard lock(mu_);
  std::vector<IpAddress> out;
  for (const BackendSpec& b : desired_.backends)
    if (b.mac.is_zero()) out.push_back(b.address);
  return out;
}

std::size_t ControlState::unresolved() const {
  std::lock_guard lock(mu_);
  return unresolved_;
}

StateSource ControlState::source() const {
  std::lock_guard lock(mu_);
  return source_;
}

uint64_t ControlState::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

ControlState::Snapshot ControlState::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot out{generation_, desired_, source_, {}};
  for (const BackendSpec& b : desired_.backends)
    if (unresolved_mac(b)) out.unresolved.push_back(b);  // held down too: as resolve() has them
  return out;
}

DesiredState ControlState::desired() const {
  std::lock_guard lock(mu_);
  return desired_;
}

}  // namespace anylb
