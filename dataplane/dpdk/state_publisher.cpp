#include "state_publisher.hpp"

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <new>

namespace anylb {

StatePublisher::StatePublisher(uint32_t max_workers) {
  const std::size_t size = rte_rcu_qsbr_get_memsize(max_workers);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("anylb_rcu", size, RTE_CACHE_LINE_SIZE));
  if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, max_workers) != 0) throw std::bad_alloc();
}

StatePublisher::~StatePublisher() {
  retired_.clear();
  rte_free(qsbr_);
}

void StatePublisher::register_worker(uint32_t worker_id) {
  rte_rcu_qsbr_thread_register(qsbr_, worker_id);
  rte_rcu_qsbr_thread_online(qsbr_, worker_id);
}

void StatePublisher::unregister_worker(uint32_t worker_id) {
  rte_rcu_qsbr_thread_offline(qsbr_, worker_id);
  rte_rcu_qsbr_thread_unregister(qsbr_, worker_id);
}

void StatePublisher::quiescent(uint32_t worker_id) { rte_rcu_qsbr_quiescent(qsbr_, worker_id); }

void StatePublisher::publish(std::unique_ptr<ForwardingState> next) {
  current_.store(next.get(), std::memory_order_release);
  if (owned_) retired_.push_back({std::move(owned_), rte_rcu_qsbr_start(qsbr_)});
  owned_ = std::move(next);
  reclaim();
}

void StatePublisher::reclaim() {
  std::erase_if(retired_, [this](const Retired& r) { return rte_rcu_qsbr_check(qsbr_, r.token, false) == 1; });
}

}  // namespace anylb
