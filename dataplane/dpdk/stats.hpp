// Sums the per-lcore counters (the reader's job) and reports them: a debug
// log line and a JSON document, until the API issue serves them over gRPC.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "forwarding_state.hpp"
#include "worker.hpp"

namespace anylb {

nlohmann::json collect_counters(const std::vector<std::unique_ptr<WorkerContext>>& workers,
                                const std::vector<PortInfo>& ports, const ForwardingState& state);

// Writes atomically (temp file + rename) so readers never see half a file.
bool write_counters_file(const std::string& path, const nlohmann::json& counters);

std::string counters_summary(const nlohmann::json& counters);

}  // namespace anylb
