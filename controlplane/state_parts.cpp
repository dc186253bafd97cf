#include "state_parts.hpp"

#include <map>
#include <set>

namespace anylb::cp {

namespace dp = ::anylb::dataplane::v1;

namespace {

// A service's spec and its backends as sorted serialized bytes: equal
// exactly when the two states hold it alike.
std::map<std::string, std::string> by_service(const dp::DesiredState& s) {
  std::map<std::string, std::string> spec;
  std::map<std::string, std::multiset<std::string>> backends;
  for (const dp::Service& svc : s.services()) spec[svc.name()] = svc.SerializeAsString();
  for (const dp::Backend& b : s.backends()) backends[b.service()].insert(b.SerializeAsString());
  std::map<std::string, std::string> out;
  for (const auto& [name, text] : spec) {
    std::string all = text;
    for (const std::string& b : backends[name]) all += '\0' + b;
    out[name] = all;
  }
  return out;
}

}  // namespace

std::vector<std::string> changed_services(const dp::DesiredState& want, const dp::DesiredState& have) {
  const auto w = by_service(want), h = by_service(have);
  std::vector<std::string> out;
  for (const dp::Service& svc : want.services())
    if (const auto it = h.find(svc.name()); it == h.end() || it->second != w.at(svc.name())) out.push_back(svc.name());
  for (const dp::Service& svc : have.services())
    if (!w.count(svc.name())) out.push_back(svc.name());
  return out;
}

dp::DesiredState with_service_from(const dp::DesiredState& base, const std::string& name, const dp::DesiredState& from) {
  dp::DesiredState out = base;
  out.clear_services();
  out.clear_backends();
  for (const dp::Service& svc : base.services())
    if (svc.name() != name) *out.add_services() = svc;
  for (const dp::Service& svc : from.services())
    if (svc.name() == name) *out.add_services() = svc;
  for (const dp::Backend& b : base.backends())
    if (b.service() != name) *out.add_backends() = b;
  for (const dp::Backend& b : from.backends())
    if (b.service() == name) *out.add_backends() = b;
  return out;
}

}  // namespace anylb::cp
