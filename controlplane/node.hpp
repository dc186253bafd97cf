// The control loop of one anylb node: health -> desired dataplane state ->
// announcements. Every pass recomputes what should be true and reconciles
// the dataplane and gobgpd towards it, so a restart of either is repaired
// by the next pass instead of by special cases.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config.hpp"
#include "dataplane.grpc.pb.h"
#include "gobgp_client.hpp"
#include "health.hpp"
#include "route_state.hpp"

namespace anylb::cp {

class Node {
 public:
  explicit Node(ControlConfig config);
  ~Node();

  void step(uint64_t now_ms);                 // one pass; called every ~200 ms
  void reload(ControlConfig next);            // applies a new, valid configuration
  void withdraw_all();                        // on shutdown when asked to

 private:
  void sync_dataplane(const std::map<BackendKey, BackendHealth>& health);
  bool dataplane_alive();
  void sync_routes(uint64_t now_ms, const std::map<BackendKey, BackendHealth>& health);
  std::vector<PathSpec> wanted_paths(uint32_t asn) const;

  ControlConfig config_;
  std::unique_ptr<HealthChecker> health_;
  std::unique_ptr<anylb::dataplane::v1::Dataplane::Stub> dataplane_;
  GobgpClient gobgp_;
  std::map<std::string, ServiceRoute> routes_;  // by service name
  std::map<std::string, PathSpec> sent_;        // what gobgpd has from us, by prefix
  bool dataplane_ok_ = false;
  uint64_t next_dataplane_check_ = 0;
  std::string last_gobgp_error_;
  std::string last_dataplane_error_;
};

}  // namespace anylb::cp
