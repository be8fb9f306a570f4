// http::AsyncClient: several requests in flight per origin, a bounded queue,
// per-request timeouts, close(), and servers that close connections.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>

#include "test_servers.h"

namespace aethel::test {
namespace {

using Clock = std::chrono::steady_clock;
using Answer = std::future<base::Result<http::Reply>>;

class AsyncClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = start_server(handler_);
    ASSERT_NE(server_, nullptr);
    runner_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    client_.reset();
    work_.reset();
    runner_.join();
  }

  http::AsyncClient& client(size_t max_connections, size_t max_queued = 1024) {
    http::PoolOptions options;
    options.max_connections = max_connections;
    options.max_queued = max_queued;
    auto created = http::AsyncClient::create(io_, options);
    EXPECT_TRUE(created.ok());
    client_ = std::move(created).value();
    return *client_;
  }

  Answer send(uint16_t port, std::string method, std::string target, uint32_t timeout_ms = 10'000) {
    auto promise = std::make_shared<std::promise<base::Result<http::Reply>>>();
    Answer answer = promise->get_future();
    client_->send(
        url_of(port), {std::move(method), std::move(target), "", {}, timeout_ms},
        [promise](base::Result<http::Reply> reply) { promise->set_value(std::move(reply)); });
    return answer;
  }
  Answer send(std::string target, uint32_t timeout_ms = 10'000) {
    return send(server_->port(), "GET", std::move(target), timeout_ms);
  }

  static base::Result<http::Reply> wait(Answer& answer) {
    if (answer.wait_for(20s) != std::future_status::ready) {
      return base::Error{"test", "no callback within 20 s"};
    }
    return answer.get();
  }
  static std::string code_of(const base::Result<http::Reply>& reply) {
    return reply.ok() ? "ok" : reply.error().code;
  }

  TestHandler handler_;
  std::unique_ptr<http::Server> server_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::thread runner_;
  std::unique_ptr<http::AsyncClient> client_;
};

TEST_F(AsyncClientTest, SeveralRequestsAreInFlightAtOnce) {
  client(4);
  std::vector<Answer> answers;
  for (int i = 0; i < 4; ++i) answers.push_back(send("/later"));
  // The server holds each request until four are there at once: only possible if
  // the client has four in flight.
  ASSERT_TRUE(handler_.wait_held(4));
  handler_.release_all();
  for (Answer& answer : answers) {
    auto reply = wait(answer);
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    EXPECT_EQ(reply.value().body, "released");
  }
}

TEST_F(AsyncClientTest, RequestsBeyondTheConnectionsQueueAndAllComplete) {
  client(2);
  std::vector<Answer> answers;
  for (int i = 0; i < 6; ++i) answers.push_back(send("/later"));
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(handler_.wait_held(2)) << "round " << round;
    handler_.release_all();
  }
  for (Answer& answer : answers) EXPECT_EQ(code_of(wait(answer)), "ok");
  EXPECT_EQ(handler_.max_held(), 2u) << "never more in flight than connections";
}

TEST_F(AsyncClientTest, ATimedOutRequestFailsAloneAndItsConnectionIsReplaced) {
  client(2);
  auto start = Clock::now();
  Answer slow = send("/later", 300);
  ASSERT_TRUE(handler_.wait_held(1));
  Answer fast = send("/echo");
  EXPECT_EQ(code_of(wait(fast)), "ok") << "the other connection is not affected";
  auto timed_out = wait(slow);
  auto elapsed = Clock::now() - start;
  ASSERT_EQ(code_of(timed_out), "timeout");
  EXPECT_NE(timed_out.error().message.find("within 300 ms"), std::string::npos);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 5s);
  Answer after = send("/echo");
  EXPECT_EQ(code_of(wait(after)), "ok");
  handler_.release_all();
}

TEST_F(AsyncClientTest, ARequestTimesOutWhileQueued) {
  client(1);
  Answer held = send("/later");
  ASSERT_TRUE(handler_.wait_held(1));
  Answer queued = send("/echo", 200);
  EXPECT_EQ(code_of(wait(queued)), "timeout");
  handler_.release_all();
  EXPECT_EQ(code_of(wait(held)), "ok");
}

TEST_F(AsyncClientTest, AFullQueueRefusesAtOnce) {
  client(1, /*max_queued=*/1);
  Answer held = send("/later");
  ASSERT_TRUE(handler_.wait_held(1));
  Answer queued = send("/echo");
  Answer refused = send("/echo");
  auto reply = wait(refused);
  ASSERT_EQ(code_of(reply), "queue_full");
  EXPECT_NE(reply.error().message.find("1 requests already wait"), std::string::npos);
  handler_.release_all();
  EXPECT_EQ(code_of(wait(held)), "ok");
  EXPECT_EQ(code_of(wait(queued)), "ok");
}

TEST_F(AsyncClientTest, CloseCancelsQueuedAndInFlightRequests) {
  client(1);
  Answer held = send("/later");
  ASSERT_TRUE(handler_.wait_held(1));
  Answer queued = send("/echo");
  client_->close();
  EXPECT_EQ(code_of(wait(held)), "cancelled");
  EXPECT_EQ(code_of(wait(queued)), "cancelled");
  Answer after = send("/echo");
  EXPECT_EQ(code_of(wait(after)), "cancelled");
  handler_.release_all();
}

TEST_F(AsyncClientTest, AServerThatClosesAfterEveryAnswerIsDialedAgain) {
  ScriptedServer scripted([](int fd, int) {
    if (!read_message(fd).empty()) send_all(fd, kOkClose);
  });
  client(1);
  for (int i = 0; i < 5; ++i) {
    Answer answer = send(scripted.port(), "GET", "/");
    auto reply = wait(answer);
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    EXPECT_EQ(reply.value().body, "ok");
  }
  EXPECT_EQ(scripted.connections(), 5);
}

// The server answers the first request kept-alive, reads the second and closes
// without answering (an idle timeout racing a new request): the client resends it
// on a new connection.
TEST_F(AsyncClientTest, ARequestLostOnAReusedConnectionIsSentAgain) {
  ScriptedServer scripted([](int fd, int number) {
    if (number == 1) {
      if (read_message(fd).empty()) return;
      send_all(fd, kOkKeepAlive);
      read_message(fd);  // the second request, then close without an answer
      return;
    }
    while (!read_message(fd).empty()) send_all(fd, kOkKeepAlive);
  });
  client(1);
  Answer first = send(scripted.port(), "GET", "/1");
  ASSERT_EQ(code_of(wait(first)), "ok");
  Answer second = send(scripted.port(), "POST", "/2");
  auto reply = wait(second);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(scripted.connections(), 2);
}

TEST_F(AsyncClientTest, AServerThatClosesAFreshConnectionWithoutAnswerIsAnError) {
  ScriptedServer scripted([](int fd, int) { read_message(fd); });
  client(1);
  Answer answer = send(scripted.port(), "GET", "/");
  auto reply = wait(answer);
  ASSERT_EQ(code_of(reply), "closed");
  EXPECT_NE(reply.error().message.find("closed the connection before a complete answer"),
            std::string::npos);
  EXPECT_EQ(scripted.connections(), 1) << "a fresh connection is not retried";
}

// A server that sends part of an answer and then nothing: the stall timeout ends the
// exchange long before the request's own timeout.
TEST_F(AsyncClientTest, AStalledAnswerFailsAfterTheStallTimeout) {
  ScriptedServer scripted([](int fd, int) {
    if (read_message(fd).empty()) return;
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
    read_message(fd);  // waits until the client gives up and closes
  });
  client(1);
  auto promise = std::make_shared<std::promise<base::Result<http::Reply>>>();
  Answer answer = promise->get_future();
  auto start = Clock::now();
  client_->send(url_of(scripted.port()), {"GET", "/", "", {}, 20'000, 300},
                [promise](base::Result<http::Reply> r) { promise->set_value(std::move(r)); });
  auto reply = wait(answer);
  ASSERT_EQ(code_of(reply), "timeout");
  EXPECT_NE(reply.error().message.find("stalled: no byte moved for 300 ms"), std::string::npos)
      << reply.error().message;
  EXPECT_LT(Clock::now() - start, 5s);
}

// The same stall timeout lets a slow answer through as long as bytes keep coming.
TEST_F(AsyncClientTest, ASlowButMovingAnswerIsNotCut) {
  ScriptedServer scripted([](int fd, int) {
    if (read_message(fd).empty()) return;
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
    for (char c : std::string("slow answer!")) {
      std::this_thread::sleep_for(100ms);  // the pace of a slow link: 1.2 s in all
      send_all(fd, std::string(1, c));
    }
  });
  client(1);
  auto promise = std::make_shared<std::promise<base::Result<http::Reply>>>();
  Answer answer = promise->get_future();
  client_->send(url_of(scripted.port()), {"GET", "/", "", {}, 20'000, 500},
                [promise](base::Result<http::Reply> r) { promise->set_value(std::move(r)); });
  auto reply = wait(answer);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply.value().body, "slow answer!");
}

TEST_F(AsyncClientTest, GarbageIsABadReply) {
  ScriptedServer scripted([](int fd, int) {
    if (!read_message(fd).empty()) send_all(fd, "SMTP READY\r\n\r\n");
  });
  client(1);
  Answer answer = send(scripted.port(), "GET", "/");
  EXPECT_EQ(code_of(wait(answer)), "bad_reply");
}

TEST_F(AsyncClientTest, NobodyListeningIsAConnectError) {
  uint16_t port = 0;
  {
    ScriptedServer gone([](int, int) {});
    port = gone.port();
  }
  client(1);
  Answer answer = send(port, "GET", "/");
  EXPECT_EQ(code_of(wait(answer)), "connect_failed");
}

}  // namespace
}  // namespace aethel::test
