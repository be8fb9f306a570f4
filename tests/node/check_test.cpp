// `aethel status` and `aethel check` (SPEC §6.5) against real `aethel node`
// processes on loopback. Two standalone nodes with the same genesis stand in for a
// lattice: their roots agree until one of them commits a transfer.
#include <stdio.h>
#include <sys/wait.h>

#include <sstream>

#include "node_process.h"

namespace aethel::test {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `aethel ARGS` and collects its output; the arguments are URLs and flags
// built by the test, so no shell quoting is needed.
CommandResult run_aethel(const std::string& args) {
  std::string command = std::string(AETHEL_BINARY) + " " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t read = 0;
  while ((read = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, read);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string url_of(const NodeProcess& node) {
  return "http://127.0.0.1:" + std::to_string(node.port());
}

json::object parse_object(const std::string& text) {
  json::error_code ec;
  json::value value = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return value.is_object() ? value.as_object() : json::object{};
}

const json::object& check_named(const json::object& report, std::string_view name) {
  for (const json::value& check : report.at("checks").as_array()) {
    if (check.at("name").as_string() == name) return check.as_object();
  }
  static const json::object kMissing;
  ADD_FAILURE() << "no check named " << name << " in " << json::serialize(report);
  return kMissing;
}

std::string failures_of(const json::object& check) {
  std::string out;
  if (!check.contains("failures")) return out;
  for (const json::value& failure : check.at("failures").as_array()) {
    out += std::string(failure.as_string()) + "\n";
  }
  return out;
}

std::string p2p_listen() {
  return "/ip4/127.0.0.1/tcp/" + std::to_string(free_loopback_port());
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_a_ = make_temp_dir("check-a");
    dir_b_ = make_temp_dir("check-b");
    node_a_ = std::make_unique<NodeProcess>(dir_a_);
    node_b_ = std::make_unique<NodeProcess>(dir_b_);
    // P2P on loopback and on its own port: the default 0.0.0.0:9000 would be shared.
    node_a_->start({"AETHEL_P2P_LISTEN=" + p2p_listen()});
    node_b_->start({"AETHEL_P2P_LISTEN=" + p2p_listen()});
  }
  void TearDown() override {
    node_a_.reset();
    node_b_.reset();
    std::filesystem::remove_all(dir_a_);
    std::filesystem::remove_all(dir_b_);
  }

  void transfer(NodeProcess& node, const std::string& id, int amount) {
    json::array items{
        json::object{{"id", id}, {"from", "Alice"}, {"to", "Bob"}, {"amount", amount}}};
    auto reply = node.post("/api/lattice/transactions", json::object{{"transactions", items}});
    ASSERT_EQ(reply.status, 200u) << json::serialize(reply.body);
    ASSERT_EQ(reply.body.at("results").as_array()[0].at("status").as_string(), "committed");
  }

  std::filesystem::path dir_a_, dir_b_;
  std::unique_ptr<NodeProcess> node_a_, node_b_;
};

TEST(CheckUnreachableTest, UnreachableUrlExitsOneAndIsNamed) {
  std::string url = "http://127.0.0.1:" + std::to_string(free_loopback_port());
  CommandResult result = run_aethel("check " + url);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("FAIL reachable: " + url + " is unreachable"), std::string::npos)
      << result.output;
}

TEST(CheckUnreachableTest, UnreachableUrlInJsonIsNotReachable) {
  std::string url = "http://127.0.0.1:" + std::to_string(free_loopback_port());
  CommandResult result = run_aethel("check --json " + url);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  json::object report = parse_object(result.output);
  ASSERT_TRUE(report.contains("nodes")) << result.output;
  EXPECT_FALSE(report.at("healthy").as_bool());
  EXPECT_FALSE(report.at("nodes").as_array()[0].at("reachable").as_bool());
  EXPECT_FALSE(check_named(report, "reachable").at("ok").as_bool());
}

TEST(CheckUsageTest, NoUrlIsAUsageError) {
  EXPECT_EQ(run_aethel("check").exit_code, 2);
  EXPECT_EQ(run_aethel("status").exit_code, 2);
}

TEST_F(CheckTest, StatusPrintsOneRowPerNode) {
  std::string down = "http://127.0.0.1:" + std::to_string(free_loopback_port());
  CommandResult result =
      run_aethel("status --nodes " + url_of(*node_a_) + "," + url_of(*node_b_) + "," + down);
  EXPECT_EQ(result.exit_code, 1) << "one node is down: " << result.output;
  std::istringstream lines(result.output);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(lines, line)) {
    if (line.starts_with("http://")) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 3u) << result.output;
  EXPECT_TRUE(rows[0].starts_with(url_of(*node_a_) + " ")) << rows[0];
  EXPECT_TRUE(rows[1].starts_with(url_of(*node_b_) + " ")) << rows[1];
  EXPECT_NE(rows[0].find(" yes "), std::string::npos) << rows[0];
  EXPECT_NE(rows[2].find("unreachable"), std::string::npos) << rows[2];

  CommandResult both = run_aethel("status --nodes " + url_of(*node_a_) + "," + url_of(*node_b_));
  EXPECT_EQ(both.exit_code, 0) << both.output;
}

TEST_F(CheckTest, SameGenesisGivesTheSameRoot) {
  CommandResult result = run_aethel("check --json " + url_of(*node_a_) + " " + url_of(*node_b_));
  json::object report = parse_object(result.output);
  ASSERT_TRUE(report.contains("nodes")) << result.output;
  const json::array& nodes = report.at("nodes").as_array();
  ASSERT_EQ(nodes.size(), 2u);
  ASSERT_TRUE(nodes[0].at("merkle_root").is_string()) << result.output;
  EXPECT_EQ(nodes[0].at("merkle_root"), nodes[1].at("merkle_root"));
  EXPECT_EQ(nodes[0].at("height"), nodes[1].at("height"));
  const json::object& roots = check_named(report, "roots");
  EXPECT_TRUE(roots.at("ok").as_bool()) << failures_of(roots);
  // Standalone nodes have no peers (or do not serve p2p/status yet): never healthy.
  EXPECT_FALSE(check_named(report, "peers").at("ok").as_bool());
  EXPECT_FALSE(report.at("healthy").as_bool());
  EXPECT_EQ(result.exit_code, 1);
}

TEST_F(CheckTest, TransferOnOneNodeIsARootMismatch) {
  transfer(*node_a_, "check-mismatch-1", 10);
  CommandResult result =
      run_aethel("check --settle-ms 1000 " + url_of(*node_a_) + " " + url_of(*node_b_));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("FAIL roots: root mismatch"), std::string::npos) << result.output;
}

TEST_F(CheckTest, DifferentTransfersAtTheSameHeightAreARootMismatch) {
  transfer(*node_a_, "check-same-height-a", 10);
  transfer(*node_b_, "check-same-height-b", 20);
  CommandResult result = run_aethel("check --json " + url_of(*node_a_) + " " + url_of(*node_b_));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  json::object report = parse_object(result.output);
  ASSERT_TRUE(report.contains("checks")) << result.output;
  const json::object& roots = check_named(report, "roots");
  EXPECT_FALSE(roots.at("ok").as_bool());
  EXPECT_NE(failures_of(roots).find("root mismatch at the same height"), std::string::npos)
      << failures_of(roots);
}

}  // namespace
}  // namespace aethel::test
