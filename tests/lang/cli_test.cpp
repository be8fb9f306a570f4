// Runs the real `aethel` binary as a child process.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdio>

namespace {

struct Exited {
  int exit_code = -1;
  std::string output;
};

Exited run(const std::string& arguments, const std::string& stdin_text = "") {
  std::string command = std::string(AETHEL_BINARY) + " " + arguments + " 2>&1";
  if (!stdin_text.empty()) command = "printf '%s' '" + stdin_text + "' | " + command;
  FILE* pipe = popen(command.c_str(), "r");
  Exited result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string corpus(const std::string& name) {
  return std::string(AETHEL_CORPUS_DIR) + "/" + name;
}

TEST(VerifyCommand, ProvedExitsZero) {
  Exited r = run("verify " + corpus("proved_transfer_prototype.ae"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PROVED    transfer (definition"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Result: PROVED (1 of 1 intents proved)"), std::string::npos);
}

TEST(VerifyCommand, FailedExitsOneAndShowsTheCounterexample) {
  Exited r = run("verify " + corpus("failed_transfer_without_funds_guard.ae"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("✗ non-negativity:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("counterexample: amount = "), std::string::npos) << r.output;
}

TEST(VerifyCommand, RejectedExitsOne) {
  Exited r = run("verify " + corpus("rejected_too_many_variables.ae"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("REJECTED"), std::string::npos) << r.output;
}

TEST(VerifyCommand, ParseErrorExitsTwoWithACaret) {
  Exited r = run("verify " + corpus("parse_missing_comma.ae"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("PARSE_ERROR line 3, column 31: expected ',' or '}' after a field"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("                                ^"), std::string::npos) << r.output;
}

TEST(VerifyCommand, ReadsStandardInput) {
  Exited r = run("verify -", "intent transfer { from: Alice, to: Bob, amount: 100 }");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("well-formed transfer of 100 from Alice to Bob"), std::string::npos);
}

TEST(VerifyCommand, JsonOutputHasTheApiShape) {
  Exited r = run("verify --json " + corpus("failed_multiple_properties.ae"));
  EXPECT_EQ(r.exit_code, 1);
  boost::json::object out = boost::json::parse(r.output).as_object();
  EXPECT_EQ(out.at("success"), false);
  EXPECT_EQ(out.at("status"), "FAILED");
  const auto& intent = out.at("intents").as_array().at(0).as_object();
  EXPECT_EQ(intent.at("name"), "anything");
  EXPECT_EQ(intent.at("kind"), "definition");
  EXPECT_EQ(intent.at("status"), "FAILED");
  const auto& violations = intent.at("violations").as_array();
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].at("property"), "conservation");
  EXPECT_EQ(violations[1].at("property"), "non-negativity");
  EXPECT_TRUE(intent.at("counterexample").as_object().contains("balance"));
  EXPECT_TRUE(intent.at("elapsed_ms").is_double());
  EXPECT_TRUE(out.at("errors").as_array().empty());
}

TEST(VerifyCommand, JsonInvocationCarriesTheTransaction) {
  Exited r = run("verify --json " + corpus("proved_invocation_id_memo.ae"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  boost::json::value out = boost::json::parse(r.output);
  const auto& tx = out.at("intents").at(0).at("transaction");
  EXPECT_EQ(tx.at("from"), "Alice");
  EXPECT_EQ(tx.at("amount"), 250);
  EXPECT_EQ(tx.at("id"), "order-42");
  EXPECT_EQ(tx.at("memo"), "rent \"May\"");
}

TEST(VerifyCommand, JsonParseError) {
  Exited r = run("verify --json " + corpus("parse_duplicate_field.ae"));
  EXPECT_EQ(r.exit_code, 2);
  boost::json::value out = boost::json::parse(r.output);
  EXPECT_EQ(out.at("status"), "PARSE_ERROR");
  const auto& error = out.at("errors").at(0);
  EXPECT_EQ(error.at("line"), 3);
  EXPECT_EQ(error.at("column"), 52);
}

TEST(VerifyCommand, UnreadableFileAndBadUsage) {
  Exited missing = run("verify /nonexistent/file.ae");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("cannot read '/nonexistent/file.ae'"), std::string::npos);
  EXPECT_EQ(run("verify").exit_code, 2);
  EXPECT_EQ(run("verify a.ae b.ae").exit_code, 2);
  EXPECT_EQ(run("frobnicate").exit_code, 2);
  Exited help = run("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("verify FILE|-"), std::string::npos);
}

}  // namespace
