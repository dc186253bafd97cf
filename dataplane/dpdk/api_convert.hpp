// anylb.dataplane.v1 messages <-> the core's types. Every bad field is
// reported by its path ("state.backends[2].mac: ...").
#pragma once

#include <optional>
#include <string>

#include "dataplane.pb.h"
#include "desired_state.hpp"
#include "flow_key.hpp"

namespace anylb {

namespace pb = ::anylb::dataplane::v1;

std::optional<DesiredState> from_proto(const pb::DesiredState& in, std::string& error);
void to_proto(const DesiredState& in, pb::DesiredState& out);
void to_proto(const ServiceSpec& in, pb::Service& out);
void to_proto(const BackendSpec& in, pb::Backend& out);

std::optional<FlowKey> from_proto(const pb::FiveTuple& in, const std::string& field, std::string& error);
void to_proto(const FlowKey& in, pb::FiveTuple& out);

}  // namespace anylb
