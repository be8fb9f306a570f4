#include "api/lattice.h"

#include <fmt/format.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/api.h"
#include "consensus/consensus.h"
#include "http/http.h"
#include "metrics/metrics.h"

namespace aethel::api {
namespace json = boost::json;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using node::Error;
using node::Result;

namespace {

constexpr std::string_view kRaftProtocol = "/aethel/raft/1.0.0";
constexpr std::string_view kHelloProtocol = "/aethel/hello/1.0.0";
// A P2P request unanswered this long moves its peer to the HTTP lung.
constexpr auto kP2pStall = std::chrono::milliseconds(500);
// Unanswered this long, the connection is taken for dead: it is closed, its pending
// requests fail and are resent over HTTP, and the heartbeat dials the peer again. (An
// overloaded peer answers late but within this; a cut link never answers.)
constexpr auto kP2pDead = std::chrono::milliseconds(2'000);
constexpr uint32_t kPeerHttpTimeout_ms = 2'000;
constexpr size_t kMaxQueuedEnvelopes = 4096;
constexpr size_t kMaxHttpBatchBytes = 8u << 20;

p2p::ByteView view(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<uint8_t> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int high = digit(hex[i]), low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(high * 16 + low));
  }
  return out;
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

// Milliseconds since `then`, or null when it never happened.
boost::json::value age_ms(Clock::time_point then, Clock::time_point now) {
  if (then == Clock::time_point{}) return nullptr;
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - then).count();
}

const char* mode_name(int mode) {
  static constexpr const char* kNames[] = {"AUTO", "P2P", "HTTP"};
  return kNames[mode];
}

}  // namespace

uint64_t unix_time_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::string signing_text(std::string_view method, std::string_view path,
                         std::string_view timestamp_ms, std::string_view body) {
  return fmt::format("{}\n{}\n{}\n{}", method, path, timestamp_ms,
                     ledger::to_hex(ledger::sha256(body)));
}

// ---------------------------------------------------------------------------

class Lattice::Impl {
 public:
  enum Mode { kAuto = 0, kP2p = 1, kHttp = 2 };
  class Sender;
  struct Peer {
    std::string id;
    std::string name;
    std::string url;
    bool connected = false;  // a P2P connection is up
    bool hello_ok = false;   // and it proved the same lattice id
    Clock::time_point last_p2p_seen{};
    double rtt_ms = -1;
    // P2P requests not answered yet, by send number: resent over HTTP if the link stalls.
    std::map<uint64_t, std::string> unacked;
    uint64_t sends = 0;
    Clock::time_point oldest_unacked{};
    std::optional<Clock::time_point> stalled_since;  // set: HTTP until P2P answers again
    Clock::time_point last_http_ok{};
    std::optional<uint64_t> height;
    std::string root;
    Clock::time_point last_sync{};
    std::shared_ptr<Sender> sender;
  };

  Impl(node::Node& node, LatticeOptions options)
      : node_(node), options_(std::move(options)), work_(asio::make_work_guard(io_)) {
    if (!options_.log) {
      options_.log = [](std::string_view line) {
        fmt::print("{}\n", line);
        std::fflush(stdout);
      };
    }
    for (const std::string& v : node_.validators()) {
      if (v != node_.peer_id()) peers_[v].id = v;
    }
    peerless_since_ = Clock::now();
    mode_ = options_.config.p2p_enabled ? kAuto : kHttp;
  }

  ~Impl() { stop(); }

  Result<bool> start() {
    for (const std::string& text : options_.config.p2p_bootstrap) {
      std::string warning;
      auto address = p2p::Multiaddr::parse_bootstrap(text, warning);
      if (!address.ok()) {
        return Error{"bad_config", fmt::format("AETHEL_P2P_BOOTSTRAP='{}' is invalid: {}", text,
                                               address.error().message)};
      }
      if (!warning.empty()) log(fmt::format("[P2P] warning: {}", warning));
      bootstrap_.push_back(address.value());
    }
    io_thread_ = std::thread([this] { io_.run(); });
    if (options_.config.p2p_enabled) {
      auto started = start_host();
      if (!started.ok()) return started.error();
    }
    node_.set_transport(owner_);
    monitor_ = std::thread([this] { monitor_loop(); });
    return true;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    node_.set_transport(nullptr);
    monitor_wake_.notify_all();
    if (monitor_.joinable()) monitor_.join();
    std::vector<std::shared_ptr<Sender>> senders;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, peer] : peers_) {
        if (peer.sender) senders.push_back(peer.sender);
      }
    }
    for (auto& sender : senders) sender->stop();
    run_on_io([this] {
      if (host_) host_->stop();
      host_.reset();
    });
    work_.reset();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
  }

  Lattice* owner_ = nullptr;

  // --- sending -------------------------------------------------------------

  void send(const std::string& peer_id, std::string envelope) {
    std::unique_lock lock(mutex_);
    auto it = peers_.find(peer_id);
    if (it == peers_.end() || stopped_) return;
    Peer& peer = it->second;
    if (use_p2p(peer, Clock::now())) {
      if (peer.unacked.empty()) peer.oldest_unacked = Clock::now();
      uint64_t send_number = ++peer.sends;
      peer.unacked.emplace(send_number, envelope);
      lock.unlock();
      send_p2p(peer_id, send_number, std::move(envelope));
      return;
    }
    if (manual_ == kP2p) return;  // "P2P only": the HTTP lung is switched off
    send_http(peer, std::move(envelope));
  }

  // P2P while the peer answers. Once requests stay unanswered for kP2pStall, what is
  // in flight is resent over HTTP and HTTP carries everything until P2P answers again.
  bool use_p2p(Peer& peer, Clock::time_point now) {
    if (manual_ == kHttp || !host_running_ || !peer.connected || !peer.hello_ok) return false;
    if (peer.stalled_since) {
      if (now - *peer.stalled_since >= kP2pDead - kP2pStall) drop_stalled(peer);
      return false;
    }
    if (peer.unacked.empty() || now - peer.oldest_unacked < kP2pStall) return true;
    peer.stalled_since = now;
    divert_unacked(peer);
    return false;
  }

  // Duplicates are harmless: consensus ignores them and the leader drops a second
  // delivery of a forwarded write.
  void divert_unacked(Peer& peer) {
    if (manual_ != kP2p) {
      for (auto& [number, envelope] : peer.unacked) send_http(peer, std::move(envelope));
    }
    peer.unacked.clear();
  }

  // A P2P connection whose requests stay unanswered (a dropped port, a partition)
  // still looks connected to TCP for minutes. It is closed: its pending requests
  // fail at once and go over HTTP, and the heartbeat dials the peer again.
  void drop_stalled(Peer& peer) {
    log(
        fmt::format("[P2P] Peer {} ({}) stopped answering for {} ms: closing the connection, "
                    "HTTP carries its messages",
                    peer.id, peer.name, kP2pDead.count()));
    peer.connected = peer.hello_ok = false;
    peer.stalled_since.reset();
    divert_unacked(peer);
    auto id = p2p::PeerId::parse(peer.id);
    if (!id.ok()) return;
    run_on_io_async([this, id = id.value()] {
      if (host_) host_->disconnect(id);
    });
  }

  void send_p2p(const std::string& peer_id, uint64_t send_number, std::string envelope) {
    asio::post(io_, [this, peer_id, send_number, envelope = std::move(envelope)] {
      auto peer = p2p::PeerId::parse(peer_id);
      if (!host_ || !peer.ok()) return settle_p2p(peer_id, send_number, false);
      host_->request(peer.value(), std::string(kRaftProtocol),
                     p2p::Bytes(envelope.begin(), envelope.end()),
                     [this, peer_id, send_number](p2p::Result<p2p::Bytes> reply) {
                       settle_p2p(peer_id, send_number, reply.ok());
                     });
    });
  }

  // A P2P request finished; a failed one is sent again over HTTP at once (unless the
  // stall detector already did).
  void settle_p2p(const std::string& peer_id, uint64_t send_number, bool ok) {
    std::lock_guard lock(mutex_);
    auto it = peers_.find(peer_id);
    if (it == peers_.end()) return;
    Peer& peer = it->second;
    auto sent = peer.unacked.extract(send_number);
    peer.oldest_unacked = Clock::now();
    if (ok) {
      peer.last_p2p_seen = Clock::now();
      peer.stalled_since.reset();
      return;
    }
    if (sent && manual_ != kP2p) send_http(peer, std::move(sent.mapped()));
  }

  // --- the HTTP lung: one sender thread per peer ---------------------------

  class Sender {
   public:
    Sender(Impl& owner, std::string peer_id, std::string url)
        : owner_(owner), peer_id_(std::move(peer_id)), url_(std::move(url)) {
      thread_ = std::thread([this] { run(); });
    }
    ~Sender() { stop(); }
    void stop() {
      {
        std::lock_guard lock(mutex_);
        stopping_ = true;
      }
      wake_.notify_all();
      if (thread_.joinable()) thread_.join();
    }
    void push(std::string envelope) {
      std::lock_guard lock(mutex_);
      if (queue_.size() >= kMaxQueuedEnvelopes) queue_.pop_front();  // consensus resends
      queue_.push_back(std::move(envelope));
      wake_.notify_one();
    }

   private:
    void run() {
      std::unique_ptr<http::Connection> connection;
      std::unique_lock lock(mutex_);
      while (true) {
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        std::string body;
        while (!queue_.empty() && body.size() < kMaxHttpBatchBytes) {
          put_u32(body, static_cast<uint32_t>(queue_.front().size()));
          body += queue_.front();
          queue_.pop_front();
        }
        lock.unlock();
        bool ok = post(connection, body);
        owner_.http_result(peer_id_, ok);
        lock.lock();
        // A peer that is down is not hammered: wait a little before the next try.
        if (!ok) wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; });
      }
    }

    bool post(std::unique_ptr<http::Connection>& connection, const std::string& body) {
      if (!connection) {
        auto url = http::parse_url(url_);
        if (!url.ok()) return false;
        auto opened =
            http::Connection::open(url.value(), owner_.client_options(kPeerHttpTimeout_ms));
        if (!opened.ok()) return false;
        connection = std::move(opened).value();
      }
      http::Headers headers = owner_.signed_headers("POST", kInternalMessagesPath, body);
      auto reply = connection->call("POST", kInternalMessagesPath, body, headers);
      if (!reply.ok() || reply.value().status != 200) {
        connection.reset();
        return false;
      }
      return true;
    }

    Impl& owner_;
    std::string peer_id_;
    std::string url_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::string> queue_;
    bool stopping_ = false;
    std::thread thread_;
  };

  void send_http(Peer& peer, std::string envelope) {
    if (peer.url.empty()) return;  // not learned yet; consensus resends later
    if (!peer.sender) peer.sender = std::make_shared<Sender>(*this, peer.id, peer.url);
    peer.sender->push(std::move(envelope));
  }

  void http_result(const std::string& peer_id, bool ok) {
    std::lock_guard lock(mutex_);
    auto it = peers_.find(peer_id);
    if (it != peers_.end() && ok) it->second.last_http_ok = Clock::now();
  }

  http::Headers signed_headers(std::string_view method, std::string_view path,
                               std::string_view body) const {
    std::string timestamp = std::to_string(unix_time_ms());
    std::string text = signing_text(method, path, timestamp, body);
    auto signature = node_.key().sign(view(text));
    return {{"X-Aethel-Peer", node_.peer_id()},
            {"X-Aethel-Timestamp", timestamp},
            {"X-Aethel-Signature", ledger::to_hex(std::span<const uint8_t>(signature))}};
  }

  // The node's trust (AETHEL_TLS_CA_FILE) for https:// peers. `stall_timeout_ms`
  // bounds each wait for bytes (the old client's per-socket-operation timeout), so a
  // large batch that keeps moving is not cut; the whole exchange has the default 30 s.
  http::ClientOptions client_options(uint32_t stall_timeout_ms) const {
    http::ClientOptions client;
    client.stall_timeout_ms = stall_timeout_ms;
    client.trust.ca_file = options_.config.tls_ca_file;
    return client;
  }

  // --- inbound ----------------------------------------------------------------

  Result<std::string> authenticate(const SignedHeaders& h, std::string_view method,
                                   std::string_view path, std::string_view body) {
    auto refuse = [](std::string why) { return Error{"unauthorized", std::move(why)}; };
    if (h.peer_id.empty() || h.timestamp_ms.empty() || h.signature.empty()) {
      return refuse(
          "node-to-node requests need X-Aethel-Peer, X-Aethel-Timestamp and "
          "X-Aethel-Signature");
    }
    if (!peers_.contains(h.peer_id)) return refuse(h.peer_id + " is not a validator");
    uint64_t timestamp = 0;
    try {
      timestamp = std::stoull(h.timestamp_ms);
    } catch (const std::exception&) {
      return refuse("X-Aethel-Timestamp is not a number");
    }
    uint64_t now = unix_time_ms();
    uint64_t skew = now > timestamp ? now - timestamp : timestamp - now;
    if (skew > kSignedRequestWindowMs) return refuse("the request is outside the replay window");
    auto peer = p2p::PeerId::parse(h.peer_id);
    auto key = peer.ok() ? peer.value().public_key() : std::nullopt;
    auto signature = from_hex(h.signature);
    std::string text = signing_text(method, path, h.timestamp_ms, body);
    if (!key || !signature || !key->verify(view(text), *signature)) {
      return refuse("bad signature from " + h.peer_id);
    }
    std::lock_guard lock(mutex_);
    forget_old_signatures(now);
    if (!seen_signatures_.emplace(h.signature, timestamp).second) {
      return refuse("replayed request");
    }
    seen_by_time_.emplace(timestamp, h.signature);
    return h.peer_id;
  }

  void forget_old_signatures(uint64_t now) {
    while (!seen_by_time_.empty() && seen_by_time_.begin()->first + kSignedRequestWindowMs < now) {
      seen_signatures_.erase(seen_by_time_.begin()->second);
      seen_by_time_.erase(seen_by_time_.begin());
    }
  }

  Result<size_t> deliver(const std::string& from, std::string_view body) {
    size_t count = 0;
    while (!body.empty()) {
      if (body.size() < 4) return Error{"malformed_body", "truncated envelope length"};
      uint32_t length = 0;
      for (int i = 0; i < 4; ++i) length = (length << 8) | static_cast<uint8_t>(body[i]);
      if (body.size() - 4 < length) return Error{"malformed_body", "truncated envelope"};
      node_.receive(from, body.substr(4, length));
      body.remove_prefix(4 + length);
      ++count;
    }
    std::lock_guard lock(mutex_);
    if (auto it = peers_.find(from); it != peers_.end()) it->second.last_http_ok = Clock::now();
    return count;
  }

  // --- the libp2p host ------------------------------------------------------

  Result<bool> start_host() {
    std::vector<p2p::Multiaddr> listen;
    for (const std::string& text : options_.config.p2p_listen) {
      auto address = p2p::Multiaddr::parse(text);
      if (!address.ok()) {
        return Error{"bad_config", fmt::format("AETHEL_P2P_LISTEN='{}' is invalid: {}", text,
                                               address.error().message)};
      }
      listen.push_back(address.value());
    }
    std::promise<Result<bool>> started;
    auto answer = started.get_future();
    asio::post(io_, [&] {
      p2p::HostConfig config;
      config.key = node_.key();
      config.listen_addrs = listen;
      config.log = [this](std::string_view line) { log(std::string(line)); };
      // A snapshot for a far-behind follower travels as one consensus message.
      config.limits.max_message_bytes = consensus::kMaxEncodedMessageBytes + 1024;
      // Dials into a cut network must give up soon, so the heartbeat's next dial
      // finds the link once it heals.
      config.limits.handshake_timeout_ms = 3'000;
      host_ = std::make_unique<p2p::Host>(io_, config);
      install_handlers();
      auto status = host_->start();
      if (!status.ok()) {
        host_.reset();
        started.set_value(
            Error{"p2p_listen_failed", "AETHEL_P2P_LISTEN: " + status.error().message});
        return;
      }
      std::vector<std::string> addresses;
      for (const p2p::Multiaddr& a : host_->listen_addrs()) addresses.push_back(a.to_string());
      {
        std::lock_guard lock(mutex_);
        listen_addrs_ = std::move(addresses);
      }
      started.set_value(true);
    });
    auto result = answer.get();
    if (result.ok()) {
      std::lock_guard lock(mutex_);
      host_running_ = true;
    }
    return result;
  }

  void install_handlers() {
    host_->set_request_handler(
        std::string(kRaftProtocol),
        [this](const p2p::PeerId& from, p2p::Bytes request) -> p2p::Result<p2p::Bytes> {
          std::string peer = from.to_base58();
          if (!is_lattice_peer(peer)) {
            return p2p::Error{"unauthenticated", "not an authenticated lattice peer"};
          }
          node_.receive(peer, std::string_view(reinterpret_cast<const char*>(request.data()),
                                               request.size()));
          return p2p::Bytes{};
        });
    host_->set_request_handler(
        std::string(kHelloProtocol),
        [this](const p2p::PeerId& from, p2p::Bytes request) -> p2p::Result<p2p::Bytes> {
          accept_hello(from.to_base58(), request);
          std::string mine = hello_text();
          return p2p::Bytes(mine.begin(), mine.end());
        });
    host_->on_peer_connected([this](const p2p::PeerId& peer) { peer_connected(peer); });
    host_->on_peer_disconnected([this](const p2p::PeerId& peer) { peer_disconnected(peer); });
    host_->subscribe(options_.config.p2p_topic,
                     [this](const p2p::PeerId& author, const p2p::Bytes& data) {
                       head_announced(author.to_base58(), data);
                     });
  }

  bool is_lattice_peer(const std::string& peer_id) {
    std::lock_guard lock(mutex_);
    auto it = peers_.find(peer_id);
    return it != peers_.end() && it->second.hello_ok;
  }

  std::string hello_text() const {
    auto [height, root] = node_.read([](const ledger::Ledger& l) {
      return std::make_pair(l.height(), ledger::to_hex(l.root()));
    });
    return json::serialize(json::object{{"lattice_id", options_.lattice_id},
                                        {"name", options_.config.node_name},
                                        {"url", options_.config.public_url},
                                        {"height", height},
                                        {"merkle_root", root}});
  }

  // A hello makes a connected validator a lattice peer, if its lattice id is ours.
  void accept_hello(const std::string& peer_id, const p2p::Bytes& bytes) {
    json::error_code ec;
    json::value value = json::parse(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
    std::lock_guard lock(mutex_);
    auto it = peers_.find(peer_id);
    if (it == peers_.end()) return;  // not a validator: gossip only
    Peer& peer = it->second;
    if (ec || !value.is_object() || !value.as_object().if_contains("lattice_id")) {
      log(fmt::format("[P2P] refusing peer {}: malformed hello", peer_id));
      return;
    }
    const json::object& hello = value.as_object();
    std::string their_id = json::value_to<std::string>(hello.at("lattice_id"));
    if (their_id != options_.lattice_id) {
      log(
          fmt::format("[P2P] refusing peer {}: lattice id {} differs from ours {} (other "
                      "validators or genesis)",
                      peer_id, their_id.substr(0, 16), options_.lattice_id.substr(0, 16)));
      return;
    }
    if (auto* name = hello.if_contains("name"); name && name->is_string()) {
      peer.name = std::string(name->as_string());
    }
    if (auto* url = hello.if_contains("url"); url && url->is_string() && peer.url.empty()) {
      peer.url = std::string(url->as_string());
    }
    if (!peer.hello_ok && peer.connected) {
      log(fmt::format("[P2P] lattice peer ready: {} ({})", peer_id, peer.name));
    }
    peer.hello_ok = peer.connected;
    peer.last_p2p_seen = Clock::now();
    update_mode(Clock::now());
  }

  void peer_connected(const p2p::PeerId& id) {
    std::string peer_id = id.to_base58();
    {
      std::lock_guard lock(mutex_);
      auto it = peers_.find(peer_id);
      if (it == peers_.end()) {
        log(fmt::format("[P2P] {} is not a validator of this lattice: gossip only", peer_id));
        return;
      }
      it->second.connected = true;
      it->second.stalled_since.reset();
    }
    std::string mine = hello_text();
    host_->request(id, std::string(kHelloProtocol), p2p::Bytes(mine.begin(), mine.end()),
                   [this, peer_id](p2p::Result<p2p::Bytes> reply) {
                     if (reply.ok()) accept_hello(peer_id, reply.value());
                   });
  }

  void peer_disconnected(const p2p::PeerId& id) {
    std::lock_guard lock(mutex_);
    auto it = peers_.find(id.to_base58());
    if (it == peers_.end()) return;
    it->second.connected = false;
    it->second.hello_ok = false;
    it->second.stalled_since.reset();
    divert_unacked(it->second);
  }

  void head_announced(const std::string& author, const p2p::Bytes& data) {
    json::error_code ec;
    json::value value =
        json::parse(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), ec);
    if (ec || !value.is_object()) return;
    const json::object& head = value.as_object();
    auto* height = head.if_contains("height");
    auto* root = head.if_contains("merkle_root");
    if (!height || !height->is_number() || !root || !root->is_string()) return;
    std::lock_guard lock(mutex_);
    auto it = peers_.find(author);
    if (it == peers_.end()) return;
    it->second.height = height->to_number<uint64_t>();
    it->second.root = std::string(root->as_string());
    it->second.last_sync = Clock::now();
  }

  // New heads are gossiped at most every heartbeat, from the monitor.
  void announce_head() {
    run_on_io_async([this] {
      if (!host_) return;
      std::string text = hello_text();
      (void)host_->publish(options_.config.p2p_topic, p2p::Bytes(text.begin(), text.end()));
    });
  }

  // --- the heartbeat monitor ------------------------------------------------

  void monitor_loop() {
    const auto interval = std::chrono::seconds(options_.config.heartbeat_interval_s);
    Clock::time_point next_poll = Clock::now();
    std::unique_lock lock(mutex_);
    while (!stopped_) {
      lock.unlock();
      learn_peer_urls();
      dial_bootstrap();
      ping_peers();
      announce_head();
      lock.lock();
      update_mode(Clock::now());
      bool poll = mode_ == kHttp && Clock::now() >= next_poll;
      lock.unlock();
      if (poll) {
        poll_http_peers();
        next_poll = Clock::now() + std::chrono::seconds(options_.config.http_poll_interval_s);
      }
      lock.lock();
      // Faster while nothing is connected yet, so a staged start converges quickly.
      auto wait = peer_count_locked(Clock::now()) == 0 && !peers_.empty()
                      ? std::min<Clock::duration>(interval, std::chrono::milliseconds(500))
                      : Clock::duration(interval);
      monitor_wake_.wait_for(lock, wait, [&] { return stopped_; });
    }
  }

  // The peer IDs behind AETHEL_LATTICE_NODES, from each node's identity route.
  void learn_peer_urls() {
    for (const std::string& url : options_.config.lattice_nodes) {
      {
        std::lock_guard lock(mutex_);
        bool known = false;
        for (auto& [id, peer] : peers_) known |= peer.url == url;
        if (known) continue;
      }
      auto parsed = http::parse_url(url);
      if (!parsed.ok()) continue;
      auto reply = http::call(parsed.value(), "GET", "/api/lattice/p2p/identity", {},
                              client_options(kPeerHttpTimeout_ms));
      if (!reply.ok() || reply.value().status != 200) continue;
      json::error_code ec;
      json::value value = json::parse(reply.value().body, ec);
      if (ec || !value.is_object()) continue;
      auto* peer_id = value.as_object().if_contains("peer_id");
      auto* lattice = value.as_object().if_contains("lattice_id");
      if (!peer_id || !peer_id->is_string()) continue;
      std::string id(peer_id->as_string());
      std::lock_guard lock(mutex_);
      auto it = peers_.find(id);
      if (it == peers_.end()) {
        warn_once(url, fmt::format("[HTTP_SYNC] {} is node {} which is not a validator of this "
                                   "lattice: ignored",
                                   url, id));
        continue;
      }
      if (lattice && lattice->is_string() && lattice->as_string() != options_.lattice_id) {
        warn_once(url,
                  fmt::format("[HTTP_SYNC] refusing {}: its lattice id differs from ours", url));
        continue;
      }
      it->second.url = url;
      if (auto* name = value.as_object().if_contains("node_name"); name && name->is_string()) {
        if (it->second.name.empty()) it->second.name = std::string(name->as_string());
      }
    }
  }

  void warn_once(const std::string& key, const std::string& line) {
    if (warned_.insert(key).second) log(line);
  }

  void dial_bootstrap() {
    run_on_io_async([this] {
      if (!host_) return;
      auto connected = host_->connected_peers();
      for (const p2p::Multiaddr& address : bootstrap_) {
        auto peer = address.peer_id();
        if (peer && std::find(connected.begin(), connected.end(), *peer) != connected.end()) {
          continue;
        }
        std::string text = address.to_string();
        host_->connect(address, [this, text](p2p::Result<p2p::PeerId> result) {
          if (!result.ok())
            warn_once("dial " + text, "[P2P] cannot reach " + text + ": " + result.error().message);
        });
      }
    });
  }

  void ping_peers() {
    run_on_io_async([this] {
      if (!host_) return;
      for (const p2p::PeerId& id : host_->connected_peers()) {
        std::string peer_id = id.to_base58();
        host_->ping(id, [this, peer_id](p2p::Result<double> rtt) {
          std::lock_guard lock(mutex_);
          auto it = peers_.find(peer_id);
          if (it == peers_.end()) return;
          if (!rtt.ok()) {
            if (it->second.connected) drop_stalled(it->second);
            return;
          }
          it->second.last_p2p_seen = Clock::now();
          it->second.rtt_ms = rtt.value();
        });
      }
    });
  }

  bool alive_over_p2p(const Peer& peer, Clock::time_point now) const {
    auto window = std::chrono::seconds(2 * options_.config.heartbeat_interval_s + 1);
    return host_running_ && peer.connected && peer.hello_ok && now - peer.last_p2p_seen <= window &&
           !peer.stalled_since;
  }
  bool alive_over_http(const Peer& peer, Clock::time_point now) const {
    auto window = std::chrono::seconds(2 * options_.config.heartbeat_interval_s + 1);
    return peer.last_http_ok != Clock::time_point{} && now - peer.last_http_ok <= window;
  }

  size_t peer_count_locked(Clock::time_point now) const {
    size_t count = 0;
    for (const auto& [id, peer] : peers_) count += alive_over_p2p(peer, now);
    return count;
  }

  // SPEC §6.2: AUTO until a peer connects or the peerless timer runs out; P2P while
  // peers are connected; HTTP after AETHEL_PEERLESS_TIMEOUT seconds without any.
  void update_mode(Clock::time_point now) {
    size_t peers = peer_count_locked(now);
    if (peers > 0 || peers_.empty()) peerless_since_ = now;
    if (!options_.config.p2p_enabled) return set_mode(kHttp);
    if (manual_ != kAuto) return set_mode(manual_);
    if (peers_.empty()) return set_mode(kAuto);  // standalone: nobody to sync with
    if (peers > 0) {
      if (mode_ == kHttp) log("[P2P_HEARTBEAT] Peers back - returning to P2P");
      return set_mode(kP2p);
    }
    auto peerless_s = std::chrono::duration_cast<std::chrono::seconds>(now - peerless_since_);
    if (!peers_.empty() && peerless_s.count() >= options_.config.peerless_timeout_s &&
        mode_ != kHttp) {
      log(fmt::format("[P2P_HEARTBEAT] 🚨 {} seconds without peers - Activating HTTP Fallback",
                      options_.config.peerless_timeout_s));
      ++fallback_activations_;
      if (options_.metrics) options_.metrics->record_fallback_activation();
      set_mode(kHttp);
    }
  }

  void set_mode(int mode) {
    if (mode == mode_) return;
    log(fmt::format("[SYNC_MODE] {} -> {}", mode_name(mode_), mode_name(mode)));
    mode_ = mode;
  }

  // While HTTP sync is active: every other node's height and root, compared with
  // ours at the same height.
  void poll_http_peers() {
    std::vector<std::pair<std::string, std::string>> targets;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, peer] : peers_) {
        if (!peer.url.empty()) targets.emplace_back(id, peer.url);
      }
    }
    for (const auto& [id, url] : targets) {
      auto parsed = http::parse_url(url);
      if (!parsed.ok()) continue;
      auto reply = http::call(parsed.value(), "GET", "/api/lattice/state?limit=0", {},
                              client_options(kPeerHttpTimeout_ms));
      if (!reply.ok() || reply.value().status != 200) continue;
      json::error_code ec;
      json::value value = json::parse(reply.value().body, ec);
      if (ec || !value.is_object()) continue;
      auto* height = value.as_object().if_contains("height");
      auto* root = value.as_object().if_contains("merkle_root");
      if (!height || !height->is_number() || !root || !root->is_string()) continue;
      compare_heads(id, url, height->to_number<uint64_t>(), std::string(root->as_string()));
    }
  }

  void compare_heads(const std::string& id, const std::string& url, uint64_t height,
                     const std::string& root) {
    auto [local_height, local_root] = node_.read([](const ledger::Ledger& l) {
      return std::make_pair(l.height(), ledger::to_hex(l.root()));
    });
    std::lock_guard lock(mutex_);
    Peer& peer = peers_[id];
    uint64_t known = peer.height.value_or(0);
    peer.height = height;
    peer.root = root;
    peer.last_sync = Clock::now();
    peer.last_http_ok = Clock::now();
    if (height == local_height && root != local_root) {
      ++divergences_;
      if (options_.metrics) options_.metrics->record_divergence();
      diverged_ = true;
      log(fmt::format("[HTTP_SYNC] ⚠ STATE DIVERGENCE at height {}: local {} peer {} ({})", height,
                      local_root, root, url));
    } else if (height > known) {
      log(fmt::format("[HTTP_SYNC] {} is at height {} (local {}), root {}", url, height,
                      local_height, root.substr(0, 16)));
    }
  }

  // --- status -----------------------------------------------------------------

  LatticeCounters counters() const {
    std::lock_guard lock(mutex_);
    Clock::time_point now = Clock::now();
    LatticeCounters out;
    for (const auto& [id, peer] : peers_) {
      if (manual_ != kHttp && alive_over_p2p(peer, now)) {
        ++out.p2p_peers;
      } else if (alive_over_http(peer, now)) {
        ++out.http_peers;
      }
    }
    static constexpr const char* kLowerNames[] = {"auto", "p2p", "http"};
    out.sync_mode = kLowerNames[mode_];
    out.fallback_activations = fallback_activations_;
    out.divergences = divergences_;
    return out;
  }

  json::object p2p_status() const {
    std::lock_guard lock(mutex_);
    Clock::time_point now = Clock::now();
    size_t peers = peer_count_locked(now);
    json::array list;
    for (const auto& [id, peer] : peers_) {
      std::string transport = manual_ != kHttp && alive_over_p2p(peer, now) ? "p2p"
                              : alive_over_http(peer, now)                  ? "http"
                                                                            : "down";
      list.push_back(json::object{
          {"peer_id", id},
          {"name", peer.name},
          {"url", peer.url},
          {"transport", transport},
          {"last_seen_ms", age_ms(std::max(peer.last_p2p_seen, peer.last_http_ok), now)},
          // When its height and root last reached us (gossip or an HTTP poll).
          {"last_sync_ms", age_ms(peer.last_sync, now)},
          {"rtt_ms", peer.rtt_ms < 0 ? json::value(nullptr) : json::value(peer.rtt_ms)}});
    }
    auto peerless_s =
        std::chrono::duration_cast<std::chrono::seconds>(now - peerless_since_).count();
    json::array listen;
    for (const std::string& a : listen_addrs_) listen.push_back(json::value(a));
    json::array bootstrap;
    for (const std::string& b : options_.config.p2p_bootstrap) bootstrap.push_back(json::value(b));
    return json::object{{"success", true},
                        {"enabled", options_.config.p2p_enabled},
                        {"started", host_running_},
                        {"peer_id", node_.peer_id()},
                        {"listen_multiaddrs", std::move(listen)},
                        {"bootstrap_peers", std::move(bootstrap)},
                        {"topic", options_.config.p2p_topic},
                        {"peer_count", peers},
                        {"has_peers", peers > 0},
                        {"sync_mode", mode_name(mode_)},
                        {"manual_mode", manual_ == kAuto  ? "auto"
                                        : manual_ == kP2p ? "p2p"
                                                          : "http"},
                        {"http_sync_enabled", mode_ == kHttp},
                        {"heartbeat_active", !stopped_},
                        {"message", status_message(peers)},
                        {"peerless_seconds", peers > 0 ? 0 : peerless_s},
                        {"peerless_timeout", options_.config.peerless_timeout_s},
                        {"fallback_activations", fallback_activations_},
                        {"peers", std::move(list)}};
  }

  std::string status_message(size_t peers) const {
    if (!options_.config.p2p_enabled) return "P2P disabled, HTTP sync only";
    if (mode_ == kHttp && manual_ == kHttp) return "HTTP sync selected manually";
    if (mode_ == kHttp) {
      return fmt::format("HTTP fallback active: no P2P peers for {}s",
                         options_.config.peerless_timeout_s);
    }
    if (!host_running_) return "P2P stopped by an operator; consensus runs over HTTP";
    if (peers > 0) return fmt::format("P2P active with {} peers", peers);
    return "P2P started, waiting for peers...";
  }

  json::object identity() const {
    json::array listen;
    std::string peer = node_.peer_id();
    {
      std::lock_guard lock(mutex_);
      for (const std::string& a : listen_addrs_) listen.push_back(json::value(a + "/p2p/" + peer));
    }
    return json::object{
        {"success", true},
        {"peer_id", peer},
        {"node_name", options_.config.node_name},
        {"public_key", ledger::to_hex(std::span<const uint8_t>(node_.key().public_key().raw()))},
        {"listen_addrs", std::move(listen)},
        {"lattice_id", options_.lattice_id},
        {"url", options_.config.public_url}};
  }

  json::object health() const {
    node::ConsensusStatus consensus = node_.consensus_status();
    std::lock_guard lock(mutex_);
    Clock::time_point now = Clock::now();
    size_t p2p_peers = peer_count_locked(now), reachable = 0;
    for (const auto& [id, peer] : peers_) {
      reachable += alive_over_p2p(peer, now) || alive_over_http(peer, now);
    }
    bool alone = peers_.empty();
    bool quorum = alone || reachable + 1 > (peers_.size() + 1) / 2;
    auto grade = [](bool healthy, bool degraded_ok) {
      return healthy ? "healthy" : degraded_ok ? "degraded" : "unhealthy";
    };
    json::object components{
        {"p2p", grade(alone || p2p_peers == peers_.size(), true)},
        {"http_sync", grade(mode_ != kHttp || reachable > 0 || alone, true)},
        {"heartbeat", grade(!stopped_, false)},
        {"consensus", grade(quorum && !consensus.leader_peer_id.empty(), false)},
        {"storage", grade(!diverged_, false)}};
    json::array unhealthy;
    bool degraded = false;
    for (const auto& [name, status] : components) {
      if (status.as_string() == "unhealthy") unhealthy.push_back(json::value(name));
      degraded |= status.as_string() == "degraded";
    }
    const char* overall = !unhealthy.empty() ? "unhealthy" : degraded ? "degraded" : "healthy";
    return json::object{{"status", overall},
                        {"timestamp", unix_time_ms()},
                        {"components", std::move(components)},
                        {"unhealthy_components", std::move(unhealthy)},
                        {"divergences", divergences_}};
  }

  json::object nodes() const {
    std::lock_guard lock(mutex_);
    json::array list;
    list.push_back(json::object{{"peer_id", node_.peer_id()},
                                {"name", options_.config.node_name},
                                {"url", options_.config.public_url},
                                {"self", true}});
    for (const auto& [id, peer] : peers_) {
      list.push_back(json::object{{"peer_id", id},
                                  {"name", peer.name},
                                  {"url", peer.url},
                                  {"self", false},
                                  {"validator", true}});
    }
    json::array configured;
    for (const std::string& url : options_.config.lattice_nodes) {
      configured.push_back(json::value(url));
    }
    return json::object{{"success", true},
                        {"self", options_.config.public_url},
                        {"lattice_id", options_.lattice_id},
                        {"configured", std::move(configured)},
                        {"nodes", std::move(list)}};
  }

  json::object network() const {
    std::vector<std::string> urls{options_.config.public_url};
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, peer] : peers_) {
        if (!peer.url.empty()) urls.push_back(peer.url);
      }
      for (const std::string& url : options_.config.lattice_nodes) {
        if (std::find(urls.begin(), urls.end(), url) == urls.end()) urls.push_back(url);
      }
    }
    std::vector<std::future<json::object>> answers;
    for (const std::string& url : urls) {
      answers.push_back(std::async(std::launch::async, [url, client = client_options(1'000)] {
        return probe_node(url, client);
      }));
    }
    json::array list;
    for (auto& answer : answers) list.push_back(answer.get());
    return json::object{
        {"success", true}, {"timestamp", unix_time_ms()}, {"nodes", std::move(list)}};
  }

  static json::object probe_node(const std::string& url, const http::ClientOptions& client) {
    json::object out{{"url", url}, {"reachable", false}};
    auto parsed = http::parse_url(url);
    if (!parsed.ok()) {
      out["error"] = parsed.error().message;
      return out;
    }
    auto get = [&](std::string_view target) -> std::optional<json::object> {
      auto reply = http::call(parsed.value(), "GET", target, {}, client);
      if (!reply.ok()) {
        out["error"] = reply.error().message;
        return std::nullopt;
      }
      json::error_code ec;
      json::value value = json::parse(reply.value().body, ec);
      if (ec || !value.is_object()) return std::nullopt;
      return value.as_object();
    };
    auto root = get("/");
    if (!root) return out;
    out["reachable"] = true;
    if (auto* v = root->if_contains("node_name")) out["name"] = *v;
    if (auto* v = root->if_contains("peer_id")) out["peer_id"] = *v;
    if (auto* v = root->if_contains("role")) out["role"] = *v;
    if (auto status = get("/api/lattice/p2p/status")) {
      for (const char* key : {"sync_mode", "peer_count", "heartbeat_active", "peers"}) {
        if (auto* v = status->if_contains(key)) out[key] = *v;
      }
    }
    if (auto state = get("/api/lattice/state?limit=0")) {
      for (const char* key : {"height", "merkle_root"}) {
        if (auto* v = state->if_contains(key)) out[key] = *v;
      }
    }
    if (auto health = get("/api/lattice/health")) {
      if (auto* v = health->if_contains("status")) out["health"] = *v;
    }
    return out;
  }

  Result<std::string> switch_mode(std::string_view mode) {
    int wanted;
    if (mode == "p2p") {
      wanted = kP2p;
    } else if (mode == "http") {
      wanted = kHttp;
    } else if (mode == "auto") {
      wanted = kAuto;
    } else {
      return Error{"bad_mode",
                   fmt::format("unknown sync mode '{}': expected p2p, http or auto", mode)};
    }
    std::lock_guard lock(mutex_);
    manual_ = wanted;
    log(fmt::format("[SYNC_MODE] manual switch to {}", mode));
    update_mode(Clock::now());
    return std::string(mode_name(mode_));
  }

  void stop_p2p() {
    {
      std::lock_guard lock(mutex_);
      host_running_ = false;
      for (auto& [id, peer] : peers_) {
        peer.connected = peer.hello_ok = false;
        peer.stalled_since.reset();
        divert_unacked(peer);
      }
    }
    run_on_io([this] {
      if (host_) host_->stop();
      host_.reset();
    });
    log("[P2P] stopped by an operator");
    std::lock_guard lock(mutex_);
    update_mode(Clock::now());
  }

  Result<std::string> start_p2p() {
    if (!options_.config.p2p_enabled) {
      return Error{"p2p_disabled", "P2P is disabled by AETHEL_P2P_ENABLED=false"};
    }
    {
      std::lock_guard lock(mutex_);
      if (host_running_) return std::string("already running");
    }
    auto started = start_host();
    if (!started.ok()) return started.error();
    log("[P2P] started by an operator");
    monitor_wake_.notify_all();
    return std::string("started");
  }

  void log(const std::string& line) const { options_.log(line); }

 private:
  // Runs `f` on the io thread and waits for it (never call from the io thread).
  template <class F>
  void run_on_io(F f) {
    if (io_.stopped()) return;
    std::promise<void> done;
    auto finished = done.get_future();
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    finished.wait();
  }
  template <class F>
  void run_on_io_async(F f) {
    asio::post(io_, std::move(f));
  }

  node::Node& node_;
  LatticeOptions options_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread io_thread_;
  std::unique_ptr<p2p::Host> host_;  // io thread only
  std::vector<p2p::Multiaddr> bootstrap_;
  mutable std::mutex mutex_;
  std::condition_variable monitor_wake_;
  std::thread monitor_;
  std::map<std::string, Peer> peers_;  // the other validators
  std::vector<std::string> listen_addrs_;
  std::set<std::string> warned_;
  std::map<std::string, uint64_t> seen_signatures_;
  std::multimap<uint64_t, std::string> seen_by_time_;
  bool host_running_ = false;
  bool stopped_ = false;
  int mode_ = kAuto;
  int manual_ = kAuto;
  Clock::time_point peerless_since_;
  uint64_t fallback_activations_ = 0;
  uint64_t divergences_ = 0;
  bool diverged_ = false;
};

// ---------------------------------------------------------------------------

Result<std::unique_ptr<Lattice>> Lattice::start(node::Node& node, LatticeOptions options) {
  auto impl = std::make_unique<Impl>(node, std::move(options));
  std::unique_ptr<Lattice> lattice(new Lattice(std::move(impl)));
  lattice->impl_->owner_ = lattice.get();
  auto started = lattice->impl_->start();
  if (!started.ok()) return started.error();
  return lattice;
}

Lattice::Lattice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Lattice::~Lattice() {
  impl_->stop();
}

void Lattice::send(const std::string& peer_id, std::string envelope) {
  impl_->send(peer_id, std::move(envelope));
}
Result<std::string> Lattice::authenticate(const SignedHeaders& headers, std::string_view method,
                                          std::string_view path, std::string_view body) {
  return impl_->authenticate(headers, method, path, body);
}
Result<size_t> Lattice::deliver(const std::string& from_peer_id, std::string_view body) {
  return impl_->deliver(from_peer_id, body);
}
json::object Lattice::p2p_status() const {
  return impl_->p2p_status();
}
json::object Lattice::identity() const {
  return impl_->identity();
}
json::object Lattice::health() const {
  return impl_->health();
}
LatticeCounters Lattice::counters() const {
  return impl_->counters();
}
json::object Lattice::nodes() const {
  return impl_->nodes();
}
json::object Lattice::network() const {
  return impl_->network();
}
Result<std::string> Lattice::switch_mode(std::string_view mode) {
  return impl_->switch_mode(mode);
}
void Lattice::stop_p2p() {
  impl_->stop_p2p();
}
Result<std::string> Lattice::start_p2p() {
  return impl_->start_p2p();
}

}  // namespace aethel::api
