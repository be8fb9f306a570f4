// A small blocking HTTP/1.1 client on POSIX sockets: enough for the CLI, the tests
// and the load tool, without pulling Beast into every program that talks to a node.
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "api/api.h"

namespace aethel::api {
namespace {

constexpr size_t kMaxReplyHeaderBytes = 64 * 1024;
constexpr size_t kMaxReplyBodyBytes = 512ull << 20;

Error client_error(std::string message) {
  return Error{"http_client", std::move(message)};
}

void set_timeouts(int fd, uint32_t timeout_ms) {
  timeval tv{static_cast<time_t>(timeout_ms / 1000),
             static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Result<int> connect_to(const Endpoint& endpoint, uint32_t timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(endpoint.port);
  int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return client_error(fmt::format("cannot resolve {}: {}", endpoint.host, gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    set_timeouts(fd, timeout_ms);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      freeaddrinfo(found);
      return fd;
    }
    last_error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  return client_error(
      fmt::format("cannot connect to {}:{}: {}", endpoint.host, endpoint.port, last_error));
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Appends what the socket has to `buffer`; false on close, error or timeout.
bool receive_some(int fd, std::string& buffer) {
  char chunk[64 * 1024];
  ssize_t n = recv(fd, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer.append(chunk, static_cast<size_t>(n));
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Head {
  unsigned status = 0;
  size_t content_length = 0;
  std::string allow;
};

std::optional<Head> parse_head(std::string_view head) {
  Head out;
  if (!head.starts_with("HTTP/1.")) return std::nullopt;
  size_t space = head.find(' ');
  if (space == std::string_view::npos || head.size() < space + 4) return std::nullopt;
  std::from_chars(head.data() + space + 1, head.data() + space + 4, out.status);
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    size_t end = head.find("\r\n", at + 2);
    std::string_view line = head.substr(at + 2, end - at - 2);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name = lower(line.substr(0, colon));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (name == "content-length") {
        std::from_chars(value.data(), value.data() + value.size(), out.content_length);
      } else if (name == "allow") {
        out.allow = std::string(value);
      }
    }
    at = end;
  }
  return out;
}

}  // namespace

Result<Endpoint> parse_base_url(std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("http://"))
    rest.remove_prefix(7);
  else if (rest.find("://") != std::string_view::npos) {
    return client_error(fmt::format("'{}': only http:// URLs are supported", url));
  }
  rest = rest.substr(0, rest.find('/'));
  Endpoint endpoint;
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    endpoint.host = std::string(rest);
  } else {
    endpoint.host = std::string(rest.substr(0, colon));
    std::string_view port = rest.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), endpoint.port);
    if (ec != std::errc{} || end != port.data() + port.size() || endpoint.port == 0) {
      return client_error(fmt::format("'{}': bad port '{}'", url, port));
    }
  }
  if (endpoint.host.empty()) return client_error(fmt::format("'{}': no host", url));
  return endpoint;
}

Result<std::unique_ptr<HttpConnection>> HttpConnection::open(const Endpoint& endpoint,
                                                             uint32_t timeout_ms) {
  auto fd = connect_to(endpoint, timeout_ms);
  if (!fd.ok()) return fd.error();
  return std::unique_ptr<HttpConnection>(new HttpConnection(fd.value()));
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) close(fd_);
}

Result<HttpReply> HttpConnection::call(std::string_view method, std::string_view target,
                                       std::string_view body, std::string_view extra_headers) {
  std::string request = fmt::format(
      "{} {} HTTP/1.1\r\nHost: aethel\r\nContent-Type: application/json\r\n"
      "{}Content-Length: {}\r\n\r\n",
      method, target, extra_headers, body.size());
  request += body;
  if (!send_all(fd_, request)) return client_error("send failed: connection closed");
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > kMaxReplyHeaderBytes) return client_error("reply header too large");
    if (!receive_some(fd_, buffer_)) return client_error("connection closed before a reply");
  }
  auto head = parse_head(std::string_view(buffer_).substr(0, head_end + 2));
  if (!head) return client_error("malformed reply header");
  if (head->content_length > kMaxReplyBodyBytes) return client_error("reply body too large");
  size_t total = head_end + 4 + head->content_length;
  while (buffer_.size() < total) {
    if (!receive_some(fd_, buffer_)) return client_error("connection closed inside a reply");
  }
  HttpReply reply{head->status, buffer_.substr(head_end + 4, head->content_length),
                  std::move(head->allow)};
  buffer_.erase(0, total);
  return reply;
}

Result<HttpReply> http_call(const Endpoint& endpoint, std::string_view method,
                            std::string_view target, std::string_view body, uint32_t timeout_ms) {
  auto connection = HttpConnection::open(endpoint, timeout_ms);
  if (!connection.ok()) return connection.error();
  return connection.value()->call(method, target, body);
}

}  // namespace aethel::api
