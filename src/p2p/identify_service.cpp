#include "p2p/identify_service.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "p2p/codec.h"
#include "p2p/connection.h"
#include "p2p/host_impl.h"
#include "p2p/identify.h"

namespace aethel::p2p {

IdentifyService::IdentifyService(Host::Impl& host) : host_(host) {
  host_.handle(std::string(kIdentifyProtocolId),
               [this](std::shared_ptr<Stream> stream, std::string) { return serve(stream); });
}

std::optional<PeerInfo> IdentifyService::info(const PeerId& peer) const {
  auto it = infos_.find(peer);
  if (it == infos_.end()) return std::nullopt;
  return it->second;
}

Bytes IdentifyService::message_for(const Connection& connection) const {
  IdentifyMessage message;
  message.protocol_version = std::string(kIdentifyProtocolVersion);
  message.agent_version = host_.config.agent_version;
  message.public_key = host_.config.key.public_key().to_protobuf();
  for (const auto& address : host_.bound_addrs) message.listen_addrs.push_back(address.to_bytes());
  message.observed_addr = connection.remote_addr().to_bytes();
  message.protocols = host_.protocols();
  return encode_identify(message);
}

Task<void> IdentifyService::serve(std::shared_ptr<Stream> stream) {
  auto keep = host_.shared_from_this();
  auto connection = stream->connection();
  if (!connection) co_return;
  const Bytes message = message_for(*connection);
  Status written;
  {
    StreamDeadline deadline(stream, host_.config.limits.request_timeout_ms);
    written = co_await stream->write_message(message);
  }
  if (written) co_await stream->finish();
}

void IdentifyService::identify(const std::shared_ptr<Connection>& connection) {
  asio::co_spawn(
      host_.io,
      [this, keep = host_.shared_from_this(), connection]() { return run_identify(connection); },
      asio::detached);
}

Task<void> IdentifyService::run_identify(std::shared_ptr<Connection> connection) {
  const std::string peer = connection->remote().to_base58();
  auto message = co_await fetch(connection);
  if (!message) {
    host_.log("[P2P] Identify of " + peer + " failed: " + message.error().message);
    co_return;
  }
  auto decoded = decode_identify(message.value());
  if (!decoded) {
    host_.log("[P2P] Identify of " + peer + ": " + decoded.error().message);
    co_return;
  }
  auto info = identify_to_peer_info(connection->remote(), decoded.value());
  if (!info) {
    host_.log("[P2P] Identify of " + peer + ": " + info.error().message);
    connection->close(info.error().message);
    co_return;
  }
  if (connection->closed() || host_.stopped) co_return;
  identified(connection, info.value());
}

// One identify exchange on a stream of its own, bounded by the request timeout.
Task<Result<Bytes>> IdentifyService::fetch(std::shared_ptr<Connection> connection) {
  const auto deadline = host_.deadline_after(host_.config.limits.request_timeout_ms);
  std::vector<std::string> protocol{std::string(kIdentifyProtocolId)};
  auto stream = co_await host_.open_stream(connection, protocol, deadline);
  if (!stream) co_return stream.error();
  Result<Bytes> message = Error{"timeout", ""};
  {
    StreamDeadline bound(stream.value(), deadline);
    message = co_await stream.value()->read_message(kMaxIdentifyBytes);
  }
  if (message) {
    co_await stream.value()->finish();
  } else {
    stream.value()->reset();
  }
  co_return message;
}

void IdentifyService::identified(const std::shared_ptr<Connection>& connection,
                                 const PeerInfo& info) {
  infos_.insert_or_assign(connection->remote(), info);
  for (const auto& callback : callbacks) host_.deliver(callback, info);
  host_.pubsub.peer_identified(connection, info);
}

}  // namespace aethel::p2p
