// Operations (issue 7) against the real `aethel node` process: GET /metrics moves
// with activity, --log-format json writes one JSON object per line, and SIGTERM
// stops the node in time without losing an acknowledged transfer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <sstream>

#include "node_process.h"

namespace aethel::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kGenesisTotal = 1000 + 500 + 250;  // Alice, Bob, Charlie (SPEC §3)
constexpr auto kStopBudget = std::chrono::seconds(5);

// The value of the sample `series` (name plus labels, exactly as rendered), or
// nullopt when the exposition has no such line.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

std::string scrape(const NodeProcess& node) {
  auto reply = http::call(node.url(), "GET", "/metrics", {}, http::with_timeout_ms(10'000));
  EXPECT_TRUE(reply.ok());
  if (!reply.ok()) return {};
  EXPECT_EQ(reply.value().status, 200u);
  return reply.value().body;
}

json::object transfer(const std::string& id, std::string_view from, std::string_view to,
                      int64_t amount) {
  return json::object{{"id", id}, {"from", from}, {"to", to}, {"amount", amount}};
}

int64_t total_balance(const http::Url& endpoint) {
  auto reply = http::call(endpoint, "GET", "/api/lattice/state");
  EXPECT_TRUE(reply.ok());
  if (!reply.ok()) return -1;
  json::value state = json::parse(reply.value().body);
  int64_t total = 0;
  for (const auto& [name, account] : state.at("state").as_object()) {
    total += account.at("balance").to_number<int64_t>();
  }
  return total;
}

// A node started with command-line arguments, stdout and stderr kept apart; the
// exit is waited for with a deadline, so a hung stop fails instead of hanging.
class ChildNode {
 public:
  ChildNode(std::filesystem::path root, std::vector<std::string> args)
      : root_(std::move(root)), port_(free_loopback_port()), args_(std::move(args)) {}
  ~ChildNode() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  http::Url url() const { return http::Url{false, "127.0.0.1", port_, ""}; }
  std::string stdout_text() const { return read(root_ / "stdout.log"); }
  std::string stderr_text() const { return read(root_ / "stderr.log"); }

  void start() {
    std::vector<std::string> env = {
        "AETHEL_DATA_DIR=" + (root_ / "data").string(),
        "AETHEL_LOG_DIR=" + (root_ / "logs").string(),
        "AETHEL_API_HOST=127.0.0.1",
        "AETHEL_API_PORT=" + std::to_string(port_),
        "AETHEL_NODE_NAME=ops-node",
        "AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/0",
        "PATH=/usr/bin:/bin",
    };
    std::vector<std::string> argv_text = {AETHEL_BINARY, "node"};
    argv_text.insert(argv_text.end(), args_.begin(), args_.end());
    std::string out = (root_ / "stdout.log").string(), err = (root_ / "stderr.log").string();
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      if (chdir(root_.c_str()) != 0) _exit(126);
      dup2(open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644), 1);
      dup2(open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644), 2);
      std::vector<char*> envp, argv;
      for (std::string& e : env) envp.push_back(e.data());
      for (std::string& a : argv_text) argv.push_back(a.data());
      envp.push_back(nullptr);
      argv.push_back(nullptr);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      ASSERT_EQ(waitpid(pid_, nullptr, WNOHANG), 0) << "exited at start: " << stderr_text();
      auto reply = http::call(url(), "GET", "/health", {}, http::with_timeout_ms(1000));
      if (reply.ok() && reply.value().status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
    }
    FAIL() << "not ready in 30 s: " << stderr_text();
  }

  void signal(int number) { ::kill(pid_, number); }

  // The exit code (128 + signal when killed), or nullopt if the process still runs
  // after `budget` (it is then killed).
  std::optional<int> wait_exit(std::chrono::milliseconds budget) {
    auto deadline = Clock::now() + budget;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  static std::string read(const std::filesystem::path& path) {
    std::ifstream file(path);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }
  std::filesystem::path root_;
  uint16_t port_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = make_temp_dir("ops"); }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path root_;
};

TEST_F(OpsTest, MetricsAreServedAndMoveWithCommits) {
  NodeProcess node(root_);
  node.start();
  std::string before = scrape(node);
  for (const char* name :
       {"aethel_commits_total", "aethel_height", "aethel_transactions_total{outcome=\"committed\"}",
        "aethel_transactions_total{outcome=\"rejected\"}", "aethel_fallback_activations_total",
        "aethel_divergences_total", "aethel_peers{transport=\"p2p\"}",
        "aethel_peers{transport=\"http\"}", "aethel_sync_mode{mode=\"auto\"}", "aethel_raft_term",
        "aethel_is_leader", "aethel_fsync_duration_seconds_count",
        "aethel_commit_latency_seconds_count", "aethel_http_request_duration_seconds_count"}) {
    EXPECT_TRUE(sample(before, name)) << name << " missing in:\n" << before;
  }
  EXPECT_EQ(sample(before, "aethel_is_leader"), 1.0) << "a standalone node leads itself";
  double height_before = sample(before, "aethel_height").value_or(-1);
  double commits_before = sample(before, "aethel_commits_total").value_or(-1);

  constexpr int kRequests = 3;
  for (int i = 0; i < kRequests; ++i) {
    json::array items{transfer(fmt::format("m-{}", i), "Alice", "Bob", 1),
                      transfer(fmt::format("m-{}-big", i), "Charlie", "Bob", 1'000'000)};
    auto reply = node.post("/api/lattice/transactions", json::object{{"transactions", items}});
    ASSERT_EQ(reply.status, 200u);
  }

  std::string after = scrape(node);
  double height_after = sample(after, "aethel_height").value_or(-1);
  double commits_after = sample(after, "aethel_commits_total").value_or(-1);
  EXPECT_GE(height_after, height_before + kRequests) << after;
  EXPECT_EQ(commits_after - commits_before, height_after - height_before) << after;
  EXPECT_GE(sample(after, "aethel_transactions_total{outcome=\"committed\"}").value_or(0),
            kRequests);
  EXPECT_GE(sample(after, "aethel_transactions_total{outcome=\"rejected\"}").value_or(0),
            kRequests);
  EXPECT_EQ(
      sample(after,
             "aethel_http_requests_total{route=\"/api/lattice/transactions\",status=\"200\"}"),
      kRequests)
      << after;
  EXPECT_GE(sample(after, "aethel_fsync_duration_seconds_count").value_or(0), kRequests);
  EXPECT_GE(sample(after, "aethel_commit_latency_seconds_count").value_or(0), kRequests);

  // Paths with an argument are counted under their template, not the raw path.
  node.get("/api/lattice/accounts/Alice");
  std::string templated = scrape(node);
  EXPECT_TRUE(sample(templated,
                     "aethel_http_requests_total{route=\"/api/lattice/accounts/"
                     "{name}\",status=\"200\"}"))
      << templated;
  EXPECT_EQ(templated.find("accounts/Alice"), std::string::npos);
  EXPECT_EQ(node.stop(), 0);
}

// Every line on stdout and in logs/<node>.log parses as a JSON object with the
// five fields.
void expect_json_lines(const std::string& text, std::string_view where) {
  std::istringstream lines(text);
  std::string line;
  size_t count = 0;
  while (std::getline(lines, line)) {
    ++count;
    json::error_code ec;
    json::value value = json::parse(line, ec);
    ASSERT_FALSE(ec) << where << ": not JSON: " << line;
    ASSERT_TRUE(value.is_object()) << where << ": " << line;
    for (const char* field : {"ts", "level", "tag", "message", "node"}) {
      ASSERT_TRUE(value.as_object().contains(field)) << where << ": no " << field << ": " << line;
    }
    EXPECT_EQ(value.at("node").as_string(), "ops-node") << line;
  }
  EXPECT_GE(count, 3u) << where << " has too few lines:\n" << text;
}

TEST_F(OpsTest, JsonLogFormatWritesOneObjectPerLine) {
  ChildNode node(root_, {"--log-format", "json"});
  node.start();
  ASSERT_EQ(http::call(node.url(), "POST", "/api/lattice/transactions",
                       R"({"transactions": [{"id": "j-1", "from": "Alice", "to": "Bob",
                               "amount": 5}]})")
                .value()
                .status,
            200u);
  node.signal(SIGTERM);
  ASSERT_EQ(node.wait_exit(std::chrono::seconds(10)), 0);
  std::string out = node.stdout_text();
  expect_json_lines(out, "stdout");
  EXPECT_NE(out.find(R"("tag":"P2P","message":"Peer ID: 12D3KooW)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("tag":"API","message":"listening on)"), std::string::npos) << out;
  std::ifstream file(root_ / "logs" / "ops-node.log");
  expect_json_lines(std::string(std::istreambuf_iterator<char>(file), {}), "log file");
}

TEST_F(OpsTest, UnknownLogFormatIsRefusedWithOneLine) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Only the start path is exercised: the process must exit by itself with 1.
    execl(AETHEL_BINARY, AETHEL_BINARY, "node", "--log-format", "xml", "--port", "0",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

// A restart replays the committed log after the last snapshot: a backlog of that
// size reports its progress ("[SYNC] applied blocks A..B (n/total)").
TEST_F(OpsTest, RestartReplayLogsProgress) {
  constexpr int kBlocks = 70;  // above the node's 64-entry progress threshold
  NodeProcess node(root_);
  node.start();
  auto connection = http::Connection::open(node.url());
  ASSERT_TRUE(connection.ok());
  for (int i = 0; i < kBlocks; ++i) {  // one at a time: one block each
    json::object body{
        {"transactions", json::array{transfer(fmt::format("r-{}", i), "Alice", "Bob", 1)}}};
    auto reply =
        connection.value()->call("POST", "/api/lattice/transactions", json::serialize(body));
    ASSERT_TRUE(reply.ok() && reply.value().status == 200);
  }
  connection.value().reset();
  ASSERT_EQ(node.stop(), 0);
  node.start();
  std::string out = node.output();
  EXPECT_NE(out.find("[SYNC] applied blocks "), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("..{} (", kBlocks)), std::string::npos) << out;
  EXPECT_EQ(node.stop(), 0);
}

// Transfers on kept-alive connections from several clients; SIGTERM in the middle.
// Every transfer answered 200 "committed" must survive the restart.
TEST_F(OpsTest, SigtermStopsInTimeAndLosesNoAcknowledgedTransfer) {
  constexpr int kClients = 8;
  constexpr size_t kCommitsBeforeStop = 300;
  auto node = std::make_unique<ChildNode>(root_, std::vector<std::string>{});
  node->start();

  std::mutex mutex;
  std::vector<std::string> acknowledged;
  std::atomic<size_t> acknowledged_count{0};
  std::atomic<bool> sigterm_sent{false};
  std::atomic<size_t> answered_after_sigterm{0};
  std::atomic<size_t> errors_before_sigterm{0};
  std::vector<std::string> unanswered;  // each client's last request, cut by the stop
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto connection = http::Connection::open(node->url(), http::with_timeout_ms(10'000));
      if (!connection.ok()) return;
      for (int n = 0;; ++n) {
        std::string id = fmt::format("s-{}-{}", c, n);
        bool forward = (n % 2) == 0;  // back and forth: nobody runs out of money
        json::object body{{"transactions", json::array{transfer(id, forward ? "Alice" : "Bob",
                                                                forward ? "Bob" : "Alice", 1)}}};
        auto reply =
            connection.value()->call("POST", "/api/lattice/transactions", json::serialize(body));
        bool after = sigterm_sent.load();
        if (!reply.ok() || reply.value().status != 200) {
          if (!after) ++errors_before_sigterm;
          std::lock_guard lock(mutex);
          unanswered.push_back(id);
          return;  // the server closed this connection: the stop has begun
        }
        json::value parsed = json::parse(reply.value().body);
        if (parsed.at("results").as_array().at(0).at("status").as_string() == "committed") {
          std::lock_guard lock(mutex);
          acknowledged.push_back(id);
          ++acknowledged_count;
        }
        if (after) ++answered_after_sigterm;
      }
    });
  }
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (acknowledged_count.load() < kCommitsBeforeStop && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval
  }
  ASSERT_GE(acknowledged_count.load(), kCommitsBeforeStop) << "the load never got going";

  auto sigterm_at = Clock::now();
  sigterm_sent.store(true);
  node->signal(SIGTERM);
  std::optional<int> exit_code = node->wait_exit(std::chrono::seconds(10));
  auto stop_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sigterm_at).count();
  for (std::thread& t : clients) t.join();
  ASSERT_TRUE(exit_code.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_EQ(*exit_code, 0) << node->stderr_text();
  EXPECT_LT(stop_ms, std::chrono::milliseconds(kStopBudget).count());
  EXPECT_EQ(errors_before_sigterm.load(), 0u);
  std::string out = node->stdout_text();
  EXPECT_NE(out.find("[NODE] SIGTERM received, stopping"), std::string::npos) << out;
  EXPECT_NE(out.find("[NODE] stopped in"), std::string::npos) << out;
  std::cout << fmt::format("{} transfers acknowledged, {} answered after SIGTERM, stop in {} ms\n",
                           acknowledged.size(), answered_after_sigterm.load(), stop_ms);

  // Restart on the same data: every acknowledged transfer is there, money conserved.
  node = std::make_unique<ChildNode>(root_, std::vector<std::string>{});
  node->start();
  auto reader = http::Connection::open(node->url(), http::with_timeout_ms(10'000));
  ASSERT_TRUE(reader.ok());
  size_t missing = 0;
  for (const std::string& id : acknowledged) {
    auto reply = reader.value()->call("GET", "/api/lattice/tx/" + id);
    if (!reply.ok() || reply.value().status != 200 ||
        json::parse(reply.value().body).at("status").as_string() != "committed") {
      ++missing;
    }
  }
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged transfers";
  // A request the server had read was answered before its connection closed, so a
  // request that got no answer was never processed: dropping in-flight requests
  // (answering nothing, committing anyway) fails here.
  for (const std::string& id : unanswered) {
    auto reply = reader.value()->call("GET", "/api/lattice/tx/" + id);
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply.value().status, 404u) << id << " was committed but never answered";
  }
  EXPECT_EQ(total_balance(node->url()), kGenesisTotal);
  node->signal(SIGTERM);
  EXPECT_EQ(node->wait_exit(std::chrono::seconds(10)), 0);
}

}  // namespace
}  // namespace aethel::test
