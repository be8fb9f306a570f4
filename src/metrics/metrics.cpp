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
#include <utility>

#include "base/base.h"

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

Family<Counter>& counter_family(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

Family<Gauge>& gauge_family(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

// A metric without labels.
Counter& counter(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  return counter_family(registry, name, help).Add({});
}

Gauge& gauge(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  return gauge_family(registry, name, help).Add({});
}

Histogram& histogram(prometheus::Registry& registry, const std::string& name,
                     const std::string& help, Histogram::BucketBoundaries buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(
      {}, std::move(buckets));
}

}  // namespace

struct Metrics::Handles {
  explicit Handles(prometheus::Registry& registry)
      : commits(
            counter(registry, "aethel_commits_total", "Blocks committed and applied by this node")),
        transactions(
            counter_family(registry, "aethel_transactions_total", "Transactions by outcome")),
        committed_transactions(transactions.Add({{"outcome", "committed"}})),
        fallback_activations(counter(registry, "aethel_fallback_activations_total",
                                     "Switches to HTTP fallback after the peerless timeout")),
        divergences(counter(registry, "aethel_divergences_total",
                            "Peer roots that differed from ours at the same height")),
        invariant_breaches(counter(registry, "aethel_intent_invariant_breaches_total",
                                   "Runs of deployed intents refused as invariant_breach")),
        http_requests(counter_family(registry, "aethel_http_requests_total",
                                     "HTTP requests served, by route template and status code")),
        refusals(counter_family(registry, "aethel_http_refusals_total",
                                "HTTP requests refused (4xx), by error code")),
        height(gauge(registry, "aethel_height", "Committed height of the local ledger")),
        peers(gauge_family(registry, "aethel_peers", "Peers currently reached, by transport")),
        p2p_peers(peers.Add({{"transport", "p2p"}})),
        http_peers(peers.Add({{"transport", "http"}})),
        sync_mode(gauge_family(registry, "aethel_sync_mode",
                               "1 for the current sync mode (auto, p2p, http), 0 for the others")),
        raft_term(gauge(registry, "aethel_raft_term", "Current Raft term")),
        is_leader(gauge(registry, "aethel_is_leader", "1 while this node is the Raft leader")),
        http_connections(
            gauge(registry, "aethel_http_connections", "Connections the API server holds open")),
        http_duration(histogram(registry, "aethel_http_request_duration_seconds",
                                "HTTP request handling time", latency_buckets())),
        fsync_duration(histogram(registry, "aethel_fsync_duration_seconds",
                                 "Duration of one fsync of the durable log", fsync_buckets())),
        commit_latency(histogram(registry, "aethel_commit_latency_seconds",
                                 "Time from proposal to applied", latency_buckets())) {
    transactions.Add({{"outcome", "rejected"}});
    for (size_t i = 0; i < kSyncModes.size(); ++i) {
      sync_modes[i] = &sync_mode.Add({{"mode", std::string(kSyncModes[i])}});
    }
    sync_modes[0]->Set(1);  // a node starts in AUTO (SPEC §6.2)
  }

  // The aethel_transactions_total series of `outcome`, added on first use.
  Counter& outcome_counter(std::string_view outcome) EXCLUDES(mutex) {
    base::MutexLock lock(mutex);
    auto it = outcomes.find(outcome);
    if (it == outcomes.end()) {
      Counter& added = transactions.Add({{"outcome", std::string(outcome)}});
      it = outcomes.emplace(std::string(outcome), &added).first;
    }
    return *it->second;
  }

  // The aethel_http_requests_total series of (route, status), added on first use;
  // route="other" once kMaxHttpSeries series exist.
  Counter& http_counter(std::string_view route, unsigned status) EXCLUDES(mutex) {
    base::MutexLock lock(mutex);
    auto key = std::make_pair(std::string(route), status);
    auto it = http_series.find(key);
    if (it == http_series.end()) {
      if (http_series.size() >= kMaxHttpSeries) key.first = "other";
      it = http_series.find(key);
      if (it == http_series.end()) {
        Counter& added =
            http_requests.Add({{"route", key.first}, {"status", std::to_string(status)}});
        it = http_series.emplace(std::move(key), &added).first;
      }
    }
    return *it->second;
  }

  // The aethel_http_refusals_total series of `reason`, added on first use.
  Counter& refusal_counter(std::string_view reason) EXCLUDES(mutex) {
    base::MutexLock lock(mutex);
    auto it = refusal_series.find(reason);
    if (it == refusal_series.end()) {
      std::string key(refusal_series.size() >= kMaxRefusalSeries ? "other" : reason);
      it = refusal_series.find(key);
      if (it == refusal_series.end()) {
        Counter& added = refusals.Add({{"reason", key}});
        it = refusal_series.emplace(std::move(key), &added).first;
      }
    }
    return *it->second;
  }

  // Sets the series of kSyncModes[selected] to 1 and the others to 0, as one step.
  void select_sync_mode(size_t selected) EXCLUDES(mutex) {
    base::MutexLock lock(mutex);
    for (size_t i = 0; i < kSyncModes.size(); ++i) sync_modes[i]->Set(i == selected ? 1 : 0);
  }

  Counter& commits;
  Family<Counter>& transactions;
  Counter& committed_transactions;
  Counter& fallback_activations;
  Counter& divergences;
  Counter& invariant_breaches;
  Family<Counter>& http_requests;
  Family<Counter>& refusals;
  Gauge& height;
  Family<Gauge>& peers;
  Gauge& p2p_peers;
  Gauge& http_peers;
  Family<Gauge>& sync_mode;
  std::array<Gauge*, kSyncModes.size()> sync_modes{};  // set in the constructor only
  Gauge& raft_term;
  Gauge& is_leader;
  Gauge& http_connections;
  Histogram& http_duration;
  Histogram& fsync_duration;
  Histogram& commit_latency;

  // prometheus-cpp metrics are atomic on their own; the mutex guards the two maps of
  // series added on first use, and makes a sync-mode switch one step for readers.
  base::Mutex mutex;
  std::map<std::string, Counter*, std::less<>> outcomes GUARDED_BY(mutex);
  std::map<std::pair<std::string, unsigned>, Counter*> http_series GUARDED_BY(mutex);
  std::map<std::string, Counter*, std::less<>> refusal_series GUARDED_BY(mutex);
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
  handles_->outcome_counter(outcome).Increment(static_cast<double>(count));
}

void Metrics::record_refusal(std::string_view reason) {
  handles_->refusal_counter(reason).Increment();
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

void Metrics::record_invariant_breaches(uint64_t count) {
  handles_->invariant_breaches.Increment(static_cast<double>(count));
}

void Metrics::set_height(uint64_t height) {
  handles_->height.Set(static_cast<double>(height));
}

void Metrics::set_peers(uint64_t p2p, uint64_t http) {
  handles_->p2p_peers.Set(static_cast<double>(p2p));
  handles_->http_peers.Set(static_cast<double>(http));
}

bool Metrics::set_sync_mode(std::string_view mode) {
  const std::string wanted = lower(mode);
  const auto found = std::find(kSyncModes.begin(), kSyncModes.end(), wanted);
  if (found == kSyncModes.end()) return false;
  handles_->select_sync_mode(static_cast<size_t>(found - kSyncModes.begin()));
  return true;
}

void Metrics::set_raft(uint64_t term, bool is_leader) {
  handles_->raft_term.Set(static_cast<double>(term));
  handles_->is_leader.Set(is_leader ? 1 : 0);
}

void Metrics::set_http_connections(size_t open) {
  handles_->http_connections.Set(static_cast<double>(open));
}

void Metrics::record_http_request(std::string_view route, unsigned status, double seconds) {
  handles_->http_counter(route, status).Increment();
  handles_->http_duration.Observe(seconds);
}

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

prometheus::Registry& Metrics::registry() {
  return *registry_;
}

}  // namespace aethel::metrics
