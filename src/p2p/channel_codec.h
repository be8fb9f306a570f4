// The sans-I/O half of channels (p2p.h, Host::open_channel): the record codec and the
// sender's acknowledgement bookkeeping. Pure and bounds-checked, so the unit tests and the
// libFuzzer target drive it without sockets.
//
// Wire format, the same in both directions of the channel's Yamux stream, after the
// stream's multistream-select of the channel's protocol ID:
//
//   record = varint(L) kind:u8 body[L-1]          (L >= 1, L-1 <= max frame bytes)
//   kind 0, DATA: body is one frame. DATA records are numbered 1, 2, 3, ... per direction
//                 (implicitly: the number is never sent).
//   kind 1, ACK:  body is varint(N): the receiver has processed every DATA record up to
//                 and including N. Cumulative, never decreasing, never beyond what was sent.
//   other kinds:  skipped (room to extend without a new protocol ID).
//
// A record whose L is 0, larger than the limit, or not a minimal varint, or an ACK whose
// body is not exactly one minimal varint, is a protocol violation: the stream is reset.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

#include "p2p/p2p.h"

namespace aethel::p2p {

inline constexpr std::uint8_t kChannelData = 0;
inline constexpr std::uint8_t kChannelAck = 1;

// The varint length and kind of a DATA record; the frame's bytes follow it on the wire.
void append_channel_data_header(Bytes& out, std::size_t frame_bytes);
void append_channel_data(Bytes& out, ByteView frame);
void append_channel_ack(Bytes& out, std::uint64_t through_seq);

struct ChannelRecord {
  enum class Kind { kData, kAck };
  Kind kind = Kind::kData;
  Bytes frame;            // kData
  std::uint64_t ack = 0;  // kAck: processed through this DATA record
};

// Splits received bytes into records. Buffers at most one record (≤ max frame + 10 bytes)
// beyond what next() has returned.
class ChannelDecoder {
 public:
  explicit ChannelDecoder(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}
  void feed(ByteView bytes);
  // The next record; std::nullopt until one is complete. After an Error ("bad_frame",
  // "frame_too_large") the stream is unusable.
  Result<std::optional<ChannelRecord>> next();
  std::size_t buffered_bytes() const { return buffer_.size() - offset_; }

 private:
  std::size_t max_frame_bytes_;
  Bytes buffer_;
  std::size_t offset_ = 0;  // start of the first record not yet returned
};

// The sender's side of the ack layer: which DATA records are unacknowledged since when,
// and the round-trip time measured from acks (RFC 6298 smoothing). Time is passed in, so
// tests run it on a fake clock.
class ChannelAcks {
 public:
  using Clock = std::chrono::steady_clock;

  // A frame accepted for sending; returns its sequence number.
  std::uint64_t queued(Clock::time_point now);
  // The frame `seq` (and every one before it) is fully handed to the stream.
  void written(std::uint64_t seq, Clock::time_point now);
  // An ACK from the receiver. "bad_ack" when it goes backwards or beyond what was written.
  Status acked(std::uint64_t through_seq, Clock::time_point now);

  std::uint64_t sent() const { return next_seq_ - 1; }
  std::uint64_t acked_through() const { return acked_through_; }
  std::size_t unacked() const { return pending_.size(); }
  // Time since the oldest unacknowledged frame was queued.
  std::optional<double> oldest_unacked_age_ms(Clock::time_point now) const;
  std::optional<double> smoothed_rtt_ms() const { return srtt_ms_; }
  std::optional<double> rtt_variance_ms() const { return rttvar_ms_; }

 private:
  struct Pending {
    Clock::time_point queued_at;
    std::optional<Clock::time_point> written_at;
  };
  void sample(double rtt_ms);

  std::uint64_t next_seq_ = 1;
  std::uint64_t written_through_ = 0;
  std::uint64_t acked_through_ = 0;
  std::deque<Pending> pending_;  // for seqs acked_through_ + 1 ... next_seq_ - 1
  std::optional<double> srtt_ms_;
  std::optional<double> rttvar_ms_;
};

}  // namespace aethel::p2p
