// Channels and servers of both APIs, with the message limits of
// api_limits.hpp (dataplane/core/), where their arithmetic is.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "api_limits.hpp"

namespace anylb {

// A client channel that sends and receives the largest message.
// `creds`: none for a unix socket (insecure); TLS ones for TCP, with the
// name the server's certificate must carry if not the target's host.
inline std::shared_ptr<grpc::Channel> api_channel(const std::string& target,
                                                  std::shared_ptr<grpc::ChannelCredentials> creds = nullptr,
                                                  const std::string& server_name = "") {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kApiMaxMessageBytes);
  args.SetMaxSendMessageSize(kApiMaxMessageBytes);
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  return grpc::CreateCustomChannel(target, creds ? creds : grpc::InsecureChannelCredentials(), args);
}

// A server that sends the largest message, and receives it if `large_requests`
// (ApplyState); anylb.v1's requests are a few hundred bytes, so its server
// (also on TCP) keeps gRPC's 4 MiB for what it receives.
inline void api_message_limits(grpc::ServerBuilder& builder, bool large_requests) {
  builder.SetMaxSendMessageSize(kApiMaxMessageBytes);
  if (large_requests) builder.SetMaxReceiveMessageSize(kApiMaxMessageBytes);
}

}  // namespace anylb
