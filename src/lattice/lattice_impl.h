// Internal to the lattice module: the state behind lattice.h and the functions that
// work on it, split by concern over lattice.cpp (start, stop, P2P), routing.cpp (the
// choice of lung per envelope), http_lung.cpp (both directions of HTTP) and
// monitor.cpp (heartbeat, sync mode, status).
//
// Every member without a lock is owned by the io thread.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <thread>

#include "http/http.h"
#include "lattice/lattice.h"
#include "lattice/lung.h"

namespace aethel::lattice {

namespace asio = boost::asio;

// Bounds of the HTTP lung per peer.
inline constexpr size_t kHttpRequestsInFlight = 4;
inline constexpr size_t kMaxQueuedRecordBytes = 160ull << 20;  // two snapshots and change

inline constexpr std::string_view kBulkProtocol = "/aethel/raft-bulk/2.0.0";
// Envelopes above this (snapshots, huge entries) take the bulk channel, so heartbeats
// and appends never wait behind them, and their transfer time is not taken for a stall.
inline constexpr size_t kBulkEnvelopeBytes = 2u << 20;

// One of our outbound channels to a peer, and what it carries unacknowledged.
struct ChannelSlot {
  std::optional<p2p::Channel> channel;
  std::deque<std::string> unacked;  // sent, not acknowledged yet, oldest first
  uint64_t frames_acked = 0;        // of the channel, already taken off `unacked`
};

struct Peer {
  std::string id;
  std::string name;
  std::optional<http::Url> url;
  bool url_configured = false;  // from AETHEL_LATTICE_NODES: a hello's URL does not replace it
  bool connected = false;       // a P2P connection is up
  bool hello_ok = false;        // ... and the peer proved our lattice id
  ChannelSlot main;             // consensus envelopes
  ChannelSlot bulk;             // envelopes above kBulkEnvelopeBytes
  LinkPolicy link;
  // The HTTP lung.
  std::deque<std::string> records;  // lung.h records waiting to be sent
  size_t record_bytes = 0;
  size_t http_in_flight = 0;
  uint32_t http_failures = 0;  // in a row
  TimeMs http_retry_at_ms = 0;
  bool http_error_logged = false;
  // Its head, from gossip or a poll.
  std::optional<uint64_t> height;
  std::string root;
  std::optional<TimeMs> last_sync_ms;
};

class Lattice::Impl : public std::enable_shared_from_this<Lattice::Impl> {
 public:
  Impl(Identity identity, Settings settings, Hooks hooks);

  base::Status start();
  void stop();

  // lattice.cpp: the P2P host and its events.
  base::Status start_host();
  void stop_host();
  void install_handlers();
  void peer_connected(const p2p::PeerId& id);
  void peer_disconnected(const p2p::PeerId& id);
  void accept_hello(const std::string& peer_id, const p2p::Bytes& bytes);
  std::string hello_text() const;
  bool open_channel(Peer& peer, ChannelSlot& slot, std::string_view protocol);
  void channel_closed(const std::string& peer_id, bool bulk);
  void close_channels(Peer& peer);
  std::optional<p2p::ChannelEvents> accept_channel(const p2p::Channel& channel);
  void head_announced(const std::string& author, const p2p::Bytes& data);
  Peer& peer_entry(const std::string& peer_id);
  void add_member(const std::string& peer_id, const std::string& url,
                  const std::vector<std::string>& p2p_addrs);

  // routing.cpp: the lung of each envelope.
  void route(const std::string& peer_id, std::string envelope);
  void check_link(Peer& peer, TimeMs now);
  bool take_acks(ChannelSlot& slot);
  std::optional<TimeMs> oldest_unacked_sent(const Peer& peer, TimeMs now) const;
  bool send_p2p(Peer& peer, std::string_view envelope);
  void resend_over_http(Peer& peer, ChannelSlot& slot);
  void drop_stalled_connection(Peer& peer);

  // http_lung.cpp
  void send_http(Peer& peer, std::string_view envelope);
  void pump_http(Peer& peer);
  void http_done(const std::string& peer_id, const base::Result<http::Reply>& reply);
  http::Headers signed_headers(std::string_view path, const std::string& to,
                               std::string_view body) const;
  uint32_t http_timeout_ms(const Peer& peer) const;
  void log_http_error_once(Peer& peer, const base::Error& error);

  // monitor.cpp
  void schedule_monitor(std::chrono::milliseconds delay);
  void monitor_tick();
  void schedule_link_checks();
  void learn_peer_urls();
  void learned_identity(const std::string& url, const base::Result<http::Reply>& reply);
  void dial_bootstrap();
  // A connected lattice peer whose Raft channel closed while another connection to
  // it stayed up (two simultaneous dials: the host keeps one, and no disconnect is
  // reported) gets its channel again: nothing else would reopen it.
  void reopen_lost_channels();
  void ping_peers();
  void announce_head();
  void update_mode();
  void poll_heads();
  void compare_heads(Peer& peer, uint64_t height, const std::string& root);
  void publish_status();
  size_t p2p_alive_count(TimeMs now) const;
  double alive_window_ms() const;

  void log(const std::string& line) const;
  TimeMs now_ms() const;
  bool manual_http() const { return mode_.manual() == SyncMode::kHttp; }
  bool manual_p2p() const { return mode_.manual() == SyncMode::kP2p; }

  template <class F>
  void run_on_io(F f);  // runs f on the io thread and waits (never call it from there)

  const Identity identity_;
  const Settings settings_;
  const Hooks hooks_;
  const std::chrono::steady_clock::time_point started_;

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread io_thread_;
  asio::steady_timer monitor_timer_;
  asio::steady_timer link_timer_;
  std::unique_ptr<p2p::Host> host_;
  std::unique_ptr<http::AsyncClient> client_;
  std::vector<p2p::Multiaddr> bootstrap_;
  std::vector<std::string> listen_addrs_;
  std::map<std::string, Peer> peers_;                   // the other validators
  std::map<std::string, std::string> configured_urls_;  // url → peer ID, once learned
  // Addresses and URLs whose failure was logged, with its error code: the next line
  // is for a new cause (or after a success), not for every retry.
  std::map<std::string, std::string> unreachable_;
  SyncModeMachine mode_;
  LungPacker packer_;
  TimeMs next_poll_ms_ = 0;
  uint64_t divergences_ = 0;
  bool diverged_ = false;
  bool stopped_ = false;

  // The inbound HTTP lung runs on the HTTP server's threads.
  mutable base::Mutex inbound_mutex_;
  std::set<std::string> members_ GUARDED_BY(inbound_mutex_);  // whose requests are accepted
  std::map<std::string, TimeMs> seen_signatures_ GUARDED_BY(inbound_mutex_);  // bytes → time
  std::multimap<TimeMs, std::string> seen_by_time_ GUARDED_BY(inbound_mutex_);
  std::map<std::string, LungAssembler> assemblers_ GUARDED_BY(inbound_mutex_);

  mutable base::Mutex status_mutex_;
  Status status_ GUARDED_BY(status_mutex_);
};

}  // namespace aethel::lattice
