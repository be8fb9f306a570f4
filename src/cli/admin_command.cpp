// The admin token (SPEC §9) and `aethel admin`.
//
// A node always has an admin token: AETHEL_ADMIN_TOKEN, or else the one in
// <data dir>/admin.token, created at the first start (32 random bytes as hex, mode
// 0600). `aethel admin` reads the same file, so an operator on the node's host needs
// no configuration; from elsewhere, AETHEL_ADMIN_TOKEN or --token-file.
#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "cli/cli.h"
#include "cli/node_client.h"
#include "http/http.h"

namespace aethel::cli {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr uint32_t kAdminTimeout_ms = 15'000;

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

std::optional<std::string> read_token(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(file)), {});
  text = trimmed(std::move(text));
  if (text.empty()) return std::nullopt;
  return text;
}

// Creates the file with mode 0600 whatever the umask (O_EXCL: never overwrites).
base::Status write_new_token(const std::filesystem::path& path, const std::string& token) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return base::Error{"io_error", fmt::format("cannot create {}", path.string())};
  std::string line = token + "\n";
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return base::Error{"io_error", fmt::format("cannot write {}", path.string())};
  return base::Status{};
}

}  // namespace

base::Result<std::string> load_or_create_admin_token(const std::filesystem::path& path) {
  if (auto existing = read_token(path)) {
    ::chmod(path.c_str(), 0600);  // an older file may be readable by others
    return *existing;
  }
  if (sodium_init() < 0) return base::Error{"io_error", "libsodium failed to initialise"};
  unsigned char bytes[kTokenBytes];
  randombytes_buf(bytes, sizeof bytes);
  std::string token;
  for (unsigned char b : bytes) token += fmt::format("{:02x}", b);
  std::error_code ignored;
  std::filesystem::remove(path, ignored);  // an empty file left by a crash
  if (base::Status written = write_new_token(path, token); !written.ok()) return written.error();
  return token;
}

namespace {

struct AdminArgs {
  std::string action;  // switch, p2p-stop, p2p-start
  std::string mode;    // for switch
  std::string node = "http://127.0.0.1:8000";
  std::optional<std::string> token_file;
};

std::optional<AdminArgs> parse_admin_args(const Args& args) {
  AdminArgs out;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    bool has_value = i + 1 < args.size();
    if (args[i] == "--node" && has_value) {
      out.node = args[++i];
    } else if (args[i] == "--token-file" && has_value) {
      out.token_file = args[++i];
    } else if (args[i].starts_with("-")) {
      fmt::print(stderr, "aethel admin: unexpected argument '{}'\n", args[i]);
      return std::nullopt;
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.empty()) return std::nullopt;
  out.action = positional[0];
  bool is_switch = out.action == "switch";
  if (positional.size() != (is_switch ? 2u : 1u)) return std::nullopt;
  if (!is_switch && out.action != "p2p-stop" && out.action != "p2p-start") return std::nullopt;
  if (is_switch) out.mode = positional[1];
  return out;
}

std::string admin_target(const AdminArgs& args) {
  if (args.action == "switch") return "/api/lattice/sync/switch?mode=" + args.mode;
  return args.action == "p2p-stop" ? "/api/lattice/p2p/stop" : "/api/lattice/p2p/start";
}

}  // namespace

base::Result<std::string> read_admin_token(const std::optional<std::string>& token_file,
                                           std::string& source) {
  const char* env_token = std::getenv("AETHEL_ADMIN_TOKEN");
  if (!token_file && env_token != nullptr && *env_token != '\0') {
    source = "AETHEL_ADMIN_TOKEN";
    return std::string(env_token);
  }
  const char* data_dir = std::getenv("AETHEL_DATA_DIR");
  std::filesystem::path path =
      token_file ? std::filesystem::path(*token_file)
                 : std::filesystem::path(data_dir ? data_dir : "./data") / "admin.token";
  source = path.string();
  auto token = read_token(path);
  if (!token) {
    return base::Error{"no_token",
                       fmt::format("cannot read the admin token from {} (set AETHEL_ADMIN_TOKEN, "
                                   "AETHEL_DATA_DIR or --token-file)",
                                   path.string())};
  }
  return *token;
}

int run_admin(const Args& args) {
  auto parsed = parse_admin_args(args);
  if (!parsed) {
    fmt::print(stderr,
               "usage: aethel admin <switch p2p|http|auto | p2p-stop | p2p-start> "
               "[--node URL] [--token-file FILE]\n");
    return kExitUsage;
  }
  auto url = http::parse_url(parsed->node);
  if (!url.ok()) {
    fmt::print(stderr, "aethel admin: --node {}\n", url.error().message);
    return kExitUsage;
  }
  std::string source;
  auto token = read_admin_token(parsed->token_file, source);
  if (!token.ok()) {
    fmt::print(stderr, "aethel admin: {}\n", token.error().message);
    return kExitFailed;
  }
  http::Headers headers{{"Authorization", "Bearer " + token.value()}};
  auto reply = http::call(url.value(), "POST", admin_target(*parsed), {},
                          client_options(kAdminTimeout_ms), headers);
  if (!reply.ok()) {
    fmt::print(stderr, "aethel admin: {}: {}\n", parsed->node, reply.error().message);
    return kExitUnreachable;
  }
  fmt::print("{}\n", reply.value().body);
  if (reply.value().status == 401) {
    fmt::print(stderr, "aethel admin: the node refused the token from {}\n", source);
  }
  return reply.value().status == 200 ? kExitOk : kExitFailed;
}

}  // namespace aethel::cli
