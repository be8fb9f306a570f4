// GET /api/lattice/events: server-sent events (SPEC §7) of commits, role and term
// changes, sync mode changes and peer link changes.
//
// Threads: the node's hooks run on the consensus thread and only queue an item
// (bounded: max_pending_events). One events thread turns items into SSE text and
// writes it to every client's http::Stream; the io threads write the streams to
// their sockets. The lattice has no hook for mode and link changes: the events
// thread reads its published status every poll_ms while anyone listens and
// reports the differences.
//
// Ordering: a subscription is an item in the same queue as the events, and its hello
// is read from the node when the events thread takes it. A block is published to
// readers before its hook runs, so every commit is either in the hello or in a
// commit event after it (sometimes both: clients ignore heights they have).
//
// Limits: max_clients streams; each client's queue is bounded by
// max_client_buffer_bytes: a client too slow to read is evicted (its stream cut) and
// counted in aethel_events_evictions_total; it reconnects and starts from a hello.
#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "api/routes.h"
#include "metrics/metrics.h"

namespace aethel::api {
namespace json = boost::json;
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// What the events thread is asked to do.
struct Item {
  enum class Kind { kEvent, kSubscribe, kGone, kDetach };
  Kind kind = Kind::kEvent;
  std::string type;  // kEvent: the SSE event name
  json::object data;
  http::Stream stream;  // kSubscribe
  uint64_t client = 0;  // kSubscribe, kGone
};

struct Client {
  uint64_t id;
  http::Stream stream;
};

// The lattice as last reported: the sync mode and every peer's transport.
struct LatticeView {
  std::string sync_mode;
  std::map<std::string, lattice::PeerStatus> peers;  // by peer ID
};

LatticeView view_of(const lattice::Status& status) {
  LatticeView view{std::string(lattice::sync_mode_name(status.sync_mode)), {}};
  for (const lattice::PeerStatus& peer : status.peers) view.peers[peer.peer_id] = peer;
  return view;
}

json::object link_json(const lattice::PeerStatus& peer) {
  return {{"peer_id", peer.peer_id},
          {"name", peer.name},
          {"url", peer.url},
          {"transport", lattice::link_state_name(peer.transport)}};
}

std::string sse(uint64_t id, std::string_view type, const json::object& data) {
  return fmt::format("id: {}\nevent: {}\ndata: {}\n\n", id, type, json::serialize(data));
}

// aethel_events_clients and aethel_events_evictions_total, when metrics are on.
struct EventMetrics {
  explicit EventMetrics(metrics::Metrics* m) {
    if (m == nullptr) return;
    clients = &prometheus::BuildGauge()
                   .Name("aethel_events_clients")
                   .Help("Server-sent event streams open (GET /api/lattice/events)")
                   .Register(m->registry())
                   .Add({});
    evictions = &prometheus::BuildCounter()
                     .Name("aethel_events_evictions_total")
                     .Help("Event streams cut because the client read too slowly")
                     .Register(m->registry())
                     .Add({});
  }
  prometheus::Gauge* clients = nullptr;
  prometheus::Counter* evictions = nullptr;
};

}  // namespace

class Events::Impl : public std::enable_shared_from_this<Events::Impl> {
 public:
  explicit Impl(EventsOptions options) : options_(options), metrics_(options.metrics) {}

  void start() {
    thread_ = base::named_thread("events", [this] { run(); });
  }

  // Joins the events thread and ends every stream.
  void stop() EXCLUDES(inbox_mutex_) {
    {
      base::MutexLock lock(inbox_mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (Client& client : clients_) client.stream.close();
    clients_.clear();
  }

  void push(Item item) EXCLUDES(inbox_mutex_) {
    {
      base::MutexLock lock(inbox_mutex_);
      if (item.kind == Item::Kind::kEvent) {
        if (pending_events_ >= options_.max_pending_events) {
          ++lost_;
          return;
        }
        ++pending_events_;
      }
      inbox_.push_back(std::move(item));
    }
    wake_.notify_one();
  }

  void event(std::string type, json::object data) {
    data["timestamp"] = lattice::unix_time_ms();
    push(Item{Item::Kind::kEvent, std::move(type), std::move(data), {}, 0});
  }

  void attach(const node::Node* node, const lattice::Lattice* lattice, std::string name)
      EXCLUDES(attach_mutex_) {
    base::MutexLock lock(attach_mutex_);
    node_ = node;
    lattice_ = lattice;
    node_name_ = std::move(name);
    attached_ = node != nullptr;
  }

  void detach() EXCLUDES(attach_mutex_) {
    attach(nullptr, nullptr, "");
    push(Item{Item::Kind::kDetach, {}, {}, {}, 0});
  }

  unsigned subscribe(http::Responder responder, http::Headers headers);

  size_t clients() const { return subscribed_.load(); }

 private:
  void run() EXCLUDES(inbox_mutex_);
  void handle(Item& item);
  void hello(Item& item) EXCLUDES(attach_mutex_);
  std::optional<json::object> hello_json() EXCLUDES(attach_mutex_);
  void poll_lattice() EXCLUDES(attach_mutex_);
  void fan_out(const std::string& text);
  void broadcast(std::string_view type, json::object data) {
    data["timestamp"] = lattice::unix_time_ms();
    fan_out(sse(next_event_id_++, type, data));
  }
  void count_clients() {
    if (metrics_.clients) metrics_.clients->Set(static_cast<double>(subscribed_.load()));
  }

  const EventsOptions options_;
  EventMetrics metrics_;
  std::thread thread_;
  std::atomic<size_t> subscribed_{0};
  std::atomic<uint64_t> next_client_{1};

  base::Mutex inbox_mutex_;
  base::CondVar wake_;
  std::vector<Item> inbox_ GUARDED_BY(inbox_mutex_);
  size_t pending_events_ GUARDED_BY(inbox_mutex_) = 0;
  uint64_t lost_ GUARDED_BY(inbox_mutex_) = 0;
  bool stopping_ GUARDED_BY(inbox_mutex_) = false;

  base::Mutex attach_mutex_;
  const node::Node* node_ GUARDED_BY(attach_mutex_) = nullptr;
  const lattice::Lattice* lattice_ GUARDED_BY(attach_mutex_) = nullptr;
  std::string node_name_ GUARDED_BY(attach_mutex_);
  std::atomic<bool> attached_{false};

  // The events thread only.
  std::vector<Client> clients_;
  uint64_t next_event_id_ = 1;
  std::optional<LatticeView> view_;
};

unsigned Events::Impl::subscribe(http::Responder responder, http::Headers headers) {
  auto refuse = [&](std::string_view code, std::string message) {
    Response refused = error_response(503, code, message);
    refused.headers = headers;
    refused.headers.emplace_back("Retry-After", "1");
    responder.send(std::move(refused));
    return 503u;
  };
  if (!attached_.load()) return refuse("not_ready", "the node is not serving events");
  if (subscribed_.fetch_add(1) >= options_.max_clients) {
    subscribed_.fetch_sub(1);
    return refuse("too_many_streams", fmt::format("{} event streams are open, the most this "
                                                  "node serves",
                                                  options_.max_clients));
  }
  uint64_t id = next_client_.fetch_add(1);
  http::StreamOptions stream_options;
  stream_options.max_queued_bytes = options_.max_client_buffer_bytes;
  stream_options.on_end = [weak = weak_from_this(), id] {
    auto self = weak.lock();
    if (!self) return;
    self->subscribed_.fetch_sub(1);
    self->count_clients();
    self->push(Item{Item::Kind::kGone, {}, {}, {}, id});
  };
  headers.emplace_back("Cache-Control", "no-cache");
  headers.emplace_back("X-Accel-Buffering", "no");  // nginx: do not buffer the stream
  http::Stream stream = responder.stream(Response{200, "", "text/event-stream", std::move(headers)},
                                         std::move(stream_options));
  if (!stream.is_open()) {  // the server is stopping: on_end will not run
    subscribed_.fetch_sub(1);
    return 503;
  }
  count_clients();
  push(Item{Item::Kind::kSubscribe, {}, {}, std::move(stream), id});
  return 200;
}

void Events::Impl::run() {
  auto next_poll = Clock::now();
  auto next_keepalive = Clock::now() + Millis(options_.keepalive_ms);
  for (;;) {
    std::vector<Item> items;
    uint64_t lost = 0;
    {
      base::MutexLock lock(inbox_mutex_);
      auto deadline = clients_.empty() ? next_keepalive : std::min(next_poll, next_keepalive);
      wake_.wait_until(lock, deadline,
                       [&]() REQUIRES(inbox_mutex_) { return stopping_ || !inbox_.empty(); });
      if (stopping_) return;
      items.swap(inbox_);
      pending_events_ = 0;
      lost = std::exchange(lost_, 0);
    }
    if (lost > 0) broadcast("lost", {{"count", lost}});
    for (Item& item : items) handle(item);
    auto now = Clock::now();
    if (now >= next_poll) {
      if (!clients_.empty()) poll_lattice();
      next_poll = now + Millis(options_.poll_ms);
    }
    if (now >= next_keepalive) {
      fan_out(": keepalive\n\n");
      next_keepalive = now + Millis(options_.keepalive_ms);
    }
  }
}

void Events::Impl::handle(Item& item) {
  switch (item.kind) {
    case Item::Kind::kEvent:
      return fan_out(sse(next_event_id_++, item.type, item.data));
    case Item::Kind::kSubscribe:
      return hello(item);
    case Item::Kind::kGone:
      std::erase_if(clients_, [&](const Client& c) { return c.id == item.client; });
      return;
    case Item::Kind::kDetach:
      for (Client& client : clients_) client.stream.close();
      clients_.clear();
      view_.reset();
      return;
  }
}

// The first event of a stream: where the node stands now. Also the baseline for the
// mode and link changes reported after it.
void Events::Impl::hello(Item& item) {
  std::optional<json::object> snapshot = hello_json();
  if (!snapshot) {
    item.stream.close();  // detached meanwhile
    return;
  }
  // retry: EventSource reconnects after 1 s (its default is 3 s).
  if (item.stream.write("retry: 1000\n\n" + sse(next_event_id_++, "hello", *snapshot))) {
    clients_.push_back(Client{item.client, std::move(item.stream)});
  }
}

std::optional<json::object> Events::Impl::hello_json() {
  base::MutexLock lock(attach_mutex_);
  if (node_ == nullptr) return std::nullopt;
  auto [height, root] = node_->read(
      [](const ledger::Ledger& l) { return std::make_pair(l.height(), ledger::to_hex(l.root())); });
  node::ConsensusStatus consensus = node_->consensus_status();
  json::object out{{"node", node_name_},
                   {"peer_id", node_->peer_id()},
                   {"height", height},
                   {"merkle_root", root},
                   {"role", consensus.role},
                   {"term", consensus.term},
                   {"leader_peer_id", consensus.leader_peer_id},
                   {"timestamp", lattice::unix_time_ms()}};
  json::array links;
  if (lattice_ != nullptr) {
    lattice::Status status = lattice_->status();
    for (const lattice::PeerStatus& peer : status.peers) links.push_back(link_json(peer));
    out["sync_mode"] = lattice::sync_mode_name(status.sync_mode);
    view_ = view_of(status);
  }
  out["links"] = std::move(links);
  return out;
}

void Events::Impl::poll_lattice() {
  std::optional<lattice::Status> status;
  {
    base::MutexLock lock(attach_mutex_);
    if (lattice_ != nullptr) status = lattice_->status();
  }
  if (!status) return;
  LatticeView now = view_of(*status);
  LatticeView before = view_ ? *view_ : now;
  view_ = now;
  if (now.sync_mode != before.sync_mode) {
    broadcast("mode", {{"sync_mode", now.sync_mode}, {"previous", before.sync_mode}});
  }
  for (const auto& [id, peer] : now.peers) {
    auto old = before.peers.find(id);
    std::string_view previous =
        old == before.peers.end() ? "down" : lattice::link_state_name(old->second.transport);
    if (previous == lattice::link_state_name(peer.transport)) continue;
    json::object data = link_json(peer);
    data["previous"] = previous;
    broadcast("link", std::move(data));
  }
  for (const auto& [id, peer] : before.peers) {
    if (now.peers.contains(id) || peer.transport == lattice::LinkState::kDown) continue;
    lattice::PeerStatus gone = peer;
    gone.transport = lattice::LinkState::kDown;
    json::object data = link_json(gone);
    data["previous"] = lattice::link_state_name(peer.transport);
    broadcast("link", std::move(data));
  }
}

// Writes `text` to every client; a client whose queue it would take over the limit
// is evicted, one whose stream ended is forgotten.
void Events::Impl::fan_out(const std::string& text) {
  std::erase_if(clients_, [&](Client& client) {
    if (client.stream.queued_bytes() + text.size() > options_.max_client_buffer_bytes) {
      client.stream.abort();
      if (metrics_.evictions) metrics_.evictions->Increment();
      return true;
    }
    return !client.stream.write(text);
  });
}

// ---------------------------------------------------------------------------

Events::Events(EventsOptions options) : impl_(std::make_shared<Impl>(options)) {
  impl_->start();
}

Events::~Events() {
  impl_->stop();
}

// With nobody listening an event is not even built: this runs on the consensus thread
// once per block. A stream that starts later learns the state from its hello, which
// is taken after the subscription is counted.
void Events::block_applied(const node::AppliedBlock& block) {
  if (impl_->clients() == 0) return;
  impl_->event("commit", {{"height", block.height},
                          {"merkle_root", ledger::to_hex(block.root)},
                          {"transactions", block.transactions},
                          {"committed", block.committed_transactions}});
}

void Events::role_changed(const node::ConsensusStatus& status) {
  if (impl_->clients() == 0) return;
  impl_->event(
      "role",
      {{"role", status.role}, {"term", status.term}, {"leader_peer_id", status.leader_peer_id}});
}

void Events::attach(const node::Node* node, const lattice::Lattice* lattice,
                    std::string node_name) {
  impl_->attach(node, lattice, std::move(node_name));
}

void Events::detach() {
  impl_->detach();
}

unsigned Events::subscribe(http::Responder responder, http::Headers headers) {
  return impl_->subscribe(std::move(responder), std::move(headers));
}

size_t Events::clients() const {
  return impl_->clients();
}

void events_route(Events* events, metrics::Metrics* metrics, http::Responder responder,
                  std::string_view route, Reply::Clock::time_point start) {
  unsigned status = 503;
  if (events == nullptr) {
    Response refused = error_response(503, "not_ready", "events are not enabled on this node");
    refused.headers.emplace_back("Access-Control-Allow-Origin", "*");
    responder.send(std::move(refused));
  } else {
    // Any origin may listen: the dashboard served by one node follows the others.
    status = events->subscribe(std::move(responder), {{"Access-Control-Allow-Origin", "*"}});
  }
  if (metrics != nullptr) {
    double seconds = std::chrono::duration<double>(Reply::Clock::now() - start).count();
    metrics->record_http_request(route, status, seconds);
  }
}

}  // namespace aethel::api
