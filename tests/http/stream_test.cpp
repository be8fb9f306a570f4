// Streamed answers (Responder::stream, http::Stream) against raw sockets on 127.0.0.1:
// the head goes out chunked at once, chunks follow in order as the application
// writes them, close() ends with the last chunk, a client that leaves or does not
// read ends the stream (on_end runs once), and a graceful shutdown ends streams at
// once instead of waiting for the grace.
#include <future>

#include "test_servers.h"

namespace aethel::test {
namespace {

// GET /stream answers with a stream the test drives; anything else: 200 "plain".
class StreamHandler : public http::Handler {
 public:
  explicit StreamHandler(size_t max_queued_bytes = 1 << 20) : max_queued_(max_queued_bytes) {}

  uint64_t body_limit(const http::Request&) const override { return 1024; }

  void handle(http::Request request, http::Responder responder) override {
    if (request.target != "/stream") {
      return responder.send(http::Response{200, "plain", "text/plain", {}});
    }
    http::Response head{200, "ignored", "text/event-stream", {{"Cache-Control", "no-cache"}}};
    http::StreamOptions options;
    options.max_queued_bytes = max_queued_;
    options.on_end = [this] {
      std::lock_guard lock(mutex_);
      ++ended_;
      changed_.notify_all();
    };
    http::Stream stream = responder.stream(std::move(head), std::move(options));
    // A second answer is ignored, and a second stream is born ended.
    responder.send(http::Response{500, "late", "text/plain", {}});
    second_stream_open_ = responder.stream(http::Response{}).is_open();
    std::lock_guard lock(mutex_);
    streams_.push_back(stream);
    changed_.notify_all();
  }

  http::Response error(unsigned status, std::string_view code,
                       std::string_view message) const override {
    return http::Response{status, fmt::format("{}: {}", code, message), "text/plain", {}};
  }

  // The n-th stream opened (0-based), once it exists.
  http::Stream stream(size_t n) {
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, 10s, [&] { return streams_.size() > n; }));
    return streams_.size() > n ? streams_[n] : http::Stream{};
  }
  bool wait_ended(int count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ended_ >= count; });
  }
  int ended() {
    std::lock_guard lock(mutex_);
    return ended_;
  }
  std::atomic<bool> second_stream_open_{true};

 private:
  size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<http::Stream> streams_;
  int ended_ = 0;
};

// Reads from `fd` until `text` has arrived (true) or the peer closed / 10 s passed.
bool read_until(int fd, std::string& seen, std::string_view text) {
  char buffer[4096];
  while (seen.find(text) == std::string::npos) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    seen.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

int open_stream(uint16_t port) {
  int fd = connect_loopback(port);
  EXPECT_GE(fd, 0);
  EXPECT_TRUE(send_all(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  return fd;
}

TEST(StreamTest, TheHeadGoesOutAtOnceAndChunksFollowInOrderUntilClose) {
  StreamHandler handler;
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  int fd = open_stream(server->port());
  std::string seen;
  ASSERT_TRUE(read_until(fd, seen, "\r\n\r\n")) << seen;  // before any chunk was written
  EXPECT_TRUE(seen.starts_with("HTTP/1.1 200 OK")) << seen;
  EXPECT_NE(seen.find("Content-Type: text/event-stream"), std::string::npos) << seen;
  EXPECT_NE(seen.find("Transfer-Encoding: chunked"), std::string::npos) << seen;
  EXPECT_NE(seen.find("Cache-Control: no-cache"), std::string::npos) << seen;
  EXPECT_NE(seen.find("Connection: close"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("ignored"), std::string::npos) << "the head's body is not sent";
  http::Stream stream = handler.stream(0);
  EXPECT_FALSE(handler.second_stream_open_.load());
  ASSERT_TRUE(stream.is_open());
  ASSERT_TRUE(stream.write("data: one\n\n"));
  ASSERT_TRUE(read_until(fd, seen, "data: one\n\n")) << seen;
  EXPECT_NE(seen.find("b\r\ndata: one\n\n\r\n"), std::string::npos) << "one chunk of 11 bytes";
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(stream.write(fmt::format("data: {}\n\n", i)));
  stream.close();
  EXPECT_FALSE(stream.write("data: after\n\n")) << "nothing is queued after close";
  std::string rest = read_to_end(fd);  // the server closes after the last chunk
  close(fd);
  seen += rest;
  size_t last = 0;
  for (int i = 0; i < 100; ++i) {
    size_t at = seen.find(fmt::format("data: {}\n\n", i), last);
    ASSERT_NE(at, std::string::npos) << i;
    last = at;
  }
  EXPECT_TRUE(seen.ends_with("\r\n0\r\n\r\n")) << "the last chunk ends the body";
  EXPECT_EQ(seen.find("late"), std::string::npos);
  EXPECT_TRUE(handler.wait_ended(1));
  EXPECT_EQ(stream.queued_bytes(), 0u);
}

TEST(StreamTest, AClientThatLeavesEndsTheStream) {
  StreamHandler handler;
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  int fd = open_stream(server->port());
  std::string seen;
  ASSERT_TRUE(read_until(fd, seen, "\r\n\r\n"));
  http::Stream stream = handler.stream(0);
  close(fd);
  EXPECT_TRUE(handler.wait_ended(1)) << "on_end after the client closed, without a write";
  EXPECT_FALSE(stream.is_open());
  EXPECT_FALSE(stream.write("data: nobody\n\n"));
  // The server goes on serving.
  auto reply = http::call(url_of(server->port()), "GET", "/");
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply.value().body, "plain");
}

TEST(StreamTest, AClientThatDoesNotReadIsCutAtTheQueueLimit) {
  constexpr size_t kLimit = 64 * 1024;
  StreamHandler handler(kLimit);
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  int fd = connect_loopback(server->port());
  ASSERT_GE(fd, 0);
  int small = 4096;  // a small receive window, so the socket buffers fill soon
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_TRUE(send_all(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  http::Stream stream = handler.stream(0);
  std::string chunk(1024, 'x');
  size_t written = 0;
  bool refused = false;
  // Socket buffers take a few MB at most; then the queue fills and the stream is cut.
  for (int i = 0; i < 64 * 1024 && !refused; ++i) {
    if (stream.write(chunk)) {
      written += chunk.size();
      EXPECT_LE(stream.queued_bytes(), kLimit);
    } else {
      refused = true;
    }
  }
  EXPECT_TRUE(refused) << "wrote " << written << " bytes to a client that reads nothing";
  EXPECT_FALSE(stream.is_open());
  EXPECT_TRUE(handler.wait_ended(1));
  EXPECT_EQ(stream.queued_bytes(), 0u) << "the queue is dropped";
  close(fd);
}

TEST(StreamTest, AbortCutsTheConnectionWithoutTheLastChunk) {
  StreamHandler handler;
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  int fd = open_stream(server->port());
  std::string seen;
  ASSERT_TRUE(read_until(fd, seen, "\r\n\r\n"));
  http::Stream stream = handler.stream(0);
  ASSERT_TRUE(stream.write("data: x\n\n"));
  ASSERT_TRUE(read_until(fd, seen, "data: x\n\n"));
  stream.abort();
  seen += read_to_end(fd);
  close(fd);
  EXPECT_FALSE(seen.ends_with("0\r\n\r\n")) << seen;
  EXPECT_TRUE(handler.wait_ended(1));
}

TEST(StreamTest, GracefulShutdownEndsStreamsAtOnceAfterWhatIsQueued) {
  StreamHandler handler;
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  int fd = open_stream(server->port());
  std::string seen;
  ASSERT_TRUE(read_until(fd, seen, "\r\n\r\n"));
  http::Stream stream = handler.stream(0);
  ASSERT_TRUE(stream.write("data: before the stop\n\n"));
  auto start = std::chrono::steady_clock::now();
  server->shutdown(10'000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s) << "shutdown waited for the stream";
  seen += read_to_end(fd);
  close(fd);
  EXPECT_NE(seen.find("data: before the stop\n\n"), std::string::npos) << seen;
  EXPECT_TRUE(seen.ends_with("\r\n0\r\n\r\n")) << seen;
  EXPECT_TRUE(handler.wait_ended(1));
  EXPECT_FALSE(stream.write("data: after\n\n"));
  server.reset();
  EXPECT_EQ(handler.ended(), 1) << "on_end runs once";
}

TEST(StreamTest, AStreamOutlivesTheServerHarmlessly) {
  StreamHandler handler;
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  int fd = open_stream(server->port());
  std::string seen;
  ASSERT_TRUE(read_until(fd, seen, "\r\n\r\n"));
  http::Stream stream = handler.stream(0);
  server.reset();  // stop() without grace: on_end runs on this thread
  EXPECT_EQ(handler.ended(), 1);
  EXPECT_FALSE(stream.write("data: late\n\n"));
  stream.close();
  stream.abort();
  close(fd);
}

}  // namespace
}  // namespace aethel::test
