// The Prometheus exposition: every metric is listed from the start, and the values
// move with the activity recorded.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace aethel::metrics {
namespace {

// True when `text` has a sample line "<series> <value>" (exactly that series).
bool has_sample(const std::string& text, const std::string& series, const std::string& value) {
  return text.find("\n" + series + " " + value + "\n") != std::string::npos ||
         text.starts_with(series + " " + value + "\n");
}

TEST(Metrics, ListsEveryMetricFromTheStart) {
  Metrics metrics;
  std::string text = metrics.render();
  for (const char* name :
       {"aethel_commits_total", "aethel_transactions_total", "aethel_fallback_activations_total",
        "aethel_divergences_total", "aethel_height", "aethel_peers", "aethel_sync_mode",
        "aethel_raft_term", "aethel_is_leader", "aethel_http_request_duration_seconds",
        "aethel_fsync_duration_seconds", "aethel_commit_latency_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
  EXPECT_TRUE(has_sample(text, "aethel_commits_total", "0")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_height", "0")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_sync_mode{mode=\"auto\"}", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_sync_mode{mode=\"p2p\"}", "0")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_peers{transport=\"p2p\"}", "0")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_transactions_total{outcome=\"committed\"}", "0")) << text;
  EXPECT_NE(text.find("# TYPE aethel_fsync_duration_seconds histogram"), std::string::npos);
  // Labelled by route and status: no series (so no TYPE line) before the first request.
  metrics.record_http_request("/health", 200, 0.001);
  EXPECT_NE(metrics.render().find("# TYPE aethel_http_requests_total counter"), std::string::npos);
}

TEST(Metrics, ValuesMoveWithActivity) {
  Metrics metrics;
  metrics.record_commit(1, 3);
  metrics.record_commit(2, 2);
  metrics.record_transactions("rejected", 4);
  metrics.record_transactions("unknown");
  metrics.record_fallback_activation();
  metrics.record_divergence();
  metrics.record_divergence();
  metrics.set_peers(2, 1);
  EXPECT_TRUE(metrics.set_sync_mode("HTTP"));
  EXPECT_FALSE(metrics.set_sync_mode("carrier-pigeon"));
  metrics.set_raft(7, true);
  metrics.observe_fsync_seconds(0.0003);
  metrics.observe_fsync_seconds(0.002);
  metrics.observe_commit_latency_seconds(0.004);
  metrics.record_http_request("/api/verify", 200, 0.003);
  metrics.record_http_request("/api/verify", 200, 0.004);
  metrics.record_http_request("not_found", 404, 0.0001);

  std::string text = metrics.render();
  EXPECT_TRUE(has_sample(text, "aethel_commits_total", "2")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_height", "2")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_transactions_total{outcome=\"committed\"}", "5")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_transactions_total{outcome=\"rejected\"}", "4")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_transactions_total{outcome=\"unknown\"}", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_fallback_activations_total", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_divergences_total", "2")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_peers{transport=\"p2p\"}", "2")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_peers{transport=\"http\"}", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_sync_mode{mode=\"http\"}", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_sync_mode{mode=\"auto\"}", "0")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_sync_mode{mode=\"p2p\"}", "0")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_raft_term", "7")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_is_leader", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_fsync_duration_seconds_count", "2")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_fsync_duration_seconds_bucket{le=\"0.0005\"}", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_fsync_duration_seconds_bucket{le=\"+Inf\"}", "2")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_commit_latency_seconds_count", "1")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_http_request_duration_seconds_count", "3")) << text;
  EXPECT_TRUE(
      has_sample(text, "aethel_http_requests_total{route=\"/api/verify\",status=\"200\"}", "2"))
      << text;
  EXPECT_TRUE(
      has_sample(text, "aethel_http_requests_total{route=\"not_found\",status=\"404\"}", "1"))
      << text;

  metrics.set_raft(8, false);
  metrics.set_height(40);
  text = metrics.render();
  EXPECT_TRUE(has_sample(text, "aethel_is_leader", "0")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_raft_term", "8")) << text;
  EXPECT_TRUE(has_sample(text, "aethel_height", "40")) << text;
}

TEST(Metrics, HttpSeriesAreCapped) {
  Metrics metrics;
  for (size_t i = 0; i < kMaxHttpSeries + 10; ++i) {
    metrics.record_http_request("/r" + std::to_string(i), 200, 0.001);
  }
  std::string text = metrics.render();
  EXPECT_TRUE(has_sample(text, "aethel_http_requests_total{route=\"other\",status=\"200\"}", "10"))
      << text;
  EXPECT_EQ(text.find("route=\"/r" + std::to_string(kMaxHttpSeries) + "\""), std::string::npos);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  Metrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        metrics.record_commit(static_cast<uint64_t>(i), 1);
        metrics.record_http_request("/health", 200, 0.0001);
        metrics.record_transactions("rejected");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::string text = metrics.render();
  EXPECT_TRUE(has_sample(text, "aethel_commits_total", "4000")) << text;
  EXPECT_TRUE(
      has_sample(text, "aethel_http_requests_total{route=\"/health\",status=\"200\"}", "4000"))
      << text;
  EXPECT_TRUE(has_sample(text, "aethel_transactions_total{outcome=\"rejected\"}", "4000")) << text;
}

}  // namespace
}  // namespace aethel::metrics
