// The largest message either API (anylb.dataplane.v1, anylb.v1) carries,
// set on both ends of every channel and server (grpc/api_channel.hpp),
// and the most backends and services the dataplane takes (its options),
// so that every state it can hold goes through them. gRPC's default of 4 MiB
// received is about 30k backends of one GetState, under a service's
// documented most (65534, kMaglevMaxBackends).
//
// Worst case per entry, protobuf wire sizes (tag + length + bytes), with a
// 63-character service name, a 45-character address (INET6_ADDRSTRLEN - 1),
// a 17-character MAC, a weight of 10000, 64-bit counters at their largest:
//   DesiredState.backends[]   2+63 + 2+45 + 2+17 + 3 + 2 = 136, +3 framing  = 139 B
//   DesiredState.services[]   2+63 + 2+45 + 2 + 4 + 2 + 2 + 4 = 126, +2     = 128 B
//   GetState                  backends twice (state + unresolved)           = 278 B a backend
//   GetCounters               backend 139 + counters 35, +3                 = 177 B a backend
//                             service 128 + counters 35, +3                 = 166 B a service
//   anylb.v1 ListServices     backend 142 + health detail 3+256, +3         = 404 B a backend
//                             service 130, +3 + announced 2, +5             = 140 B a service
//   anylb.v1 GetStats/Health  at most 177 / 389 B a backend
// At the dataplane's most, kApiMaxBackends pairs and kApiMaxServices
// services (its --max-backends and --max-services):
//   GetState      1e6 * 278 + 1e6 * 128 = 406 MB
//   GetCounters   1e6 * 177 + 1e6 * 166 = 343 MB
//   ListServices  1e6 * 404 + 1e6 * 140 = 544 MB, the largest
// (a probe's detail, "status 503, expected 200", taken as at most 256 B).
// 1 GiB (1074 MB) leaves about twice that, under protobuf's hard 2 GiB.
// ListFlows pages are at most 10000 flows of 238 B: 2.4 MB.
// A message is allocated at its own size, never at the limit. (The
// earlier --max-backends bound, 16M, was 2.2 GB of DesiredState: past
// what protobuf can carry at all.)
#pragma once

#include <cstdint>

namespace anylb {

inline constexpr uint32_t kApiMaxBackends = 1'000'000;  // --max-backends' most
inline constexpr uint32_t kApiMaxServices = 1'000'000;  // --max-services' most
inline constexpr int kApiMaxMessageBytes = 1 << 30;

}  // namespace anylb
