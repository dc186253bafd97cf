#include "gobgp_client.hpp"

#include "bgp_peers.hpp"

#include <charconv>

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "attribute.pb.h"
#include "gobgp.grpc.pb.h"

namespace anylb::cp {

struct GobgpClient::Impl {
  std::unique_ptr<apipb::GobgpApi::Stub> stub;
};

namespace {

void deadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
}

apipb::Family family_of(const IpAddress& a) {
  apipb::Family f;
  f.set_afi(a.is_v4() ? apipb::Family::AFI_IP : apipb::Family::AFI_IP6);
  f.set_safi(apipb::Family::SAFI_UNICAST);
  return f;
}

apipb::Path build_path(const PathSpec& p, bool withdraw) {
  apipb::Path path;
  *path.mutable_family() = family_of(p.prefix);
  apipb::IPAddressPrefix nlri;
  nlri.set_prefix(p.prefix.to_string());
  nlri.set_prefix_len(p.length);
  path.mutable_nlri()->PackFrom(nlri);
  path.set_is_withdraw(withdraw);

  apipb::OriginAttribute origin;
  origin.set_origin(0);  // IGP
  path.add_pattrs()->PackFrom(origin);
  if (p.prefix.is_v4()) {
    apipb::NextHopAttribute nh;
    nh.set_next_hop(p.next_hop.to_string());
    path.add_pattrs()->PackFrom(nh);
  } else {  // IPv6 carries its next hop in MP_REACH, with an explicit global address
    apipb::MpReachNLRIAttribute mp;
    *mp.mutable_family() = family_of(p.prefix);
    mp.add_next_hops(p.next_hop.to_string());
    mp.add_nlris()->PackFrom(nlri);
    path.add_pattrs()->PackFrom(mp);
  }
  if (!p.communities.empty()) {
    apipb::CommunitiesAttribute c;
    for (uint32_t v : p.communities) c.add_communities(v);
    path.add_pattrs()->PackFrom(c);
  }
  if (p.med) {
    apipb::MultiExitDiscAttribute med;
    med.set_med(*p.med);
    path.add_pattrs()->PackFrom(med);
  }
  if (p.prepend > 0 && p.asn != 0) {
    apipb::AsPathAttribute as;
    apipb::AsSegment* seg = as.add_segments();
    seg->set_type(apipb::AsSegment::AS_SEQUENCE);
    for (uint32_t i = 0; i < p.prepend; ++i) seg->add_numbers(p.asn);
    path.add_pattrs()->PackFrom(as);
  }
  return path;
}

// A path read back from the RIB, in the terms build_path writes it in. A
// prepend counts only an AS_SEQUENCE of our own AS alone; anything else
// in the AS path makes it a path we would not have sent (prepend ~0).
PathSpec path_of(const std::string& prefix, const apipb::Path& path, uint32_t asn) {
  PathSpec p;
  const auto slash = prefix.find('/');
  p.prefix = IpAddress::parse(prefix.substr(0, slash)).value_or(IpAddress{});
  std::from_chars(prefix.data() + slash + 1, prefix.data() + prefix.size(), p.length);
  p.asn = asn;
  for (const google::protobuf::Any& a : path.pattrs()) {
    if (apipb::NextHopAttribute nh; a.UnpackTo(&nh)) {
      p.next_hop = IpAddress::parse(nh.next_hop()).value_or(IpAddress{});
    } else if (apipb::MpReachNLRIAttribute mp; a.UnpackTo(&mp) && mp.next_hops_size() > 0) {
      p.next_hop = IpAddress::parse(mp.next_hops(0)).value_or(IpAddress{});
    } else if (apipb::CommunitiesAttribute c; a.UnpackTo(&c)) {
      p.communities.assign(c.communities().begin(), c.communities().end());
    } else if (apipb::MultiExitDiscAttribute med; a.UnpackTo(&med)) {
      p.med = med.med();
    } else if (apipb::AsPathAttribute as; a.UnpackTo(&as)) {
      for (const apipb::AsSegment& seg : as.segments())
        for (uint32_t n : seg.numbers())
          p.prepend = (seg.type() == apipb::AsSegment::AS_SEQUENCE && n == asn && p.prepend != ~0u) ? p.prepend + 1 : ~0u;
    }
  }
  return p;
}

}  // namespace

GobgpClient::GobgpClient(const std::string& target) : impl_(std::make_unique<Impl>()) {
  impl_->stub = apipb::GobgpApi::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

GobgpClient::~GobgpClient() = default;

std::optional<uint32_t> GobgpClient::asn(std::string& error, Reach* reach) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  apipb::GetBgpResponse resp;
  const grpc::Status s = impl_->stub->GetBgp(&ctx, apipb::GetBgpRequest{}, &resp);
  if (reach)
    *reach = s.ok()                                                    ? Reach::answered
             : s.error_code() == grpc::StatusCode::UNAVAILABLE       ? Reach::refused
             : s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? Reach::slow
                                                                     : Reach::other;
  if (!s.ok()) {
    error = "gobgpd: " + s.error_message();
    return std::nullopt;
  }
  if (resp.global().asn() == 0) {
    error = "gobgpd: BGP not started";
    return std::nullopt;
  }
  return resp.global().asn();
}

bool GobgpClient::add(const PathSpec& p, std::string& error) {
  grpc::ClientContext ctx;
  deadline(ctx);
  apipb::AddPathRequest req;
  req.set_table_type(apipb::GLOBAL);
  *req.mutable_path() = build_path(p, false);
  apipb::AddPathResponse resp;
  const grpc::Status s = impl_->stub->AddPath(&ctx, req, &resp);
  if (!s.ok()) error = "gobgpd AddPath " + p.text() + ": " + s.error_message();
  return s.ok();
}

bool GobgpClient::withdraw(const PathSpec& p, std::string& error) {
  grpc::ClientContext ctx;
  deadline(ctx);
  apipb::DeletePathRequest req;
  req.set_table_type(apipb::GLOBAL);
  *req.mutable_family() = family_of(p.prefix);
  *req.mutable_path() = build_path(p, true);  // always a path: never the delete-everything form
  google::protobuf::Empty resp;
  const grpc::Status s = impl_->stub->DeletePath(&ctx, req, &resp);
  if (!s.ok()) error = "gobgpd DeletePath " + p.text() + ": " + s.error_message();
  return s.ok();
}

std::optional<std::map<std::string, PathSpec>> GobgpClient::local_paths(bool ipv6, const std::set<std::string>& among,
                                                                        uint32_t asn, std::string& error) {
  apipb::ListPathRequest req;
  req.set_table_type(apipb::GLOBAL);
  req.mutable_family()->set_afi(ipv6 ? apipb::Family::AFI_IP6 : apipb::Family::AFI_IP);
  req.mutable_family()->set_safi(apipb::Family::SAFI_UNICAST);
  for (const std::string& p : among) {
    // Only well-formed prefixes of this family: a malformed lookup prefix
    // crashes gobgpd 3.10, and family and prefix are not checked to match.
    const auto slash = p.find('/');
    const auto a = IpAddress::parse(p.substr(0, slash));
    uint32_t len = 0;
    const char* end = p.data() + p.size();
    if (slash == std::string::npos || !a || a->is_v4() == ipv6) continue;
    const auto [ptr, ec] = std::from_chars(p.data() + slash + 1, end, len);
    if (ec != std::errc() || ptr != end || len > (ipv6 ? 128u : 32u)) continue;
    apipb::TableLookupPrefix* q = req.add_prefixes();
    q->set_prefix(p);
    q->set_type(apipb::TableLookupPrefix::EXACT);
  }
  if (req.prefixes_size() == 0) return std::map<std::string, PathSpec>{};  // none asked: an empty list would mean all
  grpc::ClientContext ctx;
  deadline(ctx);
  auto reader = impl_->stub->ListPath(&ctx, req);
  std::map<std::string, PathSpec> out;
  apipb::ListPathResponse resp;
  while (reader->Read(&resp))
    for (const auto& path : resp.destination().paths())
      if (path.neighbor_ip().empty() || path.neighbor_ip() == "<nil>")
        out[resp.destination().prefix()] = path_of(resp.destination().prefix(), path, asn);
  const grpc::Status s = reader->Finish();
  if (!s.ok()) {
    error = "gobgpd ListPath: " + s.error_message();
    return std::nullopt;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> GobgpClient::peers(std::string& error, std::vector<std::string>* gtsm) {
  grpc::ClientContext ctx;
  deadline(ctx);
  auto reader = impl_->stub->ListPeer(&ctx, apipb::ListPeerRequest{});
  std::vector<std::pair<std::string, std::string>> out;
  apipb::ListPeerResponse resp;
  while (reader->Read(&resp)) {
    const auto& st = resp.peer().state();
    std::string name = apipb::PeerState::SessionState_Name(st.session_state());
    for (char& ch : name) ch = static_cast<char>(std::tolower(ch));
    out.emplace_back(st.neighbor_address(), name);
    const auto& ttl = resp.peer().ttl_security();
    if (gtsm && gtsm_peer(ttl.enabled(), ttl.ttl_min())) gtsm->push_back(st.neighbor_address());
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) error = "gobgpd ListPeer: " + s.error_message();
  return out;
}

}  // namespace anylb::cp
