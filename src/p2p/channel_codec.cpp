#include "p2p/channel_codec.h"

#include <cmath>

#include "p2p/codec.h"

namespace aethel::p2p {

namespace {
// Compact the decoder's buffer once this much of its front has been consumed.
constexpr std::size_t kCompactBytes = 64 * 1024;
}  // namespace

void append_channel_data_header(Bytes& out, std::size_t frame_bytes) {
  append_varint(out, frame_bytes + 1);
  out.push_back(kChannelData);
}

void append_channel_data(Bytes& out, ByteView frame) {
  append_channel_data_header(out, frame.size());
  out.insert(out.end(), frame.begin(), frame.end());
}

void append_channel_ack(Bytes& out, std::uint64_t through_seq) {
  const Bytes seq = encode_varint(through_seq);
  append_varint(out, seq.size() + 1);
  out.push_back(kChannelAck);
  out.insert(out.end(), seq.begin(), seq.end());
}

void ChannelDecoder::feed(ByteView bytes) {
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ >= kCompactBytes && offset_ * 2 >= buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<ChannelRecord>> ChannelDecoder::next() {
  while (true) {
    const ByteView rest = ByteView(buffer_).subspan(offset_);
    auto prefix = decode_varint_prefix(rest);
    if (!prefix) return Error{"bad_frame", "bad length prefix: " + prefix.error().message};
    if (!prefix.value()) return std::optional<ChannelRecord>();
    const auto [length, prefix_bytes] = *prefix.value();
    if (length == 0) return Error{"bad_frame", "record of length 0 (no kind byte)"};
    if (length - 1 > max_frame_bytes_) {
      return Error{"frame_too_large", "frame of " + std::to_string(length - 1) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(max_frame_bytes_)};
    }
    if (rest.size() - prefix_bytes < length) return std::optional<ChannelRecord>();
    const std::uint8_t kind = rest[prefix_bytes];
    const ByteView body = rest.subspan(prefix_bytes + 1, length - 1);
    offset_ += prefix_bytes + length;
    if (kind == kChannelData) {
      return std::optional<ChannelRecord>(
          ChannelRecord{ChannelRecord::Kind::kData, Bytes(body.begin(), body.end()), 0});
    }
    if (kind != kChannelAck) continue;  // an extension we do not know: skip it
    auto seq = decode_varint(body);
    if (!seq || seq->length != body.size()) {
      return Error{"bad_frame", "malformed ack record"};
    }
    return std::optional<ChannelRecord>(ChannelRecord{ChannelRecord::Kind::kAck, {}, seq->value});
  }
}

std::uint64_t ChannelAcks::queued(Clock::time_point now) {
  pending_.push_back(Pending{now, std::nullopt});
  return next_seq_++;
}

void ChannelAcks::written(std::uint64_t seq, Clock::time_point now) {
  if (seq <= written_through_ || seq >= next_seq_) return;
  for (std::uint64_t s = std::max(written_through_, acked_through_) + 1; s <= seq; ++s) {
    pending_[s - acked_through_ - 1].written_at = now;
  }
  written_through_ = seq;
}

Status ChannelAcks::acked(std::uint64_t through_seq, Clock::time_point now) {
  if (through_seq < acked_through_) {
    return Error{"bad_ack", "ack of " + std::to_string(through_seq) + " after an ack of " +
                                std::to_string(acked_through_)};
  }
  if (through_seq > written_through_) {
    return Error{"bad_ack", "ack of frame " + std::to_string(through_seq) + " but only " +
                                std::to_string(written_through_) + " were sent"};
  }
  if (through_seq == acked_through_) return {};
  const std::size_t count = static_cast<std::size_t>(through_seq - acked_through_);
  const auto written_at = pending_[count - 1].written_at;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
  acked_through_ = through_seq;
  if (written_at) {
    sample(std::chrono::duration<double, std::milli>(now - *written_at).count());
  }
  return {};
}

void ChannelAcks::sample(double rtt_ms) {
  rtt_ms = std::max(rtt_ms, 0.0);
  if (!srtt_ms_) {
    srtt_ms_ = rtt_ms;
    rttvar_ms_ = rtt_ms / 2;
    return;
  }
  rttvar_ms_ = 0.75 * *rttvar_ms_ + 0.25 * std::abs(*srtt_ms_ - rtt_ms);
  srtt_ms_ = 0.875 * *srtt_ms_ + 0.125 * rtt_ms;
}

std::optional<double> ChannelAcks::oldest_unacked_age_ms(Clock::time_point now) const {
  if (pending_.empty()) return std::nullopt;
  return std::chrono::duration<double, std::milli>(now - pending_.front().queued_at).count();
}

}  // namespace aethel::p2p
