// Runs every program in tests/lang/corpus and compares with the expectations in
// its header comments:
//   # expect: PROVED | FAILED | REJECTED | PARSE_ERROR
//   # violation: <property>      (repeatable: the exact set of violated properties)
//   # message: <text>            (appears in some intent's message or violation)
//   # error: <text>              (appears in the parse error message)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lang/lang.h"

namespace aethel::lang {
namespace {

struct Expectation {
  std::string verdict;
  std::set<std::string> violations;
  std::vector<std::string> messages;
  std::vector<std::string> errors;
};

Expectation read_expectation(const std::string& source) {
  Expectation e;
  std::istringstream lines(source);
  std::string line;
  auto value_after = [&](std::string_view key) -> std::optional<std::string> {
    if (!line.starts_with(key)) return std::nullopt;
    return line.substr(key.size());
  };
  while (std::getline(lines, line) && line.starts_with("#")) {
    if (auto v = value_after("# expect: ")) e.verdict = *v;
    if (auto v = value_after("# violation: ")) e.violations.insert(*v);
    if (auto v = value_after("# message: ")) e.messages.push_back(*v);
    if (auto v = value_after("# error: ")) e.errors.push_back(*v);
  }
  return e;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::vector<std::string> corpus_files() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(AETHEL_CORPUS_DIR)) {
    if (entry.path().extension() == ".ae") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class CorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusTest, MatchesExpectation) {
  std::string source = read_file(std::filesystem::path(AETHEL_CORPUS_DIR) / (GetParam() + ".ae"));
  Expectation expected = read_expectation(source);
  ASSERT_FALSE(expected.verdict.empty()) << "missing '# expect:' header";

  ParseResult parsed = parse(source);
  if (expected.verdict == "PARSE_ERROR") {
    ASSERT_FALSE(parsed.ok()) << "expected a parse error";
    for (const std::string& text : expected.errors) {
      EXPECT_NE(parsed.error->message.find(text), std::string::npos)
          << "error '" << parsed.error->message << "' lacks '" << text << "'";
    }
    return;
  }
  ASSERT_TRUE(parsed.ok()) << parsed.error->message;

  std::vector<IntentOutcome> outcomes;
  for (const ProgramIntent& intent : intents_of(*parsed.program)) {
    outcomes.push_back(check_intent(intent));
  }
  apply_batch_rule(outcomes);
  EXPECT_EQ(to_string(overall_verdict(outcomes)), expected.verdict);

  std::set<std::string> violated;
  std::string all_text;
  for (const IntentOutcome& o : outcomes) {
    all_text += o.report.message + "\n";
    for (const Violation& v : o.report.violations) {
      violated.insert(to_string(v.property));
      all_text += v.message + "\n";
      // A counterexample must come with every violation except consistency.
      EXPECT_EQ(v.counterexample.empty(), v.property == Property::kConsistency) << v.message;
    }
  }
  if (expected.verdict == "FAILED" || !expected.violations.empty()) {
    EXPECT_EQ(violated, expected.violations) << all_text;
  }
  for (const std::string& text : expected.messages) {
    EXPECT_NE(all_text.find(text), std::string::npos) << "no message contains '" << text << "':\n"
                                                      << all_text;
  }
}

INSTANTIATE_TEST_SUITE_P(Programs, CorpusTest, ::testing::ValuesIn(corpus_files()),
                         [](const auto& test) { return test.param; });

TEST(Corpus, HasAtLeastFortyPrograms) {
  EXPECT_GE(corpus_files().size(), 40u);
}

}  // namespace
}  // namespace aethel::lang
