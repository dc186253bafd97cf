#include "servable.hpp"

#include <google/protobuf/util/message_differencer.h>

namespace anylb::cp {

namespace dp = ::anylb::dataplane::v1;

std::set<BackendRef> unresolved(const dp::DesiredState& want, const dp::GetStateResponse& have) {
  std::set<BackendRef> listed, resolved;
  for (const dp::Backend& b : have.unresolved()) listed.insert({b.service(), b.address()});
  for (const dp::Backend& b : have.state().backends())
    if (b.mac().empty() && !listed.count({b.service(), b.address()})) resolved.insert({b.service(), b.address()});
  std::set<BackendRef> out;
  for (const dp::Backend& b : want.backends())
    if (b.mac().empty() && !resolved.count({b.service(), b.address()})) out.insert({b.service(), b.address()});
  return out;
}

std::map<std::string, uint32_t> servable(const dp::DesiredState& want, const dp::DesiredState& have,
                                         const std::set<BackendRef>& no_mac) {
  using google::protobuf::util::MessageDifferencer;
  std::map<std::string, const dp::Service*> have_services;
  for (const dp::Service& s : have.services()) have_services[s.name()] = &s;
  std::map<BackendRef, const dp::Backend*> wanted;
  for (const dp::Backend& b : want.backends()) wanted[{b.service(), b.address()}] = &b;
  std::map<std::string, uint32_t> out;
  std::set<std::string> misdirected;
  for (const dp::Service& s : want.services()) {
    const auto h = have_services.find(s.name());
    if (h != have_services.end() && MessageDifferencer::Equivalent(s, *h->second)) out[s.name()] = 0;
  }
  for (const dp::Backend& b : have.backends()) {
    if (b.state() == dp::BACKEND_STATE_DOWN || !out.count(b.service())) continue;
    const auto w = wanted.find({b.service(), b.address()});
    const bool as_wanted = w != wanted.end() && w->second->state() != dp::BACKEND_STATE_DOWN &&
                           w->second->mac() == b.mac();
    if (!as_wanted) misdirected.insert(b.service());  // flows (new or pinned) to a backend we hold down or gone
    else if (b.state() == dp::BACKEND_STATE_UP && !no_mac.count({b.service(), b.address()})) ++out[b.service()];
  }
  for (const std::string& n : misdirected) out.erase(n);
  return out;
}

std::map<std::string, uint32_t> servable(const dp::DesiredState& want, const std::set<BackendRef>& no_mac) {
  std::map<std::string, uint32_t> out;
  for (const dp::Service& s : want.services()) out[s.name()] = 0;
  for (const dp::Backend& b : want.backends())
    if (b.state() == dp::BACKEND_STATE_UP && !no_mac.count({b.service(), b.address()})) ++out[b.service()];
  return out;
}

}  // namespace anylb::cp
