// Publishes ForwardingState snapshots to the workers with RCU: a pointer
// swap (release), workers load it once per loop (acquire), and the old
// snapshot is freed only once every worker has reported a quiescent state
// since the swap (rte_rcu_qsbr). The control thread never blocks on workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "forwarding_state.hpp"

struct rte_rcu_qsbr;

namespace anylb {

class StatePublisher {
 public:
  explicit StatePublisher(uint32_t max_workers);
  ~StatePublisher();
  StatePublisher(const StatePublisher&) = delete;
  StatePublisher& operator=(const StatePublisher&) = delete;

  // Worker side.
  const ForwardingState* current() const { return current_.load(std::memory_order_acquire); }
  void register_worker(uint32_t worker_id);
  void unregister_worker(uint32_t worker_id);
  void quiescent(uint32_t worker_id);

  // Control side.
  void publish(std::unique_ptr<ForwardingState> next);
  void reclaim();  // frees retired snapshots whose grace period has ended
  std::size_t retired() const { return retired_.size(); }

 private:
  struct Retired {
    std::unique_ptr<ForwardingState> state;
    uint64_t token;
  };
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const ForwardingState*> current_{nullptr};
  std::unique_ptr<ForwardingState> owned_;
  std::vector<Retired> retired_;
};

}  // namespace anylb
