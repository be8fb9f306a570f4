// The HTTP clients: AsyncClient (a pool of kept-alive connections per origin, on the
// caller's io_context) and the blocking call()/Connection, which run an AsyncClient
// on a private io_context. One code path for plain and TLS, blocking and not.
// Beast is included here and in server.cpp only (it is slow to compile).
#include <fmt/format.h>

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
#include <deque>
#include <map>
#include <tuple>

#include "http/http.h"
#include "http/tls.h"

namespace aethel::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint32_t kMaxReplyHeaderBytes = 64 * 1024;
using Strand = asio::strand<asio::io_context::executor_type>;
using Millis = std::chrono::milliseconds;

base::Error cancelled_error() {
  return base::Error{"cancelled", "the HTTP client was closed before the request completed"};
}

class Link;

// A request on its way: queued, then in flight on one Link, then done (callback run).
struct Pending {
  enum class State { kQueued, kInFlight, kDone };
  ClientRequest request;
  AsyncClient::Callback done;
  State state = State::kQueued;
  std::optional<asio::steady_timer> timer;  // the request's whole timeout
  // Set when the request ended for a reason of ours (timeout, close): reported
  // instead of whatever error the aborted exchange produced.
  std::optional<base::Error> verdict;
  Link* link = nullptr;  // while in flight
};

// What one exchange produced.
struct Outcome {
  base::Result<Reply> reply;
  bool answer_started = false;  // some byte of an answer arrived
  bool keep_alive = false;
};

Outcome failed(base::Error error, bool answer_started = false) {
  return Outcome{std::move(error), answer_started, false};
}

bool is_closed_by_peer(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated || ec == bhttp::error::partial_message;
}

base::Error read_error(const beast::error_code& ec, const Url& url, uint64_t max_body) {
  if (ec == bhttp::error::body_limit) {
    return base::Error{"bad_reply",
                       fmt::format("the answer of {} exceeds {} bytes", url.to_string(), max_body)};
  }
  if (ec == bhttp::error::header_limit) {
    return base::Error{"bad_reply",
                       fmt::format("the answer header of {} is too large", url.to_string())};
  }
  if (is_closed_by_peer(ec)) {
    return base::Error{"closed", fmt::format("{} closed the connection before a complete "
                                             "answer",
                                             url.to_string())};
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
    return base::Error{
        "bad_reply", fmt::format("{} answered malformed HTTP: {}", url.to_string(), ec.message())};
  }
  return base::Error{"closed",
                     fmt::format("reading from {} failed: {}", url.to_string(), ec.message())};
}

bhttp::request<bhttp::span_body<const char>> to_message(const Url& url,
                                                        const ClientRequest& request) {
  bhttp::request<bhttp::span_body<const char>> message;
  message.version(11);
  bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown) {
    message.method_string(request.method);
  } else {
    message.method(verb);
  }
  message.target(url.base_path + request.target);
  message.set(bhttp::field::host, url.authority());
  message.set(bhttp::field::user_agent, "aethel");
  for (const auto& [name, value] : request.headers) message.insert(name, value);
  if (!request.body.empty() && find_header(request.headers, "Content-Type").empty()) {
    message.set(bhttp::field::content_type, "application/json");
  }
  message.body() = {request.body.data(), request.body.size()};
  message.prepare_payload();
  return message;
}

Reply to_reply(bhttp::response<bhttp::string_body>& message) {
  Reply reply;
  reply.status = message.result_int();
  for (const auto& field : message) {
    reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  reply.body = std::move(message.body());
  return reply;
}

// Arms the stall timer of `stream` for its next operation (0: none). Beast's
// basic_stream fails a pending operation with error::timeout when it fires.
template <class Stream>
void arm_stall_timer(Stream& stream, uint32_t stall_timeout_ms) {
  auto& lowest = beast::get_lowest_layer(stream);
  if (stall_timeout_ms == 0) {
    lowest.expires_never();
  } else {
    lowest.expires_after(Millis(stall_timeout_ms));
  }
}

base::Error stalled(const Url& url, uint32_t stall_timeout_ms) {
  return base::Error{"timeout", fmt::format("{} stalled: no byte moved for {} ms", url.to_string(),
                                            stall_timeout_ms)};
}

// Writes one request on `stream`, a piece at a time so that the stall timer
// restarts whenever bytes move.
template <class Stream>
asio::awaitable<std::optional<Outcome>> write_request(Stream& stream, const Url& url,
                                                      const ClientRequest& request,
                                                      uint64_t max_body) {
  auto message = to_message(url, request);
  bhttp::request_serializer<bhttp::span_body<const char>> serializer(message);
  while (!serializer.is_done()) {
    arm_stall_timer(stream, request.stall_timeout_ms);
    auto [ec, written] = co_await bhttp::async_write_some(stream, serializer, kUseTuple);
    if (ec == beast::error::timeout) co_return failed(stalled(url, request.stall_timeout_ms));
    if (ec && is_closed_by_peer(ec)) co_return failed(read_error(ec, url, max_body));
    if (ec) {
      co_return failed(base::Error{
          "closed", fmt::format("sending to {} failed: {}", url.to_string(), ec.message())});
    }
  }
  co_return std::nullopt;
}

// Writes one request on `stream` and reads its answer.
template <class Stream>
asio::awaitable<Outcome> exchange_on(Stream& stream, beast::flat_buffer& buffer, const Url& url,
                                     const ClientRequest& request, uint64_t max_body) {
  if (auto failure = co_await write_request(stream, url, request, max_body)) co_return *failure;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxReplyHeaderBytes);
  parser.body_limit(max_body);
  while (!parser.is_done()) {
    arm_stall_timer(stream, request.stall_timeout_ms);
    auto [ec, read] = co_await bhttp::async_read_some(stream, buffer, parser, kUseTuple);
    if (ec == beast::error::timeout) {
      co_return failed(stalled(url, request.stall_timeout_ms), parser.got_some());
    }
    if (ec) co_return failed(read_error(ec, url, max_body), parser.got_some());
  }
  bool keep_alive = parser.get().keep_alive();
  co_return Outcome{to_reply(parser.get()), true, keep_alive};
}

// ---------------------------------------------------------------------------
// Link: one connection of an origin, plain or TLS. Used on the origin's strand.
// ---------------------------------------------------------------------------

class Link {
 public:
  Link(Strand strand, std::shared_ptr<tls::Context> tls)
      : strand_(strand), tls_(std::move(tls)), resolver_(strand) {}
  ~Link() { close(); }

  bool is_open() const { return plain_.has_value() || secure_.has_value(); }

  // Resolves, connects and, for https, completes the verified TLS handshake.
  asio::awaitable<base::Status> connect(const Url& url, uint32_t stall_timeout_ms) {
    auto [resolve_ec, endpoints] =
        co_await resolver_.async_resolve(url.host, std::to_string(url.port), kUseTuple);
    if (resolve_ec) {
      co_return base::Error{"connect_failed",
                            fmt::format("cannot resolve {}: {}", url.host, resolve_ec.message())};
    }
    connecting_.emplace(strand_);
    arm_stall_timer(*connecting_, stall_timeout_ms);
    auto [connect_ec, endpoint] = co_await connecting_->async_connect(endpoints, kUseTuple);
    if (connect_ec) {
      connecting_.reset();
      co_return base::Error{"connect_failed", fmt::format("cannot connect to {}: {}",
                                                          url.to_string(), connect_ec.message())};
    }
    beast::error_code ignored;
    connecting_->socket().set_option(tcp::no_delay(true), ignored);
    if (!url.tls) {
      plain_.emplace(std::move(*connecting_));
      connecting_.reset();
      co_return base::Status{};
    }
    co_return co_await handshake(url, stall_timeout_ms);
  }

  asio::awaitable<Outcome> exchange(const Url& url, const ClientRequest& request,
                                    uint64_t max_body) {
    if (plain_) co_return co_await exchange_on(*plain_, buffer_, url, request, max_body);
    co_return co_await exchange_on(*secure_, buffer_, url, request, max_body);
  }

  // Ends whatever is pending on this link with an error, at once.
  void abort() {
    resolver_.cancel();
    beast::error_code ignored;
    if (connecting_) connecting_->socket().close(ignored);
    if (plain_) plain_->socket().close(ignored);
    if (secure_) beast::get_lowest_layer(*secure_).socket().close(ignored);
  }

  void close() {
    abort();
    connecting_.reset();
    plain_.reset();
    secure_.reset();
    buffer_.clear();
  }

 private:
  asio::awaitable<base::Status> handshake(const Url& url, uint32_t stall_timeout_ms) {
    if (!tls_) {
      connecting_.reset();
      co_return base::Error{"tls_error", "no TLS context for " + url.to_string()};
    }
    secure_.emplace(std::move(*connecting_), *tls_);
    connecting_.reset();
    if (!tls::expect_host(secure_->native_handle(), url.host)) {
      secure_.reset();
      co_return base::Error{"tls_error", "cannot set the expected host name " + url.host};
    }
    arm_stall_timer(*secure_, stall_timeout_ms);
    auto [ec] = co_await secure_->async_handshake(asio::ssl::stream_base::client, kUseTuple);
    if (ec == beast::error::timeout) {
      secure_.reset();
      co_return stalled(url, stall_timeout_ms);
    }
    if (ec) {
      base::Error error = tls::handshake_error(ec, secure_->native_handle(), url);
      secure_.reset();
      co_return error;
    }
    co_return base::Status{};
  }

  Strand strand_;
  std::shared_ptr<tls::Context> tls_;
  tcp::resolver resolver_;
  std::optional<beast::tcp_stream> connecting_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure_;
  beast::flat_buffer buffer_;
};

// ---------------------------------------------------------------------------
// Origin: the queue and the connections for one (scheme, host, port). Everything
// below runs on the origin's strand.
// ---------------------------------------------------------------------------

class Origin : public std::enable_shared_from_this<Origin> {
 public:
  Origin(asio::io_context& io, Url url, const PoolOptions& options,
         std::shared_ptr<tls::Context> tls)
      : strand_(asio::make_strand(io)),
        url_(std::move(url)),
        options_(options),
        tls_(std::move(tls)) {}

  Strand strand() const { return strand_; }

  void enqueue(std::shared_ptr<Pending> pending) {
    if (closed_) return finish(*pending, cancelled_error());
    if (queue_.size() >= options_.max_queued) {
      return finish(*pending,
                    base::Error{"queue_full", fmt::format("{} requests already wait for {}",
                                                          queue_.size(), url_.to_string())});
    }
    pending->timer.emplace(strand_);
    pending->timer->expires_after(Millis(pending->request.timeout_ms));
    pending->timer->async_wait([self = shared_from_this(), pending](beast::error_code ec) {
      if (!ec) self->expire(pending);
    });
    queue_.push_back(std::move(pending));
    wake_worker();
  }

  void close() {
    closed_ = true;
    for (auto& pending : std::exchange(queue_, {})) finish(*pending, cancelled_error());
    for (auto& [link, pending] : in_flight_) {
      pending->verdict = cancelled_error();
      link->abort();  // serve() ends and reports the verdict
    }
    for (asio::steady_timer* idle : idle_) idle->cancel();
    idle_.clear();
  }

 private:
  void finish(Pending& pending, base::Result<Reply> result) {
    if (pending.state == Pending::State::kDone) return;
    pending.state = Pending::State::kDone;
    if (pending.timer) pending.timer->cancel();
    if (pending.verdict) result = *pending.verdict;
    auto done = std::move(pending.done);
    done(std::move(result));
  }

  void expire(const std::shared_ptr<Pending>& pending) {
    if (pending->state == Pending::State::kDone) return;
    pending->verdict =
        base::Error{"timeout", fmt::format("no answer from {} within {} ms", url_.to_string(),
                                           pending->request.timeout_ms)};
    if (pending->state == Pending::State::kQueued) {
      std::erase(queue_, pending);
      return finish(*pending, *pending->verdict);
    }
    if (pending->link) pending->link->abort();  // serve() ends and reports the verdict
  }

  // Hands the queue to an idle connection, or opens one more if allowed.
  void wake_worker() {
    if (!idle_.empty()) {
      asio::steady_timer* idle = idle_.back();
      idle_.pop_back();
      idle->cancel();
      return;
    }
    if (workers_ < options_.max_connections) {
      ++workers_;
      asio::co_spawn(strand_, work(shared_from_this()), asio::detached);
    }
  }

  std::shared_ptr<Pending> take() {
    while (!queue_.empty()) {
      std::shared_ptr<Pending> next = std::move(queue_.front());
      queue_.pop_front();
      if (next->state == Pending::State::kQueued) return next;
    }
    return nullptr;
  }

  // One connection's life: serve queued requests one at a time; close after
  // idle_timeout_ms without work.
  asio::awaitable<void> work([[maybe_unused]] std::shared_ptr<Origin> self) {  // keeps us alive
    Link link(strand_, tls_);
    asio::steady_timer idle(strand_);
    while (!closed_) {
      if (std::shared_ptr<Pending> pending = take()) {
        co_await serve(link, std::move(pending));
        continue;
      }
      idle.expires_after(Millis(options_.idle_timeout_ms));
      idle_.push_back(&idle);
      auto [ec] = co_await idle.async_wait(kUseTuple);
      std::erase(idle_, &idle);
      if (!ec && queue_.empty()) break;
    }
    link.close();
    --workers_;
    if (!closed_ && !queue_.empty()) wake_worker();
  }

  asio::awaitable<void> serve(Link& link, std::shared_ptr<Pending> pending) {
    pending->state = Pending::State::kInFlight;
    pending->link = &link;
    in_flight_.emplace(&link, pending);
    bool reused = link.is_open();
    Outcome outcome = co_await attempt(link, *pending);
    // The server may have closed an idle kept-alive connection just as we reused it:
    // sent again once. Not after a timeout: the server may be handling the request,
    // and a signed node-to-node request sent twice is refused as a replay.
    bool closed_by_server = !outcome.reply.ok() && outcome.reply.error().code == "closed";
    if (closed_by_server && reused && !outcome.answer_started && !pending->verdict) {
      link.close();
      outcome = co_await attempt(link, *pending);
    }
    if (!outcome.reply.ok() || !outcome.keep_alive) link.close();
    in_flight_.erase(&link);
    pending->link = nullptr;
    finish(*pending, std::move(outcome.reply));
  }

  asio::awaitable<Outcome> attempt(Link& link, Pending& pending) {
    if (!link.is_open()) {
      base::Status connected = co_await link.connect(url_, pending.request.stall_timeout_ms);
      if (!connected.ok()) co_return failed(connected.error());
    }
    co_return co_await link.exchange(url_, pending.request, options_.client.max_reply_body_bytes);
  }

  Strand strand_;
  Url url_;  // without base path: the origin
  PoolOptions options_;
  std::shared_ptr<tls::Context> tls_;
  std::deque<std::shared_ptr<Pending>> queue_;
  size_t workers_ = 0;
  std::vector<asio::steady_timer*> idle_;  // workers waiting for work
  std::map<Link*, std::shared_ptr<Pending>> in_flight_;
  bool closed_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------
// AsyncClient
// ---------------------------------------------------------------------------

class AsyncClient::Impl {
 public:
  Impl(asio::io_context& io, const PoolOptions& options) : io_(io), options_(options) {}

  void send(const Url& url, ClientRequest request, Callback done) {
    request.target = url.base_path + request.target;
    auto pending = std::make_shared<Pending>();
    pending->request = std::move(request);
    pending->done = std::move(done);
    auto origin = origin_for(url);
    if (!origin.ok()) {
      asio::post(io_, [pending, error = origin.error()] { pending->done(error); });
      return;
    }
    asio::post(origin.value()->strand(),
               [origin = origin.value(), pending] { origin->enqueue(pending); });
  }

  void close() EXCLUDES(mutex_) {
    std::map<std::string, std::shared_ptr<Origin>> origins;
    {
      base::MutexLock lock(mutex_);
      closed_ = true;
      origins.swap(origins_);
    }
    for (auto& [key, origin] : origins) {
      asio::post(origin->strand(), [origin = origin] { origin->close(); });
    }
  }

 private:
  base::Result<std::shared_ptr<Origin>> origin_for(const Url& url) EXCLUDES(mutex_) {
    Url origin_url = url;
    origin_url.base_path.clear();
    std::string key = origin_url.to_string();
    base::MutexLock lock(mutex_);
    if (closed_) return cancelled_error();
    if (auto it = origins_.find(key); it != origins_.end()) return it->second;
    std::shared_ptr<tls::Context> tls;
    if (url.tls) {
      auto context = tls_context();
      if (!context.ok()) return context.error();
      tls = context.value();
    }
    auto origin = std::make_shared<Origin>(io_, origin_url, options_, tls);
    origins_.emplace(key, origin);
    return origin;
  }

  // Made on the first https:// request: plain HTTP never loads a CA store.
  base::Result<std::shared_ptr<tls::Context>> tls_context() REQUIRES(mutex_) {
    if (!tls_) {
      auto context = tls::client_context(options_.client.trust);
      if (!context.ok()) return context.error();
      tls_ = context.value();
    }
    return tls_;
  }

  asio::io_context& io_;
  PoolOptions options_;
  base::Mutex mutex_;
  std::map<std::string, std::shared_ptr<Origin>> origins_ GUARDED_BY(mutex_);
  std::shared_ptr<tls::Context> tls_ GUARDED_BY(mutex_);
  bool closed_ GUARDED_BY(mutex_) = false;
};

base::Result<std::unique_ptr<AsyncClient>> AsyncClient::create(asio::io_context& io,
                                                               const PoolOptions& options) {
  if (base::Status trusted = check_trust(options.client.trust); !trusted.ok()) {
    return trusted.error();
  }
  return std::unique_ptr<AsyncClient>(new AsyncClient(std::make_shared<Impl>(io, options)));
}

AsyncClient::AsyncClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
AsyncClient::~AsyncClient() {
  impl_->close();
}
void AsyncClient::send(const Url& url, ClientRequest request, Callback done) {
  impl_->send(url, std::move(request), std::move(done));
}
void AsyncClient::close() {
  impl_->close();
}

base::Status check_trust(const TlsTrust& trust) {
  if (trust.ca_file.empty()) return base::Status{};
  auto context = tls::client_context(trust);
  if (!context.ok()) return context.error();
  return base::Status{};
}

// ---------------------------------------------------------------------------
// Blocking: an AsyncClient with one connection on a private io_context, run by the
// calling thread until the answer is there.
// ---------------------------------------------------------------------------

class Connection::Impl {
 public:
  Impl(Url url, const ClientOptions& options) : url_(std::move(url)), options_(options) {}

  base::Status init() {
    PoolOptions pool;
    pool.max_connections = 1;
    pool.client = options_;
    auto client = AsyncClient::create(io_, pool);
    if (!client.ok()) return client.error();
    client_ = std::move(client).value();
    return base::Status{};
  }

  base::Result<Reply> call(std::string_view method, std::string_view target, std::string_view body,
                           const Headers& headers) {
    ClientRequest request{std::string(method), std::string(target),      std::string(body), headers,
                          options_.timeout_ms, options_.stall_timeout_ms};
    std::optional<base::Result<Reply>> result;
    client_->send(url_, std::move(request),
                  [&result](base::Result<Reply> reply) { result.emplace(std::move(reply)); });
    if (io_.stopped()) io_.restart();
    while (!result) {
      if (io_.run_one() == 0) {
        return base::Error{"closed", "the HTTP client stopped before an answer"};
      }
    }
    return std::move(*result);
  }

 private:
  asio::io_context io_{1};  // declared first: outlives the client's connections
  Url url_;
  ClientOptions options_;
  std::unique_ptr<AsyncClient> client_;
};

base::Result<std::unique_ptr<Connection>> Connection::open(const Url& url,
                                                           const ClientOptions& options) {
  auto impl = std::make_unique<Impl>(url, options);
  if (base::Status ready = impl->init(); !ready.ok()) return ready.error();
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

base::Result<Reply> Connection::call(std::string_view method, std::string_view target,
                                     std::string_view body, const Headers& headers) {
  return impl_->call(method, target, body, headers);
}

base::Result<Reply> call(const Url& url, std::string_view method, std::string_view target,
                         std::string_view body, const ClientOptions& options,
                         const Headers& headers) {
  auto connection = Connection::open(url, options);
  if (!connection.ok()) return connection.error();
  return connection.value()->call(method, target, body, headers);
}

}  // namespace aethel::http
