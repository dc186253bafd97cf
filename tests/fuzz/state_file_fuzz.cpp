// libFuzzer: the dataplane's state file (state_file.hpp) from arbitrary
// text. It promises an error, never an exception, for whatever it is
// given; a state it accepts is valid, and written back and read again it
// is the same state (the file a restart restores is the one written).
#include <cstddef>
#include <cstdint>
#include <string>

#include "state_file.hpp"

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace anylb;
  const std::string text(reinterpret_cast<const char*>(data), size);
  uint64_t generation = 0;
  std::string error;
  StateSource source = StateSource::options;
  const auto state = desired_state_from_json(text, generation, error, &source);
  if (!state) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  FUZZ_CHECK(validate_desired_state(*state).empty());
  const std::string written = desired_state_to_json(*state, generation, source);
  uint64_t generation2 = 0;
  StateSource source2 = StateSource::options;
  const auto again = desired_state_from_json(written, generation2, error, &source2);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(generation2 == generation && source2 == source);
  FUZZ_CHECK(desired_state_to_json(*again, generation2, source2) == written);
  return 0;
}
