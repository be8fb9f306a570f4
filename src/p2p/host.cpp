// The Host: listening, dialing, the connection table and the protocol handler map. The
// protocols themselves live in their services (ping_service.cpp, identify_service.cpp,
// request_service.cpp, pubsub_service.cpp, channel_service.cpp); the connection and its
// streams in connection.cpp and stream.cpp.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <iostream>

#include "p2p/connection.h"
#include "p2p/host_impl.h"
#include "p2p/negotiate.h"

namespace aethel::p2p {

Host::Impl::Impl(asio::io_context& io_context, HostConfig host_config)
    : io(io_context),
      config(std::move(host_config)),
      self_id(PeerId::from_public_key(config.key.public_key())),
      ping(*this),
      identify(*this),
      requests(*this),
      pubsub(*this, config),
      channels(*this) {
  if (!config.log) config.log = [](std::string_view line) { std::cerr << line << '\n'; };
}

// ---------------------------------------------------------------------------------------
// The handler map and streams.

void Host::Impl::handle(const std::string& protocol, StreamHandler handler) {
  handlers_[protocol] = std::move(handler);
}

bool Host::Impl::supports(std::string_view protocol) const {
  return handlers_.contains(std::string(protocol));
}

std::vector<std::string> Host::Impl::protocols() const {
  std::vector<std::string> list;
  for (const auto& [protocol, handler] : handlers_) list.push_back(protocol);
  return list;
}

std::shared_ptr<Connection> Host::Impl::connection_to(const PeerId& peer) const {
  auto it = connections.find(peer);
  if (it == connections.end()) return nullptr;
  for (const auto& connection : it->second) {
    if (!connection->closed()) return connection;
  }
  return nullptr;
}

Task<Result<std::shared_ptr<Stream>>> Host::Impl::open_stream(
    std::shared_ptr<Connection> connection, std::vector<std::string> protocols, Deadline deadline) {
  auto stream = connection->open_stream();
  if (!stream) co_return stream.error();
  Result<Negotiated> negotiated = Error{"timeout", "protocol negotiation timed out"};
  {
    StreamDeadline bound(stream.value(), deadline);
    negotiated = co_await negotiate_dialer(*stream.value(), std::move(protocols));
  }
  if (!negotiated) {
    stream.value()->reset();
    co_return negotiated.error();
  }
  stream.value()->unread(std::move(negotiated->leftover));
  co_return stream.value();
}

Task<Result<std::shared_ptr<Stream>>> Host::Impl::open_stream(PeerId peer,
                                                              std::vector<std::string> protocols,
                                                              Deadline deadline) {
  auto connection = connection_to(peer);
  if (!connection) co_return Error{"not_connected", "not connected to " + peer.to_base58()};
  co_return co_await open_stream(std::move(connection), std::move(protocols), deadline);
}

// An inbound stream: negotiate against the handler map, then hand it to the handler.
Task<void> Host::Impl::serve_stream(std::shared_ptr<Stream> stream) {
  auto self = shared_from_this();
  // Built outside the co_await expression: g++ 12 destroys a capturing lambda created
  // inside a co_await expression twice.
  std::function<bool(std::string_view)> supported = [self](std::string_view protocol) {
    return self->supports(protocol);
  };
  Result<Negotiated> negotiated = Error{"timeout", "protocol negotiation timed out"};
  {
    StreamDeadline bound(stream, config.limits.request_timeout_ms);
    negotiated = co_await negotiate_listener(*stream, supported);
  }
  auto handler = negotiated ? handlers_.find(negotiated->protocol) : handlers_.end();
  if (!negotiated || stopped || handler == handlers_.end()) {
    stream->reset();
    co_return;
  }
  stream->unread(std::move(negotiated->leftover));
  const StreamHandler serve = handler->second;  // the map may change while it runs
  co_await serve(stream, negotiated->protocol);
}

// ---------------------------------------------------------------------------------------
// Connections.

std::size_t Host::Impl::connection_count() const {
  std::size_t count = handshaking_;
  for (const auto& [peer, list] : connections) count += list.size();
  return count;
}

void Host::Impl::connection_ready(const std::shared_ptr<Connection>& connection) {
  auto& list = connections[connection->remote()];
  const bool first = list.empty();
  list.push_back(connection);
  if (!first) return;
  log("[P2P] Peer connected: " + connection->remote().to_base58() + " (" +
      connection->remote_addr().to_string() + ")");
  for (const auto& callback : connected_callbacks) deliver(callback, connection->remote());
}

void Host::Impl::connection_closed(const std::shared_ptr<Connection>& connection) {
  auto it = connections.find(connection->remote());
  if (it == connections.end()) return;
  std::erase(it->second, connection);
  if (!it->second.empty()) return;
  const PeerId peer = it->first;
  connections.erase(it);
  identify.forget(peer);
  pubsub.peer_gone(peer);
  log("[P2P] Peer disconnected: " + peer.to_base58());
  for (const auto& callback : disconnected_callbacks) deliver(callback, peer);
}

Status Host::Impl::listen(const Multiaddr& address) {
  auto endpoint = address.tcp_endpoint();
  if (!endpoint) {
    return Error{"bad_listen_addr",
                 "cannot listen on " + address.to_string() + ": not a TCP address"};
  }
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(endpoint->first, ec);
  if (ec) {
    return Error{"bad_listen_addr",
                 "cannot listen on " + address.to_string() + ": needs an IP address"};
  }
  auto acceptor = std::make_shared<tcp::acceptor>(io);
  const tcp::endpoint bind_to(ip, endpoint->second);
  acceptor->open(bind_to.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(bind_to, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Error{"listen_failed", "cannot listen on " + address.to_string() + ": " + ec.message()};
  const Multiaddr bound = endpoint_to_multiaddr(acceptor->local_endpoint());
  bound_addrs.push_back(bound);
  acceptors_.push_back(acceptor);
  log("[P2P] Listening on " + bound.with_peer_id(self_id).to_string());
  asio::co_spawn(
      io, [self = shared_from_this(), acceptor]() { return self->accept_loop(acceptor); },
      asio::detached);
  return {};
}

Task<void> Host::Impl::accept_loop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  while (!stopped) {
    auto [ec, socket] = co_await acceptor->async_accept(kNoThrow);
    if (stopped || ec == asio::error::operation_aborted) break;
    if (ec) continue;
    if (connection_count() >= config.limits.max_connections) {
      log("[P2P] Refusing connection: limit of " + std::to_string(config.limits.max_connections) +
          " connections reached");
      continue;  // the socket closes when it goes out of scope
    }
    auto connection = std::make_shared<Connection>(self, std::move(socket), false);
    connection->tune_socket();
    asio::co_spawn(
        io, [self, connection]() { return self->upgrade_and_run(connection, std::nullopt, {}); },
        asio::detached);
  }
}

void Host::Impl::dial(const Multiaddr& address, ConnectCallback done) {
  auto endpoint = address.tcp_endpoint();
  if (!endpoint) {
    asio::post(io, [done, text = address.to_string()] {
      done(Error{"bad_multiaddr", "cannot dial " + text + ": not a TCP multiaddr"});
    });
    return;
  }
  const auto expected = address.peer_id();
  if (expected && connection_to(*expected)) {
    asio::post(io, [done, peer = *expected] { done(peer); });
    return;
  }
  asio::co_spawn(
      io,
      [self = shared_from_this(), host = endpoint->first, port = endpoint->second, expected,
       done]() { return self->run_dial(host, port, expected, done); },
      asio::detached);
}

Task<void> Host::Impl::run_dial(std::string host, std::uint16_t port,
                                std::optional<PeerId> expected, ConnectCallback done) {
  auto self = shared_from_this();
  const std::string target = host + ":" + std::to_string(port);
  tcp::resolver resolver(io);
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(host, std::to_string(port), kNoThrow);
  if (resolve_error) {
    deliver(done, Result<PeerId>(Error{"resolve_failed",
                                       "cannot resolve " + host + ": " + resolve_error.message()}));
    co_return;
  }
  if (connection_count() >= config.limits.max_connections) {
    deliver(done, Result<PeerId>(Error{"connection_limit", "connection limit reached"}));
    co_return;
  }
  auto connection = std::make_shared<Connection>(self, tcp::socket(io), true);
  ++handshaking_;
  connection->arm_handshake_deadline(config.limits.handshake_timeout_ms);
  auto [connect_error, endpoint] =
      co_await asio::async_connect(connection->socket(), endpoints, kNoThrow);
  (void)endpoint;
  --handshaking_;
  if (connect_error || connection->closed()) {
    const std::string why = connect_error ? connect_error.message() : "timed out";
    connection->close(why);
    deliver(done, Result<PeerId>(Error{connect_error ? "connect_failed" : "timeout",
                                       "cannot connect to " + target + ": " + why}));
    co_return;
  }
  connection->tune_socket();
  co_await upgrade_and_run(connection, std::move(expected), std::move(done));
}

Task<void> Host::Impl::upgrade_and_run(std::shared_ptr<Connection> connection,
                                       std::optional<PeerId> expected, ConnectCallback done) {
  auto self = shared_from_this();
  ++handshaking_;
  connection->arm_handshake_deadline(config.limits.handshake_timeout_ms);
  auto upgraded = co_await connection->upgrade(config.key, std::move(expected),
                                               config.limits.max_streams_per_connection);
  --handshaking_;
  if (!upgraded || connection->closed() || stopped) {
    const std::string why = !upgraded ? upgraded.error().message : "closed during handshake";
    log("[P2P] Handshake with " + connection->remote_addr().to_string() + " failed: " + why);
    connection->close(why);
    deliver(done, Result<PeerId>(Error{"handshake_failed", "handshake failed: " + why}));
    co_return;
  }
  if (connection->remote() == self_id) {
    log("[P2P] Refusing a connection to ourselves");
    connection->close("connection to self");
    deliver(done, Result<PeerId>(Error{"self_dial", "dialed our own peer ID"}));
    co_return;
  }
  connection_ready(connection);
  connection->start_read_loop();
  deliver(done, Result<PeerId>(connection->remote()));
  identify.identify(connection);
}

void Host::Impl::stop() {
  stopped = true;
  for (auto& acceptor : acceptors_) {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  }
  // Forget the connections first (breaking the Impl ↔ Connection ownership cycle); each
  // still sends its go-away if the io_context keeps running.
  pubsub.stop();
  channels.stop();
  identify.clear();
  for (auto& [peer, list] : std::exchange(connections, {})) {
    for (auto& connection : list) connection->shutdown();
  }
}

// ---------------------------------------------------------------------------------------
// Host

Host::Host(asio::io_context& io, HostConfig config)
    : impl_(std::make_shared<Impl>(io, std::move(config))) {}

Host::~Host() {
  stop();
}

Status Host::start() {
  if (impl_->started) return Error{"already_started", "host already started"};
  impl_->started = true;
  impl_->log("[P2P] Peer ID: " + impl_->self_id.to_base58());
  impl_->pubsub.start();
  for (const auto& address : impl_->config.listen_addrs) {
    if (auto listening = impl_->listen(address); !listening) return listening;
  }
  return {};
}

void Host::stop() {
  if (!impl_->stopped) impl_->stop();
}

const PeerId& Host::peer_id() const {
  return impl_->self_id;
}
std::vector<Multiaddr> Host::listen_addrs() const {
  return impl_->bound_addrs;
}

void Host::connect(const Multiaddr& address, ConnectCallback done) {
  impl_->dial(address, std::move(done));
}

void Host::disconnect(const PeerId& peer) {
  auto it = impl_->connections.find(peer);
  if (it == impl_->connections.end()) return;
  auto list = it->second;
  for (auto& connection : list) connection->shutdown();
}

void Host::drop(const PeerId& peer, const std::string& reason) {
  auto it = impl_->connections.find(peer);
  if (it == impl_->connections.end()) return;
  auto list = it->second;
  for (auto& connection : list) connection->close(reason);
}

std::vector<PeerId> Host::connected_peers() const {
  std::vector<PeerId> peers;
  for (const auto& [peer, list] : impl_->connections) peers.push_back(peer);
  return peers;
}

std::optional<PeerInfo> Host::peer_info(const PeerId& peer) const {
  return impl_->identify.info(peer);
}

void Host::ping(const PeerId& peer, PingCallback done) {
  impl_->ping.ping(peer, std::move(done));
}

void Host::set_request_handler(const std::string& protocol_id, RequestHandler handler) {
  impl_->requests.set_handler(protocol_id, std::move(handler));
}

void Host::request(const PeerId& peer, const std::string& protocol_id, Bytes request,
                   ResponseCallback done) {
  impl_->requests.request(peer, protocol_id, std::move(request), std::move(done));
}

Result<Channel> Host::open_channel(const PeerId& peer, const std::string& protocol_id,
                                   ChannelEvents events) {
  return impl_->channels.open(peer, protocol_id, std::move(events));
}

void Host::set_channel_handler(const std::string& protocol_id, ChannelAcceptor accept) {
  impl_->channels.set_acceptor(protocol_id, std::move(accept));
}

void Host::on_peer_connected(PeerCallback callback) {
  impl_->connected_callbacks.push_back(std::move(callback));
}
void Host::on_peer_disconnected(PeerCallback callback) {
  impl_->disconnected_callbacks.push_back(std::move(callback));
}
void Host::on_peer_identified(IdentifyCallback callback) {
  impl_->identify.callbacks.push_back(std::move(callback));
}

std::vector<std::string> Host::protocols() const {
  return impl_->protocols();
}

void Host::subscribe(const std::string& topic, MessageCallback on_message) {
  impl_->pubsub.subscribe(topic, std::move(on_message));
}

Status Host::publish(const std::string& topic, Bytes data) {
  return impl_->pubsub.publish(topic, std::move(data));
}

std::vector<PeerId> Host::mesh_peers(const std::string& topic) const {
  return impl_->pubsub.mesh_peers(topic);
}

std::vector<PeerId> Host::topic_peers(const std::string& topic) const {
  return impl_->pubsub.topic_peers(topic);
}

}  // namespace aethel::p2p
