#include "p2p/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include "p2p/host_impl.h"
#include "p2p/negotiate.h"

namespace aethel::p2p {

namespace {
constexpr std::size_t kReadChunkBytes = 64 * 1024;
// Bytes a writer hands to Yamux per turn (Yamux data frames are at most 64 KiB anyway).
constexpr std::size_t kWriteChunkBytes = 64 * 1024;
// Writers wait while this much is encrypted but not yet written to the socket.
constexpr std::size_t kOutboxHighWaterBytes = 256 * 1024;
// Unsent bytes the kernel keeps per socket before it reports "would block".
constexpr int kNotSentLowWaterBytes = 128 * 1024;

// The one protocol of an upgrade step, as whichever side this connection is.
Task<Result<Negotiated>> negotiate_one(ByteStream& stream, bool as_dialer, std::string protocol) {
  if (as_dialer) {
    std::vector<std::string> proposals{protocol};
    co_return co_await negotiate_dialer(stream, std::move(proposals));
  }
  std::function<bool(std::string_view)> supports = [protocol](std::string_view proposed) {
    return proposed == protocol;
  };
  co_return co_await negotiate_listener(stream, std::move(supports));
}
}  // namespace

Multiaddr endpoint_to_multiaddr(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string text = (address.is_v4() ? "/ip4/" : "/ip6/") + address.to_string() + "/tcp/" +
                           std::to_string(endpoint.port());
  auto parsed = Multiaddr::parse(text);
  return parsed.ok() ? parsed.value() : Multiaddr::parse("/ip4/0.0.0.0/tcp/0").value();
}

// The TCP socket before the upgrade.
class Connection::SocketBytes final : public ByteStream {
 public:
  explicit SocketBytes(Connection& connection) : connection_(connection) {}
  Task<Result<Bytes>> read_some() override { return connection_.read_raw(); }
  Task<Status> write_all(ByteView bytes) override { return connection_.write_raw(bytes); }

 private:
  Connection& connection_;
};

// The Noise session before Yamux runs on it. `pending` is plaintext already decrypted.
class Connection::NoiseBytes final : public ByteStream {
 public:
  NoiseBytes(Connection& connection, Bytes pending)
      : connection_(connection), pending_(std::move(pending)) {}

  Task<Result<Bytes>> read_some() override {
    if (!pending_.empty()) co_return std::exchange(pending_, {});
    while (true) {
      auto wire = co_await connection_.read_raw();
      if (!wire) co_return wire.error();
      Bytes plaintext;
      if (auto d = connection_.transport_.decrypt(wire.value(), plaintext); !d) co_return d.error();
      if (!plaintext.empty()) co_return plaintext;
    }
  }
  Task<Status> write_all(ByteView bytes) override {
    Bytes wire;
    connection_.transport_.encrypt(bytes, wire);
    co_return co_await connection_.write_raw(wire);
  }

 private:
  Connection& connection_;
  Bytes pending_;
};

Connection::Connection(std::shared_ptr<Host::Impl> host, tcp::socket socket, bool is_client)
    : host_(std::move(host)),
      socket_(std::move(socket)),
      is_client_(is_client),
      handshake_deadline_(socket_.get_executor()),
      yamux_(is_client, YamuxConfig{kYamuxInitialWindowBytes, 0}) {}

void Connection::tune_socket() {
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
#ifdef TCP_NOTSENT_LOWAT
  // A short kernel queue keeps a small frame from waiting behind megabytes of a bulk one.
  const int low_water = kNotSentLowWaterBytes;
  (void)::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &low_water,
                     sizeof low_water);
#endif
}

void Connection::arm_handshake_deadline(std::uint32_t timeout_ms) {
  handshake_deadline_.expires_after(std::chrono::milliseconds(timeout_ms));
  handshake_deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->upgraded_) self->close("handshake timed out");
  });
}

// ---------------------------------------------------------------------------------------
// The upgrade.

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

Task<Status> Connection::write_raw(ByteView bytes) {
  auto [ec, n] =
      co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), kNoThrow);
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
  auto leftover = co_await negotiate_security();
  if (!leftover) co_return leftover.error();
  auto plaintext = co_await noise_handshake(identity, std::move(expected), leftover.value());
  if (!plaintext) co_return plaintext.error();
  auto muxer = co_await negotiate_muxer(std::move(plaintext.value()));
  if (!muxer) co_return muxer;
  yamux_ = YamuxSession(is_client_, YamuxConfig{kYamuxInitialWindowBytes, max_streams});
  upgraded_ = true;
  handshake_deadline_.cancel();
  co_return Status{};
}

// multistream-select /noise in plaintext; returns what the peer sent after it.
Task<Result<Bytes>> Connection::negotiate_security() {
  SocketBytes raw(*this);
  auto negotiated = co_await negotiate_one(raw, is_client_, std::string(kNoiseProtocolId));
  if (!negotiated) co_return negotiated.error();
  co_return std::move(negotiated->leftover);
}

// Noise XX; returns the plaintext of transport frames that arrived with the last message.
Task<Result<Bytes>> Connection::noise_handshake(const KeyPair& identity,
                                                std::optional<PeerId> expected, Bytes received) {
  NoiseHandshake handshake(is_client_ ? NoiseRole::kInitiator : NoiseRole::kResponder, identity,
                           std::move(expected));
  NoiseFrameReader frames;
  frames.feed(received);
  while (!handshake.complete()) {
    if (handshake.should_write()) {
      auto message = handshake.write_message();
      if (!message) co_return message.error();
      Bytes framed;
      append_noise_frame(framed, message.value());
      if (auto w = co_await write_raw(framed); !w) co_return w.error();
      continue;
    }
    auto frame = frames.next();
    if (!frame) {
      auto data = co_await read_raw();
      if (!data) co_return data.error();
      frames.feed(data.value());
      continue;
    }
    if (auto read = handshake.read_message(*frame); !read) co_return read.error();
  }
  remote_ = handshake.remote_peer();
  transport_ = handshake.transport();
  Bytes plaintext;
  if (auto d = transport_.decrypt(frames.take_rest(), plaintext); !d) co_return d.error();
  co_return plaintext;
}

// multistream-select /yamux/1.0.0 inside Noise.
Task<Status> Connection::negotiate_muxer(Bytes plaintext) {
  NoiseBytes session(*this, std::move(plaintext));
  auto negotiated = co_await negotiate_one(session, is_client_, std::string(kYamuxProtocolId));
  if (!negotiated) co_return negotiated.error();
  yamux_leftover_ = std::move(negotiated->leftover);
  co_return Status{};
}

// ---------------------------------------------------------------------------------------
// The running session.

void Connection::start_read_loop() {
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()]() { return self->read_loop(); },
      asio::detached);
}

Task<void> Connection::read_loop() {
  auto self = shared_from_this();
  Bytes pending = std::exchange(yamux_leftover_, {});
  Bytes buffer(kReadChunkBytes);
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
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer), kNoThrow);
    if (closed_) break;
    if (ec) {
      close(ec == asio::error::eof ? std::string("connection closed by peer")
                                   : "read failed: " + ec.message());
      break;
    }
    pending.clear();
    if (auto d = transport_.decrypt(ByteView(buffer).first(n), pending); !d) {
      close(d.error().message);
      break;
    }
  }
}

void Connection::dispatch(std::vector<YamuxEvent> events) {
  for (auto& event : events) {
    if (closed_) return;
    const std::uint32_t id = event.stream_id;
    if (event.kind == YamuxEvent::Kind::kGoAway) {
      close("peer sent go-away (code " + std::to_string(event.value) + ")");
      return;
    }
    if (event.kind == YamuxEvent::Kind::kStreamOpened) {
      stream_opened(id);
      continue;
    }
    auto it = streams_.find(id);
    if (it == streams_.end()) {
      // Data for a stream we no longer read: give the window back so the peer is not stuck.
      if (event.kind == YamuxEvent::Kind::kData) yamux_.consumed(id, event.data.size());
      continue;
    }
    const std::shared_ptr<Stream> stream = it->second;
    switch (event.kind) {
      case YamuxEvent::Kind::kData:
        stream->on_data(event.data);
        break;
      case YamuxEvent::Kind::kRemoteClosed:
        stream->on_remote_closed();
        forget_if_finished(id);
        break;
      case YamuxEvent::Kind::kReset:
        streams_.erase(it);
        stream->on_reset("stream_reset");
        break;
      case YamuxEvent::Kind::kWritable:
        stream->notify();
        break;
      default:
        break;
    }
  }
}

void Connection::stream_opened(std::uint32_t stream_id) {
  auto stream =
      std::make_shared<Stream>(weak_from_this(), *remote_, stream_id, socket_.get_executor());
  streams_[stream_id] = stream;
  asio::co_spawn(
      socket_.get_executor(), [host = host_, stream]() { return host->serve_stream(stream); },
      asio::detached);
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
    in_flight_bytes_ = chunk.size();
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(chunk), kNoThrow);
    (void)n;
    in_flight_bytes_ = 0;
    if (ec) {
      close("write failed: " + ec.message());
      break;
    }
    wake_outbox_waiters();
  }
  writing_ = false;
  if (close_after_flush_ && !closed_) close("closed locally");
}

void Connection::wake_outbox_waiters() {
  if (outbox_.size() >= kOutboxHighWaterBytes) return;
  for (const auto& waiter : std::exchange(outbox_waiters_, {})) {
    if (auto stream = waiter.lock()) stream->notify();
  }
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
  outbox_waiters_.clear();
  for (auto& [id, stream] : std::exchange(streams_, {})) stream->on_reset("connection_closed");
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (upgraded_) {
    host_->log("[P2P] Connection to " + remote_->to_base58() + " closed: " + reason);
    host_->connection_closed(shared_from_this());
  }
}

// ---------------------------------------------------------------------------------------
// Streams.

Result<std::shared_ptr<Stream>> Connection::open_stream() {
  if (closed_) return Error{"not_connected", "connection is closed"};
  auto id = yamux_.open_stream();
  if (!id) return id.error();
  auto stream =
      std::make_shared<Stream>(weak_from_this(), *remote_, id.value(), socket_.get_executor());
  streams_[id.value()] = stream;
  flush();
  return stream;
}

void Connection::consumed(std::uint32_t stream_id, std::size_t bytes) {
  if (closed_) return;
  yamux_.consumed(stream_id, static_cast<std::uint32_t>(bytes));
  flush();
}

Result<std::size_t> Connection::send_some(Stream& stream, ByteView data) {
  if (closed_) return Error{"connection_closed", "connection closed"};
  if (!yamux_.can_send(stream.id())) return Error{"stream_closed", "stream closed for writing"};
  if (outbox_.size() + in_flight_bytes_ >= kOutboxHighWaterBytes) {
    auto self = stream.weak_from_this();
    const bool queued =
        std::any_of(outbox_waiters_.begin(), outbox_waiters_.end(),
                    [&](const auto& w) { return !w.owner_before(self) && !self.owner_before(w); });
    if (!queued) outbox_waiters_.push_back(self);
    return std::size_t{0};
  }
  const std::size_t taken =
      yamux_.send(stream.id(), data.first(std::min(data.size(), kWriteChunkBytes)));
  flush();
  return taken;
}

void Connection::close_write(std::uint32_t stream_id) {
  if (closed_) return;
  yamux_.close_write(stream_id);
  flush();
  forget_if_finished(stream_id);
}

void Connection::reset_stream(std::uint32_t stream_id) {
  streams_.erase(stream_id);
  if (closed_) return;
  yamux_.reset(stream_id);
  flush();
}

void Connection::set_receive_window(std::uint32_t stream_id, std::uint32_t window_bytes) {
  if (closed_) return;
  yamux_.set_receive_window(stream_id, window_bytes);
  flush();
}

void Connection::forget_if_finished(std::uint32_t stream_id) {
  if (!yamux_.has_stream(stream_id)) streams_.erase(stream_id);
}

}  // namespace aethel::p2p
