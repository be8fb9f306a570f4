// Transcript tests (etcd raft's interaction_test style): a file of cases, each a few
// command lines, a line `----`, and the output those commands must print; cases are
// separated by blank lines and share one object under test, so a file is one story
// on a fake clock. REWRITE=1 rewrites the expected outputs from what the code prints
// (review the diff before committing it).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace aethel::test {

// One command: its name and key=value arguments (a bare word is a key with value "").
struct Command {
  std::string name;
  std::map<std::string, std::string> args;
  uint64_t u64(const std::string& key) const { return std::stoull(args.at(key)); }
  double f64(const std::string& key) const { return std::stod(args.at(key)); }
  bool has(const std::string& key) const { return args.count(key) != 0; }
};

inline Command parse_command(const std::string& line) {
  std::istringstream in(line);
  Command command;
  in >> command.name;
  for (std::string word; in >> word;) {
    auto eq = word.find('=');
    if (eq == std::string::npos) {
      command.args[word] = "";
    } else {
      command.args[word.substr(0, eq)] = word.substr(eq + 1);
    }
  }
  return command;
}

// Runs every case of `path` through `run` (which returns the command's output lines,
// joined by '\n', or "" for none) and compares with the expected output.
inline void run_transcript(const std::string& path,
                           const std::function<std::string(const Command&)>& run) {
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot read " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  std::ostringstream rewritten;
  size_t i = 0;
  while (i < lines.size()) {
    if (lines[i].empty() || lines[i][0] == '#') {
      rewritten << lines[i++] << "\n";
      continue;
    }
    std::string output, expected;
    while (i < lines.size() && lines[i] != "----") {
      rewritten << lines[i] << "\n";
      std::string printed = run(parse_command(lines[i]));
      if (!printed.empty()) output += printed + "\n";
      ++i;
    }
    rewritten << "----\n" << output;
    for (++i; i < lines.size() && !lines[i].empty(); ++i) expected += lines[i] + "\n";
    EXPECT_EQ(output, expected) << path << ": case ending at line " << i;
  }
  if (std::getenv("REWRITE") != nullptr) std::ofstream(path) << rewritten.str();
}

}  // namespace aethel::test
