// The HTTP/1.1 server: Boost.Beast on C++20 coroutines, plain TCP or TLS.
//
// One coroutine per connection reads a request (header first, so the handler can
// set the body limit), hands it to the Handler and suspends until the Responder
// delivers the answer: no thread waits for a slow answer. The answer is posted to
// the connection's strand and wakes the coroutine through a timer that never
// expires by itself (cancelling it is the signal).
//
// Lifetimes: a Responder may outlive the server (a commit callback that fires when
// the node stops). The Gate, shared by the server and every Responder, says whether
// the io_context still runs; answers arriving after it closed are dropped.
//
// Streams (Responder::stream): the answer's head is written chunked, then the
// connection's coroutine becomes the stream's writer: it waits on the same wake
// timer for chunks queued by the application (Stream::State), writes them, and
// ends with the last chunk when the stream is closed. A second coroutine reads the
// raw socket only to notice a client that went away. Nothing else is read from a
// streaming connection. Its socket's send buffer (SO_SNDBUF) is set to the stream's
// max_queued_bytes, so that what a client that does not read holds up is bounded
// by about twice that (the kernel's buffer, then the queue) and it is cut then.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <map>
#include <sstream>
#include <thread>

#include "http/http.h"
#include "http/tls.h"

namespace aethel::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint32_t kWriteTimeout_ms = 30'000;
constexpr uint32_t kDrainTimeout_ms = 2'000;
constexpr uint32_t kTlsShutdownTimeout_ms = 1'000;
constexpr uint64_t kMaxDrainBytes = 64ull << 20;
// After a failed accept (out of file descriptors), wait this long before the next:
// retrying at once would spin on the same error.
constexpr uint32_t kAcceptBackoff_ms = 50;

using Millis = std::chrono::milliseconds;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Whether the io_context still runs, for Responders that outlive the server.
struct Gate {
  explicit Gate(const Handler& h) : handler(h) {}
  base::Mutex mutex;
  bool open GUARDED_BY(mutex) = true;
  const Handler& handler;  // valid while open
};

// The part of a connection that waits for an answer; not templated on the stream.
struct Exchange {
  explicit Exchange(asio::any_io_executor strand) : executor(strand), wake(strand) {}
  virtual ~Exchange() = default;
  virtual void cancel_io() = 0;     // ends a pending read (graceful shutdown of idle connections)
  virtual void close_socket() = 0;  // cuts the connection (after the grace)

  asio::any_io_executor executor;  // the connection's strand
  asio::steady_timer wake;         // cancelled when the answer is there, or stream news
  std::optional<Response> answer;  // strand only
  uint64_t sequence = 0;           // strand only: the request being answered
  bool busy = false;               // strand only: a request was read and is not answered yet
  std::shared_ptr<Stream::State> streamed;  // strand only: the answer is a stream
  bool stream_news = false;                 // strand only: chunks queued or the stream ended
};

template <class Stream>
struct Session final : Exchange {
  Session(asio::any_io_executor strand, Stream s, std::string remote, bool loopback, bool reserved)
      : Exchange(strand),
        stream(std::move(s)),
        remote_address(std::move(remote)),
        from_loopback(loopback),
        reserved_connection(reserved) {}
  void cancel_io() override { beast::get_lowest_layer(stream).cancel(); }
  void close_socket() override {
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
  }

  Stream stream;
  std::string remote_address;
  bool from_loopback;
  bool reserved_connection;  // accepted past max_connections (ServerOptions)
};

// A request as read, with what the answer needs to know about it.
struct Incoming {
  Request request;
  unsigned version = 11;
  bool keep_alive = true;
};

bhttp::response<bhttp::string_body> to_beast(Response& response, unsigned version,
                                             bool keep_alive) {
  bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(response.status), version};
  out.set(bhttp::field::server, "aethel");
  out.set(bhttp::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) out.insert(name, value);
  out.keep_alive(keep_alive);
  out.body() = std::move(response.body);
  out.prepare_payload();
  return out;
}

Request head_of(const bhttp::request<bhttp::string_body>& message, const std::string& remote,
                bool loopback) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.remote_address = remote;
  request.from_loopback = loopback;
  return request;
}

std::string body_too_large(uint64_t limit) {
  return fmt::format("the request body exceeds the limit of {} bytes", limit);
}

}  // namespace

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

// What the application queued and the connection's writer takes. Lock order: this
// mutex, then the gate's.
class Stream::State {
 public:
  State(std::shared_ptr<Gate> gate, std::weak_ptr<Exchange> exchange, StreamOptions options)
      : gate_(std::move(gate)), exchange_(std::move(exchange)), options_(std::move(options)) {}

  bool write(std::string chunk) EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    if (ended_) return false;
    if (chunk.empty()) return true;
    if (queued_bytes_ + chunk.size() > options_.max_queued_bytes) {
      end(/*cut=*/true);
      return false;
    }
    queued_bytes_ += chunk.size();
    chunks_.push_back(std::move(chunk));
    signal(/*cut=*/false);
    return true;
  }

  void close() EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    if (!ended_) {
      ended_ = true;
      signal(/*cut=*/false);
    }
  }

  void abort() EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    if (!cut_) end(/*cut=*/true);
  }

  bool is_open() const EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    return !ended_;
  }

  size_t queued_bytes() const EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    return queued_bytes_;
  }

  size_t max_queued_bytes() const { return options_.max_queued_bytes; }

  // The writer's side (the connection's strand).
  struct Batch {
    std::vector<std::string> chunks;
    bool ended = false;
    bool cut = false;
  };
  Batch take() EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    signalled_ = false;
    Batch batch{std::move(chunks_), ended_, cut_};
    chunks_.clear();
    return batch;
  }
  void written(size_t bytes) EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    queued_bytes_ -= std::min(bytes, queued_bytes_);
  }
  // The connection failed or is gone: nothing more can be written.
  void lost() EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    ended_ = cut_ = true;
    chunks_.clear();
    queued_bytes_ = 0;
  }
  // Runs on_end, once.
  void finish() {
    if (finished_.exchange(true)) return;
    lost();
    if (options_.on_end) options_.on_end();
  }

 private:
  void end(bool cut) REQUIRES(mutex_) {
    ended_ = true;
    cut_ = cut_ || cut;
    if (cut) {
      chunks_.clear();
      queued_bytes_ = 0;
    }
    signal(cut);
  }

  // Wakes the writer on its strand (and cuts its pending write), unless a wake is
  // already on its way. Dropped once the server has stopped.
  void signal(bool cut) REQUIRES(mutex_) {
    if (signalled_ && !cut) return;
    signalled_ = true;
    base::MutexLock gate_lock(gate_->mutex);
    if (!gate_->open) return;
    auto exchange = exchange_.lock();
    if (!exchange) return;
    asio::post(exchange->executor, [exchange, cut] {
      exchange->stream_news = true;
      if (cut) exchange->cancel_io();
      exchange->wake.cancel();
    });
  }

  std::shared_ptr<Gate> gate_;
  std::weak_ptr<Exchange> exchange_;
  const StreamOptions options_;
  std::atomic<bool> finished_{false};
  mutable base::Mutex mutex_;
  std::vector<std::string> chunks_ GUARDED_BY(mutex_);
  size_t queued_bytes_ GUARDED_BY(mutex_) = 0;
  bool ended_ GUARDED_BY(mutex_) = false;
  bool cut_ GUARDED_BY(mutex_) = false;
  bool signalled_ GUARDED_BY(mutex_) = false;
};

using StreamState = Stream::State;  // inside templates, `Stream` names the socket type

bool Stream::write(std::string chunk) const {
  return state_ && state_->write(std::move(chunk));
}
void Stream::close() const {
  if (state_) state_->close();
}
void Stream::abort() const {
  if (state_) state_->abort();
}
bool Stream::is_open() const {
  return state_ && state_->is_open();
}
size_t Stream::queued_bytes() const {
  return state_ ? state_->queued_bytes() : 0;
}

// ---------------------------------------------------------------------------
// Responder
// ---------------------------------------------------------------------------

class Responder::State {
 public:
  State(std::shared_ptr<Gate> gate, std::weak_ptr<Exchange> exchange, uint64_t sequence)
      : gate_(std::move(gate)), exchange_(std::move(exchange)), sequence_(sequence) {}
  ~State() {
    if (answered_.exchange(true)) return;
    base::MutexLock lock(gate_->mutex);
    if (!gate_->open) return;
    deliver(gate_->handler.error(500, "internal_error", "the request was dropped unanswered"));
  }

  void send(Response response) EXCLUDES(gate_->mutex) {
    if (answered_.exchange(true)) return;
    base::MutexLock lock(gate_->mutex);
    if (gate_->open) deliver(std::move(response));
  }

  void post(std::function<void()> task) EXCLUDES(gate_->mutex) {
    base::MutexLock lock(gate_->mutex);
    if (!gate_->open) return;
    if (auto exchange = exchange_.lock()) asio::post(exchange->executor, std::move(task));
  }

  // The timer holds `self` (a Responder sharing this state): dropped unfired when the
  // server stops, it answers nothing, as send() after the stop would.
  void send_after(Response response, Millis delay, Responder self) EXCLUDES(gate_->mutex) {
    base::MutexLock lock(gate_->mutex);
    if (!gate_->open) return;
    auto exchange = exchange_.lock();
    if (!exchange) return;
    auto timer = std::make_shared<asio::steady_timer>(exchange->executor, delay);
    timer->async_wait([timer, self = std::move(self), response = std::move(response)](
                          const beast::error_code&) mutable { self.send(std::move(response)); });
  }

  Stream stream(Response head, StreamOptions options) EXCLUDES(gate_->mutex) {
    if (answered_.exchange(true)) return Stream{};
    auto state = std::make_shared<Stream::State>(gate_, exchange_, std::move(options));
    base::MutexLock lock(gate_->mutex);
    if (!gate_->open || !deliver(std::move(head), state)) return Stream{};
    return Stream(std::move(state));
  }

 private:
  // Under the gate's lock, so the io_context cannot go away meanwhile. False when
  // the connection is gone.
  bool deliver(Response response, std::shared_ptr<Stream::State> stream = nullptr)
      REQUIRES(gate_->mutex) {
    auto exchange = exchange_.lock();
    if (!exchange) return false;
    asio::post(exchange->executor, [exchange, sequence = sequence_, stream = std::move(stream),
                                    response = std::move(response)]() mutable {
      if (exchange->sequence != sequence) return;  // never happens; a stale answer is dropped
      exchange->answer = std::move(response);
      exchange->streamed = std::move(stream);
      exchange->wake.cancel();
    });
    return true;
  }

  std::shared_ptr<Gate> gate_;
  std::weak_ptr<Exchange> exchange_;
  uint64_t sequence_;
  std::atomic<bool> answered_{false};
};

void Responder::send(Response response) const {
  state_->send(std::move(response));
}

void Responder::send_after(Response response, Millis delay) const {
  state_->send_after(std::move(response), delay, *this);
}

void Responder::post(std::function<void()> task) const {
  state_->post(std::move(task));
}

Stream Responder::stream(Response head, StreamOptions options) const {
  return state_->stream(std::move(head), std::move(options));
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

class Server::Impl {
 public:
  Impl(const ServerOptions& options, Handler& handler, std::shared_ptr<tls::Context> tls)
      : io_(static_cast<int>(std::max(1u, options.io_threads))),
        options_(options),
        handler_(handler),
        tls_(std::move(tls)),
        gate_(std::make_shared<Gate>(handler)),
        acceptor_(asio::make_strand(io_)),
        backoff_(acceptor_.get_executor()) {}

  base::Status listen() {
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) return listen_error(ec);
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return listen_error(ec);
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
    for (unsigned i = 0; i < std::max(1u, options_.io_threads); ++i) {
      threads_.push_back(base::named_thread("http", [this] { io_.run(); }));
    }
    return base::Status{};
  }

  void stop() EXCLUDES(mutex_) {
    {
      base::MutexLock lock(mutex_);
      stopped_ = true;
    }
    io_.stop();
    stopped_signal_.notify_all();
  }

  void wait() EXCLUDES(mutex_) {
    base::MutexLock lock(mutex_);
    stopped_signal_.wait(lock, [&]() REQUIRES(mutex_) { return stopped_; });
  }

  void shutdown(Millis grace) EXCLUDES(sessions_mutex_) {
    draining_.store(true);
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      backoff_.cancel();
    });
    // On each connection's strand, so it never races the connection's own use of
    // its stream; a connection between requests checks draining_ before reading.
    for (auto& exchange : open_exchanges()) {
      asio::post(exchange->executor, [exchange] {
        if (exchange->streamed) {
          exchange->streamed->close();  // what is queued goes out, then the connection closes
        } else if (!exchange->busy) {
          exchange->cancel_io();
        }
      });
    }
    {
      base::MutexLock lock(sessions_mutex_);
      sessions_done_.wait_for(lock, grace,
                              [&]() REQUIRES(sessions_mutex_) { return sessions_.empty(); });
    }
    join();
  }

  // Stops the io threads, then closes the gate: from here on no Responder posts.
  // Connections still open (waiting for an answer past the grace) are cut now; no
  // io thread runs any more, so touching their sockets from here is safe.
  void join() {
    stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    {
      base::MutexLock lock(gate_->mutex);
      gate_->open = false;
    }
    for (auto& exchange : open_exchanges()) {
      exchange->close_socket();
      if (exchange->streamed) exchange->streamed->finish();
    }
  }

  uint16_t port() const { return port_; }

 private:
  base::Error listen_error(const beast::error_code& ec) const {
    return base::Error{"listen_failed", fmt::format("cannot listen on {}:{}: {}", options_.host,
                                                    options_.port, ec.message())};
  }

  std::vector<std::shared_ptr<Exchange>> open_exchanges() EXCLUDES(sessions_mutex_) {
    std::vector<std::shared_ptr<Exchange>> open;
    base::MutexLock lock(sessions_mutex_);
    for (auto& [id, session] : sessions_) {
      if (auto exchange = session.exchange.lock()) open.push_back(std::move(exchange));
    }
    return open;
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), kUseTuple);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) {
        backoff_.expires_after(Millis(kAcceptBackoff_ms));
        co_await backoff_.async_wait(kUseTuple);
        continue;
      }
      beast::error_code remote_ec;
      const auto remote = socket.remote_endpoint(remote_ec);
      const std::string address = remote_ec ? "" : remote.address().to_string();
      const auto [open, from_address] = open_sessions(address);
      const bool limited = options_.max_connections > 0;
      if (limited && open >= options_.max_connections + options_.reserved_connections) {
        refuse_connection(std::move(socket), fmt::format("the node serves {} connections at most "
                                                         "(AETHEL_MAX_CONNECTIONS); retry later",
                                                         options_.max_connections));
        continue;
      }
      if (over_address_limit(address, from_address)) {
        refuse_connection(std::move(socket),
                          fmt::format("the node serves {} connections at most from one client "
                                      "address (AETHEL_MAX_CONNECTIONS_PER_ADDRESS); retry later",
                                      options_.max_connections_per_address));
        continue;
      }
      const bool loopback = !remote_ec && remote.address().is_loopback();
      start_session(std::move(socket), limited && open >= options_.max_connections, address,
                    loopback);
    }
  }

  // Open sessions: all of them, and those from `address`.
  std::pair<size_t, size_t> open_sessions(const std::string& address) EXCLUDES(sessions_mutex_) {
    base::MutexLock lock(sessions_mutex_);
    auto it = per_address_.find(address);
    return {sessions_.size(), it == per_address_.end() ? 0 : it->second};
  }

  bool over_address_limit(const std::string& address, size_t open_from_address) const {
    const auto& unlimited = options_.unlimited_addresses;
    return options_.max_connections_per_address > 0 &&
           open_from_address >= options_.max_connections_per_address &&
           std::find(unlimited.begin(), unlimited.end(), address) == unlimited.end();
  }

  // Past a limit: the 503 goes out in one non-blocking write (a fresh socket's
  // buffer takes it) and the socket closes; the accept loop never waits.
  void refuse_connection(tcp::socket socket, const std::string& why) {
    beast::error_code ignored;
    if (!tls_) {
      Response response = handler_.error(503, "too_many_connections", why);
      response.headers.emplace_back("Retry-After", "1");
      std::ostringstream text;
      text << to_beast(response, 11, false);
      std::string bytes = text.str();
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(bytes), ignored);
      socket.shutdown(tcp::socket::shutdown_send, ignored);
    }
    socket.close(ignored);
  }

  template <class Socket>
  void start_session(Socket socket, bool reserved, const std::string& address, bool loopback) {
    asio::any_io_executor executor = socket.get_executor();
    PlainStream plain(std::move(socket));
    if (tls_) {
      auto session = std::make_shared<Session<TlsStream>>(
          executor, TlsStream(std::move(plain), *tls_), address, loopback, reserved);
      asio::co_spawn(executor, session_main(session, register_session(session, address)),
                     asio::detached);
    } else {
      auto session = std::make_shared<Session<PlainStream>>(executor, std::move(plain), address,
                                                            loopback, reserved);
      asio::co_spawn(executor, session_main(session, register_session(session, address)),
                     asio::detached);
    }
  }

  uint64_t register_session(std::shared_ptr<Exchange> exchange, const std::string& address)
      EXCLUDES(sessions_mutex_) {
    base::MutexLock lock(sessions_mutex_);
    uint64_t id = next_session_id_++;
    sessions_.emplace(id, OpenSession{exchange, address});
    ++per_address_[address];
    if (options_.on_connections) options_.on_connections(sessions_.size());
    return id;
  }

  void unregister_session(uint64_t id) EXCLUDES(sessions_mutex_) {
    base::MutexLock lock(sessions_mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    if (--per_address_[it->second.address] == 0) per_address_.erase(it->second.address);
    sessions_.erase(it);
    if (options_.on_connections) options_.on_connections(sessions_.size());
    if (sessions_.empty()) sessions_done_.notify_all();
  }

  template <class Stream>
  asio::awaitable<void> session_main(std::shared_ptr<Session<Stream>> session, uint64_t id) {
    bool ready = true;
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      beast::get_lowest_layer(session->stream).expires_after(Millis(options_.request_timeout_ms));
      auto [ec] =
          co_await session->stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
      ready = !ec;
    }
    if (ready) co_await serve(session);
    co_await close(*session);
    unregister_session(id);
  }

  template <class Stream>
  asio::awaitable<void> serve(std::shared_ptr<Session<Stream>> session) {
    beast::flat_buffer buffer;
    for (;;) {
      session->busy = false;
      if (draining_.load()) break;
      std::optional<Incoming> incoming = co_await read_request(*session, buffer);
      if (!incoming) break;
      session->busy = true;
      Response response = co_await answer(session, std::move(incoming->request));
      if (session->streamed) {
        co_await stream_out(session, response, incoming->version);
        break;  // a streaming connection serves nothing else
      }
      // While draining, the answer tells the client to reconnect (to another node
      // or to this one once it is back) instead of sending more on this connection.
      bool keep_alive = incoming->keep_alive && !draining_.load();
      bool written = co_await write(session->stream, response, incoming->version, keep_alive);
      if (!written || !keep_alive) break;
    }
  }

  // Hands the request to the handler and waits, without a thread, for the answer.
  asio::awaitable<Response> answer(std::shared_ptr<Exchange> exchange, Request request) {
    uint64_t sequence = ++exchange->sequence;
    exchange->answer.reset();
    exchange->wake.expires_at(asio::steady_timer::time_point::max());
    {
      // Scoped: once the handler dropped its copies, an unanswered request gets 500.
      Responder responder(std::make_shared<Responder::State>(gate_, exchange, sequence));
      try {
        handler_.handle(std::move(request), responder);
      } catch (const std::exception& e) {
        responder.send(handler_.error(500, "internal_error", e.what()));  // a bug in a route
      }
    }
    while (!exchange->answer) co_await exchange->wake.async_wait(kUseTuple);
    co_return std::move(*exchange->answer);
  }

  template <class Stream>
  asio::awaitable<std::optional<Incoming>> read_request(Session<Stream>& session,
                                                        beast::flat_buffer& buffer) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(options_.max_header_bytes);
    // No limit while the header is read (Beast would compare Content-Length with its
    // 1 MiB default right there); the handler's limit applies once the head is known.
    parser.body_limit(boost::none);
    beast::get_lowest_layer(session.stream).expires_after(Millis(options_.request_timeout_ms));
    auto [head_ec, head_bytes] =
        co_await bhttp::async_read_header(session.stream, buffer, parser, kUseTuple);
    if (head_ec) {
      co_await refuse_read_error(session.stream, head_ec, 0);
      co_return std::nullopt;
    }
    Incoming incoming{head_of(parser.get(), session.remote_address, session.from_loopback),
                      parser.get().version(), parser.get().keep_alive()};
    incoming.request.reserved_connection = session.reserved_connection;
    if (auto refusal = handler_.screen(incoming.request)) {
      co_await refuse(session.stream, std::move(*refusal));
      co_return std::nullopt;
    }
    uint64_t limit = handler_.body_limit(incoming.request);
    if (auto length = parser.content_length(); length && *length > limit) {
      co_await refuse(session.stream, handler_.error(413, "body_too_large", body_too_large(limit)));
      co_return std::nullopt;
    }
    parser.body_limit(limit);  // counts chunked bodies as they arrive
    if (!parser.is_done() && beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
      bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, incoming.version};
      co_await bhttp::async_write(session.stream, go_on, kUseTuple);
    }
    auto [body_ec, body_bytes] =
        co_await bhttp::async_read(session.stream, buffer, parser, kUseTuple);
    if (body_ec) {
      co_await refuse_read_error(session.stream, body_ec, limit);
      co_return std::nullopt;
    }
    incoming.request.body = std::move(parser.get().body());
    co_return incoming;
  }

  // A read error that deserves an answer before closing gets one; others just close.
  template <class Stream>
  asio::awaitable<void> refuse_read_error(Stream& stream, const beast::error_code& ec,
                                          uint64_t limit) {
    if (ec == bhttp::error::body_limit) {
      co_await refuse(stream, handler_.error(413, "body_too_large", body_too_large(limit)));
    } else if (ec == bhttp::error::header_limit) {
      co_await refuse(stream, handler_.error(431, "header_too_large",
                                             fmt::format("the request header exceeds {} bytes",
                                                         options_.max_header_bytes)));
    } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
               ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      co_await refuse(
          stream, handler_.error(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
  }

  // Answers and closes, reading what the client still sends for a while: closing a
  // socket with unread data sends a reset, which can destroy the answer before the
  // client reads it.
  template <class Stream>
  asio::awaitable<void> refuse(Stream& stream, Response response) {
    if (!co_await write(stream, response, 11, false)) co_return;
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(stream).expires_after(Millis(kDrainTimeout_ms));
    std::vector<char> sink(64 * 1024);
    uint64_t drained_bytes = 0;
    while (drained_bytes < kMaxDrainBytes) {
      auto [ec, n] =
          co_await beast::get_lowest_layer(stream).async_read_some(asio::buffer(sink), kUseTuple);
      if (ec) break;
      drained_bytes += n;
    }
  }

  template <class Stream>
  asio::awaitable<bool> write(Stream& stream, Response& response, unsigned version,
                              bool keep_alive) {
    auto out = to_beast(response, version, keep_alive);
    beast::get_lowest_layer(stream).expires_after(Millis(kWriteTimeout_ms));
    auto [ec, written] = co_await bhttp::async_write(stream, out, kUseTuple);
    co_return !ec;
  }

  // The streamed answer: its head, then the chunks the application queues, until the
  // stream ends or the connection fails. Runs on_end last.
  template <class Stream>
  asio::awaitable<void> stream_out(std::shared_ptr<Session<Stream>> session, Response& head,
                                   unsigned version) {
    std::shared_ptr<StreamState> state = session->streamed;
    // The kernel's send buffer is bounded by the queue's limit too (it would otherwise
    // grow to megabytes): a client that does not read is noticed after about that.
    beast::error_code ignored;
    auto sndbuf = static_cast<int>(std::clamp<size_t>(state->max_queued_bytes(), 4096, 4 << 20));
    beast::get_lowest_layer(session->stream)
        .socket()
        .set_option(asio::socket_base::send_buffer_size(sndbuf), ignored);
    bool ok = co_await write_stream_head(session->stream, head, version);
    if (ok) {
      asio::co_spawn(session->executor, watch_client(session, state), asio::detached);
      ok = co_await pump(*session, *state);
    }
    if (ok) {
      beast::get_lowest_layer(session->stream).expires_after(Millis(kWriteTimeout_ms));
      co_await asio::async_write(session->stream, bhttp::make_chunk_last(), kUseTuple);
    }
    state->lost();
    beast::get_lowest_layer(session->stream).socket().cancel(ignored);  // ends watch_client
    state->finish();
  }

  template <class Stream>
  asio::awaitable<bool> write_stream_head(Stream& stream, Response& head, unsigned version) {
    bhttp::response<bhttp::empty_body> out{static_cast<bhttp::status>(head.status), version};
    out.set(bhttp::field::server, "aethel");
    out.set(bhttp::field::content_type, head.content_type);
    for (const auto& [name, value] : head.headers) out.insert(name, value);
    out.keep_alive(false);
    out.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer{out};
    beast::get_lowest_layer(stream).expires_after(Millis(kWriteTimeout_ms));
    auto [ec, written] = co_await bhttp::async_write_header(stream, serializer, kUseTuple);
    co_return !ec;
  }

  // Writes what the application queues until the stream ends: true when it was closed
  // (the last chunk may follow), false when it was cut or the connection failed.
  template <class Stream>
  asio::awaitable<bool> pump(Session<Stream>& session, StreamState& state) {
    for (;;) {
      StreamState::Batch batch = state.take();
      for (const std::string& chunk : batch.chunks) {
        beast::get_lowest_layer(session.stream).expires_after(Millis(kWriteTimeout_ms));
        auto [ec, n] = co_await asio::async_write(
            session.stream, bhttp::make_chunk(asio::buffer(chunk)), kUseTuple);
        if (ec) co_return false;
        state.written(chunk.size());
      }
      if (batch.cut) co_return false;
      if (batch.ended) co_return true;  // nothing is queued after the end
      while (!session.stream_news) co_await session.wake.async_wait(kUseTuple);
      session.stream_news = false;
    }
  }

  // Reads the raw socket of a streaming connection only to notice the client leave
  // (what it sends is discarded); ends the stream then.
  template <class Stream>
  asio::awaitable<void> watch_client(std::shared_ptr<Session<Stream>> session,
                                     std::shared_ptr<StreamState> state) {
    std::array<char, 512> sink;
    auto& socket = beast::get_lowest_layer(session->stream).socket();
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
      if (ec) break;
    }
    state->abort();
  }

  template <class Stream>
  asio::awaitable<void> close(Session<Stream>& session) {
    beast::error_code ignored;
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      // close_notify, so the client knows the answer was not truncated.
      beast::get_lowest_layer(session.stream).expires_after(Millis(kTlsShutdownTimeout_ms));
      co_await session.stream.async_shutdown(kUseTuple);
    }
    beast::get_lowest_layer(session.stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(session.stream).close();
  }

  asio::io_context io_;  // first: destroyed last, after everything that uses it
  ServerOptions options_;
  Handler& handler_;
  std::shared_ptr<tls::Context> tls_;
  std::shared_ptr<Gate> gate_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> draining_{false};
  base::Mutex mutex_;
  base::CondVar stopped_signal_;
  bool stopped_ GUARDED_BY(mutex_) = false;
  base::Mutex sessions_mutex_;
  base::CondVar sessions_done_;
  struct OpenSession {
    std::weak_ptr<Exchange> exchange;
    std::string address;  // the client's, as the per-address limit counts it
  };
  std::map<uint64_t, OpenSession> sessions_ GUARDED_BY(sessions_mutex_);
  std::map<std::string, size_t> per_address_ GUARDED_BY(sessions_mutex_);
  uint64_t next_session_id_ GUARDED_BY(sessions_mutex_) = 1;
};

base::Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options,
                                                    Handler& handler) {
  std::shared_ptr<tls::Context> tls;
  if (options.tls) {
    auto context = tls::server_context(*options.tls);
    if (!context.ok()) return context.error();
    tls = context.value();
  }
  auto impl = std::make_unique<Impl>(options, handler, tls);
  if (base::Status listening = impl->listen(); !listening.ok()) return listening.error();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

base::Status check_server_tls(const ServerTls& files) {
  auto context = tls::server_context(files);
  if (!context.ok()) return context.error();
  return base::Status{};
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  impl_->join();
}
uint16_t Server::port() const {
  return impl_->port();
}
void Server::stop() {
  impl_->stop();
}
void Server::shutdown(uint32_t grace_ms) {
  impl_->shutdown(Millis(grace_ms));
}
void Server::wait() {
  impl_->wait();
}

}  // namespace aethel::http
