// Admission of public writes (SPEC §9): one token bucket per client address. A
// bucket holds up to one second of the configured rate and refills continuously;
// a write that finds it empty is refused with 429 "rate_limited" and a Retry-After
// saying when the next token is there. The node-to-node route never comes here.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "api/routes.h"

namespace aethel::api {

RateLimiter::RateLimiter(uint32_t per_second) : per_second_(per_second) {}

std::optional<uint32_t> RateLimiter::admit(const std::string& address, Clock::time_point now) {
  if (per_second_ == 0) return std::nullopt;  // unlimited
  const double capacity = per_second_;
  base::MutexLock lock(mutex_);
  if (buckets_.size() >= kMaxTrackedAddresses && !buckets_.contains(address)) forget_full(now);
  auto [it, added] = buckets_.try_emplace(address, Bucket{capacity, now});
  Bucket& bucket = it->second;
  double elapsed_s = std::chrono::duration<double>(now - bucket.refilled).count();
  bucket.tokens = std::min(capacity, bucket.tokens + elapsed_s * per_second_);
  bucket.refilled = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  double wait_s = (1 - bucket.tokens) / per_second_;
  return std::max<uint32_t>(1, static_cast<uint32_t>(std::ceil(wait_s)));
}

// Buckets that would be full by now are the same as no bucket: dropping them keeps
// the map bounded without favouring anyone. If every address is busy, the oldest
// half goes (they start again with a full bucket: generous, never unbounded).
void RateLimiter::forget_full(Clock::time_point now) {
  std::erase_if(buckets_, [&](const auto& entry) {
    double elapsed_s = std::chrono::duration<double>(now - entry.second.refilled).count();
    return entry.second.tokens + elapsed_s * per_second_ >= per_second_;
  });
  if (buckets_.size() < kMaxTrackedAddresses) return;
  std::vector<Clock::time_point> times;
  for (const auto& entry : buckets_) times.push_back(entry.second.refilled);
  auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), middle, times.end());
  Clock::time_point cut = *middle;
  std::erase_if(buckets_, [&](const auto& entry) { return entry.second.refilled <= cut; });
}

Response rate_limited(const std::string& address, uint32_t per_second, uint32_t retry_after_s) {
  Response r = error_response(
      429, "rate_limited",
      fmt::format("more than {} writes per second from {} (AETHEL_RATE_LIMIT_WRITES_PER_S); "
                  "retry after {} s",
                  per_second, address.empty() ? "this client" : address, retry_after_s));
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return r;
}

std::string client_address(const Request& request, const std::vector<std::string>& trusted) {
  const auto is_trusted = [&](const std::string& address) {
    return std::find(trusted.begin(), trusted.end(), address) != trusted.end();
  };
  std::string client = base::canonical_ip(request.remote_address).value_or(request.remote_address);
  if (!is_trusted(client)) return client;
  std::string_view forwarded = request.header("X-Forwarded-For");
  while (!forwarded.empty() && is_trusted(client)) {
    const size_t comma = forwarded.rfind(',');
    std::string_view entry =
        comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
    forwarded = comma == std::string_view::npos ? std::string_view() : forwarded.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    auto address = base::canonical_ip(entry);
    if (!address) break;
    client = *address;
  }
  return client;
}

}  // namespace aethel::api
