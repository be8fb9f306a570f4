// http::Server and the blocking client against each other on 127.0.0.1: exchanges,
// body limits for every framing, answers that come later from another thread, and
// graceful shutdown.
#include <future>

#include "test_servers.h"

namespace aethel::test {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = start_server(handler_);
    ASSERT_NE(server_, nullptr);
  }
  http::Url url() const { return url_of(server_->port()); }
  http::Reply call(std::string_view method, std::string_view target, std::string_view body = {}) {
    auto reply = http::call(url(), method, target, body, http::with_timeout_ms(10'000));
    EXPECT_TRUE(reply.ok()) << (reply.ok() ? "" : reply.error().message);
    return reply.ok() ? reply.value() : http::Reply{};
  }
  // One request written by hand; the whole answer (the server closes after it).
  std::string raw(const std::string& request) {
    int fd = connect_loopback(server_->port());
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(send_all(fd, request));
    std::string answer = read_to_end(fd);
    close(fd);
    return answer;
  }

  TestHandler handler_;  // declared first: outlives the server
  std::unique_ptr<http::Server> server_;
};

TEST_F(ServerTest, ACallCarriesMethodTargetBodyAndHost) {
  http::Reply reply = call("POST", "/echo?x=1", "hello");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.body, "hello");
  EXPECT_EQ(reply.header("X-Method"), "POST");
  EXPECT_EQ(reply.header("x-target"), "/echo?x=1");  // header names in any case
  EXPECT_EQ(reply.header("X-Host"), fmt::format("127.0.0.1:{}", server_->port()));
  EXPECT_EQ(reply.header("Content-Type"), "text/plain");
}

TEST_F(ServerTest, TheBasePathOfTheUrlPrefixesEveryTarget) {
  auto base = http::parse_url(fmt::format("http://127.0.0.1:{}/aethel/", server_->port()));
  ASSERT_TRUE(base.ok());
  auto reply = http::call(base.value(), "GET", "/api/lattice/state?limit=0");
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply.value().header("X-Target"), "/aethel/api/lattice/state?limit=0");
}

TEST_F(ServerTest, AConnectionServesManyExchanges) {
  auto connection = http::Connection::open(url());
  ASSERT_TRUE(connection.ok());
  for (int i = 0; i < 20; ++i) {
    auto reply = connection.value()->call("POST", "/echo", std::to_string(i));
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    EXPECT_EQ(reply.value().body, std::to_string(i));
  }
  auto big = connection.value()->call("GET", "/big?3000000");
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big.value().body.size(), 3'000'000u);
}

TEST_F(ServerTest, TheBodyLimitHoldsForContentLength) {
  std::string under(60 * 1024, 'a'), over(70 * 1024, 'b');
  EXPECT_EQ(call("POST", "/echo", under).body.size(), under.size());
  http::Reply refused = call("POST", "/echo", over);
  EXPECT_EQ(refused.status, 413u);
  EXPECT_EQ(refused.body, "body_too_large: the request body exceeds the limit of 65536 bytes");
}

TEST_F(ServerTest, TheBodyLimitHoldsForChunkedBodies) {
  std::string accepted = raw(chunked_request("/echo", std::string(60 * 1024, 'c'), 4096));
  EXPECT_TRUE(accepted.starts_with("HTTP/1.1 200")) << accepted.substr(0, 200);
  EXPECT_NE(accepted.find(std::string(60 * 1024, 'c')), std::string::npos);
  std::string refused = raw(chunked_request("/echo", std::string(70 * 1024, 'd'), 4096));
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 413")) << refused.substr(0, 200);
  EXPECT_NE(refused.find("exceeds the limit of 65536 bytes"), std::string::npos) << refused;
}

TEST_F(ServerTest, ExpectContinueIsAnsweredBeforeTheBody) {
  int fd = connect_loopback(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd,
                       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\nConnection: close\r\n\r\n"));
  char buffer[64] = {};
  ssize_t n = recv(fd, buffer, sizeof buffer - 1, 0);  // before any body byte was sent
  ASSERT_GT(n, 0);
  EXPECT_TRUE(std::string_view(buffer, n).starts_with("HTTP/1.1 100 Continue")) << buffer;
  ASSERT_TRUE(send_all(fd, "hello"));
  std::string answer = read_to_end(fd);
  close(fd);
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_TRUE(answer.ends_with("hello")) << answer;
}

TEST_F(ServerTest, AnOversizedExpectContinueIsRefusedWithoutTheBody) {
  std::string answer =
      raw("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
          "Expect: 100-continue\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413")) << answer;
}

TEST_F(ServerTest, MalformedRequestsAndHugeHeadersAreRefused) {
  EXPECT_TRUE(raw("NOT HTTP AT ALL\r\n\r\n").starts_with("HTTP/1.1 400")) << "bad request";
  std::string huge = "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20'000, 'h') + "\r\n\r\n";
  std::string answer = raw(huge);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 431")) << answer.substr(0, 100);
}

TEST_F(ServerTest, DroppedOrThrowingHandlersAnswer500) {
  http::Reply dropped = call("GET", "/drop");
  EXPECT_EQ(dropped.status, 500u);
  EXPECT_EQ(dropped.body, "internal_error: the request was dropped unanswered");
  http::Reply thrown = call("GET", "/throw");
  EXPECT_EQ(thrown.status, 500u);
  EXPECT_EQ(thrown.body, "internal_error: the route failed");
  EXPECT_EQ(call("GET", "/echo").status, 200u);  // the server goes on
}

// With one io thread, requests whose answers come later (commits) must not hold it:
// another connection is served while eight wait.
TEST(ServerWaitingTest, WaitingRequestsHoldNoThread) {
  TestHandler handler;
  auto server = start_server(handler, {}, /*io_threads=*/1);
  ASSERT_NE(server, nullptr);
  std::vector<std::future<base::Result<http::Reply>>> waiting;
  for (int i = 0; i < 8; ++i) {
    waiting.push_back(std::async(std::launch::async, [port = server->port()] {
      return http::call(url_of(port), "GET", "/later", {}, http::with_timeout_ms(20'000));
    }));
  }
  ASSERT_TRUE(handler.wait_held(8));
  auto start = std::chrono::steady_clock::now();
  auto reply = http::call(url_of(server->port()), "POST", "/echo", "still here");
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply.value().body, "still here");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  handler.release_all();  // from this thread, not an io thread
  for (auto& answer : waiting) {
    auto released = answer.get();
    ASSERT_TRUE(released.ok()) << released.error().message;
    EXPECT_EQ(released.value().body, "released");
  }
}

TEST(ServerShutdownTest, ARequestBeingAnsweredGetsItsAnswerDuringTheGrace) {
  TestHandler handler;
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  auto held = std::async(std::launch::async, [port = server->port()] {
    return http::call(url_of(port), "GET", "/later");
  });
  ASSERT_TRUE(handler.wait_held(1));
  auto start = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] { server->shutdown(10'000); });
  // The answer arrives after shutdown began; the grace lets it out.
  handler.release_all();
  stopped.get();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "shutdown waited for the grace";
  auto reply = held.get();
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply.value().body, "released");
}

TEST(ServerShutdownTest, AfterTheGraceWhatIsLeftIsCutAndLateAnswersAreDropped) {
  TestHandler handler;
  auto server = start_server(handler);
  ASSERT_NE(server, nullptr);
  auto held = std::async(std::launch::async, [port = server->port()] {
    return http::call(url_of(port), "GET", "/later", {}, http::with_timeout_ms(20'000));
  });
  ASSERT_TRUE(handler.wait_held(1));
  server->shutdown(100);
  auto reply = held.get();
  EXPECT_FALSE(reply.ok()) << "the connection should have been cut";
  server.reset();
  handler.release_all();  // a late answer (a commit after the stop): dropped, no crash
}

}  // namespace
}  // namespace aethel::test
