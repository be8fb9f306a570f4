// `aethel node`: run a single node until SIGINT or SIGTERM.
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "api/api.h"
#include "base/log_queue.h"
#include "cli/cli.h"
#include "cli/join.h"
#include "cli/node_client.h"
#include "http/http.h"
#include "lattice/lattice.h"
#include "metrics/metrics.h"
#include "node/history.h"
#include "node/node.h"
#include "storage/storage.h"

namespace aethel::cli {
namespace {

constexpr int kExitStopped = 0;
// SIGTERM: how long requests already being processed get to finish before their
// connections are cut; with the node's stop this keeps the exit under 5 s.
constexpr uint32_t kShutdownGrace_ms = 3'000;

struct NodeArgs {
  std::optional<std::string> env_file;
  std::map<std::string, std::string> flags;
};

std::optional<NodeArgs> parse_node_args(const Args& args) {
  NodeArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    bool has_value = i + 1 < args.size();
    if (arg == "--env" && has_value) {
      out.env_file = args[++i];
    } else if (arg == "--host" && has_value) {
      out.flags["AETHEL_API_HOST"] = args[++i];
    } else if (arg == "--port" && has_value) {
      out.flags["AETHEL_API_PORT"] = args[++i];
    } else if (arg == "--log-format" && has_value) {
      out.flags["AETHEL_LOG_FORMAT"] = args[++i];
    } else {
      fmt::print(stderr, "aethel node: unexpected argument '{}'\n", arg);
      fmt::print(stderr,
                 "usage: aethel node [--env FILE] [--host H] [--port P] [--log-format "
                 "text|json]\n");
      return std::nullopt;
    }
  }
  return out;
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The .env file: the one named by --env (which must exist), else ./.env if present.
node::Result<std::map<std::string, std::string>> load_env_file(
    const std::optional<std::string>& path) {
  std::filesystem::path file = path.value_or(".env");
  auto text = read_file(file);
  if (!text) {
    if (!path) return std::map<std::string, std::string>{};
    return node::Error{"bad_config", fmt::format("--env {}: cannot read the file", *path)};
  }
  auto parsed = node::parse_env_file(*text);
  if (!parsed.ok()) return node::Error{"bad_config", file.string() + ": " + parsed.error().message};
  return parsed;
}

node::Result<ledger::Genesis> load_genesis(const node::Config& config) {
  if (!config.genesis_file) return ledger::default_genesis();
  auto text = read_file(*config.genesis_file);
  if (!text) {
    return node::Error{"bad_config", fmt::format("AETHEL_GENESIS_FILE='{}' is invalid: expected "
                                                 "a readable JSON file",
                                                 config.genesis_file->string())};
  }
  auto genesis = ledger::parse_genesis(*text);
  if (!genesis.ok()) {
    return node::Error{"bad_config",
                       fmt::format("AETHEL_GENESIS_FILE='{}' is invalid: {}",
                                   config.genesis_file->string(), genesis.error().message)};
  }
  return genesis;
}

enum class LogFormat { kText, kJson };

// AETHEL_LOG_FORMAT (or DIOTEC360_LOG_FORMAT, or --log-format) with the usual
// precedence: flag, environment, .env file. load_config() does not know it: it only
// shapes the lines, never the node.
node::Result<LogFormat> log_format(const node::ConfigSources& sources) {
  std::optional<std::string> value;
  for (const auto* source : {&sources.flags, &sources.environment, &sources.env_file}) {
    for (const char* name : {"AETHEL_LOG_FORMAT", "DIOTEC360_LOG_FORMAT"}) {
      auto it = source->find(name);
      if (!value && it != source->end()) value = it->second;
    }
  }
  if (!value || *value == "text") return LogFormat::kText;
  if (*value == "json") return LogFormat::kJson;
  return node::Error{"bad_config", fmt::format("AETHEL_LOG_FORMAT='{}' is invalid: expected "
                                               "text or json",
                                               *value)};
}

// "2026-11-30T17:36:57.123Z"
std::string utc_timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", text, ms % 1000);
}

// A line "[TAG] message" as JSON: {"ts","level","tag","message","node"}. The level
// is read from the words operators already grep for, so both formats say the same.
std::string json_line(std::string_view text, const std::string& node_name) {
  std::string_view tag, message = text;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close != std::string_view::npos) {
      tag = text.substr(1, close - 1);
      message = text.substr(close + 1);
      if (message.starts_with(' ')) message.remove_prefix(1);
    }
  }
  std::string_view level = "info";
  if (message.find("fatal") != std::string_view::npos) {
    level = "error";
  } else {
    static constexpr std::string_view kWarnWords[] = {"warning",  "DIVERGENCE", "failed",
                                                      "Fallback", "cannot",     "refusing"};
    for (std::string_view word : kWarnWords) {
      if (message.find(word) != std::string_view::npos) level = "warn";
    }
  }
  boost::json::object line{{"ts", utc_timestamp()},
                           {"level", level},
                           {"tag", tag},
                           {"message", message},
                           {"node", node_name}};
  return boost::json::serialize(line);
}

// Lines for operators go to stdout and to <log_dir>/<node_name>.log, as text with
// the tags of SPEC §6.3 or as one JSON object per line. Written by a thread of its
// own (base::LogQueue): the consensus thread and the io threads never wait for a
// terminal or a disk.
class Log {
 public:
  Log(const node::Config& config, LogFormat format)
      : format_(format),
        node_(config.node_name),
        queue_([this](const std::vector<std::string>& lines) { write(lines); }) {
    std::error_code ec;
    std::filesystem::create_directories(config.log_dir, ec);
    file_.open(config.log_dir / (config.node_name + ".log"), std::ios::app);
  }
  ~Log() { queue_.flush(); }
  void line(std::string_view text) {
    queue_.post(format_ == LogFormat::kJson ? json_line(text, node_) : std::string(text));
  }

 private:
  void write(const std::vector<std::string>& lines) {  // the writer thread only
    for (const std::string& out : lines) {
      fmt::print("{}\n", out);
      if (file_) file_ << out << '\n';
    }
    std::fflush(stdout);
    if (file_) file_.flush();
  }

  LogFormat format_;
  std::string node_;
  std::ofstream file_;    // opened before the writer writes: it waits for the first line
  base::LogQueue queue_;  // last: its thread stops first
};

// The consensus group: AETHEL_VALIDATORS, or by default this node and every
// bootstrap peer (SPEC §3).
node::Result<std::vector<std::string>> validator_ids(const node::Config& config) {
  if (!config.validators.empty()) return config.validators;
  std::error_code ignored;  // a failure shows up as the key error below
  std::filesystem::create_directories(config.node_key_path.parent_path(), ignored);
  auto key = p2p::load_or_create_key(config.node_key_path.string());
  if (!key.ok()) {
    return node::Error{"bad_key", config.node_key_path.string() + ": " + key.error().message};
  }
  std::vector<std::string> ids{p2p::PeerId::from_public_key(key.value().public_key()).to_base58()};
  for (const std::string& text : config.p2p_bootstrap) {
    std::string warning;
    auto address = p2p::Multiaddr::parse_bootstrap(text, warning);
    if (!address.ok()) {
      return node::Error{"bad_config", fmt::format("AETHEL_P2P_BOOTSTRAP='{}' is invalid: {}", text,
                                                   address.error().message)};
    }
    auto peer = address.value().peer_id();
    if (!peer) {
      return node::Error{"bad_config",
                         fmt::format("AETHEL_P2P_BOOTSTRAP='{}' has no /p2p/<peer id>: set "
                                     "AETHEL_VALIDATORS or add the peer ID",
                                     text)};
    }
    ids.push_back(peer->to_base58());
  }
  return ids;
}

// Opens the node (store, key, ledger, consensus) and wires its log lines and metrics.
node::Result<std::unique_ptr<node::Node>> open_node(const node::Config& c,
                                                    std::shared_ptr<const ledger::Genesis> genesis,
                                                    std::vector<node::Member> joined_members,
                                                    Log& log, metrics::Metrics& metrics,
                                                    api::Events& events) {
  auto validators = validator_ids(c);
  if (!validators.ok()) return validators.error();
  node::NodeOptions options;
  options.data_dir = c.data_dir;
  options.node_key_path = c.node_key_path;
  options.genesis = std::move(genesis);
  options.snapshot_interval_blocks = c.snapshot_interval_blocks;
  options.election_timeout_ticks = c.election_timeout_ms / options.tick_ms;
  options.validators = validators.value();
  options.joined_members = std::move(joined_members);
  options.log = [&log](std::string_view line) { log.line(line); };
  options.on_store_write = [&metrics](double seconds) { metrics.observe_fsync_seconds(seconds); };
  auto opened = node::Node::open(options);
  if (!opened.ok()) return opened.error();
  std::unique_ptr<node::Node> node = std::move(opened).value();
  log.line(fmt::format("[P2P] Peer ID: {}", node->peer_id()));
  log.line(fmt::format("[CONSENSUS] heartbeat every {} ms, election after {} ms of silence",
                       options.tick_ms, options.election_timeout_ticks * options.tick_ms));
  auto [height, root] = node->read(
      [](const ledger::Ledger& l) { return std::make_pair(l.height(), ledger::to_hex(l.root())); });
  log.line(fmt::format("[NODE] {} restored at height {} root {}", c.node_name, height, root));
  metrics.set_height(height);
  node->on_block_applied([&metrics, &events, &log](const node::AppliedBlock& block) {
    events.block_applied(block);
    metrics.record_commit(block.height, block.committed_transactions);
    size_t rejected = block.transactions - block.committed_transactions;
    if (rejected > 0) metrics.record_transactions("rejected", rejected);
    if (block.invariant_breaches > 0) {
      metrics.record_invariant_breaches(block.invariant_breaches);
      log.line(
          fmt::format("[LEDGER] ⚠ block {}: {} run(s) of a deployed intent refused as "
                      "invariant_breach: its definition was not really proven",
                      block.height, block.invariant_breaches));
    }
  });
  node->on_role_changed([&log, &events](const node::ConsensusStatus& status) {
    events.role_changed(status);
    if (status.role == "leader") {
      log.line(fmt::format("[CONSENSUS] became leader for term {}", status.term));
    } else {
      log.line(fmt::format("[CONSENSUS] {} in term {} (leader {})", status.role, status.term,
                           status.leader_peer_id.empty() ? "unknown" : status.leader_peer_id));
    }
  });
  return node;
}

// The node's transport: the lattice (which knows nothing of nodes).
class LatticeTransport final : public node::Transport {
 public:
  explicit LatticeTransport(lattice::Lattice& lattice) : lattice_(lattice) {}
  void send(const std::string& peer_id, std::string envelope) override {
    lattice_.send(peer_id, std::move(envelope));
  }

 private:
  lattice::Lattice& lattice_;
};

lattice::Settings lattice_settings(const node::Config& c) {
  lattice::Settings s;
  s.node_name = c.node_name;
  s.public_url = c.public_url;
  s.p2p_enabled = c.p2p_enabled;
  s.p2p_listen = c.p2p_listen;
  s.p2p_bootstrap = c.p2p_bootstrap;
  s.p2p_topic = c.p2p_topic;
  s.lattice_nodes = c.lattice_nodes;
  s.heartbeat_interval_s = c.heartbeat_interval_s;
  s.peerless_timeout_s = c.peerless_timeout_s;
  s.http_poll_interval_s = c.http_poll_interval_s;
  s.tls_ca_file = c.tls_ca_file;
  s.max_body_bytes = c.max_body_bytes;
  return s;
}

// The lattice, wired to the node: envelopes both ways, its head for hellos and gossip,
// log lines and metrics.
base::Result<std::unique_ptr<lattice::Lattice>> start_lattice(node::Node& node,
                                                              const node::Config& c,
                                                              const std::string& lattice_id,
                                                              Log& log, metrics::Metrics& metrics) {
  lattice::Identity identity{node.key(), node.peer_id(), node.validators(), lattice_id};
  lattice::Hooks hooks;
  hooks.deliver = [&node](const std::string& from, std::string envelope) {
    node.receive(from, envelope);
  };
  hooks.head = [&node] {
    return node.read([](const ledger::Ledger& l) {
      return lattice::Head{l.height(), ledger::to_hex(l.root())};
    });
  };
  hooks.log = [&log](std::string_view line) { log.line(line); };
  hooks.on_fallback_activation = [&metrics] { metrics.record_fallback_activation(); };
  hooks.on_divergence = [&metrics] { metrics.record_divergence(); };
  return lattice::Lattice::start(std::move(identity), lattice_settings(c), std::move(hooks));
}

// The TLS files, checked before anything opens: a certificate or key that cannot be
// used, or a CA file without certificates (the node could not verify its peers),
// is one line naming its variable.
base::Status check_tls(const node::Config& config) {
  base::Status trusted = http::check_trust(http::TlsTrust{config.tls_ca_file});
  if (!trusted.ok()) {
    return base::Error{"bad_config", fmt::format("AETHEL_TLS_CA_FILE='{}' is invalid: {}",
                                                 config.tls_ca_file, trusted.error().message)};
  }
  if (config.tls_cert_file.empty()) return base::Status{};
  base::Status usable =
      http::check_server_tls(http::ServerTls{config.tls_cert_file, config.tls_key_file});
  if (usable.ok()) return usable;
  bool key = usable.error().code == "bad_tls_key";
  return base::Error{
      "bad_config",
      fmt::format("{}='{}' is invalid: {}", key ? "AETHEL_TLS_KEY_FILE" : "AETHEL_TLS_CERT_FILE",
                  key ? config.tls_key_file : config.tls_cert_file, usable.error().message)};
}

// The API server, HTTPS when AETHEL_TLS_CERT_FILE and AETHEL_TLS_KEY_FILE are set
// (check_tls has checked them).
// The soft RLIMIT_NOFILE less 256 descriptors kept for storage, P2P and outgoing
// calls and the validators' reserve of connections, in 16..10000.
size_t default_max_connections() {
  constexpr rlim_t kReserved = 256 + api::kValidatorConnections, kMin = 16, kMax = 10'000;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kMax;
  rlim_t usable = limit.rlim_cur > kReserved + kMin ? limit.rlim_cur - kReserved : kMin;
  return static_cast<size_t>(std::min(usable, kMax));
}

// One io thread per two cores (at least one): the other half is left to consensus,
// the disk and P2P, which every write also crosses. On two cores one io thread served
// about 6% more writes and a quarter more reads than two sharing one event loop
// (BENCHMARKS.md).
unsigned http_io_threads() {
  return std::max(1u, std::thread::hardware_concurrency() / 2);
}

node::Result<std::unique_ptr<http::Server>> start_server(const node::Config& config,
                                                         size_t max_connections,
                                                         metrics::Metrics& metrics,
                                                         http::Handler& handler) {
  http::ServerOptions options;
  options.host = config.api_host;
  options.port = config.api_port;
  options.io_threads = http_io_threads();
  options.max_connections = max_connections;
  options.reserved_connections = api::kValidatorConnections;
  options.max_connections_per_address = config.max_connections_per_address;
  options.unlimited_addresses = config.trusted_proxies;
  options.unlimited_addresses.insert(options.unlimited_addresses.end(), {"127.0.0.1", "::1"});
  options.on_connections = [&metrics](size_t open) { metrics.set_http_connections(open); };
  if (!config.tls_cert_file.empty()) {
    options.tls = http::ServerTls{config.tls_cert_file, config.tls_key_file};
  }
  return http::Server::start(options, handler);
}

int fail(const std::string& message) {
  fmt::print(stderr, "aethel node: {}\n", message);
  return kExitFailed;
}

// Flags, the real environment and the .env file, in that order of precedence.
node::Result<node::ConfigSources> config_sources(const NodeArgs& args) {
  auto env_file = load_env_file(args.env_file);
  if (!env_file.ok()) return env_file.error();
  return node::ConfigSources{args.flags, node::current_environment(), env_file.value()};
}

sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

}  // namespace

namespace {

// Everything `aethel node` needs before it opens anything, checked.
struct NodeSetup {
  node::Config config;
  std::shared_ptr<const ledger::Genesis> genesis;
  LogFormat format = LogFormat::kText;
  std::vector<node::Member> joined_members;  // AETHEL_JOIN: as the member reported them
};

// AETHEL_JOIN: the genesis and validators come from the member (or joined.json), and
// the members' URLs join AETHEL_LATTICE_NODES (the HTTP lung and history back-fill).
node::Result<NodeSetup> with_join(NodeSetup setup) {
  node::Config& c = setup.config;
  if (c.genesis_file || !c.validators.empty()) {
    return node::Error{"bad_config",
                       "AETHEL_JOIN takes the genesis and the validators from the lattice: "
                       "unset AETHEL_GENESIS_FILE and AETHEL_VALIDATORS"};
  }
  auto joined = join_lattice(c);
  if (!joined.ok()) return joined.error();
  setup.genesis = std::make_shared<const ledger::Genesis>(std::move(joined->genesis));
  c.validators = joined->genesis_validators;
  for (const node::Member& m : joined->members) {
    bool listed = std::find(c.lattice_nodes.begin(), c.lattice_nodes.end(), m.address.url) !=
                  c.lattice_nodes.end();
    if (!m.address.url.empty() && m.address.url != c.public_url && !listed) {
      c.lattice_nodes.push_back(m.address.url);
    }
  }
  setup.joined_members = joined->members;
  return setup;
}

node::Result<NodeSetup> load_setup(const Args& args, bool& usage_error) {
  auto parsed_args = parse_node_args(args);
  usage_error = !parsed_args;
  if (!parsed_args) return node::Error{"usage", ""};
  auto loaded = config_sources(*parsed_args);
  if (!loaded.ok()) return loaded.error();
  node::ConfigSources& sources = loaded.value();
  auto format = log_format(sources);
  if (!format.ok()) return format.error();
  sources.flags.erase("AETHEL_LOG_FORMAT");
  auto config = node::load_config(sources);
  if (!config.ok()) return config.error();
  auto genesis = load_genesis(config.value());
  if (!genesis.ok()) return genesis.error();
  if (base::Status tls = check_tls(config.value()); !tls.ok()) return tls.error();
  NodeSetup setup{std::move(config).value(),
                  std::make_shared<const ledger::Genesis>(std::move(genesis).value()),
                  format.value(),
                  {}};
  if (setup.config.join_url.empty()) return setup;
  return with_join(std::move(setup));
}

// The back-fill (node/history.h) fetches from the other nodes' HTTP APIs, in turn.
node::HistoryOptions history_options(const node::Config& c,
                                     std::shared_ptr<const ledger::Genesis> genesis, Log& log) {
  std::vector<http::Url> peers;
  for (const std::string& url : c.lattice_nodes) {
    auto parsed = http::parse_url(url);
    if (parsed.ok() && url != c.public_url) peers.push_back(parsed.value());
  }
  http::ClientOptions client;
  client.timeout_ms = 10'000;
  client.trust.ca_file = c.tls_ca_file;
  node::HistoryOptions options;
  options.genesis = std::move(genesis);
  options.log = [&log](std::string_view line) { log.line(std::string(line)); };
  options.fetch = [peers, client, turn = std::make_shared<size_t>(0)](
                      uint64_t from, uint32_t limit) -> base::Result<std::vector<storage::Block>> {
    base::Error last{"unavailable", "AETHEL_LATTICE_NODES names no other node"};
    for (size_t tried = 0; tried < peers.size(); ++tried) {
      auto blocks = cli::fetch_blocks(peers[(*turn)++ % peers.size()], from, limit, client);
      if (blocks.ok() && !blocks.value().empty()) return blocks;
      last = blocks.ok() ? base::Error{"unavailable", "no peer holds block " + std::to_string(from)}
                         : blocks.error();
    }
    return last;
  };
  return options;
}

// GET /api/lattice/events's limits. AETHEL_EVENTS_BUFFER_BYTES (4096 to 64 MiB; default
// 256 KiB) bounds each stream's queue: a client further behind is evicted (tests use a
// small one). A value out of range is a warning and the default stays.
api::EventsOptions events_options(metrics::Metrics& metrics, std::vector<std::string>& warnings) {
  api::EventsOptions options;
  options.metrics = &metrics;
  const char* buffer = std::getenv("AETHEL_EVENTS_BUFFER_BYTES");
  if (buffer == nullptr || *buffer == '\0') return options;
  char* end = nullptr;
  unsigned long long bytes = std::strtoull(buffer, &end, 10);
  if (*end != '\0' || bytes < 4096 || bytes > (64ULL << 20)) {
    warnings.push_back(
        fmt::format("AETHEL_EVENTS_BUFFER_BYTES='{}' is not a number from 4096 "
                    "to 67108864; using {}",
                    buffer, options.max_client_buffer_bytes));
    return options;
  }
  options.max_client_buffer_bytes = bytes;
  return options;
}

// AETHEL_ADMIN_TOKEN, or the token of <data dir>/admin.token (created on first use).
// The data directory is made 0700 even when it existed: it holds the node key.
node::Result<std::string> node_admin_token(const node::Config& c, Log& log) {
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  std::filesystem::permissions(c.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (ec)
    return node::Error{"io_error",
                       fmt::format("cannot use {}: {}", c.data_dir.string(), ec.message())};
  if (c.admin_token && !c.admin_token->empty()) return *c.admin_token;
  std::filesystem::path path = c.data_dir / "admin.token";
  auto token = load_or_create_admin_token(path);
  if (!token.ok()) {
    return node::Error{"bad_token", fmt::format("AETHEL_ADMIN_TOKEN is unset and {}: {}",
                                                path.string(), token.error().message)};
  }
  log.line(
      fmt::format("[API] admin token in {} (mode 0600; `aethel admin` reads it)", path.string()));
  return token.value();
}

// Every thread of the node runs under SCHED_BATCH (threads inherit it from the one
// that starts them), so a woken thread does not preempt the one that handed it work
// (docs/ARCHITECTURE.md). Returns the warning to log when the system refuses (the
// node then runs as it is), else "".
std::string schedule_threads_as_batch() {
  sched_param param{};
  if (sched_setscheduler(0, SCHED_BATCH, &param) == 0) return "";
  return fmt::format("[NODE] warning: cannot use batch scheduling ({}); running as is",
                     std::strerror(errno));
}

// Serves until SIGINT or SIGTERM, then stops in order: the server (requests in
// progress still commit and get their answer), the router's pools, the lattice, the
// node (its Ready finishes, fsync'd).
int serve(const NodeSetup& setup, const sigset_t& signals) {
  const node::Config& c = setup.config;
  const std::string batch_warning = schedule_threads_as_batch();  // before any thread starts
  Log log(c, setup.format);
  if (!batch_warning.empty()) log.line(batch_warning);
  metrics::Metrics metrics;  // outlives the node, the lattice and the server below
  std::vector<std::string> warnings = c.warnings;
  api::Events events(events_options(metrics, warnings));  // outlives them too
  for (const std::string& warning : warnings) log.line("[CONFIG] warning: " + warning);
  auto node = open_node(c, setup.genesis, setup.joined_members, log, metrics, events);
  if (!node.ok()) return fail(node.error().message);
  std::string lattice_id = node::lattice_id(node.value()->validators(), *setup.genesis);
  log.line(fmt::format("[NODE] lattice id {} with {} validators", lattice_id.substr(0, 16),
                       node.value()->validators().size()));
  if (!c.join_url.empty()) {
    log.line(
        fmt::format("[NODE] joined through {}; until a member adds it, this node only "
                    "listens: aethel member add {} --url {} (on any member)",
                    c.join_url, node.value()->peer_id(), c.public_url));
  }
  auto lattice = start_lattice(*node.value(), c, lattice_id, log, metrics);
  if (!lattice.ok()) return fail(lattice.error().message);
  LatticeTransport transport(*lattice.value());
  node.value()->set_transport(&transport);
  node.value()->on_member_learned([&lattice](const node::MemberAddress& m) {
    lattice.value()->add_member(m.peer_id, m.url, m.p2p_addrs);
  });
  auto history =
      std::make_unique<node::HistoryFiller>(*node.value(), history_options(c, setup.genesis, log));
  auto admin_token = node_admin_token(c, log);
  if (!admin_token.ok()) return fail(admin_token.error().message);
  api::RouterOptions router_options;
  router_options.node_name = c.node_name;
  router_options.lattice = lattice.value().get();
  router_options.tls_ca_file = c.tls_ca_file;
  router_options.admin_token = admin_token.value();
  router_options.metrics = &metrics;
  router_options.max_body_bytes = c.max_body_bytes;
  router_options.max_connections = c.max_connections.value_or(default_max_connections());
  router_options.genesis_json = ledger::genesis_to_json(*setup.genesis);
  router_options.events = &events;
  router_options.write_rate_per_s = c.rate_limit_writes_per_s.value_or(api::kDefaultWriteRatePerS);
  router_options.trusted_proxies = c.trusted_proxies;
  router_options.solver_budget_ms = c.solver_budget_ms.value_or(api::kDefaultSolverBudgetMs);
  auto router = std::make_unique<api::Router>(*node.value(), router_options);
  auto server = start_server(c, router_options.max_connections, metrics, *router);
  if (!server.ok()) return fail(server.error().message);
  log.line(fmt::format("[API] listening on {}://{}:{} (public URL {})",
                       c.tls_cert_file.empty() ? "http" : "https", c.api_host,
                       server.value()->port(), c.public_url));
  int received = 0;
  sigwait(&signals, &received);
  log.line(fmt::format("[NODE] {} received, stopping", received == SIGINT ? "SIGINT" : "SIGTERM"));
  auto stop_start = std::chrono::steady_clock::now();
  server.value()->shutdown(kShutdownGrace_ms);
  server.value().reset();
  router.reset();  // nothing uses the node after
  history.reset();
  node.value()->set_transport(nullptr);  // before the lattice goes
  node.value()->on_member_learned([](const node::MemberAddress&) {});
  lattice.value().reset();  // no more peer traffic
  node.value().reset();
  auto stop_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - stop_start)
                     .count();
  log.line(fmt::format("[NODE] stopped in {} ms", stop_ms));
  return kExitStopped;
}

}  // namespace

int run_node(const Args& args) {
  bool usage_error = false;
  auto setup = load_setup(args, usage_error);
  if (usage_error) return kExitUsage;
  if (!setup.ok()) return fail(setup.error().message);
  // Directories 0700 and files 0600 whatever the caller's umask (SPEC §9): the data
  // directory holds the node key and the admin token, the logs name peers and keys.
  ::umask(077);
  // Blocked before any thread starts, so every thread inherits the mask and the
  // signals wait for sigwait instead of killing the process mid-write.
  sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return serve(setup.value(), signals);
}

namespace {

// Moves the store's files into a backup folder next to them; the key stays.
node::Result<std::filesystem::path> move_store_aside(const std::filesystem::path& data_dir) {
  auto backup = data_dir / fmt::format("rebuild-backup-{}", std::time(nullptr));
  std::error_code ec;
  std::filesystem::create_directories(backup, ec);
  if (ec)
    return node::Error{"io_error",
                       fmt::format("cannot create {}: {}", backup.string(), ec.message())};
  for (const std::string& name : storage::store_file_names(data_dir)) {
    std::filesystem::rename(data_dir / name, backup / name, ec);
    if (ec) return node::Error{"io_error", fmt::format("cannot move {}: {}", name, ec.message())};
  }
  return backup;
}

}  // namespace

int run_rebuild(const Args& args) {
  auto parsed_args = parse_node_args(args);
  if (!parsed_args) return kExitUsage;
  auto sources = config_sources(*parsed_args);
  if (!sources.ok()) return fail(sources.error().message);
  sources.value().flags.erase("AETHEL_LOG_FORMAT");
  auto config = node::load_config(sources.value());
  if (!config.ok()) return fail(config.error().message);
  const std::filesystem::path& data_dir = config.value().data_dir;

  // The term and vote must survive: a node that forgot its vote could vote twice in
  // one term and help elect two leaders.
  storage::HardState kept;
  {
    auto store = storage::Store::open(data_dir);
    if (!store.ok()) {
      return fail(
          fmt::format("cannot open the store (is the node still running? stop it "
                      "first): {}",
                      store.status().to_string()));
    }
    auto hard = store.value()->hard_state();
    if (!hard.ok()) return fail(hard.status().to_string());
    kept = hard.value();
  }
  auto backup = move_store_aside(data_dir);
  if (!backup.ok()) return fail(backup.error().message);
  auto fresh = storage::Store::open(data_dir);
  if (!fresh.ok()) return fail(fresh.status().to_string());
  storage::WriteBatch batch;
  batch.hard_state = storage::HardState{kept.term, kept.voted_for, 0};
  // Its log is gone: until it has caught up it must not vote (SPEC §10).
  batch.recovery = static_cast<uint8_t>(node::Recovery::kRecovering);
  storage::Status written = fresh.value()->write(batch);
  if (!written.ok()) return fail(written.to_string());
  fmt::print(
      "aethel rebuild: the old state is in {}; the node key and the Raft term {} are kept.\n"
      "Start the node: it takes no part in elections until it holds everything the other "
      "validators may have acknowledged, which it fetches from them.\n",
      backup.value().string(), kept.term);
  return kExitStopped;
}

}  // namespace aethel::cli
