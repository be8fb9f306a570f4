// aethel::http — HTTP/1.1 for the node, the CLI and node-to-node traffic, over TCP or
// TLS (OpenSSL). Nothing here knows about ledgers, routes or consensus.
//
//   Url, parse_url      http:// and https:// base URLs: host, port, optional base path
//   TlsTrust            which certificate authorities a client believes
//   call, Connection    blocking: one exchange, or many on one kept-alive connection
//   AsyncClient         non-blocking, on the caller's io_context: a small pool of
//                       kept-alive connections per origin, several requests in flight,
//                       per-request timeouts, a bounded queue, completion callbacks
//   Server, Handler     the server plumbing: plain or HTTPS, request size limits, and
//                       answers that may come later from any thread (Responder),
//                       or as a stream of chunks written over time (Stream)
//
// Certificates of https:// URLs are verified against the system's CA store plus an
// optional PEM file of extra CAs, for the URL's host name (or IP address), with SNI.
// A certificate that is expired, names another host, or comes from an unknown CA is
// an Error with code "tls_certificate" whose message says which of these it is.
//
// Errors are base::Error values; codes used by the clients:
//   bad_url          the URL is not http(s)://host[:port][/path]
//   bad_tls_config   the CA file cannot be read or holds no certificate
//   connect_failed   name resolution or TCP connection failed
//   tls_certificate  the server's certificate is not trusted for this host (see above)
//   tls_error        any other TLS failure (handshake, protocol)
//   timeout          no complete answer within the timeout, or no byte moved for the
//                    stall timeout
//   closed           the server closed the connection before a complete answer
//   bad_reply        the answer is not HTTP/1.1, or exceeds the reply limits
//   queue_full       AsyncClient: too many requests already wait for that origin
//   cancelled        AsyncClient: closed before the request completed
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"

namespace boost::asio {
class io_context;
}

namespace aethel::http {

// Header fields in order; names compare case-insensitively (header() below).
using Headers = std::vector<std::pair<std::string, std::string>>;

// The value of the first field called `name` (any case), or "" when there is none.
std::string_view find_header(const Headers& headers, std::string_view name);

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

// A base URL such as "https://api.example.com/aethel": every request target is
// appended to its base path ("/api/verify" goes to "/aethel/api/verify").
struct Url {
  bool tls = false;       // https://
  std::string host;       // lower-case DNS name, or an IP address (IPv6 without [])
  uint16_t port = 80;     // 80 or 443 unless written
  std::string base_path;  // "" or "/seg/..." without a trailing '/'

  // The Host header: "host", "host:port" when not the default port, "[v6]:port".
  std::string authority() const;
  // Canonical text: "https://host[:port][/base]".
  std::string to_string() const;
  bool operator==(const Url&) const = default;
};

// Accepts http:// and https:// with a host, an optional port (1..65535) and an
// optional path; refuses user info, query and fragment (Error "bad_url" naming
// the problem).
base::Result<Url> parse_url(std::string_view text);

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

// Which certificate authorities a client trusts for https:// URLs.
struct TlsTrust {
  // The system store (/etc/ssl/certs) is always trusted; this PEM file of extra CA
  // certificates (AETHEL_TLS_CA_FILE: a private CA) is trusted besides it.
  std::string ca_file;  // empty: none
};

// Ok when the CA file (if any) can be read and holds at least one certificate;
// otherwise Error "bad_tls_config" saying why. Clients check it on first use too.
base::Status check_trust(const TlsTrust& trust);

struct ClientOptions {
  // Each exchange, connection and TLS handshake included, completes within this.
  uint32_t timeout_ms = 30'000;
  // 0: off. Otherwise an exchange also fails ("timeout") when no byte moves for this
  // long: a bulk transfer (a snapshot) may take long while it progresses, and a
  // stalled peer is still noticed early. Pair it with a generous timeout_ms.
  uint32_t stall_timeout_ms = 0;
  TlsTrust trust;
  // Answers larger than this are refused ("bad_reply"): a peer cannot make us
  // buffer without bound.
  uint64_t max_reply_body_bytes = 64ull << 20;
};

// The defaults with another timeout: `call(url, "GET", "/", {}, with_timeout_ms(1'000))`.
inline ClientOptions with_timeout_ms(uint32_t timeout_ms) {
  ClientOptions options;
  options.timeout_ms = timeout_ms;
  return options;
}

struct Reply {
  unsigned status = 0;
  std::string body;
  Headers headers;
  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

// One blocking exchange on a fresh connection, closed afterwards. `target` is the
// path and query after the URL's base path ("/api/lattice/state?limit=0").
base::Result<Reply> call(const Url& url, std::string_view method, std::string_view target,
                         std::string_view body = {}, const ClientOptions& options = {},
                         const Headers& headers = {});

// A kept-alive connection for many blocking exchanges, one after the other (CLI,
// tests, benchmarks). It connects on the first call and reconnects after the server
// closed it; a request that fails on a connection reused from an earlier exchange
// before any byte of the answer arrived is sent once more on a new connection (the
// server may have closed it while idle). Not thread-safe.
class Connection {
 public:
  static base::Result<std::unique_ptr<Connection>> open(const Url& url,
                                                        const ClientOptions& options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  base::Result<Reply> call(std::string_view method, std::string_view target,
                           std::string_view body = {}, const Headers& headers = {});

  class Impl;

 private:
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A request for the AsyncClient. Content-Type is application/json when there is a
// body and `headers` name none; Host and Content-Length are always set.
struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";  // after the URL's base path
  std::string body;
  Headers headers;
  // From send() to the complete answer: queueing, connecting and the exchange.
  uint32_t timeout_ms = 30'000;
  // As ClientOptions::stall_timeout_ms, for this request (0: off).
  uint32_t stall_timeout_ms = 0;
};

struct PoolOptions {
  // Kept-alive connections per origin (scheme, host, port). Each carries one
  // request at a time, so this many requests are in flight per origin; more wait
  // in the queue.
  size_t max_connections = 4;
  // Requests waiting for a free connection, per origin; beyond: "queue_full".
  size_t max_queued = 1024;
  // A connection idle this long is closed (servers close idle ones too, usually
  // after 30 s or more; closing first avoids most reuse races).
  uint32_t idle_timeout_ms = 20'000;
  // Trust and reply limits; timeout_ms is ClientRequest's.
  ClientOptions client;
};

// Requests to other nodes without blocking a thread, on the caller's io_context.
//
// Why a pool of connections rather than HTTP/1.1 pipelining: with pipelining, one
// large or slow request (a snapshot) delays every answer behind it on the same
// connection, a failure leaves the fate of every later request unknown, and many
// proxies in front of nodes do not pipeline. Separate connections keep requests
// independent: a heartbeat never waits behind a snapshot unless all connections
// of the origin are busy.
//
// Every callback runs exactly once, on the io_context, never inside send(). A
// request that times out while on the wire closes its connection (HTTP/1.1 cannot
// cancel one request); the others are not affected. Requests that fail on a reused
// connection before any answer byte are retried once on a new one, so a request
// may reach the server twice: send only requests that tolerate it (consensus
// messages do).
//
// Thread-safe. Callbacks may run after the destructor returned (with "cancelled"):
// keep what they use alive until the io_context has stopped or they have run.
class AsyncClient {
 public:
  using Callback = std::function<void(base::Result<Reply>)>;

  // Error "bad_tls_config" when the trust's CA file is unusable.
  static base::Result<std::unique_ptr<AsyncClient>> create(boost::asio::io_context& io,
                                                           const PoolOptions& options = {});
  ~AsyncClient();  // close()
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Queues `request` for `url`'s origin. Never blocks.
  void send(const Url& url, ClientRequest request, Callback done);
  // Fails every queued and in-flight request with "cancelled" and closes every
  // connection; later sends fail the same way.
  void close();

  class Impl;

 private:
  explicit AsyncClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  Headers headers;
  std::string body;            // empty in Handler::body_limit (not read yet)
  std::string remote_address;  // the peer's IP address
  bool from_loopback = false;  // 127.0.0.0/8 or ::1
  // The connection was accepted past max_connections, into the reserve
  // (ServerOptions::reserved_connections): Handler::screen decides who may use it.
  bool reserved_connection = false;
  // Who Handler::screen authenticated this request as (a peer ID); empty: nobody.
  std::string principal;
  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

struct Response {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  Headers headers;  // besides Content-Type, Content-Length, Server, Connection
};

// The body of a streamed answer (Responder::stream), written chunk by chunk as the
// application produces it: server-sent events. Copies share one stream. Every
// method is thread-safe and never blocks; the connection's io thread does the
// writing. A default-constructed Stream is ended.
class Stream {
 public:
  Stream() = default;
  // Queues `chunk` (not empty). False, with nothing queued, when the stream has
  // ended (the client went away, the server is stopping, close() or abort() ran), or
  // when `chunk` would take the bytes queued and not yet written over
  // StreamOptions::max_queued_bytes: the stream is then aborted, since a client that
  // does not read is cut rather than buffered without bound.
  bool write(std::string chunk) const;
  // Ends the stream once what is queued is written; then the connection closes.
  void close() const;
  // Ends the stream now, dropping what is queued, and cuts the connection.
  void abort() const;
  bool is_open() const;
  // Bytes queued and not yet written to the socket.
  size_t queued_bytes() const;

  class State;
  explicit Stream(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

struct StreamOptions {
  // Bytes queued and not yet written, at most (see Stream::write). The connection's
  // kernel send buffer (SO_SNDBUF) is set to this too, so a client that stops reading
  // holds up about twice this before it is cut, not the megabytes the kernel would grow.
  size_t max_queued_bytes = 1 << 20;
  // Runs once when the stream has ended, whatever the cause: on the connection's io
  // thread, or on the thread that stops the server. Never inside a Stream method.
  std::function<void()> on_end;
};

// Answers one request, at most once. Copies share the answer: the first send()
// counts, later ones are ignored. Dropping every copy without sending answers 500,
// so a request is never left hanging. After the server stopped, send() does nothing.
class Responder {
 public:
  // Thread-safe; never blocks. The answer is written by the connection's io thread.
  void send(Response response) const;
  // send() once `delay` has passed, timed on the connection's io thread: a client told
  // to slow down (429 with Retry-After) is slowed to that pace even if it ignores the
  // header, since the connection reads nothing more until it is answered.
  void send_after(Response response, std::chrono::milliseconds delay) const;
  // Answers with `head` (status, content type and headers; its body is ignored),
  // framed as chunked, and keeps the connection for a body written later through
  // the returned Stream. The connection serves no further request: it closes when
  // the stream ends, when the client closes it, or when the server shuts down (a
  // graceful shutdown ends streams at once, after what is queued). Counts as the
  // answer like send(); when the request was already answered or the server has
  // stopped, the Stream returned is ended. Thread-safe; never blocks.
  Stream stream(Response head, StreamOptions options = {}) const;
  // Runs `task` on the connection's io thread, never inside this call: for work
  // that must leave the caller's thread, such as rendering an answer in a callback
  // that runs on the consensus thread. Dropped when the server has stopped.
  void post(std::function<void()> task) const;

  class State;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// What the server asks of the application. Called on io threads: must not block.
class Handler {
 public:
  virtual ~Handler() = default;
  // The largest body accepted for a request with this head (`body` is empty), in
  // bytes, whatever its framing (Content-Length or chunked). Larger: 413.
  virtual uint64_t body_limit(const Request& head) const = 0;
  // Called once the head is read, before anything of the body: an answer refuses the
  // request at once (a node-to-node request whose signature fails is never read), and
  // the connection is closed. May set head.principal. Default: admit everything.
  virtual std::optional<Response> screen(Request& head) {
    (void)head;
    return std::nullopt;
  }
  // Answers a complete request through `responder`, now or later, from any thread.
  // The connection reads nothing more until it is answered.
  virtual void handle(Request request, Responder responder) = 0;
  // The body of the server's own refusals: 400 bad_request, 413 body_too_large,
  // 431 header_too_large, 500 internal_error.
  virtual Response error(unsigned status, std::string_view code,
                         std::string_view message) const = 0;
};

// HTTPS with this certificate chain and private key (PEM files).
struct ServerTls {
  std::string cert_file;
  std::string key_file;
};

// Ok when the files hold a usable certificate chain and a matching private key;
// otherwise the Error that Server::start would give ("bad_tls_certificate",
// "bad_tls_key"), so a program can refuse to start before it opens anything.
base::Status check_server_tls(const ServerTls& files);

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port (see Server::port)
  uint32_t max_header_bytes = 16 * 1024;
  // A connection must deliver a whole request (or, when idle between keep-alive
  // requests, start one) within this time, TLS handshake included; then it closes.
  uint32_t request_timeout_ms = 30'000;
  unsigned io_threads = 2;
  std::optional<ServerTls> tls;  // set: HTTPS only
  // Connections open at once, at most (0: no limit). One more is accepted, answered
  // 503 "too_many_connections" (Handler::error; plain HTTP only, a TLS client sees
  // the close) and closed at once, so descriptors stay for what else the process
  // needs (storage, P2P, outgoing calls).
  size_t max_connections = 0;
  // Past max_connections, this many more are accepted into a reserve; their requests
  // carry Request::reserved_connection, and Handler::screen refuses those not entitled
  // to it (the node keeps the reserve for signed node-to-node requests, so no public
  // connection flood cuts the HTTP lung). Only beyond both is a connection refused at
  // accept.
  size_t reserved_connections = 0;
  // Connections open at once from one client address, at most (0: no limit); one more
  // is answered 503 "too_many_connections" and closed, like one past max_connections,
  // so one address cannot take every slot. `unlimited_addresses` (canonical IPs, e.g.
  // reverse proxies, whose clients all share their address) are not counted.
  size_t max_connections_per_address = 0;
  std::vector<std::string> unlimited_addresses;
  // Told the number of open connections each time one opens or closes (an io
  // thread; must not block). A connection the client closed counts until the
  // server reads the close.
  std::function<void(size_t open)> on_connections;
};

class Server {
 public:
  // Binds and listens. Errors: "bad_tls_certificate" / "bad_tls_key" (the file
  // cannot be read, holds no PEM certificate or key, or the key does not match the
  // certificate), "listen_failed" (names the address and the reason).
  static base::Result<std::unique_ptr<Server>> start(const ServerOptions& options,
                                                     Handler& handler);
  ~Server();  // stops and joins every thread
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // Stops accepting and serving at once; wait() returns. Safe from any thread.
  void stop();
  // Stops gracefully: closes the listening socket, lets every request already
  // read get its answer (with Connection: close), closes idle keep-alive
  // connections, and after grace_ms cuts what is left. Returns when every io
  // thread has stopped. Answers sent later (a commit that completes after the
  // grace) are dropped.
  void shutdown(uint32_t grace_ms);
  // Blocks until stop() or shutdown().
  void wait();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aethel::http
