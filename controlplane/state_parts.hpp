// A desired state taken apart by service, for a push the dataplane refused:
// the control plane then pushes what it takes, service by service, and
// withdraws exactly the services it does not (node_dataplane.cpp). Pure:
// protobuf messages in and out.
#pragma once

#include <string>
#include <vector>

#include "dataplane.pb.h"

namespace anylb::cp {

// The services (by name, in `want`'s order, then those only `have` holds)
// whose spec or backends differ between the two states: what a push of
// `want` over `have` changes. Backends compare as sets (order is not
// meaning: Maglev builds from the set).
std::vector<std::string> changed_services(const dataplane::v1::DesiredState& want,
                                          const dataplane::v1::DesiredState& have);

// `base` with service `name` (its spec and every backend of it) as `from`
// has it, or without it if `from` has none. The rest of `base`, node
// addresses and peers included, stays as it is.
dataplane::v1::DesiredState with_service_from(const dataplane::v1::DesiredState& base, const std::string& name,
                                              const dataplane::v1::DesiredState& from);

}  // namespace anylb::cp
