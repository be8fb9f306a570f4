#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <mutex>
#include <utility>

namespace aethel::metrics {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

constexpr std::array<std::string_view, 3> kSyncModes = {"auto", "p2p", "http"};

// Request and commit latencies: 0.5 ms .. 10 s.
Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// fsync: 50 µs .. 1 s (fdatasync of a small append here is ≈ 0.3 ms at p50).
Histogram::BucketBoundaries fsync_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

struct Metrics::Handles {
  explicit Handles(prometheus::Registry& registry)
      : commits(prometheus::BuildCounter()
                    .Name("aethel_commits_total")
                    .Help("Blocks committed and applied by this node")
                    .Register(registry)
                    .Add({})),
        transactions(prometheus::BuildCounter()
                         .Name("aethel_transactions_total")
                         .Help("Transactions by outcome")
                         .Register(registry)),
        committed_transactions(transactions.Add({{"outcome", "committed"}})),
        fallback_activations(prometheus::BuildCounter()
                                 .Name("aethel_fallback_activations_total")
                                 .Help("Switches to HTTP fallback after the peerless timeout")
                                 .Register(registry)
                                 .Add({})),
        divergences(prometheus::BuildCounter()
                        .Name("aethel_divergences_total")
                        .Help("Peer roots that differed from ours at the same height")
                        .Register(registry)
                        .Add({})),
        http_requests(prometheus::BuildCounter()
                          .Name("aethel_http_requests_total")
                          .Help("HTTP requests served, by route template and status code")
                          .Register(registry)),
        height(prometheus::BuildGauge()
                   .Name("aethel_height")
                   .Help("Committed height of the local ledger")
                   .Register(registry)
                   .Add({})),
        peers(prometheus::BuildGauge()
                  .Name("aethel_peers")
                  .Help("Peers currently reached, by transport")
                  .Register(registry)),
        p2p_peers(peers.Add({{"transport", "p2p"}})),
        http_peers(peers.Add({{"transport", "http"}})),
        sync_mode(prometheus::BuildGauge()
                      .Name("aethel_sync_mode")
                      .Help("1 for the current sync mode (auto, p2p, http), 0 for the others")
                      .Register(registry)),
        raft_term(prometheus::BuildGauge()
                      .Name("aethel_raft_term")
                      .Help("Current Raft term")
                      .Register(registry)
                      .Add({})),
        is_leader(prometheus::BuildGauge()
                      .Name("aethel_is_leader")
                      .Help("1 while this node is the Raft leader")
                      .Register(registry)
                      .Add({})),
        http_duration(prometheus::BuildHistogram()
                          .Name("aethel_http_request_duration_seconds")
                          .Help("HTTP request handling time")
                          .Register(registry)
                          .Add({}, latency_buckets())),
        fsync_duration(prometheus::BuildHistogram()
                           .Name("aethel_fsync_duration_seconds")
                           .Help("Duration of one fsync of the durable log")
                           .Register(registry)
                           .Add({}, fsync_buckets())),
        commit_latency(prometheus::BuildHistogram()
                           .Name("aethel_commit_latency_seconds")
                           .Help("Time from proposal to applied")
                           .Register(registry)
                           .Add({}, latency_buckets())) {
    transactions.Add({{"outcome", "rejected"}});
    for (size_t i = 0; i < kSyncModes.size(); ++i) {
      sync_modes[i] = &sync_mode.Add({{"mode", std::string(kSyncModes[i])}});
    }
    sync_modes[0]->Set(1);  // a node starts in AUTO (SPEC §6.2)
  }

  Counter& commits;
  Family<Counter>& transactions;
  Counter& committed_transactions;
  Counter& fallback_activations;
  Counter& divergences;
  Family<Counter>& http_requests;
  Gauge& height;
  Family<Gauge>& peers;
  Gauge& p2p_peers;
  Gauge& http_peers;
  Family<Gauge>& sync_mode;
  std::array<Gauge*, kSyncModes.size()> sync_modes{};
  Gauge& raft_term;
  Gauge& is_leader;
  Histogram& http_duration;
  Histogram& fsync_duration;
  Histogram& commit_latency;

  std::mutex mutex;  // guards the two maps below and sync-mode switches
  std::map<std::string, Counter*, std::less<>> outcomes;
  std::map<std::pair<std::string, unsigned>, Counter*> http_series;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      handles_(std::make_unique<Handles>(*registry_)) {}

Metrics::~Metrics() = default;

void Metrics::record_commit(uint64_t height, size_t transactions) {
  handles_->commits.Increment();
  handles_->height.Set(static_cast<double>(height));
  handles_->committed_transactions.Increment(static_cast<double>(transactions));
}

void Metrics::record_transactions(std::string_view outcome, uint64_t count) {
  Handles& h = *handles_;
  Counter* counter = nullptr;
  {
    std::lock_guard lock(h.mutex);
    auto it = h.outcomes.find(outcome);
    if (it == h.outcomes.end()) {
      Counter& added = h.transactions.Add({{"outcome", std::string(outcome)}});
      it = h.outcomes.emplace(std::string(outcome), &added).first;
    }
    counter = it->second;
  }
  counter->Increment(static_cast<double>(count));
}

void Metrics::observe_commit_latency_seconds(double seconds) {
  handles_->commit_latency.Observe(seconds);
}

void Metrics::observe_fsync_seconds(double seconds) {
  handles_->fsync_duration.Observe(seconds);
}

void Metrics::record_fallback_activation() {
  handles_->fallback_activations.Increment();
}

void Metrics::record_divergence() {
  handles_->divergences.Increment();
}

void Metrics::set_height(uint64_t height) {
  handles_->height.Set(static_cast<double>(height));
}

void Metrics::set_peers(uint64_t p2p, uint64_t http) {
  handles_->p2p_peers.Set(static_cast<double>(p2p));
  handles_->http_peers.Set(static_cast<double>(http));
}

bool Metrics::set_sync_mode(std::string_view mode) {
  std::string wanted = lower(mode);
  auto found = std::find(kSyncModes.begin(), kSyncModes.end(), wanted);
  if (found == kSyncModes.end()) return false;
  Handles& h = *handles_;
  std::lock_guard lock(h.mutex);
  for (size_t i = 0; i < kSyncModes.size(); ++i) {
    h.sync_modes[i]->Set(kSyncModes[i] == wanted ? 1 : 0);
  }
  return true;
}

void Metrics::set_raft(uint64_t term, bool is_leader) {
  handles_->raft_term.Set(static_cast<double>(term));
  handles_->is_leader.Set(is_leader ? 1 : 0);
}

void Metrics::record_http_request(std::string_view route, unsigned status, double seconds) {
  Handles& h = *handles_;
  Counter* counter = nullptr;
  {
    std::lock_guard lock(h.mutex);
    auto key = std::make_pair(std::string(route), status);
    auto it = h.http_series.find(key);
    if (it == h.http_series.end()) {
      if (h.http_series.size() >= kMaxHttpSeries) key.first = "other";
      it = h.http_series.find(key);
      if (it == h.http_series.end()) {
        Counter& added =
            h.http_requests.Add({{"route", key.first}, {"status", std::to_string(status)}});
        it = h.http_series.emplace(std::move(key), &added).first;
      }
    }
    counter = it->second;
  }
  counter->Increment();
  h.http_duration.Observe(seconds);
}

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

prometheus::Registry& Metrics::registry() {
  return *registry_;
}

}  // namespace aethel::metrics
