// The HTTP lung, both ways. Outbound (io thread): envelopes become lung.h records in
// a per-peer queue, sent as signed POSTs, up to kHttpRequestsInFlight at a time, each
// body within the receiver's limit. Inbound (HTTP server threads): the signed headers
// are checked before the body is read, then the body against its signed hash.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <charconv>

#include "lattice/lattice_impl.h"
#include "p2p/crypto.h"

namespace aethel::lattice {
namespace {

// Each request, queueing included, ends within this; a stalled one much sooner.
constexpr uint32_t kRequestTimeoutMs = 60'000;
// No byte moved for this long (at least): the peer or the path is gone.
constexpr uint32_t kStallFloorMs = 2'000;
// After a failed request, the next waits 50 ms, doubling up to 1.6 s: a peer that is
// down is not hammered, one that is back is found quickly.
constexpr TimeMs kRetryBaseMs = 50;
constexpr uint32_t kRetryMaxShift = 5;

std::string sha256_hex(std::string_view bytes) {
  auto digest =
      p2p::sha256(p2p::ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  return base::to_hex(std::span<const uint8_t>(digest));
}

base::Error unauthorized(std::string why) {
  return base::Error{"unauthorized", std::move(why)};
}

bool lower_hex(std::string_view text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string signing_text(std::string_view method, std::string_view path, const SignedHeaders& h) {
  return fmt::format("aethel-lattice-request-v3\n{}\n{}\n{}\n{}\n{}\n{}\n{}", method, path,
                     h.peer_id, h.to, h.timestamp_ms, h.nonce, h.body_sha256);
}

// ---------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------

void Lattice::Impl::send_http(Peer& peer, std::string_view envelope) {
  size_t before = peer.records.size();
  packer_.add(envelope, peer.records);
  for (size_t i = before; i < peer.records.size(); ++i) peer.record_bytes += peer.records[i].size();
  while (peer.record_bytes > kMaxQueuedRecordBytes) {  // consensus sends it again
    peer.record_bytes -= peer.records.front().size();
    peer.records.pop_front();
  }
  pump_http(peer);
}

void Lattice::Impl::pump_http(Peer& peer) {
  if (!peer.url || stopped_ || now_ms() < peer.http_retry_at_ms) return;
  while (peer.http_in_flight < kHttpRequestsInFlight && !peer.records.empty()) {
    http::ClientRequest request;
    request.method = "POST";
    request.target = std::string(kInternalMessagesPath);
    request.body = packer_.next_body(peer.records);
    peer.record_bytes -= std::min(peer.record_bytes, request.body.size());
    request.headers = signed_headers(kInternalMessagesPath, peer.id, request.body);
    request.headers.emplace_back("Content-Type", "application/octet-stream");
    request.timeout_ms = kRequestTimeoutMs;
    request.stall_timeout_ms = http_timeout_ms(peer);
    ++peer.http_in_flight;
    std::weak_ptr<Impl> weak = weak_from_this();
    client_->send(*peer.url, std::move(request),
                  [weak, id = peer.id](base::Result<http::Reply> reply) {
                    if (auto self = weak.lock()) self->http_done(id, reply);
                  });
  }
}

void Lattice::Impl::http_done(const std::string& peer_id, const base::Result<http::Reply>& reply) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end() || stopped_) return;
  Peer& peer = it->second;
  --peer.http_in_flight;
  bool ok = reply.ok() && reply->status == 200;
  peer.link.http_answered(now_ms(), ok);
  if (ok) {
    peer.http_failures = 0;
    peer.http_error_logged = false;
  } else {
    peer.http_retry_at_ms =
        now_ms() + (kRetryBaseMs << std::min(peer.http_failures, kRetryMaxShift));
    ++peer.http_failures;
    log_http_error_once(
        peer, reply.ok() ? base::Error{"http_status", fmt::format("answered {}: {}", reply->status,
                                                                  reply->body.substr(0, 200))}
                         : reply.error());
  }
  pump_http(peer);
}

// One line per run of failures: a cut link is not a log flood, a wrong certificate is
// not silent.
void Lattice::Impl::log_http_error_once(Peer& peer, const base::Error& error) {
  if (peer.http_error_logged) return;
  peer.http_error_logged = true;
  log(fmt::format("[HTTP_SYNC] {} ({}) unreachable over HTTP: {}: {}",
                  peer.url ? peer.url->to_string() : "?", peer.id.substr(0, 16), error.code,
                  error.message));
}

// The link's RTT, not a constant: a far peer gets time, a dead one is noticed.
uint32_t Lattice::Impl::http_timeout_ms(const Peer& peer) const {
  double rtt_based = 4 * peer.link.rtt().timeout_ms();
  return static_cast<uint32_t>(std::max<double>(kStallFloorMs, rtt_based));
}

http::Headers Lattice::Impl::signed_headers(std::string_view path, const std::string& to,
                                            std::string_view body) const {
  std::array<uint8_t, 8> nonce;
  p2p::random_bytes(nonce);
  SignedHeaders h{identity_.peer_id,
                  to,
                  std::to_string(unix_time_ms()),
                  base::to_hex(std::span<const uint8_t>(nonce)),
                  sha256_hex(body),
                  {}};
  std::string text = signing_text("POST", path, h);
  auto signature =
      identity_.key.sign(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  h.signature = base::to_hex(std::span<const uint8_t>(signature));
  return {{"X-Aethel-Peer", h.peer_id},
          {"X-Aethel-To", h.to},
          {"X-Aethel-Timestamp", h.timestamp_ms},
          {"X-Aethel-Nonce", h.nonce},
          {"X-Aethel-Body-Sha256", h.body_sha256},
          {"X-Aethel-Signature", h.signature}};
}

// ---------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------

base::Result<std::string> Lattice::authenticate(std::string_view method, std::string_view path,
                                                const SignedHeaders& h) {
  Impl& impl = *impl_;
  if (h.peer_id.empty() || h.to.empty() || h.timestamp_ms.empty() || h.nonce.empty() ||
      h.body_sha256.empty() || h.signature.empty()) {
    return unauthorized(
        "node-to-node requests need X-Aethel-Peer, X-Aethel-To, X-Aethel-Timestamp, "
        "X-Aethel-Nonce, X-Aethel-Body-Sha256 and X-Aethel-Signature");
  }
  bool member = false;
  {
    base::MutexLock lock(impl.inbound_mutex_);
    member = impl.members_.contains(h.peer_id);
  }
  if (!member) return unauthorized(h.peer_id + " is not a member of this lattice");
  if (h.to != impl.identity_.peer_id) {
    return unauthorized("the request is signed for " + h.to + ", not for this node");
  }
  uint64_t timestamp = 0;
  auto [end, ec] = std::from_chars(h.timestamp_ms.data(),
                                   h.timestamp_ms.data() + h.timestamp_ms.size(), timestamp);
  if (ec != std::errc() || end != h.timestamp_ms.data() + h.timestamp_ms.size()) {
    return unauthorized("X-Aethel-Timestamp is not a number");
  }
  uint64_t now = unix_time_ms();
  if ((now > timestamp ? now - timestamp : timestamp - now) > kSignedRequestWindowMs) {
    return unauthorized("the request is outside the replay window");
  }
  auto sender = p2p::PeerId::parse(h.peer_id);
  auto key = sender.ok() ? sender->public_key() : std::nullopt;
  auto signature = base::from_hex(h.signature);
  std::string text = signing_text(method, path, h);
  bool valid = key && signature && lower_hex(h.nonce, 16) && lower_hex(h.body_sha256, 64) &&
               key->verify(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                           *signature);
  if (!valid) return unauthorized("bad signature from " + h.peer_id);
  base::MutexLock lock(impl.inbound_mutex_);
  while (!impl.seen_by_time_.empty() &&
         impl.seen_by_time_.begin()->first + kSignedRequestWindowMs < now) {
    impl.seen_signatures_.erase(impl.seen_by_time_.begin()->second);
    impl.seen_by_time_.erase(impl.seen_by_time_.begin());
  }
  std::string raw(signature->begin(), signature->end());  // bytes: one signature, one entry
  if (!impl.seen_signatures_.emplace(raw, timestamp).second) {
    return unauthorized("replayed request");
  }
  impl.seen_by_time_.emplace(timestamp, std::move(raw));
  return h.peer_id;
}

base::Result<size_t> Lattice::deliver(const std::string& from_peer, const SignedHeaders& headers,
                                      std::string_view body) {
  Impl& impl = *impl_;
  if (sha256_hex(body) != headers.body_sha256) {
    return unauthorized("the body does not match X-Aethel-Body-Sha256");
  }
  std::vector<std::string> envelopes;
  {
    base::MutexLock lock(impl.inbound_mutex_);
    auto [it, fresh] = impl.assemblers_.try_emplace(from_peer, 8, kMaxQueuedRecordBytes);
    auto fed = it->second.feed(body);
    if (!fed.ok()) return fed.error();
    envelopes = std::move(fed).value();
  }
  for (std::string& envelope : envelopes) {
    if (impl.hooks_.deliver) impl.hooks_.deliver(from_peer, std::move(envelope));
  }
  asio::post(impl.io_, [weak = std::weak_ptr<Impl>(impl_), from_peer] {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->peers_.find(from_peer);
    if (it != self->peers_.end()) it->second.link.http_answered(self->now_ms(), true);
  });
  return envelopes.size();
}

}  // namespace aethel::lattice
