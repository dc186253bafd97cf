#include "control_state.hpp"

#include <utility>

#include "atomic_file.hpp"
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
  std::lock_guard apply_lock(apply_mu_);  // the only writer from here on: view_ is ours to read
  const uint64_t current = view_->generation;
  ApplyResult r;
  r.generation = current;
  if (generation == 0) generation = current + 1;
  if (generation <= current) {
    r.status = ApplyStatus::stale;
    r.error = "generation: " + std::to_string(generation) + " is not newer than the applied generation " +
              std::to_string(current);
    return r;
  }
  // A generation far ahead would lock out every later change (none above it
  // fits in 64 bits, and a reload's +1 wraps to 0), and it is persisted.
  if (current != 0 && generation - current > kMaxGenerationStep) {  // 0: the first, restored from the file
    r.status = ApplyStatus::invalid;
    r.error = "generation: " + std::to_string(generation) + " is more than " + std::to_string(kMaxGenerationStep) +
              " above the applied generation " + std::to_string(current);
    return r;
  }
  r.error = check(state);
  if (!r.error.empty()) {
    r.status = ApplyStatus::invalid;
    return r;
  }
  auto next = std::make_shared<View>();
  auto prepared = builder_.prepare(resolve(state, next->unresolved), generation, now_ms, r.error);
  if (!prepared) {
    r.status = ApplyStatus::exhausted;
    return r;
  }
  // Persisted only once it can be forwarded, and before it is: what forwards
  // is always what a restart restores, and a refused state is never written
  // (a restart would come back with it, or with nothing). Readers meanwhile
  // see the previous state: the fsync holds no lock of theirs.
  if (!state_file_.empty() && !write_file_atomically(state_file_, desired_state_to_json(state, generation, source), true)) {
    r.status = ApplyStatus::persist_failed;
    r.error = "cannot write the state file '" + state_file_ + "'";
    return r;
  }
  if (on_built_) on_built_();
  next->generation = generation;
  next->source = source;
  next->desired = std::make_shared<const DesiredState>(state);
  publish(builder_.commit(std::move(*prepared)), std::move(next));
  r.generation = generation;
  return r;
}

void ControlState::publish(std::unique_ptr<ForwardingState> built, std::shared_ptr<const View> next) {
  // Only apply_mu_'s holder publishes, so current() stays put while the ids
  // are compared (O(max ids)) outside mu_.
  const NewIds ids = ids_new_in(publisher_.current(), *built);
  std::shared_ptr<const View> old;  // freed after the lock: a DesiredState of 65,534 backends
  {
    std::lock_guard lock(mu_);
    if (on_new_ids_) on_new_ids_(ids);
    publisher_.publish(std::move(built));
    generation_.store(next->generation, std::memory_order_release);
    old = std::exchange(view_, std::move(next));
  }
}

DesiredState ControlState::resolve(const DesiredState& state, std::vector<BackendSpec>& unresolved) const {
  DesiredState out = state;
  unresolved.clear();
  for (BackendSpec& b : out.backends) {
    if (!b.mac.is_zero()) continue;
    if (unresolved_mac(b)) {
      unresolved.push_back(b);  // as given: held down while unresolved
      b.state = BackendState::down;
    } else {
      b.mac = neighbours_.at(b.address);
    }
  }
  return out;
}

void ControlState::refresh_neighbours(const std::optional<NeighbourMap>& round, uint64_t now_ms) {
  if (!round) return;
  std::lock_guard apply_lock(apply_mu_);
  const std::shared_ptr<const View> current = view_;  // ours to read: see apply
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
  for (const BackendSpec& b : current->desired->backends) {
    if (!b.mac.is_zero()) continue;
    const auto before = neighbours_.find(b.address);
    const auto after = neighbours.find(b.address);
    const bool had = before != neighbours_.end(), has = after != neighbours.end();
    changed |= had != has || (had && has && before->second != after->second);
  }
  neighbours_ = neighbours;
  if (!changed) return;
  std::string error;
  auto next = std::make_shared<View>(*current);  // the same state and generation, resolved anew
  auto built = builder_.build(resolve(*current->desired, next->unresolved), current->generation, now_ms, error);
  if (!built) return;  // ids exhausted: keep forwarding with the previous resolution
  publish(std::move(built), std::move(next));
}

std::vector<IpAddress> ControlState::backends_without_mac() const {
  const std::shared_ptr<const View> v = view();
  std::vector<IpAddress> out;
  for (const BackendSpec& b : v->desired->backends)
    if (b.mac.is_zero()) out.push_back(b.address);
  return out;
}

std::size_t ControlState::unresolved() const { return view()->unresolved.size(); }

StateSource ControlState::source() const { return view()->source; }

// Copied outside the lock: readers hold mu_ only to take the view.
ControlState::Snapshot ControlState::snapshot() const {
  const std::shared_ptr<const View> v = view();
  return Snapshot{v->generation, *v->desired, v->source, v->unresolved};
}

DesiredState ControlState::desired() const { return *view()->desired; }

}  // namespace anylb
