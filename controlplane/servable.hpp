// What the dataplane can serve of each service the control plane wants,
// judged from what it holds: the input to a route's "dataplane holds it"
// (node_routes.cpp). Pure: protobuf messages in, counts out.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "dataplane.pb.h"

namespace anylb::cp {

using BackendRef = std::pair<std::string, std::string>;  // (service, address) as the dataplane API spells them

// The backends of `want` the dataplane forwards as down, whatever we want,
// because it has no MAC for them: we give none, and `have` does not show
// one it resolved (a backend it holds without a MAC and does not list as
// unresolved). Just pushed, or given a MAC until now: not yet resolved.
std::set<BackendRef> unresolved(const dataplane::v1::DesiredState& want, const dataplane::v1::GetStateResponse& have);

// By service name, how many backends take new flows as we want them, for
// each service the dataplane holds as we want it (`have`): new flows only to
// backends we want up, with the MAC we want. A service missing is one it
// cannot serve as we want: absent or different, or with flows (new or
// pinned) to a backend we hold down or do not have. Order and weights do
// not count (Maglev spreads by set and weight: a stale weight skews the
// spread, it does not misdirect). Backends in `no_mac` take no new flows.
std::map<std::string, uint32_t> servable(const dataplane::v1::DesiredState& want,
                                         const dataplane::v1::DesiredState& have, const std::set<BackendRef>& no_mac);

// The same after a push the dataplane took: it holds `want`.
std::map<std::string, uint32_t> servable(const dataplane::v1::DesiredState& want, const std::set<BackendRef>& no_mac);

}  // namespace anylb::cp
