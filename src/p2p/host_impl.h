// Host::Impl: the connections of a Host and the protocol handler map. Each protocol lives
// in its own service (ping, identify, request/response, pubsub, channels) that registers
// its protocol IDs here; an inbound stream is negotiated once (negotiate.h) against the
// map and handed to the registered handler. Internal to the module.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "p2p/channel_service.h"
#include "p2p/identify_service.h"
#include "p2p/ping_service.h"
#include "p2p/pubsub_service.h"
#include "p2p/request_service.h"
#include "p2p/stream.h"

namespace aethel::p2p {

class Connection;

class Host::Impl : public std::enable_shared_from_this<Host::Impl> {
 public:
  // Serves one inbound stream after its protocol was negotiated.
  using StreamHandler =
      std::function<Task<void>(std::shared_ptr<Stream> stream, std::string protocol)>;
  using Deadline = std::chrono::steady_clock::time_point;

  Impl(asio::io_context& io_context, HostConfig host_config);

  void log(const std::string& line) const { config.log(line); }
  Deadline deadline_after(std::uint32_t timeout_ms) const {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }

  // The handler map: one entry per protocol ID this host answers.
  void handle(const std::string& protocol, StreamHandler handler);
  bool supports(std::string_view protocol) const;
  std::vector<std::string> protocols() const;

  // An open connection to `peer`, whoever dialed it; null if none.
  std::shared_ptr<Connection> connection_to(const PeerId& peer) const;
  // Opens a stream on `connection` and negotiates one of `protocols` as the dialer
  // (the stream is reset with code "timeout" at `deadline`).
  Task<Result<std::shared_ptr<Stream>>> open_stream(std::shared_ptr<Connection> connection,
                                                    std::vector<std::string> protocols,
                                                    Deadline deadline);
  // The same on whichever connection exists to `peer` ("not_connected" if none).
  Task<Result<std::shared_ptr<Stream>>> open_stream(PeerId peer, std::vector<std::string> protocols,
                                                    Deadline deadline);
  Task<void> serve_stream(std::shared_ptr<Stream> stream);

  // Connections.
  Status listen(const Multiaddr& address);
  void dial(const Multiaddr& address, ConnectCallback done);
  void connection_ready(const std::shared_ptr<Connection>& connection);
  void connection_closed(const std::shared_ptr<Connection>& connection);
  void stop();

  // Runs `callback(value)` unless the host was stopped (no callback runs after stop()).
  template <typename Callback, typename Value>
  void deliver(const Callback& callback, Value&& value) const {
    if (!stopped && callback) callback(std::forward<Value>(value));
  }

  asio::io_context& io;
  HostConfig config;
  PeerId self_id;
  bool started = false;
  bool stopped = false;
  std::vector<Multiaddr> bound_addrs;
  std::map<PeerId, std::vector<std::shared_ptr<Connection>>> connections;
  std::vector<PeerCallback> connected_callbacks;
  std::vector<PeerCallback> disconnected_callbacks;

 private:
  std::size_t connection_count() const;
  Task<void> accept_loop(std::shared_ptr<asio::ip::tcp::acceptor> acceptor);
  Task<void> run_dial(std::string host, std::uint16_t port, std::optional<PeerId> expected,
                      ConnectCallback done);
  Task<void> upgrade_and_run(std::shared_ptr<Connection> connection, std::optional<PeerId> expected,
                             ConnectCallback done);

  std::size_t handshaking_ = 0;
  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::map<std::string, StreamHandler> handlers_;

 public:
  // The protocols (after handlers_: they register in their constructors).
  PingService ping;
  IdentifyService identify;
  RequestService requests;
  PubsubService pubsub;
  ChannelService channels;
};

}  // namespace aethel::p2p
