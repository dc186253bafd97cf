// The control plane's side of gobgpd's gRPC API (GoBGP 3.10, Debian):
// announce and withdraw our paths, read what the global RIB holds. A
// DeletePath with neither uuid nor path withdraws every local path (GoBGP
// 3.10), so every withdrawal here names its path.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ip_address.hpp"

namespace anylb::cp {

struct PathSpec {
  IpAddress prefix;
  uint32_t length = 32;
  IpAddress next_hop;
  std::vector<uint32_t> communities;
  std::optional<uint32_t> med;
  uint32_t prepend = 0;  // copies of our own AS in front
  uint32_t asn = 0;      // ours, for the prepend
  bool operator==(const PathSpec&) const = default;
  std::string text() const { return prefix.to_string() + "/" + std::to_string(length); }
};

class GobgpClient {
 public:
  explicit GobgpClient(const std::string& target);  // "127.0.0.1:50051" or "unix:///path"
  ~GobgpClient();

  // Our ASN if BGP is running, nullopt (with `error`) if gobgpd is down or not started.
  // How a call went: nothing listens at the address (gobgpd is not
  // running), or no answer within the deadline (gobgpd stopped or stuck:
  // it still holds its paths).
  enum class Reach { answered, refused, slow, other };
  // Asked first each pass, with a short deadline (1 s): a gobgpd that does
  // not answer must not hold up the node's loop for long.
  std::optional<uint32_t> asn(std::string& error, Reach* reach = nullptr);
  bool add(const PathSpec& p, std::string& error);
  bool withdraw(const PathSpec& p, std::string& error);
  // Which of `among` ("203.0.113.10/32", this family's) have a locally
  // originated path in the global RIB, and that path as we would have sent
  // it (next hop, communities, MED, prepend of `asn`). Only those are asked
  // for: the RIB may hold a full table the peers sent, too big to read
  // every pass.
  std::optional<std::map<std::string, PathSpec>> local_paths(bool ipv6, const std::set<std::string>& among,
                                                             uint32_t asn, std::string& error);
  // (neighbor address, session state name) of every configured peer;
  // into `gtsm`, if given, those configured for GTSM (gtsm_peer()).
  std::vector<std::pair<std::string, std::string>> peers(std::string& error, std::vector<std::string>* gtsm = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace anylb::cp
