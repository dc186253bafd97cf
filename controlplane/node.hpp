// The control loop of one anylb node: health -> desired dataplane state ->
// announcements. Every pass recomputes what should be true and reconciles
// the dataplane and gobgpd towards it, so a restart of either is repaired
// by the next pass instead of by special cases.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "announcement_rule.hpp"
#include "announcer.hpp"
#include "api_caller.hpp"
#include "config.hpp"
#include "dataplane.grpc.pb.h"
#include "gobgp_client.hpp"
#include "health.hpp"
#include "overlay.hpp"
#include "route_state.hpp"

namespace anylb::cp {

// What the API and the metrics show, copied at the end of every pass.
struct RouteStatus {
  std::string prefix, service;  // service empty for a covering prefix
  bool announced = false;
  bool draining = false;
  std::string reason;
  uint32_t healthy = 0, total = 0, quorum = 0;
  uint64_t hold_down_remaining_ms = 0;
  std::vector<std::string> communities;
};

struct BackendStatus {
  std::string service;
  IpAddress address;
  BackendHealth health;
  AdminState admin = AdminState::enabled;
  uint32_t weight = 0;
  MacAddress mac;
  bool registered = false;
  bool up = false;  // what the dataplane is told
};

struct NodeStatus {
  std::string name;
  bool draining = false;
  bool dataplane_ok = false;
  std::string dataplane_problem;  // the last liveness check's failure; empty when it passed
  std::map<std::string, std::string> refused;  // services the dataplane refused (by name), and why
  uint64_t dataplane_generation = 0;
  bool gobgp_ok = false;
  std::string gobgp_problem;  // why gobgpd's API did not answer; empty when it did
  std::size_t probe_threads = 0;
  uint64_t late_probes = 0;  // health probes started over an interval late
  std::vector<std::pair<std::string, std::string>> peers;  // BGP sessions
  std::vector<IpAddress> addresses;
  std::vector<RouteStatus> routes;
  std::vector<BackendStatus> backends;
  std::vector<ServiceSpec> services;
  std::map<std::string, RegistrationPolicy> registration_rules;  // by service: those that opt in
};

// An API change refused: which field, and why (maps to a gRPC status).
struct ChangeError {
  // internal: ours, not the request's; denied: not the caller's to do
  // (a registrar's rules); exhausted: a limit reached (max_backends).
  enum Kind { none, invalid, not_found, exists, internal, denied, exhausted } kind = none;
  std::string message;
};

class Node {
 public:
  // `config` is the YAML; the overlay of API changes is read from its state file.
  explicit Node(ControlConfig config);
  ~Node();

  void step(uint64_t now_ms);                 // one pass; called every ~200 ms
  void reload(ControlConfig next);            // applies a new, valid YAML configuration
  // Applies an API change to the overlay: validated, persisted, then run.
  // Safe from any thread; `change` returns an error to refuse.
  ChangeError change(const std::function<ChangeError(Overlay&, const ControlConfig& merged)>& change);
  // A registration's heartbeat: it changes no configuration, so nothing is
  // rebuilt or written (the time is not persisted). Safe from any thread.
  // A registrar heartbeats only its own (registration.hpp).
  ChangeError heartbeat(const std::string& registration_id, const Caller& caller);
  // The registrations `caller` may see (visible_registrations), with
  // whether each is alive now.
  struct RegistrationView {
    std::string id;
    Registration registration;
    bool alive = false;
    uint64_t since_heartbeat_ms = 0;
  };
  std::vector<RegistrationView> registrations(const Caller& caller, const std::string& service);
  bool withdraw_all();  // on shutdown when asked to; false if gobgpd refused any of it
  // Drain: re-announce with GRACEFUL_SHUTDOWN and a prepend, then withdraw
  // after the configured wait; undrain restores. Safe from any thread.
  void drain(bool on);
  NodeStatus status() const;                  // safe from any thread
  // Ours to withdraw: the configuration's prefixes and those announced
  // (the state file's record). Safe from any thread.
  std::set<std::string> owned_prefixes();
  const std::string& dataplane_socket() const { return config_.dataplane_socket; }

 private:
  // The one way a configuration change takes effect (start, reload, API
  // change, registration expiry): merge the YAML and the overlay, validate
  // the result, persist the overlay, then apply. A step that fails leaves
  // what runs, and what the state file holds, as they were.
  // `overlay_changed`: false when it is what the state file holds already;
  // `ask_dataplane`: an operator's change (API, reload), checked by the
  // dataplane too before it is taken (dataplane_refuses).
  ChangeError commit(ControlConfig base, Overlay overlay, const std::map<std::string, std::string>& renamed,
                     bool overlay_changed, bool ask_dataplane = false);
  void apply(ControlConfig merged, const std::map<std::string, std::string>& renamed);
  bool persist(const Overlay& overlay) const;
  bool backend_up(const std::string& service, const BackendConfig& b, const std::map<BackendKey, BackendHealth>& health,
                  uint64_t now) const;
  bool backend_draining(const std::string& service, const BackendConfig& b) const;
  // Registrations by backend, so that the per-backend checks each pass look
  // one up instead of scanning them all (65534 self-registered backends:
  // 10^10 steps a pass). Rebuilt whenever the overlay's registrations change.
  std::map<BackendKey, std::vector<std::string>> registration_index_;
  void index_registrations();
  template <class Pred>
  bool any_registration(const std::string& service, const IpAddress& address, Pred pred) const {
    const auto it = registration_index_.find({service, address});
    if (it == registration_index_.end()) return false;
    for (const std::string& id : it->second)
      if (auto r = overlay_.registrations.find(id); r != overlay_.registrations.end() && pred(r->second)) return true;
    return false;
  }
  bool backend_allowed(const std::string& service, const BackendConfig& b, uint64_t now) const;
  bool backend_may_serve(const ServiceConfig& s, const BackendConfig& b,
                         const std::map<BackendKey, BackendHealth>& health, uint64_t now) const;
  void expire_registrations(uint64_t now);
  bool inherits_up(const ServiceConfig& s, const BackendConfig& b, const std::map<BackendKey, BackendHealth>& health,
                   uint64_t now) const;
  // The dataplane side (node_dataplane.cpp): liveness, the desired state
  // and its push, and what the dataplane would refuse.
  bool dataplane_alive();
  void sync_dataplane(const std::map<BackendKey, BackendHealth>& health, uint64_t now);
  anylb::dataplane::v1::DesiredState desired_state(
      const ControlConfig& c,
      const std::function<BackendState(const ServiceConfig&, const BackendConfig&)>& state_of) const;
  std::string dataplane_refuses(const ControlConfig& merged);
  std::string dataplane_refuses(const anylb::dataplane::v1::DesiredState& state);
  void push_what_it_takes(const anylb::dataplane::v1::DesiredState& want,
                          const anylb::dataplane::v1::GetStateResponse& have);
  // One BGP pass (node_routes.cpp): route states updated, the announcement
  // rule applied, gobgpd synced, the state file written once.
  void sync_routes(uint64_t now_ms, const std::map<BackendKey, BackendHealth>& health);
  void update_routes(uint64_t now_ms, const std::map<BackendKey, BackendHealth>& health);
  bool first_checks_running(uint64_t now_ms) const;
  std::map<std::string, RouteView> route_views() const;
  void write_state();  // the overlay, if this pass changed it
  void publish_status(const std::map<BackendKey, BackendHealth>& health, uint64_t now_ms, bool gobgp_ok,
                      std::vector<std::pair<std::string, std::string>> peers,
                      const std::vector<PrefixDecision>& decisions);

  std::mutex mu_;        // step() and API changes
  ControlConfig base_;   // the YAML
  Overlay overlay_;      // API changes
  ControlConfig config_; // base_ + overlay_: what runs
  std::unique_ptr<HealthChecker> health_;
  std::unique_ptr<anylb::dataplane::v1::Dataplane::Stub> dataplane_;
  GobgpClient gobgp_;
  Announcer announcer_{gobgp_};                  // what gobgpd has from us
  std::map<std::string, ServiceRoute> routes_;  // by service name
  bool state_dirty_ = false;                    // the overlay changed since the state file was written
  std::string last_state_error_;
  std::string last_expiry_error_;
  static constexpr uint64_t kDataplaneCheckMs = 500;
  static constexpr uint32_t kDataplaneFall = 3;         // failed checks in a row...
  static constexpr uint64_t kDataplaneGraceMs = 1500;   // ...or failing this long: not forwarding
  bool dataplane_ok_ = false;
  uint32_t dataplane_failures_ = 0;
  uint64_t dataplane_failing_since_ = 0;
  uint64_t next_dataplane_check_ = 0;
  std::string last_gobgp_error_;
  static constexpr uint64_t kGobgpQuietMs = 2000;  // after a gobgpd that did not answer
  uint64_t gobgp_quiet_until_ = 0;
  std::atomic<int> drain_request_{-1};  // -1 none, 0 undrain, 1 drain
  bool draining_ = false;
  uint64_t drain_started_ = 0;
  // When the first pass ran: routes an earlier run left announced are kept
  // while this run's first checks run (first_checks_running), unless they
  // find the service down; withdrawn at once, every restart (an upgrade)
  // would flap every VIP, which is what leaving them at exit is for.
  std::optional<uint64_t> started_;
  bool rib_read_ = false;  // gobgpd's RIB read whole once: an earlier run's routes taken over
  std::set<BackendKey> inherited_;  // backends the last sync kept up for the dataplane (inherits_up)
  ServiceRoute new_route(const ServiceConfig& s) const;
  uint64_t dataplane_generation_ = 0;
  // By service we want: how many backends the dataplane sends its new flows
  // to, when it serves it as we want (the service alike, and no flows to a
  // backend we hold down or removed). All of them after a push it took;
  // after one it refused, judged from what it still holds. A VIP is
  // announced only when this reaches its quorum (invariant 6: announced
  // only while served).
  std::map<std::string, uint32_t> dataplane_servable_;
  std::map<std::string, std::string> refused_;  // services the dataplane refuses, and why (its words)
  uint32_t get_state_failures_ = 0;  // in a row; a few and nothing counts as held
  bool dataplane_state_read_ = false;  // GetState answered once in this run
  std::vector<IpAddress> bgp_peers_;  // gobgpd's neighbours, as last listed: for the dataplane's policer
  std::vector<IpAddress> gtsm_peers_;  // those with GTSM (ttl-security, ttl-min 255)
  mutable std::mutex status_mu_;
  NodeStatus status_;
  std::string last_dataplane_error_;  // liveness
  std::string last_sync_error_;       // GetState and ApplyState
};

// For a control plane that cannot start (its state file or the API changes
// in it are invalid): withdraws every path of ours gobgpd holds, the
// configuration's and those the state file says an earlier run announced,
// since no health checks would run for them.
// Returns false if gobgpd refused any of it (or could not be read).
bool withdraw_paths_of(const ControlConfig& config);

}  // namespace anylb::cp
