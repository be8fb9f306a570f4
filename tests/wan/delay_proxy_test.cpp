// aethel_delay_proxy against real sockets on loopback: the delay is applied in both
// directions, bytes keep their order, half-close and reset are passed on after the
// delay, a refused target resets the client, many connections work at once, the
// counters count, and a bad command line gets a clear error (issue 10, item 6).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <random>
#include <thread>

#include "delay_proxy_process.h"

namespace aethel::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int64_t kDelayMs = 50;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::filesystem::path temp_dir() {
  auto dir =
      std::filesystem::temp_directory_path() / ("aethel-proxy-test-" + std::to_string(getpid()) +
                                                "-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  return dir;
}

int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval timeout{10, 0};  // a test never hangs on a lost byte
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

bool send_all(int fd, const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads exactly `size` bytes (fewer on EOF or error).
std::string receive(int fd, size_t size) {
  std::string out;
  char buffer[65536];
  while (out.size() < size) {
    ssize_t n = recv(fd, buffer, std::min(sizeof buffer, size - out.size()), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// A TCP server on 127.0.0.1 that runs `serve` on every accepted connection, each on
// a thread of its own, and closes the connection when it returns.
class Server {
 public:
  explicit Server(std::function<void(int)> serve) : serve_(std::move(serve)) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(listen(listener_, 512), 0);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Server() {
    shutdown(listener_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    for (std::thread& t : connections_) t.join();
    close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  void accept_loop() {
    while (true) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      connections_.emplace_back([this, fd] {
        serve_(fd);
        close(fd);
      });
    }
  }
  std::function<void(int)> serve_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> connections_;
};

void echo(int fd) {
  char buffer[65536];
  while (true) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    if (!send_all(fd, std::string(buffer, static_cast<size_t>(n)))) return;
  }
  shutdown(fd, SHUT_WR);
}

struct ProxyTest : ::testing::Test {
  std::filesystem::path dir = temp_dir();
  ~ProxyTest() override { std::filesystem::remove_all(dir); }
  std::string link_to(uint16_t port, const std::string& name = "l") {
    return "0:127.0.0.1:" + std::to_string(port) + ",name=" + name;
  }
};

TEST_F(ProxyTest, EveryRoundTripTakesTwiceTheDelay) {
  Server server(echo);
  DelayProxy proxy(dir, kDelayMs, {link_to(server.port())});
  int fd = connect_to(proxy.port("l"));
  auto start = Clock::now();
  ASSERT_TRUE(send_all(fd, "hello"));
  ASSERT_EQ(receive(fd, 5), "hello");
  // The first exchange also pays for the connection's handshake (a round trip).
  EXPECT_GE(ms_since(start), 4 * kDelayMs);
  for (int i = 0; i < 5; ++i) {
    start = Clock::now();
    ASSERT_TRUE(send_all(fd, "ping"));
    ASSERT_EQ(receive(fd, 4), "ping");
    double rtt_ms = ms_since(start);
    EXPECT_GE(rtt_ms, 2 * kDelayMs);
    EXPECT_LT(rtt_ms, 2 * kDelayMs + 100) << "the proxy adds far more than the delay";
  }
  close(fd);
}

TEST_F(ProxyTest, LargeTransfersKeepTheirOrderInBothDirections) {
  Server server(echo);
  DelayProxy proxy(dir, kDelayMs, {link_to(server.port())});
  std::string data(8 << 20, '\0');
  std::mt19937_64 random(7);
  for (char& c : data) c = static_cast<char>(random());
  int fd = connect_to(proxy.port("l"));
  std::thread sender([&] {
    EXPECT_TRUE(send_all(fd, data));
    shutdown(fd, SHUT_WR);
  });
  std::string back = receive(fd, data.size() + 1);  // +1: it must then see the end
  sender.join();
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data) << "bytes were reordered or changed";
  close(fd);
}

TEST_F(ProxyTest, HalfCloseIsPassedOnAfterTheDelayAndTheOtherWayStaysOpen) {
  std::atomic<double> eof_after_ms = -1;
  Clock::time_point half_closed;
  Server server([&](int fd) {
    receive(fd, 1 << 20);  // until the client's end of stream
    eof_after_ms = ms_since(half_closed);
    send_all(fd, "bye");
  });
  DelayProxy proxy(dir, kDelayMs, {link_to(server.port())});
  int fd = connect_to(proxy.port("l"));
  ASSERT_TRUE(send_all(fd, "x"));
  half_closed = Clock::now();
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(receive(fd, 4), "bye") << "the answer after a half-close must arrive, then the end";
  EXPECT_GE(eof_after_ms.load(), kDelayMs);
  close(fd);
}

TEST_F(ProxyTest, AResetIsPassedOnAsAReset) {
  Server server([](int fd) {
    linger hard{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);  // close() sends RST
  });
  DelayProxy proxy(dir, kDelayMs, {link_to(server.port())});
  int fd = connect_to(proxy.port("l"));
  char byte;
  errno = 0;
  EXPECT_EQ(recv(fd, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  close(fd);
}

TEST_F(ProxyTest, ARefusedTargetResetsTheClient) {
  uint16_t closed_port;
  {
    Server gone(echo);
    closed_port = gone.port();
  }
  DelayProxy proxy(dir, kDelayMs, {link_to(closed_port)});
  int fd = connect_to(proxy.port("l"));
  auto start = Clock::now();
  char byte;
  errno = 0;
  EXPECT_EQ(recv(fd, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_GE(ms_since(start), kDelayMs);  // the refusal travels back like a packet
  close(fd);
}

TEST_F(ProxyTest, ManyConnectionsAtOnceOnManyLinks) {
  Server server(echo);
  DelayProxy proxy(dir, kDelayMs, {link_to(server.port(), "a"), link_to(server.port(), "b")});
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {
    fds.push_back(connect_to(proxy.port(i % 2 ? "a" : "b")));
    ASSERT_TRUE(send_all(fds.back(), "message " + std::to_string(i)));
  }
  for (int i = 0; i < 200; ++i) {
    std::string expected = "message " + std::to_string(i);
    EXPECT_EQ(receive(fds[i], expected.size()), expected);
    close(fds[i]);
  }
}

TEST_F(ProxyTest, CountsConnectionsAndBytesPerLink) {
  Server server(echo);
  DelayProxy proxy(dir, 0, {link_to(server.port(), "counted"), link_to(server.port(), "idle")});
  int fd = connect_to(proxy.port("counted"));
  std::string data(100'000, 'z');
  ASSERT_TRUE(send_all(fd, data));
  ASSERT_EQ(receive(fd, data.size()).size(), data.size());
  close(fd);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  std::map<std::string, ProxyLinkStats> stats;
  while (Clock::now() < deadline) {  // the file is rewritten every second
    stats = proxy.stats();
    if (stats["counted"].bytes_back >= data.size()) break;
    std::this_thread::sleep_for(milliseconds(100));  // poll interval
  }
  EXPECT_EQ(stats["counted"].connections, 1u);
  EXPECT_EQ(stats["counted"].bytes_forward, data.size());
  EXPECT_EQ(stats["counted"].bytes_back, data.size());
  EXPECT_EQ(stats["idle"].connections, 0u);
  EXPECT_EQ(proxy.stop(), 0) << "SIGTERM is a clean stop";
}

// Round trip of one byte on an open connection to an echo server, in ms.
double echo_rtt_ms(int fd) {
  auto start = Clock::now();
  EXPECT_TRUE(send_all(fd, "r"));
  EXPECT_EQ(receive(fd, 1), "r");
  return ms_since(start);
}

TEST_F(ProxyTest, SighupTakesANewDelayFromTheDelayFile) {
  Server server(echo);
  auto delay_file = dir / "delay";
  std::ofstream(delay_file) << "120\n";
  DelayProxy proxy(dir, 0,
                   {link_to(server.port()), link_to(server.port(), "fixed") + ",delay-ms=0"},
                   {"--delay-file", delay_file.string()});
  int fd = connect_to(proxy.port("l"));
  int fixed = connect_to(proxy.port("fixed"));
  EXPECT_LT(echo_rtt_ms(fd), 100);
  proxy.send_signal(SIGHUP);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  double rtt_ms = 0;
  while (Clock::now() < deadline && (rtt_ms = echo_rtt_ms(fd)) < 240) {
  }  // the signal is handled asynchronously: the first round trips may be fast still
  EXPECT_GE(rtt_ms, 240) << "the open connection did not take the new delay";
  EXPECT_LT(echo_rtt_ms(fixed), 100) << "a link with its own delay-ms changed";
  std::ofstream(delay_file) << "soon";
  proxy.send_signal(SIGHUP);
  deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline && proxy.errors().find("delay unchanged") == std::string::npos) {
    std::this_thread::sleep_for(milliseconds(20));  // poll interval
  }
  EXPECT_NE(proxy.errors().find("delay unchanged"), std::string::npos) << proxy.errors();
  EXPECT_GE(echo_rtt_ms(fd), 240);
  close(fd);
  close(fixed);
}

// Runs the proxy with `args`; its exit status and what it wrote on stderr.
std::pair<int, std::string> run_proxy(const std::filesystem::path& dir, std::string args) {
  std::string err = (dir / "stderr").string();
  std::string command = std::string(AETHEL_DELAY_PROXY_BINARY) + " " + args + " 2>" + err;
  int status = std::system(command.c_str());
  std::ifstream file(err);
  return {WEXITSTATUS(status), std::string(std::istreambuf_iterator<char>(file), {})};
}

TEST_F(ProxyTest, ABadCommandLineSaysWhatIsWrong) {
  struct Case {
    std::string args, says;
  };
  std::vector<Case> cases = {
      {"--link 1:127.0.0.1:2", "--delay-ms is required"},
      {"--delay-ms 10", "at least one --link"},
      {"--delay-ms -5 --link 1:127.0.0.1:2", "--delay-ms must be an integer"},
      {"--delay-ms 10 --link 8000", "is not [LISTEN_HOST:]LISTEN_PORT:TARGET_HOST:TARGET_PORT"},
      {"--delay-ms 10 --link 1:127.0.0.1:70000", "target port"},
      {"--delay-ms 10 --link 1:127.0.0.1:2,colour=red", "unknown --link option 'colour'"},
      {"--delay-ms 10 --bandwidth 5", "unknown option '--bandwidth'"},
      {"--delay-ms", "--delay-ms needs a value"},
  };
  for (const Case& c : cases) {
    auto [status, stderr_text] = run_proxy(dir, c.args);
    EXPECT_EQ(status, 2) << c.args;
    EXPECT_NE(stderr_text.find(c.says), std::string::npos) << c.args << " said: " << stderr_text;
  }
  Server server(echo);
  std::string taken = std::to_string(server.port());
  auto [status, stderr_text] = run_proxy(dir, "--delay-ms 1 --link " + taken + ":127.0.0.1:1");
  EXPECT_EQ(status, 1);
  EXPECT_NE(stderr_text.find("cannot listen on 127.0.0.1:" + taken), std::string::npos)
      << stderr_text;
}

}  // namespace
}  // namespace aethel::test
