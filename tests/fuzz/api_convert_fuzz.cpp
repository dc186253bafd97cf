// libFuzzer: the dataplane API's messages to the core's types
// (api_convert.hpp), from arbitrary protobuf bytes as a client could send
// them. Byte 0 picks the message: an ApplyStateRequest's state (the
// dataplane's ApplyState), a TraceRequest's flow (Trace), or a
// GetStateResponse's state (what anylbctl converts). A bad field is an
// error naming its path, never an exception; what converts is valid, and
// converted back and again it is the same state or flow; a valid state
// builds into a forwarding state.
#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "api_convert.hpp"
#include "state_builder.hpp"
#include "state_file.hpp"

#include "fuzz_check.hpp"

namespace {

// Protobuf logs every string field that is not UTF-8 as it parses: 12 MB
// in a 200 s run, all of it about the fuzzer's own bytes.
const bool quiet = [] {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return true;
}();

void check_state(const anylb::pb::DesiredState& in) {
  using namespace anylb;
  std::string error;
  const auto state = from_proto(in, error);
  if (!state) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  // What the dataplane checks next (ControlState::check) may still refuse
  // it; the conversion round trip must hold either way. A state it takes
  // builds (small Maglev tables: the build, not their size, is the point).
  if (validate_desired_state(*state).empty()) {
    StateLimits limits;
    limits.maglev_size = 251;
    StateBuilder builder(limits);
    const auto built = builder.build(*state, 1, 0, error);
    FUZZ_CHECK(built != nullptr);
  }
  pb::DesiredState out;
  to_proto(*state, out);
  const auto again = from_proto(out, error);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(desired_state_to_json(*again, 1) == desired_state_to_json(*state, 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace anylb;
  if (size < 1) return 0;
  const uint8_t* body = data + 1;
  const int len = static_cast<int>(size - 1);
  switch (data[0] % 3) {
    case 0: {
      pb::ApplyStateRequest req;
      if (req.ParseFromArray(body, len)) check_state(req.state());
      break;
    }
    case 1: {
      pb::TraceRequest req;
      if (!req.ParseFromArray(body, len)) break;
      std::string error;
      const auto key = from_proto(req.flow(), "flow", error);
      if (!key) {
        FUZZ_CHECK(error.rfind("flow", 0) == 0);  // named by its path
        break;
      }
      pb::FiveTuple out;
      to_proto(*key, out);
      const auto again = from_proto(out, "flow", error);
      FUZZ_CHECK(again && *again == *key);
      break;
    }
    default: {
      pb::GetStateResponse resp;
      if (resp.ParseFromArray(body, len)) check_state(resp.state());
      break;
    }
  }
  return 0;
}
