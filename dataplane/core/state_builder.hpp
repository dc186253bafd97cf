// Turns a DesiredState into a ForwardingState snapshot, off the hot path.
//
// Ids are stable: a service keeps its id while its (VIP, protocol, port)
// exists, a backend while its (service, address) exists, so flow-table
// entries (which store backend ids) survive rebuilds. A released id is only
// reused after a quarantine longer than any flow timeout, by which time no
// live flow entry can still name it. Maglev tables are rebuilt only for
// services whose backends, weights or states changed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "forwarding_state.hpp"

namespace anylb {

class IdAllocator {
 public:
  IdAllocator(uint32_t max_id, uint64_t quarantine_ms) : max_id_(max_id), quarantine_ms_(quarantine_ms) {}
  uint32_t allocate(uint64_t now_ms);  // 0 when exhausted
  void release(uint32_t id, uint64_t now_ms) { released_.emplace_back(id, now_ms); }

 private:
  uint32_t max_id_;
  uint64_t quarantine_ms_;
  uint32_t next_ = 1;
  std::vector<std::pair<uint32_t, uint64_t>> released_;  // id, when (oldest first)
};

struct StateLimits {
  uint32_t maglev_size = kMaglevDefaultSize;
  uint32_t max_services = 1024;     // ids 1..max
  uint32_t max_backends = 65535;
  uint64_t id_quarantine_ms = 3600 * 1000;
};

class StateBuilder {
 public:
  explicit StateBuilder(StateLimits limits);

  class Prepared;

  // Two steps, so that a caller can do what may fail in between (persist
  // the state) and still leave everything as it was: prepare() builds the
  // snapshot and commits nothing; commit() takes its id assignments and
  // Maglev tables and hands the snapshot over. prepare() returns null with
  // `error` set when ids run out. The state must already be validated.
  std::unique_ptr<Prepared> prepare(const DesiredState& state, uint64_t generation, uint64_t now_ms,
                                    std::string& error) const;
  std::unique_ptr<ForwardingState> commit(Prepared&& prepared);
  // Both at once.
  std::unique_ptr<ForwardingState> build(const DesiredState& state, uint64_t generation, uint64_t now_ms,
                                         std::string& error);

  const StateLimits& limits() const { return limits_; }

 private:
  using ServiceKey = std::tuple<IpAddress, uint8_t, uint16_t>;
  using BackendKey = std::pair<ServiceKey, IpAddress>;
  struct Ids {
    IdAllocator services;
    IdAllocator backends;
    std::map<ServiceKey, uint32_t> service_ids;
    std::map<BackendKey, uint32_t> backend_ids;
  };
  struct CachedTables {
    std::vector<std::tuple<IpAddress, uint32_t, BackendState, uint32_t>> fingerprint;  // sorted
    std::shared_ptr<const MaglevPair> tables;
  };

 public:
  class Prepared {
   private:
    friend class StateBuilder;
    explicit Prepared(Ids assigned) : ids(std::move(assigned)) {}
    std::unique_ptr<ForwardingState> state;
    Ids ids;
    std::map<uint32_t, CachedTables> cache;
  };

 private:

  StateLimits limits_;
  Ids ids_;
  std::map<uint32_t, CachedTables> maglev_cache_;  // by service id
};

}  // namespace anylb
