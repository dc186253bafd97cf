// The dataplane's desired state and its generation, changed only through
// here: by the API (ApplyState), by SIGHUP (config file), or at start (state
// file or options). All or nothing: a refused change leaves everything as it
// was. Applied states are persisted to the state file, so a restarted
// dataplane comes back with what it was last told.
//
// Two locks. apply_mu_ serialises the changes (apply, refresh_neighbours)
// for their whole length: validation, the build (Maglev), the state file's
// fsync. mu_ is taken only to swap in what a change built and to read it:
// readers (GetLiveness, GetState, GetCounters) never wait for a change in
// progress, which took seconds with 60,000 backends and made a control
// plane withdraw every VIP. generation() takes no lock at all.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "desired_state.hpp"
#include "neighbours.hpp"
#include "state_builder.hpp"
#include "state_file.hpp"
#include "state_publisher.hpp"

namespace anylb {

enum class ApplyStatus { ok, invalid, stale, exhausted, persist_failed };

struct ApplyResult {
  ApplyStatus status = ApplyStatus::ok;
  std::string error;  // names the field and the reason
  uint64_t generation = 0;
};

class ControlState {
 public:
  // `resolves_macs`: an exception interface gives the kernel's neighbours
  // (refresh_neighbours); without one a backend must come with its MAC.
  ControlState(StateLimits limits, StatePublisher& publisher, std::string state_file, bool resolves_macs)
      : builder_(limits), publisher_(publisher), state_file_(std::move(state_file)), resolves_macs_(resolves_macs) {}
  ControlState(const ControlState&) = delete;
  ControlState& operator=(const ControlState&) = delete;

  // generation 0 = the next one. A generation not above the current one is
  // stale; one more than kMaxGenerationStep above it is refused.
  static constexpr uint64_t kMaxGenerationStep = uint64_t{1} << 32;
  ApplyResult apply(const DesiredState& state, uint64_t generation, uint64_t now_ms,
                    StateSource source = StateSource::options);
  // What apply refuses a state for, whatever the generation (empty: none):
  // also what the control plane asks before it accepts a change
  // (ApplyStateRequest.validate_only), so both daemons judge alike.
  std::string check(const DesiredState& state) const;

  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }  // no lock
  StateSource source() const;  // of the applied state
  DesiredState desired() const;
  // All of it from one view: a change between separate reads would pair
  // one generation with another's state.
  struct Snapshot {
    uint64_t generation = 0;
    DesiredState desired;
    StateSource source = StateSource::options;
    std::vector<BackendSpec> unresolved;  // given no MAC and none resolved: forwarded as down
  };
  Snapshot snapshot() const;

  // A round of kernel neighbours (resolve_backend_macs): backends without a
  // configured MAC take theirs from here; one not (yet) resolved is
  // forwarded as down (no new flows, its flows move). A MAC that goes
  // missing is kept for kNeighbourHoldRounds rounds in a row first: an
  // entry the kernel dropped (garbage collected: it sees no traffic to
  // backends) is asked for again and back within a round, and must not
  // move every flow of its backend meanwhile. A round that knows nothing
  // (nullopt) changes nothing. Rebuilds only when a resolution changed.
  static constexpr uint32_t kNeighbourHoldRounds = 6;
  void refresh_neighbours(const std::optional<NeighbourMap>& round, uint64_t now_ms);
  std::size_t unresolved() const;
  // The backends that take their MAC from the kernel (none configured).
  std::vector<IpAddress> backends_without_mac() const;

  // Runs f on the published snapshot while no change can free it.
  template <class F>
  auto with_state(F&& f) const {
    std::lock_guard lock(mu_);
    return f(*publisher_.current());
  }
  // Frees retired snapshots whose RCU grace period has ended.
  void reclaim() {
    std::lock_guard lock(mu_);
    publisher_.reclaim();
  }
  const std::string& state_file() const { return state_file_; }
  // Called, under the lock, with the ids each new snapshot adds, before it
  // is published (workers' counters for a reused id start again from 0).
  void on_new_ids(std::function<void(const NewIds&)> f) {
    std::lock_guard lock(mu_);
    on_new_ids_ = std::move(f);
  }
  // Called by apply once the new state is built and persisted, just before
  // it is swapped in, holding only apply_mu_: tests pause an apply here.
  void on_built(std::function<void()> f) {
    std::lock_guard lock(apply_mu_);
    on_built_ = std::move(f);
  }

 private:
  // What readers see, replaced whole under mu_ (built outside it).
  struct View {
    uint64_t generation = 0;
    StateSource source = StateSource::options;
    std::shared_ptr<const DesiredState> desired = std::make_shared<DesiredState>();
    std::vector<BackendSpec> unresolved;  // given no MAC and none resolved: forwarded as down
  };
  std::shared_ptr<const View> view() const {
    std::lock_guard lock(mu_);
    return view_;
  }
  DesiredState resolve(const DesiredState& state, std::vector<BackendSpec>& unresolved) const;
  // Given no MAC, and the kernel's neighbours have none for it (yet).
  bool unresolved_mac(const BackendSpec& b) const { return b.mac.is_zero() && !neighbours_.count(b.address); }
  // Swaps in a built snapshot and what readers see of it; apply_mu_ held.
  void publish(std::unique_ptr<ForwardingState> built, std::shared_ptr<const View> next);

  mutable std::mutex apply_mu_;  // a change, whole; taken before mu_, never after
  mutable std::mutex mu_;        // view_, the publisher, on_new_ids_: short
  // Under apply_mu_:
  StateBuilder builder_;
  NeighbourMap neighbours_;
  std::map<IpAddress, uint32_t> missing_rounds_;  // resolved once, absent from this many rounds since
  std::function<void()> on_built_;
  // Written under both locks, read under either:
  std::shared_ptr<const View> view_ = std::make_shared<View>();
  std::atomic<uint64_t> generation_{0};  // view_->generation, for readers that take no lock
  std::function<void(const NewIds&)> on_new_ids_;

  StatePublisher& publisher_;
  const std::string state_file_;
  const bool resolves_macs_;
};

}  // namespace anylb
