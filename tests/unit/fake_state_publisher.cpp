// StatePublisher without DPDK, for tests of ControlState that need no EAL:
// no workers, so a retired snapshot's grace period is over at once.
#include "state_publisher.hpp"

namespace anylb {

StatePublisher::StatePublisher(uint32_t) {}
StatePublisher::~StatePublisher() = default;
void StatePublisher::register_worker(uint32_t) {}
void StatePublisher::unregister_worker(uint32_t) {}
void StatePublisher::quiescent(uint32_t) {}

void StatePublisher::publish(std::unique_ptr<ForwardingState> next) {
  current_.store(next.get(), std::memory_order_release);
  if (owned_) retired_.push_back({std::move(owned_), 0});
  owned_ = std::move(next);
  reclaim();
}

void StatePublisher::reclaim() { retired_.clear(); }

}  // namespace anylb
