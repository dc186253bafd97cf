// The desired state as JSON, for the state file and for tools.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "desired_state.hpp"

namespace anylb {

std::string desired_state_to_json(const DesiredState& state, uint64_t generation);

// Parses what desired_state_to_json wrote; on error names the field.
std::optional<DesiredState> desired_state_from_json(const std::string& text, uint64_t& generation,
                                                    std::string& error);

bool write_file_atomically(const std::string& path, const std::string& content);

}  // namespace anylb
