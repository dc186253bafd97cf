#include "announcement_rule.hpp"

#include <algorithm>

#include "node_helpers.hpp"

namespace anylb::cp {

namespace {

constexpr uint32_t kGracefulShutdown = 0xFFFF0000;  // RFC 8326's well-known community

// RFC 8326: peers lower our preference, so traffic moves before the withdrawal.
void make_graceful(PathSpec& p) {
  p.communities.push_back(kGracefulShutdown);
  p.prepend += 1;
}

const char* policy_name(CoverPolicy p) { return p == CoverPolicy::any ? "any" : "all"; }

RouteView route_of(const AnnouncementInputs& in, const std::string& service) {
  const auto it = in.routes.find(service);
  return it == in.routes.end() ? RouteView{} : it->second;
}

PathSpec path_for(const AnnouncementInputs& in, const IpAddress& prefix, uint32_t length,
                  const std::vector<uint32_t>& communities, std::optional<uint32_t> med, uint32_t prepend) {
  const std::optional<IpAddress>& nh = prefix.is_v4() ? in.config.next_hop_v4 : in.config.next_hop_v6;
  // validate_merged refuses a service without a next hop of its family; a
  // cover's family is its services'.
  return PathSpec{prefix, length, nh.value_or(IpAddress{}), communities, med, prepend, in.asn};
}

// The host route of one VIP, shared by `members` (in configuration order).
PrefixDecision host_route(const AnnouncementInputs& in, const std::vector<const ServiceConfig*>& members) {
  const ServiceConfig& first = *members.front();
  PrefixDecision d;
  d.prefix = host_prefix(first.spec.vip);
  d.kind = PrefixDecision::Kind::host;
  std::vector<bool> states;
  const ServiceConfig* lead = nullptr;  // the first announced one: its MED and prepend
  std::vector<uint32_t> communities;
  for (const ServiceConfig* s : members) {
    d.services.push_back(s->spec.name);
    const RouteView r = route_of(in, s->spec.name);
    states.push_back(r.announced());
    if (!r.announced()) continue;
    if (!lead) {
      lead = s;
      d.graceful = r.state == Announcement::draining;
    }
    for (uint32_t c : s->communities)
      if (std::find(communities.begin(), communities.end(), c) == communities.end()) communities.push_back(c);
  }
  d.announce = lead && covering_announced(first.vip_policy, states);
  if (d.announce) {
    d.path = path_for(in, first.spec.vip, first.spec.vip.is_v4() ? 32 : 128, communities, lead->med, lead->prepend);
    if (d.graceful) make_graceful(*d.path);
  } else {
    d.graceful = false;
  }
  // Each service's line: its own reason, and, where the VIP's other
  // services decided otherwise, which one did.
  for (const ServiceConfig* s : members) {
    const RouteView r = route_of(in, s->spec.name);
    std::string reason = r.reason;
    if (r.announced() != d.announce)
      for (const ServiceConfig* other : members) {
        if (other == s || route_of(in, other->spec.name).announced() != d.announce) continue;
        reason += std::string("; ") + (d.announce ? "announced" : "withdrawn") + ": service '" + other->spec.name +
                  "' on the same VIP is " + (d.announce ? "" : "not ") + "(vip_policy " +
                  policy_name(first.vip_policy) + ")";
        break;
      }
    d.service_reasons[s->spec.name] = reason;
  }
  d.reason = members.size() == 1 ? d.service_reasons.begin()->second
                                 : std::string("shared VIP (vip_policy ") + policy_name(first.vip_policy) + ")";
  return d;
}

PrefixDecision cover_route(const AnnouncementInputs& in, const CoverConfig& c) {
  PrefixDecision d;
  d.prefix = cover_prefix(c);
  d.kind = PrefixDecision::Kind::cover;
  d.services = c.services;
  std::vector<bool> states;
  std::string names;
  bool kept = false;
  for (const std::string& n : c.services) {
    const RouteView r = route_of(in, n);
    states.push_back(r.announced());
    kept |= r.announced() && r.kept_from_earlier_run;
    names += (names.empty() ? "" : ", ") + n + (r.announced() ? " up" : " down");
  }
  d.announce = covering_announced(c.policy, states);
  d.graceful = d.announce && in.node_draining;
  d.reason = std::string("covering (") + policy_name(c.policy) + "): " + names +
             (d.graceful ? "; node draining (graceful shutdown)" : "") +
             (d.announce && kept ? "; kept from an earlier run while the first checks run" : "");
  if (d.announce) {
    d.path = path_for(in, c.address, c.length, c.communities, c.med, c.prepend);
    if (d.graceful) make_graceful(*d.path);
  }
  return d;
}

// The configuration is checked against node.allowed_prefixes on every
// load and change; this holds the line should anything get past that.
void only_if_allowed(const AnnouncementInputs& in, const Prefix& p, PrefixDecision& d) {
  if (inside(in.config.allowed_prefixes, p)) return;
  d.announce = false;
  d.graceful = false;
  d.path.reset();
  d.reason = "outside node.allowed_prefixes";
}

}  // namespace

std::vector<PrefixDecision> decide_announcements(const AnnouncementInputs& in) {
  std::vector<PrefixDecision> out;
  std::set<std::string> configured;
  std::vector<std::vector<const ServiceConfig*>> vips;  // services by VIP, in order of first appearance
  std::map<IpAddress, std::size_t> vip_index;
  for (const ServiceConfig& s : in.config.services) {
    const auto [it, fresh] = vip_index.try_emplace(s.spec.vip, vips.size());
    if (fresh) vips.emplace_back();
    vips[it->second].push_back(&s);
  }
  for (const auto& members : vips) {
    out.push_back(host_route(in, members));
    only_if_allowed(in, cp::host_route(members.front()->spec.vip), out.back());
    configured.insert(out.back().prefix);
  }
  for (const CoverConfig& c : in.config.covers) {
    out.push_back(cover_route(in, c));
    only_if_allowed(in, Prefix{c.address, c.length}, out.back());
    configured.insert(out.back().prefix);
  }
  for (const std::string& p : in.left) {
    if (configured.count(p)) continue;
    PrefixDecision d;
    d.prefix = p;
    d.kind = PrefixDecision::Kind::left;
    d.reason = "left by an earlier run; no longer configured";
    out.push_back(d);
  }
  return out;
}

std::vector<const ServiceConfig*> services_left_announced(const ControlConfig& config,
                                                          const std::set<std::string>& left,
                                                          const std::set<std::string>& withdrawn_routes) {
  std::vector<const ServiceConfig*> out;
  for (const ServiceConfig& s : config.services)
    if (left.count(host_prefix(s.spec.vip)) && !withdrawn_routes.count(s.spec.name)) out.push_back(&s);
  return out;
}

}  // namespace anylb::cp
