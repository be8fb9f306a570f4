// The Host: TCP sockets and Boost.Asio coroutines around the sans-I/O layers. This is the
// only translation unit of the module that includes Asio (slow to compile).
//
// Life of a connection:
//   accept/connect → multistream(/noise) → Noise XX → multistream(/yamux/1.0.0) → Yamux
//   → read loop (decrypt → yamux.receive → stream events) + write loop (one writer).
// Streams: one coroutine per stream, woken through a per-stream timer used as a signal.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "p2p/codec.h"
#include "p2p/crypto.h"
#include "p2p/gossipsub.h"
#include "p2p/identify.h"
#include "p2p/multistream.h"
#include "p2p/noise.h"
#include "p2p/yamux.h"

namespace aethel::p2p {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <typename T>
using Task = asio::awaitable<T>;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunkBytes = 64 * 1024;
// Bytes a finished stream may still receive before we stop draining it.
constexpr std::size_t kMaxDrainBytes = 64 * 1024;
constexpr std::uint32_t kDrainTimeoutMs = 5'000;

Multiaddr endpoint_to_multiaddr(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string text = (address.is_v4() ? "/ip4/" : "/ip6/") + address.to_string() + "/tcp/" +
                           std::to_string(endpoint.port());
  auto parsed = Multiaddr::parse(text);
  return parsed.ok() ? parsed.value() : Multiaddr::parse("/ip4/0.0.0.0/tcp/0").value();
}
}  // namespace

// ---------------------------------------------------------------------------------------
// A stream as the coroutines see it.
struct StreamState {
  StreamState(const asio::any_io_executor& executor, std::uint32_t stream_id)
      : id(stream_id), signal(executor) {}
  std::uint32_t id;
  Bytes unread;  // bytes already counted as consumed, returned before new data
  Bytes inbox;   // received, not yet consumed
  bool remote_closed = false;
  bool reset = false;
  asio::steady_timer signal;

  void notify() { signal.cancel(); }
  Task<void> wait() {
    signal.expires_at(asio::steady_timer::time_point::max());
    co_await signal.async_wait(kNoThrow);
  }
};

// ---------------------------------------------------------------------------------------
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Host::Impl> host, tcp::socket socket, bool is_client)
      : host_(std::move(host)),
        socket_(std::move(socket)),
        is_client_(is_client),
        handshake_deadline_(socket_.get_executor()),
        yamux_(is_client, YamuxConfig{kYamuxInitialWindowBytes, 0}) {}

  tcp::socket& socket() { return socket_; }
  bool is_client() const { return is_client_; }
  bool closed() const { return closed_; }
  const PeerId& remote() const { return *remote_; }
  const Multiaddr& remote_addr() const { return remote_addr_; }

  void arm_handshake_deadline(std::uint32_t timeout_ms) {
    handshake_deadline_.expires_after(std::chrono::milliseconds(timeout_ms));
    handshake_deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->upgraded_) self->close("handshake timed out");
    });
  }

  // Runs the full upgrade; on success the connection is ready for streams.
  Task<Status> upgrade(const KeyPair& identity, std::optional<PeerId> expected,
                       std::size_t max_streams);
  void start_read_loop();

  std::shared_ptr<StreamState> create_stream(Status& status);
  // Proposes `protocols` in order of preference; returns the one the peer accepted.
  Task<Result<std::string>> negotiate_outbound(std::shared_ptr<StreamState> stream,
                                               std::vector<std::string> protocols);
  Task<Result<std::string>> negotiate_inbound(std::shared_ptr<StreamState> stream,
                                              std::function<bool(std::string_view)> supports);
  // Data from the stream; empty Bytes at end of stream; Error when reset/closed.
  Task<Result<Bytes>> read_some(std::shared_ptr<StreamState> stream);
  Task<Result<Bytes>> read_exact(std::shared_ptr<StreamState> stream, std::size_t count);
  Task<Result<Bytes>> read_message(std::shared_ptr<StreamState> stream, std::size_t max_bytes);
  Task<Status> write(std::shared_ptr<StreamState> stream, Bytes data);
  void close_write(const std::shared_ptr<StreamState>& stream);
  void reset(const std::shared_ptr<StreamState>& stream);
  // Closes our side, waits (bounded) for the peer to close theirs, then forgets the stream.
  Task<void> finish(std::shared_ptr<StreamState> stream);

  // Sends Yamux go-away, then closes once it is written.
  void shutdown();
  void close(const std::string& reason);

 private:
  Task<Result<Bytes>> read_raw();
  Task<Status> write_raw(Bytes bytes);
  Task<void> read_loop();
  Task<void> write_loop();
  void flush();
  void dispatch(std::vector<YamuxEvent> events);

  std::shared_ptr<Host::Impl> host_;
  tcp::socket socket_;
  bool is_client_;
  asio::steady_timer handshake_deadline_;
  bool upgraded_ = false;
  bool closed_ = false;
  bool writing_ = false;
  bool close_after_flush_ = false;
  std::optional<PeerId> remote_;
  Multiaddr remote_addr_;
  NoiseTransport transport_;
  YamuxSession yamux_;
  Bytes yamux_leftover_;
  Bytes outbox_;
  std::map<std::uint32_t, std::shared_ptr<StreamState>> streams_;
};

// ---------------------------------------------------------------------------------------
class Host::Impl : public std::enable_shared_from_this<Host::Impl> {
 public:
  Impl(asio::io_context& io_context, HostConfig host_config)
      : io(io_context),
        config(std::move(host_config)),
        self_id(PeerId::from_public_key(config.key.public_key())),
        router(config.key, gossipsub_config(config.gossip), std::random_device{}()),
        heartbeat_timer(io_context) {
    if (!config.log) config.log = [](std::string_view line) { std::cerr << line << '\n'; };
  }

  static GossipsubConfig gossipsub_config(const GossipConfig& gossip) {
    GossipsubConfig result;
    result.d = gossip.d;
    result.d_low = gossip.d_low;
    result.d_high = gossip.d_high;
    result.heartbeat_interval_ms = gossip.heartbeat_interval_ms;
    return result;
  }

  void log(const std::string& line) const { config.log(line); }

  std::vector<std::string> protocols() const {
    std::vector<std::string> list{std::string(kIdentifyProtocolId), std::string(kPingProtocolId),
                                  std::string(kMeshsub11), std::string(kMeshsub10)};
    for (const auto& [protocol, handler] : handlers) list.push_back(protocol);
    return list;
  }
  bool supports(std::string_view protocol) const {
    return protocol == kIdentifyProtocolId || protocol == kPingProtocolId ||
           protocol == kMeshsub11 || protocol == kMeshsub10 ||
           handlers.contains(std::string(protocol));
  }

  std::shared_ptr<Connection> connection_to(const PeerId& peer) const {
    auto it = connections.find(peer);
    if (it == connections.end()) return nullptr;
    for (const auto& connection : it->second) {
      if (!connection->closed()) return connection;
    }
    return nullptr;
  }

  std::size_t connection_count() const {
    std::size_t count = handshaking;
    for (const auto& [peer, list] : connections) count += list.size();
    return count;
  }

  void connection_ready(const std::shared_ptr<Connection>& connection);
  void connection_closed(const std::shared_ptr<Connection>& connection);
  Task<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor);
  Task<void> dial(std::string host, std::uint16_t port, std::optional<PeerId> expected,
                  ConnectCallback done);
  Task<void> upgrade_and_run(std::shared_ptr<Connection> connection, std::optional<PeerId> expected,
                             ConnectCallback done);
  Task<void> serve_stream(std::shared_ptr<Connection> connection,
                          std::shared_ptr<StreamState> stream);
  Task<void> serve_ping(std::shared_ptr<Connection> connection,
                        std::shared_ptr<StreamState> stream);
  Task<void> serve_request(std::shared_ptr<Connection> connection,
                           std::shared_ptr<StreamState> stream, std::string protocol);
  Task<void> identify_peer(std::shared_ptr<Connection> connection);
  Task<void> do_ping(PeerId peer, PingCallback done);
  Task<void> do_request(PeerId peer, std::string protocol, Bytes request, ResponseCallback done);
  Bytes identify_message_for(const Connection& connection) const;

  // Gossipsub glue: one outbound stream per peer for our RPCs, inbound streams read.
  struct PubsubPeer {
    std::shared_ptr<Connection> connection;
    std::shared_ptr<StreamState> stream;  // set once negotiated
    std::deque<Bytes> queue;              // framed RPCs waiting for the stream
    bool writing = false;
  };
  void start_pubsub(const std::shared_ptr<Connection>& connection);
  Task<void> open_pubsub_stream(std::shared_ptr<Connection> connection);
  Task<void> serve_pubsub(std::shared_ptr<Connection> connection,
                          std::shared_ptr<StreamState> stream);
  Task<void> pubsub_writer(PeerId peer);
  Task<void> heartbeat_loop();
  void process(GossipsubOutput& out);
  void enqueue_rpc(const PeerId& peer, const PubsubRpc& rpc);

  // Runs `stream`'s reset after `timeout_ms` unless `done` is set first.
  void arm_stream_deadline(const std::shared_ptr<Connection>& connection,
                           const std::shared_ptr<StreamState>& stream, std::uint32_t timeout_ms,
                           std::shared_ptr<bool> done);

  template <typename Callback, typename Value>
  void deliver(const Callback& callback, Value&& value) const {
    if (!stopped && callback) callback(std::forward<Value>(value));
  }

  asio::io_context& io;
  HostConfig config;
  PeerId self_id;
  bool started = false;
  bool stopped = false;
  std::size_t handshaking = 0;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::vector<Multiaddr> bound_addrs;
  std::map<PeerId, std::vector<std::shared_ptr<Connection>>> connections;
  std::map<PeerId, PeerInfo> infos;
  std::map<std::string, RequestHandler> handlers;
  std::vector<PeerCallback> connected_callbacks;
  std::vector<PeerCallback> disconnected_callbacks;
  std::vector<IdentifyCallback> identified_callbacks;
  GossipsubRouter router;
  asio::steady_timer heartbeat_timer;
  std::map<PeerId, PubsubPeer> pubsub_peers;
  std::map<std::string, std::vector<MessageCallback>> topic_callbacks;
};

// ---------------------------------------------------------------------------------------
// Connection: upgrade.

Task<Result<Bytes>> Connection::read_raw() {
  Bytes buffer(kReadChunkBytes);
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer), kNoThrow);
  if (ec) {
    co_return Error{"connection_closed", ec == asio::error::eof
                                             ? std::string("connection closed by peer")
                                             : "read failed: " + ec.message()};
  }
  buffer.resize(n);
  co_return buffer;
}

Task<Status> Connection::write_raw(Bytes bytes) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), kNoThrow);
  (void)n;
  if (ec) co_return Error{"write_failed", "write failed: " + ec.message()};
  co_return Status{};
}

Task<Status> Connection::upgrade(const KeyPair& identity, std::optional<PeerId> expected,
                                 std::size_t max_streams) {
  boost::system::error_code endpoint_error;
  const auto endpoint = socket_.remote_endpoint(endpoint_error);
  if (endpoint_error) co_return Error{"handshake_failed", "socket has no remote endpoint"};
  remote_addr_ = endpoint_to_multiaddr(endpoint);

  // 1. multistream-select /noise in plaintext.
  Bytes leftover;
  if (is_client_) {
    MultistreamDialer dialer({std::string(kNoiseProtocolId)});
    if (auto w = co_await write_raw(dialer.start()); !w) co_return w;
    while (!dialer.done()) {
      auto data = co_await read_raw();
      if (!data) co_return data.error();
      auto out = dialer.receive(data.value());
      if (!out) co_return out.error();
      if (!out->empty()) {
        if (auto w = co_await write_raw(out.value()); !w) co_return w;
      }
    }
    leftover = dialer.take_leftover();
  } else {
    MultistreamListener listener([](std::string_view p) { return p == kNoiseProtocolId; });
    if (auto w = co_await write_raw(listener.start()); !w) co_return w;
    while (!listener.done()) {
      auto data = co_await read_raw();
      if (!data) co_return data.error();
      auto out = listener.receive(data.value());
      if (!out) co_return out.error();
      if (!out->empty()) {
        if (auto w = co_await write_raw(out.value()); !w) co_return w;
      }
    }
    leftover = listener.take_leftover();
  }

  // 2. Noise XX.
  NoiseHandshake handshake(is_client_ ? NoiseRole::kInitiator : NoiseRole::kResponder, identity,
                           std::move(expected));
  NoiseFrameReader frames;
  frames.feed(leftover);
  while (!handshake.complete()) {
    if (handshake.should_write()) {
      auto message = handshake.write_message();
      if (!message) co_return message.error();
      Bytes framed;
      append_noise_frame(framed, message.value());
      if (auto w = co_await write_raw(std::move(framed)); !w) co_return w;
      continue;
    }
    auto frame = frames.next();
    if (!frame) {
      auto data = co_await read_raw();
      if (!data) co_return data.error();
      frames.feed(data.value());
      continue;
    }
    if (auto read = handshake.read_message(*frame); !read) co_return read;
  }
  remote_ = handshake.remote_peer();
  transport_ = handshake.transport();

  // 3. multistream-select /yamux/1.0.0 inside Noise.
  Bytes plaintext;
  if (auto d = transport_.decrypt(frames.take_rest(), plaintext); !d) co_return d;
  auto send_encrypted = [this](const Bytes& bytes) -> Task<Status> {
    Bytes wire;
    transport_.encrypt(bytes, wire);
    co_return co_await write_raw(std::move(wire));
  };
  auto receive_decrypted = [this]() -> Task<Result<Bytes>> {
    auto data = co_await read_raw();
    if (!data) co_return data.error();
    Bytes out;
    if (auto d = transport_.decrypt(data.value(), out); !d) co_return d.error();
    co_return out;
  };
  if (is_client_) {
    MultistreamDialer dialer({std::string(kYamuxProtocolId)});
    if (auto w = co_await send_encrypted(dialer.start()); !w) co_return w;
    Bytes input = std::move(plaintext);
    while (true) {
      auto out = dialer.receive(input);
      if (!out) co_return out.error();
      if (!out->empty()) {
        if (auto w = co_await send_encrypted(out.value()); !w) co_return w;
      }
      if (dialer.done()) break;
      auto more = co_await receive_decrypted();
      if (!more) co_return more.error();
      input = std::move(more.value());
    }
    yamux_leftover_ = dialer.take_leftover();
  } else {
    MultistreamListener listener([](std::string_view p) { return p == kYamuxProtocolId; });
    if (auto w = co_await send_encrypted(listener.start()); !w) co_return w;
    Bytes input = std::move(plaintext);
    while (true) {
      auto out = listener.receive(input);
      if (!out) co_return out.error();
      if (!out->empty()) {
        if (auto w = co_await send_encrypted(out.value()); !w) co_return w;
      }
      if (listener.done()) break;
      auto more = co_await receive_decrypted();
      if (!more) co_return more.error();
      input = std::move(more.value());
    }
    yamux_leftover_ = listener.take_leftover();
  }
  yamux_ = YamuxSession(is_client_, YamuxConfig{kYamuxInitialWindowBytes, max_streams});
  upgraded_ = true;
  handshake_deadline_.cancel();
  co_return Status{};
}

// ---------------------------------------------------------------------------------------
// Connection: the running session.

void Connection::start_read_loop() {
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()]() { return self->read_loop(); },
      asio::detached);
}

Task<void> Connection::read_loop() {
  auto self = shared_from_this();
  Bytes pending = std::exchange(yamux_leftover_, {});
  while (!closed_) {
    if (!pending.empty()) {
      auto received = yamux_.receive(pending);
      dispatch(yamux_.take_events());
      flush();
      if (!received) {
        close(received.error().message);
        break;
      }
    }
    auto data = co_await read_raw();
    if (closed_) break;
    if (!data) {
      close(data.error().message);
      break;
    }
    pending.clear();
    if (auto d = transport_.decrypt(data.value(), pending); !d) {
      close(d.error().message);
      break;
    }
  }
}

void Connection::dispatch(std::vector<YamuxEvent> events) {
  for (auto& event : events) {
    auto it = streams_.find(event.stream_id);
    const bool known = it != streams_.end();
    switch (event.kind) {
      case YamuxEvent::Kind::kStreamOpened: {
        auto stream = std::make_shared<StreamState>(socket_.get_executor(), event.stream_id);
        streams_[event.stream_id] = stream;
        asio::co_spawn(
            socket_.get_executor(),
            [host = host_, self = shared_from_this(), stream]() {
              return host->serve_stream(self, stream);
            },
            asio::detached);
        break;
      }
      case YamuxEvent::Kind::kData:
        if (known) {
          it->second->inbox.insert(it->second->inbox.end(), event.data.begin(), event.data.end());
          it->second->notify();
        } else {
          yamux_.consumed(event.stream_id, static_cast<std::uint32_t>(event.data.size()));
        }
        break;
      case YamuxEvent::Kind::kRemoteClosed:
        if (known) {
          it->second->remote_closed = true;
          it->second->notify();
        }
        break;
      case YamuxEvent::Kind::kReset:
        if (known) {
          it->second->reset = true;
          it->second->notify();
          streams_.erase(it);
        }
        break;
      case YamuxEvent::Kind::kWritable:
        if (known) it->second->notify();
        break;
      case YamuxEvent::Kind::kPingAck:
        break;
      case YamuxEvent::Kind::kGoAway:
        close("peer sent go-away (code " + std::to_string(event.value) + ")");
        return;
    }
  }
}

void Connection::flush() {
  if (closed_) return;
  if (yamux_.has_output()) transport_.encrypt(yamux_.take_output(), outbox_);
  if (writing_ || outbox_.empty()) return;
  writing_ = true;
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()]() { return self->write_loop(); },
      asio::detached);
}

Task<void> Connection::write_loop() {
  auto self = shared_from_this();
  while (!outbox_.empty() && !closed_) {
    Bytes chunk = std::exchange(outbox_, {});
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(chunk), kNoThrow);
    (void)n;
    if (ec) {
      close("write failed: " + ec.message());
      break;
    }
  }
  writing_ = false;
  if (close_after_flush_ && !closed_) close("closed locally");
}

void Connection::shutdown() {
  if (closed_) return;
  if (!upgraded_) {
    close("closed locally");
    return;
  }
  yamux_.go_away(0);
  close_after_flush_ = true;
  flush();
  if (!writing_) close("closed locally");
}

void Connection::close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  handshake_deadline_.cancel();
  for (auto& [id, stream] : streams_) {
    stream->reset = true;
    stream->notify();
  }
  streams_.clear();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (upgraded_) {
    host_->log("[P2P] Connection to " + remote_->to_base58() + " closed: " + reason);
    host_->connection_closed(shared_from_this());
  }
}

std::shared_ptr<StreamState> Connection::create_stream(Status& status) {
  if (closed_) {
    status = Error{"not_connected", "connection is closed"};
    return nullptr;
  }
  auto id = yamux_.open_stream();
  if (!id) {
    status = id.error();
    return nullptr;
  }
  auto stream = std::make_shared<StreamState>(socket_.get_executor(), id.value());
  streams_[id.value()] = stream;
  flush();
  status = Status{};
  return stream;
}

Task<Result<Bytes>> Connection::read_some(std::shared_ptr<StreamState> stream) {
  if (!stream->unread.empty()) co_return std::exchange(stream->unread, {});
  while (stream->inbox.empty() && !stream->remote_closed && !stream->reset && !closed_) {
    co_await stream->wait();
  }
  if (!stream->inbox.empty()) {
    Bytes data = std::exchange(stream->inbox, {});
    yamux_.consumed(stream->id, static_cast<std::uint32_t>(data.size()));
    flush();
    co_return data;
  }
  if (stream->reset || closed_) co_return Error{"stream_reset", "stream reset"};
  co_return Bytes{};
}

Task<Result<Bytes>> Connection::read_exact(std::shared_ptr<StreamState> stream, std::size_t count) {
  Bytes out;
  while (out.size() < count) {
    auto data = co_await read_some(stream);
    if (!data) co_return data.error();
    if (data->empty()) co_return Error{"stream_ended", "stream ended early"};
    out.insert(out.end(), data->begin(), data->end());
  }
  if (out.size() > count) {
    stream->unread.assign(out.begin() + static_cast<std::ptrdiff_t>(count), out.end());
    out.resize(count);
  }
  co_return out;
}

Task<Result<Bytes>> Connection::read_message(std::shared_ptr<StreamState> stream,
                                             std::size_t max_bytes) {
  LengthPrefixedReader reader(max_bytes);
  reader.feed(std::exchange(stream->unread, {}));
  while (true) {
    auto message = reader.next();
    if (!message) co_return message.error();
    if (message.value()) {
      stream->unread = reader.take_rest();
      co_return std::move(*message.value());
    }
    auto data = co_await read_some(stream);
    if (!data) co_return data.error();
    if (data->empty()) co_return Error{"stream_ended", "stream ended before a complete message"};
    reader.feed(data.value());
  }
}

Task<Status> Connection::write(std::shared_ptr<StreamState> stream, Bytes data) {
  ByteView rest(data);
  while (!rest.empty()) {
    if (stream->reset || closed_) co_return Error{"stream_reset", "stream reset"};
    if (!yamux_.can_send(stream->id)) co_return Error{"stream_closed", "stream closed for writing"};
    const std::size_t taken = yamux_.send(stream->id, rest);
    rest = rest.subspan(taken);
    flush();
    if (!rest.empty()) co_await stream->wait();
  }
  co_return Status{};
}

void Connection::close_write(const std::shared_ptr<StreamState>& stream) {
  if (closed_) return;
  yamux_.close_write(stream->id);
  flush();
}

void Connection::reset(const std::shared_ptr<StreamState>& stream) {
  stream->reset = true;
  stream->notify();
  streams_.erase(stream->id);
  if (closed_) return;
  yamux_.reset(stream->id);
  flush();
}

Task<void> Connection::finish(std::shared_ptr<StreamState> stream) {
  close_write(stream);
  asio::steady_timer deadline(socket_.get_executor());
  deadline.expires_after(std::chrono::milliseconds(kDrainTimeoutMs));
  deadline.async_wait([stream](boost::system::error_code ec) {
    if (!ec) {
      stream->reset = true;
      stream->notify();
    }
  });
  std::size_t drained = 0;
  while (drained <= kMaxDrainBytes) {
    auto data = co_await read_some(stream);
    if (!data || data->empty()) break;
    drained += data->size();
  }
  deadline.cancel();
  if (!stream->reset && !yamux_.remote_closed(stream->id)) {
    reset(stream);
  } else {
    streams_.erase(stream->id);
  }
}

Task<Result<std::string>> Connection::negotiate_outbound(std::shared_ptr<StreamState> stream,
                                                         std::vector<std::string> protocols) {
  MultistreamDialer dialer(std::move(protocols));
  if (auto w = co_await write(stream, dialer.start()); !w) co_return w.error();
  while (!dialer.done()) {
    auto data = co_await read_some(stream);
    if (!data) co_return data.error();
    if (data->empty()) co_return Error{"stream_ended", "stream closed during protocol negotiation"};
    auto out = dialer.receive(data.value());
    if (!out) co_return out.error();
    if (!out->empty()) {
      if (auto w = co_await write(stream, out.value()); !w) co_return w.error();
    }
  }
  stream->unread = dialer.take_leftover();
  co_return dialer.selected();
}

Task<Result<std::string>> Connection::negotiate_inbound(
    std::shared_ptr<StreamState> stream, std::function<bool(std::string_view)> supports) {
  MultistreamListener listener(std::move(supports));
  if (auto w = co_await write(stream, listener.start()); !w) co_return w.error();
  while (!listener.done()) {
    auto data = co_await read_some(stream);
    if (!data) co_return data.error();
    if (data->empty()) co_return Error{"stream_ended", "stream closed during protocol negotiation"};
    auto out = listener.receive(data.value());
    if (!out) co_return out.error();
    if (!out->empty()) {
      if (auto w = co_await write(stream, out.value()); !w) co_return w.error();
    }
  }
  stream->unread = listener.take_leftover();
  co_return listener.selected();
}

// ---------------------------------------------------------------------------------------
// Host::Impl

void Host::Impl::connection_ready(const std::shared_ptr<Connection>& connection) {
  auto& list = connections[connection->remote()];
  const bool first = list.empty();
  list.push_back(connection);
  if (first) {
    log("[P2P] Peer connected: " + connection->remote().to_base58() + " (" +
        connection->remote_addr().to_string() + ")");
    for (const auto& callback : connected_callbacks) deliver(callback, connection->remote());
  }
}

void Host::Impl::connection_closed(const std::shared_ptr<Connection>& connection) {
  auto it = connections.find(connection->remote());
  if (it == connections.end()) return;
  std::erase(it->second, connection);
  if (!it->second.empty()) return;
  const PeerId peer = it->first;
  connections.erase(it);
  infos.erase(peer);
  router.remove_peer(peer);
  if (auto pubsub = pubsub_peers.find(peer); pubsub != pubsub_peers.end()) {
    if (pubsub->second.stream) pubsub->second.stream->notify();
    pubsub_peers.erase(pubsub);
  }
  log("[P2P] Peer disconnected: " + peer.to_base58());
  for (const auto& callback : disconnected_callbacks) deliver(callback, peer);
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
    socket.set_option(tcp::no_delay(true));
    auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket), false);
    asio::co_spawn(
        io, [self, connection]() { return self->upgrade_and_run(connection, std::nullopt, {}); },
        asio::detached);
  }
}

Task<void> Host::Impl::upgrade_and_run(std::shared_ptr<Connection> connection,
                                       std::optional<PeerId> expected, ConnectCallback done) {
  auto self = shared_from_this();
  ++handshaking;
  connection->arm_handshake_deadline(config.limits.handshake_timeout_ms);
  auto upgraded = co_await connection->upgrade(config.key, std::move(expected),
                                               config.limits.max_streams_per_connection);
  --handshaking;
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
  co_await identify_peer(connection);
}

Task<void> Host::Impl::dial(std::string host, std::uint16_t port, std::optional<PeerId> expected,
                            ConnectCallback done) {
  auto self = shared_from_this();
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
  auto connection = std::make_shared<Connection>(shared_from_this(), tcp::socket(io), true);
  ++handshaking;
  connection->arm_handshake_deadline(config.limits.handshake_timeout_ms);
  auto [connect_error, endpoint] =
      co_await asio::async_connect(connection->socket(), endpoints, kNoThrow);
  (void)endpoint;
  --handshaking;
  if (connect_error || connection->closed()) {
    const std::string why = connect_error ? connect_error.message() : "timed out";
    connection->close(why);
    deliver(done, Result<PeerId>(Error{"connect_failed", "cannot connect to " + host + ":" +
                                                             std::to_string(port) + ": " + why}));
    co_return;
  }
  boost::system::error_code ignored;
  connection->socket().set_option(tcp::no_delay(true), ignored);
  co_await upgrade_and_run(connection, std::move(expected), std::move(done));
}

Bytes Host::Impl::identify_message_for(const Connection& connection) const {
  IdentifyMessage message;
  message.protocol_version = std::string(kIdentifyProtocolVersion);
  message.agent_version = config.agent_version;
  message.public_key = config.key.public_key().to_protobuf();
  for (const auto& address : bound_addrs) message.listen_addrs.push_back(address.to_bytes());
  message.observed_addr = connection.remote_addr().to_bytes();
  message.protocols = protocols();
  Bytes framed;
  append_length_prefixed(framed, encode_identify(message));
  return framed;
}

void Host::Impl::arm_stream_deadline(const std::shared_ptr<Connection>& connection,
                                     const std::shared_ptr<StreamState>& stream,
                                     std::uint32_t timeout_ms, std::shared_ptr<bool> done) {
  auto timer = std::make_shared<asio::steady_timer>(io);
  timer->expires_after(std::chrono::milliseconds(timeout_ms));
  // Weak references: a pending deadline must not keep a finished stream or a closed
  // connection alive.
  std::weak_ptr<Connection> weak_connection = connection;
  std::weak_ptr<StreamState> weak_stream = stream;
  timer->async_wait([timer, weak_connection, weak_stream, done](boost::system::error_code ec) {
    auto live_connection = weak_connection.lock();
    auto live_stream = weak_stream.lock();
    if (!ec && !*done && live_connection && live_stream) live_connection->reset(live_stream);
  });
}

Task<void> Host::Impl::serve_stream(std::shared_ptr<Connection> connection,
                                    std::shared_ptr<StreamState> stream) {
  auto self = shared_from_this();
  auto finished = std::make_shared<bool>(false);
  arm_stream_deadline(connection, stream, config.limits.request_timeout_ms, finished);
  // Built outside the co_await expression: g++ 12 destroys a capturing lambda created
  // inside a co_await expression twice.
  std::function<bool(std::string_view)> supports_protocol = [self](std::string_view p) {
    return self->supports(p);
  };
  auto protocol = co_await connection->negotiate_inbound(stream, supports_protocol);
  if (!protocol) {
    *finished = true;
    connection->reset(stream);
    co_return;
  }
  if (protocol.value() == kIdentifyProtocolId) {
    auto written = co_await connection->write(stream, identify_message_for(*connection));
    *finished = true;
    if (written) co_await connection->finish(stream);
    co_return;
  }
  if (protocol.value() == kMeshsub11 || protocol.value() == kMeshsub10) {
    *finished = true;  // long-lived: one RPC stream per peer and direction
    co_await serve_pubsub(connection, stream);
    co_return;
  }
  if (protocol.value() == kPingProtocolId) {
    *finished = true;  // ping streams may live long; each read is bounded by the peer
    co_await serve_ping(connection, stream);
    co_return;
  }
  co_await serve_request(connection, stream, protocol.value());
  *finished = true;
}

Task<void> Host::Impl::serve_ping(std::shared_ptr<Connection> connection,
                                  std::shared_ptr<StreamState> stream) {
  while (!connection->closed()) {
    auto payload = co_await connection->read_exact(stream, kPingPayloadBytes);
    if (!payload) break;
    if (!co_await connection->write(stream, std::move(payload.value()))) break;
  }
  co_await connection->finish(stream);
}

Task<void> Host::Impl::serve_request(std::shared_ptr<Connection> connection,
                                     std::shared_ptr<StreamState> stream, std::string protocol) {
  auto request = co_await connection->read_message(stream, config.limits.max_message_bytes);
  if (!request) {
    log("[P2P] Bad request on " + protocol + " from " + connection->remote().to_base58() + ": " +
        request.error().message);
    connection->reset(stream);
    co_return;
  }
  auto handler = handlers.find(protocol);
  if (handler == handlers.end() || stopped) {
    connection->reset(stream);
    co_return;
  }
  auto response = handler->second(connection->remote(), std::move(request.value()));
  if (!response || response->size() > config.limits.max_message_bytes) {
    connection->reset(stream);
    co_return;
  }
  Bytes framed;
  append_length_prefixed(framed, response.value());
  if (co_await connection->write(stream, std::move(framed))) co_await connection->finish(stream);
}

Task<void> Host::Impl::identify_peer(std::shared_ptr<Connection> connection) {
  auto self = shared_from_this();
  Status status;
  auto stream = connection->create_stream(status);
  if (!stream) co_return;
  auto finished = std::make_shared<bool>(false);
  arm_stream_deadline(connection, stream, config.limits.request_timeout_ms, finished);
  std::vector<std::string> identify_protocol{std::string(kIdentifyProtocolId)};
  auto negotiated = co_await connection->negotiate_outbound(stream, identify_protocol);
  if (!negotiated) {
    *finished = true;
    connection->reset(stream);
    co_return;
  }
  auto message = co_await connection->read_message(stream, kMaxIdentifyBytes);
  *finished = true;
  if (!message) {
    log("[P2P] Identify of " + connection->remote().to_base58() +
        " failed: " + message.error().message);
    connection->reset(stream);
    co_return;
  }
  co_await connection->finish(stream);
  auto decoded = decode_identify(message.value());
  if (!decoded) {
    log("[P2P] Identify of " + connection->remote().to_base58() + ": " + decoded.error().message);
    co_return;
  }
  auto info = identify_to_peer_info(connection->remote(), decoded.value());
  if (!info) {
    log("[P2P] Identify of " + connection->remote().to_base58() + ": " + info.error().message);
    connection->close(info.error().message);
    co_return;
  }
  if (connection->closed()) co_return;
  infos.insert_or_assign(connection->remote(), info.value());
  for (const auto& callback : identified_callbacks) deliver(callback, info.value());
  const auto& protocols = info->protocols;
  if (std::find(protocols.begin(), protocols.end(), kMeshsub11) != protocols.end() ||
      std::find(protocols.begin(), protocols.end(), kMeshsub10) != protocols.end()) {
    start_pubsub(connection);
  }
}

// ---- gossipsub glue ----

void Host::Impl::start_pubsub(const std::shared_ptr<Connection>& connection) {
  if (stopped || pubsub_peers.contains(connection->remote())) return;
  pubsub_peers[connection->remote()].connection = connection;
  asio::co_spawn(
      io,
      [self = shared_from_this(), connection]() { return self->open_pubsub_stream(connection); },
      asio::detached);
}

Task<void> Host::Impl::open_pubsub_stream(std::shared_ptr<Connection> connection) {
  auto self = shared_from_this();
  const PeerId peer = connection->remote();
  Status status;
  auto stream = connection->create_stream(status);
  if (!stream) co_return;
  std::vector<std::string> versions{std::string(kMeshsub11), std::string(kMeshsub10)};
  auto negotiated = co_await connection->negotiate_outbound(stream, versions);
  if (!negotiated) {
    connection->reset(stream);
    log("[P2P] Gossipsub stream to " + peer.to_base58() + " failed: " + negotiated.error().message);
    co_return;
  }
  auto it = pubsub_peers.find(peer);
  if (it == pubsub_peers.end() || it->second.connection != connection || stopped) {
    connection->reset(stream);
    co_return;
  }
  it->second.stream = stream;
  GossipsubOutput out;
  router.add_peer(peer, out);
  process(out);
  if (!it->second.queue.empty() && !it->second.writing) {
    it->second.writing = true;
    asio::co_spawn(
        io, [self, peer]() { return self->pubsub_writer(peer); }, asio::detached);
  }
}

Task<void> Host::Impl::serve_pubsub(std::shared_ptr<Connection> connection,
                                    std::shared_ptr<StreamState> stream) {
  auto self = shared_from_this();
  const PeerId peer = connection->remote();
  start_pubsub(connection);  // replies need our outbound stream
  while (!connection->closed() && !stopped) {
    auto message = co_await connection->read_message(stream, kMaxRpcBytes);
    if (!message) break;
    auto rpc = decode_pubsub_rpc(message.value());
    if (!rpc) {
      log("[P2P] Bad gossipsub RPC from " + peer.to_base58() + ": " + rpc.error().message);
      break;
    }
    if (stopped) break;
    GossipsubOutput out;
    router.handle_rpc(peer, rpc.value(), out);
    process(out);
  }
  connection->reset(stream);
}

void Host::Impl::enqueue_rpc(const PeerId& peer, const PubsubRpc& rpc) {
  auto it = pubsub_peers.find(peer);
  if (it == pubsub_peers.end()) return;
  auto& state = it->second;
  if (state.queue.size() >= config.gossip.max_queued_rpcs_per_peer) state.queue.pop_front();
  Bytes framed;
  append_length_prefixed(framed, encode_pubsub_rpc(rpc));
  state.queue.push_back(std::move(framed));
  if (state.stream && !state.writing) {
    state.writing = true;
    asio::co_spawn(
        io, [self = shared_from_this(), peer]() { return self->pubsub_writer(peer); },
        asio::detached);
  }
}

Task<void> Host::Impl::pubsub_writer(PeerId peer) {
  auto self = shared_from_this();
  while (true) {
    auto it = pubsub_peers.find(peer);
    if (it == pubsub_peers.end()) co_return;
    auto& state = it->second;
    if (state.queue.empty() || !state.stream) {
      state.writing = false;
      co_return;
    }
    // Coalesce queued RPCs into one write.
    Bytes batch;
    while (!state.queue.empty() && batch.size() < 256 * 1024) {
      batch.insert(batch.end(), state.queue.front().begin(), state.queue.front().end());
      state.queue.pop_front();
    }
    auto connection = state.connection;
    auto stream = state.stream;
    auto written = co_await connection->write(stream, std::move(batch));
    if (!written) {
      auto again = pubsub_peers.find(peer);
      if (again != pubsub_peers.end()) again->second.writing = false;
      co_return;
    }
  }
}

void Host::Impl::process(GossipsubOutput& out) {
  for (const auto& [peer, rpc] : out.send) enqueue_rpc(peer, rpc);
  for (const auto& message : out.deliver) {
    auto callbacks = topic_callbacks.find(message.topic);
    if (callbacks == topic_callbacks.end()) continue;
    auto author = PeerId::from_bytes(message.from);
    if (!author) continue;
    for (const auto& callback : callbacks->second) {
      if (!stopped && callback) callback(author.value(), message.data);
    }
  }
}

Task<void> Host::Impl::heartbeat_loop() {
  auto self = shared_from_this();
  while (!stopped) {
    heartbeat_timer.expires_after(std::chrono::milliseconds(config.gossip.heartbeat_interval_ms));
    auto [ec] = co_await heartbeat_timer.async_wait(kNoThrow);
    if (ec || stopped) break;
    GossipsubOutput out;
    router.heartbeat(out);
    process(out);
  }
}

Task<void> Host::Impl::do_ping(PeerId peer, PingCallback done) {
  auto self = shared_from_this();
  auto connection = connection_to(peer);
  if (!connection) {
    deliver(done, Result<double>(Error{"not_connected", "not connected to " + peer.to_base58()}));
    co_return;
  }
  Status status;
  auto stream = connection->create_stream(status);
  if (!stream) {
    deliver(done, Result<double>(status.error()));
    co_return;
  }
  auto finished = std::make_shared<bool>(false);
  arm_stream_deadline(connection, stream, config.limits.request_timeout_ms, finished);
  std::vector<std::string> ping_protocol{std::string(kPingProtocolId)};
  auto negotiated = co_await connection->negotiate_outbound(stream, ping_protocol);
  if (!negotiated) {
    *finished = true;
    connection->reset(stream);
    deliver(done,
            Result<double>(Error{"protocol_not_supported", "ping: " + negotiated.error().message}));
    co_return;
  }
  Bytes payload(kPingPayloadBytes);
  random_bytes(payload);
  const auto start = std::chrono::steady_clock::now();
  auto written = co_await connection->write(stream, payload);
  Result<Bytes> echoed = Error{"write_failed", "ping: write failed"};
  if (written) echoed = co_await connection->read_exact(stream, kPingPayloadBytes);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  *finished = true;
  if (!echoed || echoed.value() != payload) {
    connection->reset(stream);
    deliver(done, Result<double>(Error{"bad_ping", echoed ? std::string("ping: echo does not match")
                                                          : "ping: " + echoed.error().message}));
    co_return;
  }
  co_await connection->finish(stream);
  deliver(done, Result<double>(std::chrono::duration<double, std::milli>(elapsed).count()));
}

Task<void> Host::Impl::do_request(PeerId peer, std::string protocol, Bytes request,
                                  ResponseCallback done) {
  auto self = shared_from_this();
  auto connection = connection_to(peer);
  if (!connection) {
    deliver(done, Result<Bytes>(Error{"not_connected", "not connected to " + peer.to_base58()}));
    co_return;
  }
  Status status;
  auto stream = connection->create_stream(status);
  if (!stream) {
    deliver(done, Result<Bytes>(status.error()));
    co_return;
  }
  auto finished = std::make_shared<bool>(false);
  arm_stream_deadline(connection, stream, config.limits.request_timeout_ms, finished);
  std::vector<std::string> request_protocol{protocol};
  auto negotiated = co_await connection->negotiate_outbound(stream, request_protocol);
  Result<Bytes> response = Error{"internal", "unreachable"};
  if (!negotiated) {
    response = negotiated.error();
  } else {
    Bytes framed;
    append_length_prefixed(framed, request);
    auto written = co_await connection->write(stream, std::move(framed));
    if (!written) {
      response = written.error();
    } else {
      connection->close_write(stream);
      response = co_await connection->read_message(stream, config.limits.max_message_bytes);
    }
  }
  *finished = true;
  if (response) {
    co_await connection->finish(stream);
  } else {
    connection->reset(stream);
    response = Error{response.error().code, protocol + " request to " + peer.to_base58() + ": " +
                                                response.error().message};
  }
  deliver(done, std::move(response));
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
  asio::co_spawn(
      impl_->io, [impl = impl_]() { return impl->heartbeat_loop(); }, asio::detached);
  for (const auto& address : impl_->config.listen_addrs) {
    auto endpoint = address.tcp_endpoint();
    if (!endpoint)
      return Error{"bad_listen_addr",
                   "cannot listen on " + address.to_string() + ": not a TCP address"};
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(endpoint->first, ec);
    if (ec)
      return Error{"bad_listen_addr",
                   "cannot listen on " + address.to_string() + ": needs an IP address"};
    auto acceptor = std::make_shared<tcp::acceptor>(impl_->io);
    const tcp::endpoint bind_to(ip, endpoint->second);
    acceptor->open(bind_to.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(bind_to, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Error{"listen_failed",
                   "cannot listen on " + address.to_string() + ": " + ec.message()};
    const Multiaddr bound = endpoint_to_multiaddr(acceptor->local_endpoint());
    impl_->bound_addrs.push_back(bound);
    impl_->acceptors.push_back(acceptor);
    impl_->log("[P2P] Listening on " + bound.with_peer_id(impl_->self_id).to_string());
    asio::co_spawn(
        impl_->io, [impl = impl_, acceptor]() { return impl->accept_loop(acceptor); },
        asio::detached);
  }
  return {};
}

void Host::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto& acceptor : impl_->acceptors) {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  }
  // Forget the connections first (breaking the Impl ↔ Connection ownership cycle); each
  // still sends its go-away if the io_context keeps running.
  impl_->heartbeat_timer.cancel();
  impl_->pubsub_peers.clear();
  auto connections = std::exchange(impl_->connections, {});
  impl_->infos.clear();
  for (auto& [peer, list] : connections) {
    for (auto& connection : list) connection->shutdown();
  }
}

const PeerId& Host::peer_id() const {
  return impl_->self_id;
}
std::vector<Multiaddr> Host::listen_addrs() const {
  return impl_->bound_addrs;
}

void Host::connect(const Multiaddr& address, ConnectCallback done) {
  auto endpoint = address.tcp_endpoint();
  if (!endpoint) {
    asio::post(impl_->io, [done, text = address.to_string()] {
      done(Error{"bad_multiaddr", "cannot dial " + text + ": not a TCP multiaddr"});
    });
    return;
  }
  const auto expected = address.peer_id();
  if (expected && impl_->connection_to(*expected)) {
    asio::post(impl_->io, [done, peer = *expected] { done(peer); });
    return;
  }
  asio::co_spawn(
      impl_->io,
      [impl = impl_, host = endpoint->first, port = endpoint->second, expected, done]() {
        return impl->dial(host, port, expected, done);
      },
      asio::detached);
}

void Host::disconnect(const PeerId& peer) {
  auto it = impl_->connections.find(peer);
  if (it == impl_->connections.end()) return;
  auto list = it->second;
  for (auto& connection : list) connection->shutdown();
}

std::vector<PeerId> Host::connected_peers() const {
  std::vector<PeerId> peers;
  for (const auto& [peer, list] : impl_->connections) peers.push_back(peer);
  return peers;
}

std::optional<PeerInfo> Host::peer_info(const PeerId& peer) const {
  auto it = impl_->infos.find(peer);
  if (it == impl_->infos.end()) return std::nullopt;
  return it->second;
}

void Host::ping(const PeerId& peer, PingCallback done) {
  asio::co_spawn(
      impl_->io, [impl = impl_, peer, done]() { return impl->do_ping(peer, done); },
      asio::detached);
}

void Host::set_request_handler(const std::string& protocol_id, RequestHandler handler) {
  impl_->handlers[protocol_id] = std::move(handler);
}

void Host::request(const PeerId& peer, const std::string& protocol_id, Bytes request,
                   ResponseCallback done) {
  asio::co_spawn(
      impl_->io,
      [impl = impl_, peer, protocol_id, request = std::move(request), done]() mutable {
        return impl->do_request(peer, protocol_id, std::move(request), done);
      },
      asio::detached);
}

void Host::on_peer_connected(PeerCallback callback) {
  impl_->connected_callbacks.push_back(std::move(callback));
}
void Host::on_peer_disconnected(PeerCallback callback) {
  impl_->disconnected_callbacks.push_back(std::move(callback));
}
void Host::on_peer_identified(IdentifyCallback callback) {
  impl_->identified_callbacks.push_back(std::move(callback));
}

std::vector<std::string> Host::protocols() const {
  return impl_->protocols();
}

void Host::subscribe(const std::string& topic, MessageCallback on_message) {
  impl_->topic_callbacks[topic].push_back(std::move(on_message));
  GossipsubOutput out;
  impl_->router.subscribe(topic, out);
  impl_->process(out);
}

Status Host::publish(const std::string& topic, Bytes data) {
  GossipsubOutput out;
  auto published = impl_->router.publish(topic, std::move(data), out);
  impl_->process(out);
  return published;
}

std::vector<PeerId> Host::mesh_peers(const std::string& topic) const {
  auto peers = impl_->router.mesh_peers(topic);
  return {peers.begin(), peers.end()};
}

std::vector<PeerId> Host::topic_peers(const std::string& topic) const {
  auto peers = impl_->router.topic_peers(topic);
  return {peers.begin(), peers.end()};
}

}  // namespace aethel::p2p
