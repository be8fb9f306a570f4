// The node's Prometheus metrics (SPEC §4 `GET /metrics`, issue 7): one registry with
// typed handles, rendered in the Prometheus text exposition format (version 0.0.4)
// by prometheus-cpp core. No HTTP here: the node's own server serves render().
//
// Metrics (each is listed from construction, except aethel_http_requests_total, whose
// series appear with the first request):
//
//   counters
//     aethel_commits_total                     blocks committed and applied
//     aethel_transactions_total{outcome}       transactions by outcome: "committed" by
//                                              record_commit(), any other outcome (e.g.
//                                              "rejected", "unknown") by
//                                              record_transactions(); "committed" and
//                                              "rejected" exist from the start
//     aethel_fallback_activations_total        switches to HTTP fallback (peerless timeout)
//     aethel_divergences_total                 roots that differed from a peer's at the
//                                              same height (SPEC §6.4)
//     aethel_intent_invariant_breaches_total   runs of deployed intents the ledger refused
//                                              because they would break conservation,
//                                              non-negativity or verify (SPEC §11)
//     aethel_http_requests_total{route,status} HTTP requests served, by route template
//                                              and status code
//   gauges
//     aethel_height                            committed height of the local ledger
//     aethel_peers{transport="p2p"|"http"}     peers currently reached over each transport
//     aethel_sync_mode{mode="auto"|"p2p"|"http"}  1 for the current mode, 0 for the others
//     aethel_raft_term                         current Raft term
//     aethel_is_leader                         1 while this node is the Raft leader
//   histograms (seconds)
//     aethel_http_request_duration_seconds     request received → response ready
//     aethel_fsync_duration_seconds            one durable write of the log (its start
//                                              until it is on disk)
//     aethel_commit_latency_seconds            proposal → applied (what a client waits)
//
// Threads: every method is safe to call from any thread at any time (prometheus-cpp
// metrics are atomic; label lookups take the family's lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace aethel::metrics {

// The Content-Type of render()'s text.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// aethel_http_requests_total keeps at most this many {route, status} series; a request
// past the cap is counted under route="other" (a guard against unbounded labels).
inline constexpr size_t kMaxHttpSeries = 256;
inline constexpr size_t kMaxRefusalSeries = 64;

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A block at `height` holding `transactions` committed transactions was applied:
  // aethel_commits_total += 1, aethel_height = height,
  // aethel_transactions_total{outcome="committed"} += transactions.
  void record_commit(uint64_t height, size_t transactions);
  // `count` transactions ended with `outcome` (anything but "committed", which
  // record_commit() counts): aethel_transactions_total{outcome} += count.
  void record_transactions(std::string_view outcome, uint64_t count = 1);
  // A proposal took `seconds` from submission to applied.
  void observe_commit_latency_seconds(double seconds);
  // One fsync of the durable log took `seconds`.
  void observe_fsync_seconds(double seconds);

  // The heartbeat monitor switched to HTTP fallback.
  void record_fallback_activation();
  // A peer reported a different root at our height (SPEC §6.4).
  void record_divergence();
  // Intent runs refused as invariant_breach: a deployed definition that was not
  // really proven (defence in depth, SPEC §11).
  void record_invariant_breaches(uint64_t count);

  // Sets aethel_height (record_commit() also does; use this after a snapshot install).
  void set_height(uint64_t height);
  // Peers currently reached over P2P and over HTTP only.
  void set_peers(uint64_t p2p, uint64_t http);
  // mode: "auto", "p2p" or "http" (case-insensitive); the matching series becomes 1,
  // the others 0. Returns false, changing nothing, for any other mode.
  bool set_sync_mode(std::string_view mode);
  // The Raft term and whether this node leads it.
  void set_raft(uint64_t term, bool is_leader);
  // aethel_http_connections: connections the API server holds open.
  void set_http_connections(size_t open);

  // One HTTP request answered. `route` is the route template (e.g.
  // "/api/lattice/accounts/{name}", "not_found"), never the raw path, so the label
  // set stays small.
  void record_http_request(std::string_view route, unsigned status, double seconds);

  // A request was refused (4xx) with error code `reason` (e.g. "rate_limited",
  // "unauthorized", "duplicate_key"): aethel_http_refusals_total{reason} += 1. At
  // most kMaxRefusalSeries reasons; later ones count as reason="other".
  void record_refusal(std::string_view reason);

  // The Prometheus text exposition of every metric (Content-Type: kContentType).
  std::string render() const;

  // For adding metrics not listed above; they appear in render() too.
  prometheus::Registry& registry();

 private:
  struct Handles;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Handles> handles_;
};

}  // namespace aethel::metrics
