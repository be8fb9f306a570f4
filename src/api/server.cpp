// The HTTP/1.1 server: Boost.Beast on C++20 coroutines. This is the only
// translation unit of the API that includes Beast (it is slow to compile).
#include <fmt/format.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <map>
#include <memory>
#include <thread>

#include "api/api.h"

namespace aethel::api {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint32_t kWriteTimeout_ms = 30'000;
constexpr uint32_t kDrainTimeout_ms = 2'000;
constexpr uint64_t kMaxDrainBytes = 64ull << 20;

http::response<http::string_body> to_beast(const Response& response, unsigned version,
                                           bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(response.status), version};
  out.set(http::field::server, "aethel");
  out.set(http::field::content_type, response.content_type);
  // Lets the dashboard served by one node keep reading the others when it goes down.
  out.set(http::field::access_control_allow_origin, "*");
  if (!response.allow.empty()) out.set(http::field::allow, response.allow);
  out.keep_alive(keep_alive);
  out.body() = response.body;
  out.prepare_payload();
  return out;
}

// A read error that deserves an answer before closing, or nullopt to just close.
std::optional<Response> answer_for_read_error(const beast::error_code& ec,
                                              uint64_t max_body_bytes) {
  if (ec == http::error::body_limit) {
    return error_response(413, "body_too_large",
                          fmt::format("the request body exceeds {} bytes", max_body_bytes));
  }
  if (ec == http::error::header_limit) {
    return error_response(431, "header_too_large", "the request header is too large");
  }
  if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return error_response(400, "bad_request", "malformed HTTP request: " + ec.message());
  }
  return std::nullopt;
}

}  // namespace

class Server::Impl {
 public:
  Impl(const ServerOptions& options, const Router& router)
      : options_(options),
        router_(router),
        io_(static_cast<int>(options.io_threads)),
        workers_(options.worker_threads),
        acceptor_(asio::make_strand(io_)) {}

  std::optional<Error> listen() {
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
      threads_.emplace_back([this] { io_.run(); });
    }
    return std::nullopt;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    io_.stop();
    stopped_signal_.notify_all();
  }

  void wait() {
    std::unique_lock lock(mutex_);
    stopped_signal_.wait(lock, [&] { return stopped_; });
  }

  // Graceful stop: no new connections; a request being processed gets its answer
  // (with Connection: close); idle keep-alive connections close now. After
  // `grace` whatever is left is cut. Returns once every thread is joined.
  void shutdown(std::chrono::milliseconds grace) {
    draining_.store(true);
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard lock(sessions_mutex_);
      for (auto& [id, weak] : sessions_) {
        if (auto session = weak.lock()) open.push_back(std::move(session));
      }
    }
    // On the session's strand, so it never races the session's own use of the
    // stream; a session between requests checks draining_ before reading again.
    for (auto& session : open) {
      asio::post(session->stream.get_executor(), [session] {
        if (!session->busy) session->stream.cancel();
      });
    }
    open.clear();
    {
      std::unique_lock lock(sessions_mutex_);
      sessions_done_.wait_for(lock, grace, [&] { return sessions_.empty(); });
    }
    join();
  }

  void join() {
    stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    workers_.join();
  }

  uint16_t port() const { return port_; }

 private:
  Error listen_error(const beast::error_code& ec) const {
    return Error{"listen_failed", fmt::format("cannot listen on {}:{}: {}", options_.host,
                                              options_.port, ec.message())};
  }

  // One connection. Each runs on its own strand, so shutdown() can post to it.
  struct Session {
    explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    bool busy = false;  // between a request read and its answer written (strand only)
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), kUseTuple);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) continue;  // e.g. too many open files: keep serving the others
      auto executor = socket.get_executor();
      auto state = std::make_shared<Session>(std::move(socket));
      uint64_t id = register_session(state);
      asio::co_spawn(executor, session(std::move(state), id), asio::detached);
    }
  }

  uint64_t register_session(const std::shared_ptr<Session>& state) {
    std::lock_guard lock(sessions_mutex_);
    uint64_t id = next_session_id_++;
    sessions_.emplace(id, state);
    return id;
  }

  void unregister_session(uint64_t id) {
    std::lock_guard lock(sessions_mutex_);
    sessions_.erase(id);
    if (sessions_.empty()) sessions_done_.notify_all();
  }

  // Runs a blocking route on the worker pool and resumes on the loop with its answer.
  // A plain function with async_initiate: g++ 12 miscompiles capturing coroutine
  // lambdas handed to co_spawn (the captures are destroyed twice).
  template <class Token>
  auto async_on_worker(Request request, Token&& token) {
    return asio::async_initiate<Token, void(Response)>(
        [this](auto handler, Request req) {
          asio::post(
              workers_, [this, handler = std::move(handler), req = std::move(req)]() mutable {
                Response response = router_.handle(req);
                auto loop = asio::get_associated_executor(handler);
                asio::dispatch(
                    loop, [handler = std::move(handler), response = std::move(response)]() mutable {
                      std::move(handler)(std::move(response));
                    });
              });
        },
        token, std::move(request));
  }

  static Request to_request(http::request<http::string_body>& message, const tcp::socket& socket) {
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.body = std::move(message.body());
    auto header = [&](std::string_view name) { return std::string(message[name]); };
    request.authorization = header("Authorization");
    request.signed_headers = SignedHeaders{header("X-Aethel-Peer"), header("X-Aethel-Timestamp"),
                                           header("X-Aethel-Signature")};
    beast::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    request.from_loopback = !ec && remote.address().is_loopback();
    return request;
  }

  asio::awaitable<void> session(std::shared_ptr<Session> state, uint64_t id) {
    co_await serve(*state);
    unregister_session(id);
  }

  asio::awaitable<void> serve(Session& state) {
    beast::tcp_stream& stream = state.stream;
    beast::flat_buffer buffer;
    for (;;) {
      state.busy = false;
      if (draining_.load()) break;
      http::request_parser<http::string_body> parser;
      parser.header_limit(options_.max_header_bytes);
      stream.expires_after(std::chrono::milliseconds(options_.request_timeout_ms));
      auto [head_ec, head_bytes] =
          co_await http::async_read_header(stream, buffer, parser, kUseTuple);
      beast::error_code read_ec = head_ec;
      // Node-to-node messages may carry a snapshot: their own, larger limit.
      uint64_t body_limit = parser.get().target().starts_with(kInternalMessagesPath)
                                ? options_.max_internal_body_bytes
                                : options_.max_body_bytes;
      if (!read_ec) {
        parser.body_limit(body_limit);
        auto [body_ec, body_bytes] = co_await http::async_read(stream, buffer, parser, kUseTuple);
        read_ec = body_ec;
      }
      if (read_ec) {
        if (auto answer = answer_for_read_error(read_ec, body_limit)) {
          if (co_await write(stream, *answer, 11, false)) co_await drain(stream);
        }
        break;
      }
      state.busy = true;
      http::request<http::string_body> message = parser.release();
      Request request = to_request(message, stream.socket());
      // Not a conditional expression: g++ 12 miscompiles co_await inside `?:`.
      Response response;
      if (router_.is_blocking(request)) {
        response = co_await async_on_worker(std::move(request), asio::use_awaitable);
      } else {
        response = router_.handle(request);
      }
      // While draining, the answer tells the client to reconnect (to another node
      // or to this one once it is back) instead of sending more on this connection.
      bool keep_alive = message.keep_alive() && !draining_.load();
      if (!co_await write(stream, response, message.version(), keep_alive) || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // After refusing a request whose body is still arriving, reads and discards the
  // rest for a while: closing a socket with unread data sends a reset, which can
  // destroy the refusal before the client reads it.
  asio::awaitable<void> drain(beast::tcp_stream& stream) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.expires_after(std::chrono::milliseconds(kDrainTimeout_ms));
    std::vector<char> sink(64 * 1024);
    uint64_t drained_bytes = 0;
    while (drained_bytes < kMaxDrainBytes) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
      if (ec) break;
      drained_bytes += n;
    }
  }

  asio::awaitable<bool> write(beast::tcp_stream& stream, const Response& response, unsigned version,
                              bool keep_alive) {
    auto out = to_beast(response, version, keep_alive);
    stream.expires_after(std::chrono::milliseconds(kWriteTimeout_ms));
    auto [ec, written] = co_await http::async_write(stream, out, kUseTuple);
    co_return !ec;
  }

  ServerOptions options_;
  const Router& router_;
  asio::io_context io_;
  asio::thread_pool workers_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable stopped_signal_;
  bool stopped_ = false;
  std::atomic<bool> draining_{false};
  std::mutex sessions_mutex_;
  std::condition_variable sessions_done_;
  std::map<uint64_t, std::weak_ptr<Session>> sessions_;
  uint64_t next_session_id_ = 1;
};

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options, const Router& router) {
  auto impl = std::make_unique<Impl>(options, router);
  if (auto error = impl->listen()) return *error;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
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
  impl_->shutdown(std::chrono::milliseconds(grace_ms));
}
void Server::wait() {
  impl_->wait();
}

}  // namespace aethel::api
