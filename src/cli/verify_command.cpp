// `aethel verify`: parse and check Aethel source locally, without a node.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include "api/verify_json.h"
#include "cli/cli.h"
#include "lang/lang.h"

namespace aethel::cli {
namespace {

constexpr int kExitProved = 0;
constexpr int kExitUnusable = 2;

struct VerifyOptions {
  std::string path;
  bool json = false;
};

std::optional<VerifyOptions> parse_options(const Args& args) {
  VerifyOptions options;
  for (const std::string& arg : args) {
    if (arg == "--json") {
      options.json = true;
    } else if (options.path.empty() && (arg == "-" || !arg.starts_with("-"))) {
      options.path = arg;
    } else {
      fmt::print(stderr, "aethel verify: unexpected argument '{}'\n", arg);
      return std::nullopt;
    }
  }
  if (options.path.empty()) {
    fmt::print(stderr, "usage: aethel verify FILE|- [--json]\n");
    return std::nullopt;
  }
  return options;
}

// Reads at most limit + 1 bytes, so an oversized input is reported, not slurped.
std::optional<std::string> read_source(const std::string& path, size_t limit) {
  std::string source(limit + 1, '\0');
  size_t length = 0;
  if (path == "-") {
    std::cin.read(source.data(), static_cast<std::streamsize>(source.size()));
    length = static_cast<size_t>(std::cin.gcount());
  } else {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      fmt::print(stderr, "aethel verify: cannot read '{}': {}\n", path, std::strerror(errno));
      return std::nullopt;
    }
    file.read(source.data(), static_cast<std::streamsize>(source.size()));
    length = static_cast<size_t>(file.gcount());
  }
  source.resize(length);
  return source;
}

void print_human(const std::vector<lang::IntentOutcome>& outcomes, lang::Verdict verdict) {
  for (const lang::IntentOutcome& o : outcomes) {
    std::string where = o.is_definition ? "definition" : "invocation";
    if (!o.batch.empty()) where += ", atomic_batch " + o.batch;
    fmt::print("{:<9} {} ({}, {:.1f} ms)\n", to_string(o.report.verdict), o.name, where,
               o.elapsed_ms);
    fmt::print("          {}\n", o.report.message);
    for (const lang::Violation& v : o.report.violations) {
      fmt::print("          ✗ {}: {}\n", to_string(v.property), v.message);
      if (v.counterexample.empty()) continue;
      std::vector<std::string> values;
      for (const lang::Assignment& a : v.counterexample) values.push_back(a.name + " = " + a.value);
      fmt::print("            counterexample: {}\n", fmt::join(values, ", "));
    }
  }
  size_t not_proved = 0;
  for (const lang::IntentOutcome& o : outcomes)
    not_proved += o.report.verdict != lang::Verdict::kProved;
  fmt::print("\nResult: {} ({} of {} intents proved)\n", to_string(verdict),
             outcomes.size() - not_proved, outcomes.size());
}

void print_parse_error(const std::string& source, const lang::ParseError& error) {
  fmt::print("PARSE_ERROR {}\n", error.message);
  // Show the offending line with a caret under the column.
  size_t line_start = 0;
  for (uint32_t line = 1; line < error.pos.line && line_start != std::string::npos; ++line) {
    line_start = source.find('\n', line_start);
    if (line_start != std::string::npos) ++line_start;
  }
  if (line_start == std::string::npos || line_start >= source.size()) return;
  std::string text = source.substr(line_start, source.find('\n', line_start) - line_start);
  if (text.size() > 200) return;
  fmt::print("  {}\n  {}^\n", text, std::string(error.pos.column - 1, ' '));
}

}  // namespace

int run_verify(const Args& args) {
  std::optional<VerifyOptions> options = parse_options(args);
  if (!options) return kExitUnusable;
  lang::ParseLimits limits;
  std::optional<std::string> source = read_source(options->path, limits.max_source_bytes);
  if (!source) return kExitUnusable;

  lang::ParseResult parsed = lang::parse(*source, limits);
  if (!parsed.ok()) {
    if (options->json) {
      fmt::print("{}\n", boost::json::serialize(api::parse_error_json(*parsed.error)));
    } else {
      print_parse_error(*source, *parsed.error);
    }
    return kExitUnusable;
  }

  std::vector<lang::IntentOutcome> outcomes = lang::check_program(*parsed.program);
  lang::Verdict verdict = lang::overall_verdict(outcomes);
  if (options->json) {
    fmt::print("{}\n", boost::json::serialize(api::verify_response_json(outcomes, verdict)));
  } else {
    print_human(outcomes, verdict);
  }
  return verdict == lang::Verdict::kProved ? kExitProved : kExitFailed;
}

}  // namespace aethel::cli
