// Raw TCP on 127.0.0.1 for tests: bytes the http client never sends (chunked
// uploads, Expect: 100-continue, malformed requests) and scripted servers.
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <string_view>

namespace aethel::test {

// A connection to 127.0.0.1:`port`, from source address `from` when given (every
// 127.0.0.0/8 address is local, so a test can be several clients); -1 on failure.
inline int connect_loopback(uint16_t port, const std::string& from = {}) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in source{};
  source.sin_family = AF_INET;
  bool bound = from.empty() || (inet_pton(AF_INET, from.c_str(), &source.sin_addr) == 1 &&
                                bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!bound || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  timeval timeout{10, 0};  // a test never waits forever for a broken server
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until the peer closes (or 10 s pass): everything it sent.
inline std::string read_to_end(int fd) {
  std::string out;
  char buffer[16 * 1024];
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

// Reads one message, request or answer: its head and its Content-Length body; ""
// when the peer closed.
inline std::string read_message(int fd) {
  std::string data;
  char c;
  while (data.find("\r\n\r\n") == std::string::npos) {
    if (recv(fd, &c, 1, 0) != 1) return "";
    data.push_back(c);
  }
  size_t at = data.find("Content-Length: ");
  if (at == std::string::npos) at = data.find("content-length: ");
  if (at != std::string::npos) {
    size_t length = std::stoul(data.substr(at + 16));
    std::string body(length, '\0');
    size_t got = 0;
    while (got < length) {
      ssize_t n = recv(fd, body.data() + got, length - got, 0);
      if (n <= 0) return "";
      got += static_cast<size_t>(n);
    }
    data += body;
  }
  return data;
}

// A chunked upload of `body` in chunks of `chunk` bytes, as one request.
inline std::string chunked_request(std::string_view target, const std::string& body, size_t chunk) {
  std::string out = fmt::format(
      "POST {} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: "
      "close\r\n\r\n",
      target);
  for (size_t at = 0; at < body.size(); at += chunk) {
    std::string_view part = std::string_view(body).substr(at, chunk);
    out += fmt::format("{:x}\r\n", part.size());
    out += part;
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

}  // namespace aethel::test
