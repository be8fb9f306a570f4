// SPEC §3 configuration: sources, precedence, validation.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>

#include "node/node.h"

extern char** environ;

namespace aethel::node {
namespace {

constexpr std::string_view kPrefix = "AETHEL_";
constexpr std::string_view kLegacyPrefix = "DIOTEC360_";

// Looks a variable up in one source under its AETHEL_ name, then its DIOTEC360_
// name, then any extra alias (PORT). Returns the name that matched with the value.
struct Found {
  std::string name;
  std::string value;
};

std::optional<Found> find_in(const std::map<std::string, std::string>& source,
                             std::string_view suffix, std::string_view alias) {
  for (std::string name : {std::string(kPrefix) + std::string(suffix),
                           std::string(kLegacyPrefix) + std::string(suffix), std::string(alias)}) {
    if (name.empty()) continue;
    auto it = source.find(name);
    if (it != source.end()) return Found{name, it->second};
  }
  return std::nullopt;
}

class Reader {
 public:
  explicit Reader(const ConfigSources& sources) : sources_(sources) {}

  std::optional<Found> get(std::string_view suffix, std::string_view alias = {}) const {
    for (const auto* source : {&sources_.flags, &sources_.environment, &sources_.env_file}) {
      if (auto found = find_in(*source, suffix, alias)) return found;
    }
    return std::nullopt;
  }

 private:
  const ConfigSources& sources_;
};

Error invalid(const Found& found, std::string_view expected) {
  return Error{"bad_config",
               fmt::format("{}='{}' is invalid: expected {}", found.name, found.value, expected)};
}

std::optional<uint64_t> parse_unsigned(std::string_view text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> parse_bool(std::string_view text) {
  for (std::string_view yes : {"true", "1", "yes", "on", "TRUE", "True"}) {
    if (text == yes) return true;
  }
  for (std::string_view no : {"false", "0", "no", "off", "FALSE", "False"}) {
    if (text == no) return false;
  }
  return std::nullopt;
}

std::vector<std::string> split_csv(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "aethel-node";
  return buffer;
}

bool is_valid_node_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Reads an unsigned setting into `target` when present.
template <class T>
std::optional<Error> read_unsigned(const Reader& reader, std::string_view suffix, uint64_t min,
                                   uint64_t max, T& target, std::string_view alias = {}) {
  auto found = reader.get(suffix, alias);
  if (!found) return std::nullopt;
  auto value = parse_unsigned(found->value, min, max);
  if (!value) return invalid(*found, fmt::format("an integer {}..{}", min, max));
  target = static_cast<T>(*value);
  return std::nullopt;
}

std::optional<Error> read_basics(const Reader& reader, Config& config) {
  config.node_name = host_name();
  if (auto found = reader.get("NODE_NAME")) {
    if (!is_valid_node_name(found->value)) {
      return invalid(*found, "1..64 characters of [A-Za-z0-9._-] (it names the log file)");
    }
    config.node_name = found->value;
  }
  if (auto found = reader.get("API_HOST")) {
    if (found->value.empty()) return invalid(*found, "a host name or IP address");
    config.api_host = found->value;
  }
  if (auto e = read_unsigned(reader, "API_PORT", 1, 65535, config.api_port, "PORT")) return e;
  if (auto found = reader.get("PUBLIC_URL")) {
    std::string_view url = found->value;
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      return invalid(*found, "an http:// or https:// URL");
    }
    config.public_url = found->value;
  }
  return std::nullopt;
}

std::optional<Error> read_paths(const Reader& reader, Config& config) {
  if (auto found = reader.get("DATA_DIR")) {
    if (found->value.empty()) return invalid(*found, "a directory path");
    config.data_dir = found->value;
  }
  config.node_key_path = config.data_dir / "node.key";
  if (auto found = reader.get("NODE_KEY")) {
    if (found->value.empty()) return invalid(*found, "a file path");
    config.node_key_path = found->value;
  }
  if (auto found = reader.get("GENESIS_FILE")) {
    if (found->value.empty()) return invalid(*found, "a JSON file path");
    config.genesis_file = found->value;
  }
  if (auto found = reader.get("LOG_DIR")) {
    if (found->value.empty()) return invalid(*found, "a directory path");
    config.log_dir = found->value;
  }
  if (auto found = reader.get("ADMIN_TOKEN")) config.admin_token = found->value;
  return std::nullopt;
}

// The base58btc alphabet has no 0, O, I or l: text outside it (QmNode2PeerID) or
// naming itself a peer ID was copied from the deployment guide and never filled in.
bool looks_like_placeholder(std::string_view text) {
  constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text.find_first_not_of(kBase58) != std::string_view::npos ||
         lower.find("peerid") != std::string::npos;
}

// Why `text` is not a usable peer ID, in the words an operator needs; nullopt when
// it parses.
std::optional<std::string> peer_id_problem(std::string_view text) {
  auto peer = p2p::PeerId::parse(text);
  if (peer.ok()) return std::nullopt;
  if (looks_like_placeholder(text)) {
    return fmt::format(
        "'{}' is a placeholder, not a valid peer ID: put the peer ID that "
        "`aethel keygen` printed for that node (12D3KooW...)",
        text);
  }
  return peer.error().message;
}

// The text after /p2p/ (or the old /ipfs/) of a multiaddr written by hand.
std::optional<std::string_view> p2p_component(std::string_view address) {
  for (std::string_view marker : {"/p2p/", "/ipfs/"}) {
    size_t at = address.find(marker);
    if (at == std::string_view::npos) continue;
    std::string_view rest = address.substr(at + marker.size());
    return rest.substr(0, rest.find('/'));
  }
  return std::nullopt;
}

Error invalid_entry(const Found& found, std::string_view why) {
  return Error{"bad_config", fmt::format("{}='{}' is invalid: {}", found.name, found.value, why)};
}

// Listen addresses are bound by this node, so they need a TCP port and no peer ID.
std::optional<Error> read_listen(const Reader& reader, Config& config) {
  auto found = reader.get("P2P_LISTEN");
  if (!found) return std::nullopt;
  std::vector<std::string> addresses;
  for (const std::string& entry : split_csv(found->value)) {
    auto address = p2p::Multiaddr::parse(entry);
    if (!address.ok()) {
      return invalid_entry(*found,
                           address.error().message + "; expected e.g. /ip4/0.0.0.0/tcp/9000");
    }
    if (!address.value().tcp_endpoint() || address.value().peer_id()) {
      return invalid_entry(*found, fmt::format("'{}' is not a listen address; expected "
                                               "/ip4/ADDRESS/tcp/PORT without /p2p/",
                                               entry));
    }
    addresses.push_back(address.value().to_string());
  }
  // Empty: the node accepts no inbound P2P connection and is a peer over the
  // connections it dials (a host behind an HTTPS-only proxy, SPEC §12).
  config.p2p_listen = std::move(addresses);
  return std::nullopt;
}

// One bootstrap entry in canonical form (/dns4/ when a host name was written under
// /ip4/, with a warning); every entry must name the peer it expects to reach, since
// the peer ID is what authenticates it (Noise) and what makes it a validator.
Result<std::string> parse_bootstrap_entry(const Found& found, const std::string& entry,
                                          std::vector<std::string>& warnings) {
  if (auto peer_text = p2p_component(entry)) {
    if (auto problem = peer_id_problem(*peer_text)) return invalid_entry(found, *problem);
  }
  std::string warning;
  auto address = p2p::Multiaddr::parse_bootstrap(entry, warning);
  if (!address.ok()) {
    return invalid_entry(found, address.error().message +
                                    "; expected /ip4/HOST/tcp/PORT/p2p/PEERID (or /dns4/, /dns/)");
  }
  if (!address.value().tcp_endpoint() || !address.value().peer_id()) {
    return invalid_entry(found, fmt::format("'{}' lacks a TCP port or a /p2p/ peer ID; expected "
                                            "/ip4/HOST/tcp/PORT/p2p/PEERID",
                                            entry));
  }
  if (!warning.empty()) warnings.push_back(fmt::format("{}: {}", found.name, warning));
  return address.value().to_string();
}

std::optional<Error> read_bootstrap(const Reader& reader, Config& config) {
  auto found = reader.get("P2P_BOOTSTRAP");
  if (!found) return std::nullopt;
  std::vector<std::string> addresses;
  for (const std::string& entry : split_csv(found->value)) {
    auto address = parse_bootstrap_entry(*found, entry, config.warnings);
    if (!address.ok()) return address.error();
    addresses.push_back(std::move(address.value()));
  }
  config.p2p_bootstrap = std::move(addresses);
  return std::nullopt;
}

// Validators form the consensus group: a duplicate would count one node twice
// towards a majority, so it is an error rather than silently merged.
std::optional<Error> read_validators(const Reader& reader, Config& config) {
  auto found = reader.get("VALIDATORS");
  if (!found) return std::nullopt;
  std::vector<std::string> validators;
  for (const std::string& entry : split_csv(found->value)) {
    if (auto problem = peer_id_problem(entry)) return invalid_entry(*found, *problem);
    std::string canonical = p2p::PeerId::parse(entry).value().to_base58();
    if (std::find(validators.begin(), validators.end(), canonical) != validators.end()) {
      return invalid_entry(*found, fmt::format("peer ID '{}' is listed twice", entry));
    }
    validators.push_back(std::move(canonical));
  }
  config.validators = std::move(validators);
  return std::nullopt;
}

std::optional<Error> read_lattice(const Reader& reader, Config& config) {
  if (auto found = reader.get("P2P_ENABLED")) {
    auto value = parse_bool(found->value);
    if (!value) return invalid(*found, "true or false");
    config.p2p_enabled = *value;
  }
  if (auto e = read_listen(reader, config)) return e;
  if (auto e = read_bootstrap(reader, config)) return e;
  if (auto found = reader.get("P2P_TOPIC")) {
    if (found->value.empty()) return invalid(*found, "a non-empty topic name");
    config.p2p_topic = found->value;
  }
  if (auto e = read_validators(reader, config)) return e;
  if (auto found = reader.get("JOIN")) {
    if (!found->value.starts_with("http://") && !found->value.starts_with("https://")) {
      return invalid(*found, "the http:// or https:// URL of a member of the lattice");
    }
    config.join_url = found->value;
  }
  if (auto found = reader.get("LATTICE_NODES")) {
    config.lattice_nodes = split_csv(found->value);
    for (const std::string& url : config.lattice_nodes) {
      if (!url.starts_with("http://") && !url.starts_with("https://")) {
        return invalid(*found, "a comma-separated list of http:// or https:// URLs");
      }
    }
  }
  constexpr uint64_t kDay_s = 86'400;
  if (auto e = read_unsigned(reader, "HEARTBEAT_INTERVAL", 1, kDay_s, config.heartbeat_interval_s))
    return e;
  if (auto e = read_unsigned(reader, "PEERLESS_TIMEOUT", 1, kDay_s, config.peerless_timeout_s))
    return e;
  if (auto e = read_unsigned(reader, "HTTP_POLL_INTERVAL", 1, kDay_s, config.http_poll_interval_s))
    return e;
  return std::nullopt;
}

// A comma-separated list of IPv4 or IPv6 addresses, kept in canonical form.
std::optional<Error> read_trusted_proxies(const Reader& reader, Config& config) {
  auto found = reader.get("TRUSTED_PROXIES");
  if (!found || found->value.empty()) return std::nullopt;
  for (const std::string& entry : split_csv(found->value)) {
    auto address = base::canonical_ip(entry);
    if (!address) return invalid(*found, "a comma-separated list of IP addresses");
    config.trusted_proxies.push_back(*address);
  }
  return std::nullopt;
}

std::optional<Error> read_extensions(const Reader& reader, Config& config) {
  constexpr uint64_t kMaxBody = 256ull << 20;
  if (auto e = read_unsigned(reader, "MAX_BODY_BYTES", 1024, kMaxBody, config.max_body_bytes))
    return e;
  if (auto e = read_unsigned(reader, "SNAPSHOT_INTERVAL", 1, 1'000'000'000,
                             config.snapshot_interval_blocks))
    return e;
  uint32_t writes_per_s = 0;
  if (auto e = read_unsigned(reader, "RATE_LIMIT_WRITES_PER_S", 0, 1'000'000, writes_per_s))
    return e;
  if (reader.get("RATE_LIMIT_WRITES_PER_S")) config.rate_limit_writes_per_s = writes_per_s;
  if (auto e = read_trusted_proxies(reader, config)) return e;
  uint32_t budget_ms = 0;
  if (auto e = read_unsigned(reader, "SOLVER_BUDGET_MS", 100, 600'000, budget_ms)) return e;
  if (reader.get("SOLVER_BUDGET_MS")) config.solver_budget_ms = budget_ms;
  uint64_t connections = 0;
  if (auto e = read_unsigned(reader, "MAX_CONNECTIONS", 0, 1'000'000, connections)) return e;
  if (reader.get("MAX_CONNECTIONS")) config.max_connections = connections;
  if (auto e = read_unsigned(reader, "MAX_CONNECTIONS_PER_ADDRESS", 0, 1'000'000,
                             config.max_connections_per_address))
    return e;
  // Five heartbeats (ticks of 50 ms) at least: fewer and one late answer deposes a
  // leader; a minute at most.
  return read_unsigned(reader, "ELECTION_TIMEOUT_MS", 250, 60'000, config.election_timeout_ms);
}

// A TLS file setting: it must name a readable file. Whether its contents are a
// usable certificate or key is checked when the node starts its server.
std::optional<Error> read_tls_file(const Reader& reader, std::string_view suffix,
                                   std::string& target) {
  auto found = reader.get(suffix);
  if (!found) return std::nullopt;
  std::ifstream file(found->value, std::ios::binary);
  if (found->value.empty() || !file) return invalid(*found, "a readable PEM file");
  target = found->value;
  return std::nullopt;
}

std::optional<Error> read_tls(const Reader& reader, Config& config) {
  if (auto e = read_tls_file(reader, "TLS_CERT_FILE", config.tls_cert_file)) return e;
  if (auto e = read_tls_file(reader, "TLS_KEY_FILE", config.tls_key_file)) return e;
  if (auto e = read_tls_file(reader, "TLS_CA_FILE", config.tls_ca_file)) return e;
  // Half a pair would silently serve plain HTTP where HTTPS was meant.
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    auto set = reader.get(config.tls_cert_file.empty() ? "TLS_KEY_FILE" : "TLS_CERT_FILE");
    std::string_view missing =
        config.tls_cert_file.empty() ? "AETHEL_TLS_CERT_FILE" : "AETHEL_TLS_KEY_FILE";
    return Error{"bad_config", fmt::format("{}='{}' is invalid: HTTPS needs {} as well", set->name,
                                           set->value, missing)};
  }
  return std::nullopt;
}

std::string derive_public_url(const Config& config) {
  std::string host =
      config.api_host == "0.0.0.0" || config.api_host == "::" ? "127.0.0.1" : config.api_host;
  std::string_view scheme = config.tls_cert_file.empty() ? "http" : "https";
  return fmt::format("{}://{}:{}", scheme, host, config.api_port);
}

std::string unquote(std::string_view value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    return std::string(value.substr(1, value.size() - 2));
  }
  return std::string(value);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq != std::string_view::npos) out[std::string(text.substr(0, eq))] = text.substr(eq + 1);
  }
  return out;
}

Result<std::map<std::string, std::string>> parse_env_file(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t newline = text.find('\n');
    std::string_view line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (line.empty() || line.front() == '#') continue;
    if (line.starts_with("export ")) line = trim(line.substr(7));
    size_t eq = line.find('=');
    std::string_view name = eq == std::string_view::npos ? line : trim(line.substr(0, eq));
    if (eq == std::string_view::npos || name.empty() || name.find(' ') != std::string_view::npos) {
      return Error{"bad_config", fmt::format("env file line {}: expected KEY=VALUE, found '{}'",
                                             line_number, line)};
    }
    out[std::string(name)] = unquote(trim(line.substr(eq + 1)));
  }
  return out;
}

Result<Config> load_config(const ConfigSources& sources) {
  Reader reader(sources);
  Config config;
  for (auto step : {read_basics, read_paths, read_lattice, read_tls, read_extensions}) {
    if (auto error = step(reader, config)) return *error;
  }
  if (config.public_url.empty()) config.public_url = derive_public_url(config);
  return config;
}

}  // namespace aethel::node
