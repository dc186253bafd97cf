// What a verb asks of the side it runs against, so that each verb (its
// words read and checked, its message) is written once: the dataplane
// (anylb.dataplane.v1: one desired state, each change applied as its next
// generation) or the control plane (anylb.v1: one request per change).
// The views differ in what each side knows, so each side renders its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"

namespace anylb::ctl {

enum class Mode { l2_dsr, ipip, gue };
enum class AdminState { up, draining, down };

struct ServiceSpec {
  std::string name, vip;
  bool tcp = true;
  uint32_t port = 0;  // 0: any
  Mode mode = Mode::l2_dsr;
  bool hash_fragments = false;
  std::optional<uint32_t> gue_port;
  std::optional<uint32_t> quorum;  // the control plane's
  // The control plane's: opt-in to registrars (empty prefixes: none).
  std::vector<std::string> registration_prefixes;
  uint32_t registration_max_backends = 0;
  uint32_t registration_weight = 0;  // 0: 100
  bool registrar_mac = false;        // registrars may name their backend's MAC
};

struct BackendSpec {
  std::string service, address;
  std::string mac;                 // empty: resolved from the neighbour table
  std::optional<uint32_t> weight;  // none: the side's default
};

struct FiveTuple {
  std::string source, destination;
  uint32_t source_port = 0, destination_port = 0;
  bool tcp = true;
};

struct FlowQuery {
  std::string service, backend;  // empty: any
  std::string page_token;
  uint32_t page_size = 0;
};

struct FlowPage {
  std::vector<FlowRow> rows;
  std::string next_page_token;  // empty: the last page
};

// What a change did, beyond what the verb says: fields for the JSON answer
// (the generation made; the backend as it now runs) and a note for the line.
struct Applied {
  nlohmann::json json = nlohmann::json::object();
  std::string note;
};

class Target {
 public:
  virtual ~Target() = default;

  virtual Output services() = 0;
  virtual Output service(const std::string& name) = 0;
  virtual Output health() = 0;
  virtual Output node() = 0;
  virtual Output stats(double interval_s) = 0;
  virtual Output trace(const FiveTuple& flow) = 0;
  virtual FlowPage flows(const FlowQuery& query) = 0;

  virtual Applied add_service(const ServiceSpec& s) = 0;
  virtual Applied delete_service(const std::string& name) = 0;
  virtual Applied add_backend(const BackendSpec& b) = 0;
  virtual Applied delete_backend(const std::string& service, const std::string& address) = 0;
  virtual Applied set_backend_state(const std::string& service, const std::string& address, AdminState state) = 0;
  virtual Applied set_backend_weight(const std::string& service, const std::string& address, uint32_t weight) = 0;
  // The state's name as this side shows it elsewhere (up/down here,
  // enabled/disabled there).
  virtual std::string state_word(AdminState state) const = 0;
};

}  // namespace anylb::ctl
