// The desired state as JSON, for the state file and for tools.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "desired_state.hpp"

namespace anylb {

// Where the applied state came from: the options (command line, config
// file: a SIGHUP reload applies them again) or the API (which owns it from
// then on: a reload would replace what it applied with the options').
enum class StateSource { options, api };

std::string desired_state_to_json(const DesiredState& state, uint64_t generation,
                                  StateSource source = StateSource::options);

// Parses what desired_state_to_json wrote; on error names the field.
// `source` (if given): the file's, options for files that do not say.
std::optional<DesiredState> desired_state_from_json(const std::string& text, uint64_t& generation,
                                                    std::string& error, StateSource* source = nullptr);

}  // namespace anylb
