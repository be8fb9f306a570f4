// Channel::State: the life of one channel. The writer coroutine owns the stream's write
// side (acks first, then queued frames batched up to 64 KiB; a larger frame is written from
// its own buffer); the reader coroutine decodes records, delivers frames, applies acks and
// asks the writer for one cumulative ack per read batch.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "p2p/channel_service.h"
#include "p2p/codec.h"
#include "p2p/host_impl.h"

namespace aethel::p2p {

namespace {
// Small frames queued together go out in one stream write of at most this many bytes.
constexpr std::size_t kBatchBytes = 64 * 1024;
// Worst-case record header: a 9-byte varint and the kind byte.
constexpr std::size_t kMaxRecordHeaderBytes = kMaxVarintBytes + 1;
}  // namespace

Channel::State::State(std::weak_ptr<Host::Impl> host, const HostLimits& limits, PeerId peer_id,
                      std::string protocol_id, bool is_outbound)
    : peer(std::move(peer_id)),
      protocol(std::move(protocol_id)),
      outbound(is_outbound),
      host_(std::move(host)),
      limits_(limits),
      decoder_(limits.max_channel_frame_bytes) {}

bool Channel::State::host_running() const {
  auto host = host_.lock();
  return host && !host->stopped;
}

Error Channel::State::with_context(const Error& error) const {
  return Error{error.code,
               "channel " + protocol + " with " + peer.to_base58() + ": " + error.message};
}

void Channel::State::wake_writer() {
  if (auto signal = writer_signal_.lock()) signal->cancel();
}

bool Channel::State::send(Bytes frame) {
  if (!is_open() || !host_running()) return false;
  if (frame.size() > limits_.max_channel_frame_bytes) return false;
  const bool buffer_full =
      buffered_bytes_ > 0 && buffered_bytes_ + frame.size() > limits_.channel_send_buffer_bytes;
  if (buffer_full || acks_.unacked() >= limits_.max_channel_unacked_frames) {
    refused_ = true;
    return false;
  }
  acks_.queued(Clock::now());
  buffered_bytes_ += frame.size();
  queue_.push_back(std::move(frame));
  wake_writer();
  return true;
}

ChannelStats Channel::State::stats() const {
  ChannelStats stats;
  stats.frames_sent = acks_.sent();
  stats.frames_acked = acks_.acked_through();
  stats.frames_received = received_;
  stats.buffered_bytes = buffered_bytes_;
  stats.oldest_unacked_age_ms = acks_.oldest_unacked_age_ms(Clock::now());
  stats.smoothed_rtt_ms = acks_.smoothed_rtt_ms();
  stats.rtt_variance_ms = acks_.rtt_variance_ms();
  return stats;
}

void Channel::State::close() {
  if (!is_open()) return;
  phase_ = Phase::kClosing;
  wake_writer();
}

void Channel::State::reset() {
  end(Error{"reset", "reset locally"}, false);
}

void Channel::State::end(const Error& reason, bool notify, bool graceful) {
  if (phase_ == Phase::kEnded) return;
  if (phase_ == Phase::kClosing) notify = false;  // the owner asked for the end
  phase_ = Phase::kEnded;
  queue_.clear();
  buffered_bytes_ = 0;
  if (stream_ && graceful) stream_->close_write();
  if (stream_ && !graceful) stream_->reset();
  wake_writer();
  // Dropping the callbacks breaks any cycle through a Channel they captured; on_frame
  // stays while it is running (deliver() drops it after).
  auto on_closed = std::move(events_.on_closed);
  events_.on_closed = nullptr;
  events_.on_writable = nullptr;
  if (!delivering_) events_.on_frame = nullptr;
  if (notify && on_closed && host_running()) on_closed(reason);
}

void Channel::State::attach(std::shared_ptr<Stream> stream) {
  stream_ = std::move(stream);
  if (phase_ == Phase::kOpening) phase_ = Phase::kOpen;
  stream_->set_receive_window(limits_.channel_window_bytes);
  asio::co_spawn(
      stream_->executor(), [self = shared_from_this()]() { return self->run_writer(); },
      asio::detached);
}

// ---------------------------------------------------------------------------------------
// Writing.

Task<void> Channel::State::run_writer() {
  auto self = shared_from_this();
  auto signal = std::make_shared<asio::steady_timer>(stream_->executor(),
                                                     asio::steady_timer::time_point::max());
  writer_signal_ = signal;
  while (phase_ != Phase::kEnded) {
    if (!ack_to_send_ && queue_.empty()) {
      if (phase_ == Phase::kClosing) {
        stream_->close_write();  // the reader ends the channel when the remote closes too
        co_return;
      }
      co_await signal->async_wait(kNoThrow);
      continue;
    }
    auto sent = co_await write_next();
    if (!sent) end(with_context(sent.error()), true);
  }
}

Task<Status> Channel::State::write_next() {
  std::size_t frames = 0;
  std::size_t bytes = 0;
  std::optional<Bytes> large;
  const Bytes batch = take_batch(frames, bytes, large);
  Status status = co_await stream_->write_all(batch);
  if (status && large) status = co_await stream_->write_all(*large);
  if (!status) co_return status;
  if (phase_ != Phase::kEnded) written(frames, bytes);
  co_return Status{};
}

// The pending ack, then queued frames while they fit in one batch; a first frame too large
// for a batch goes in `large` (its record header ends the batch).
Bytes Channel::State::take_batch(std::size_t& frames, std::size_t& bytes,
                                 std::optional<Bytes>& large) {
  Bytes batch;
  if (ack_to_send_) append_channel_ack(batch, *std::exchange(ack_to_send_, std::nullopt));
  while (!queue_.empty() &&
         batch.size() + kMaxRecordHeaderBytes + queue_.front().size() <= kBatchBytes) {
    append_channel_data(batch, queue_.front());
    bytes += queue_.front().size();
    ++frames;
    queue_.pop_front();
  }
  if (frames == 0 && !queue_.empty()) {
    large = std::move(queue_.front());
    queue_.pop_front();
    append_channel_data_header(batch, large->size());
    bytes += large->size();
    frames = 1;
  }
  return batch;
}

void Channel::State::written(std::size_t frames, std::size_t bytes) {
  if (frames == 0) return;
  written_seq_ += frames;
  acks_.written(written_seq_, Clock::now());
  buffered_bytes_ -= std::min(bytes, buffered_bytes_);
  maybe_writable();
}

void Channel::State::maybe_writable() {
  if (!refused_ || !is_open()) return;
  if (buffered_bytes_ > limits_.channel_send_buffer_bytes / 2 ||
      acks_.unacked() > limits_.max_channel_unacked_frames / 2) {
    return;
  }
  refused_ = false;
  auto on_writable = events_.on_writable;  // a copy: it may end the channel
  if (on_writable && host_running()) on_writable();
}

// ---------------------------------------------------------------------------------------
// Reading.

Task<void> Channel::State::run_reader() {
  auto self = shared_from_this();
  while (phase_ != Phase::kEnded) {
    auto data = co_await stream_->read_some();
    if (phase_ == Phase::kEnded) co_return;
    if (!data) {
      end(with_context(data.error()), true);
      co_return;
    }
    if (data->empty()) {
      end(with_context(Error{"closed_by_peer", "closed by the peer"}), true, true);
      co_return;
    }
    decoder_.feed(data.value());
    if (auto handled = handle_records(); !handled) {
      violation(handled.error());
      co_return;
    }
  }
}

// Everything decodable in what arrived; then one cumulative ack for the frames delivered.
Status Channel::State::handle_records() {
  const std::uint64_t before = received_;
  while (phase_ != Phase::kEnded) {
    auto record = decoder_.next();
    if (!record) return record.error();
    if (!record.value()) break;
    ChannelRecord& item = *record.value();
    if (item.kind == ChannelRecord::Kind::kAck) {
      if (auto applied = acks_.acked(item.ack, Clock::now()); !applied) return applied;
      maybe_writable();
      continue;
    }
    ++received_;
    deliver(std::move(item.frame));
  }
  if (received_ > before && phase_ != Phase::kEnded) {
    ack_to_send_ = received_;
    wake_writer();
  }
  return {};
}

void Channel::State::deliver(Bytes frame) {
  if (!events_.on_frame || !host_running()) return;
  delivering_ = true;
  events_.on_frame(std::move(frame));
  delivering_ = false;
  if (phase_ == Phase::kEnded) events_.on_frame = nullptr;
}

// The one log line of a broken channel; the connection and its other streams go on.
void Channel::State::violation(const Error& error) {
  if (auto host = host_.lock()) {
    host->log("[P2P] Channel " + protocol + " with " + peer.to_base58() +
              " reset: " + error.message);
  }
  end(with_context(error), true);
}

// ---------------------------------------------------------------------------------------
// The public handle.

bool Channel::send(Bytes frame) {
  return state_ && state_->send(std::move(frame));
}
bool Channel::is_open() const {
  return state_ && state_->is_open();
}
std::size_t Channel::buffered_bytes() const {
  return state_ ? state_->stats().buffered_bytes : 0;
}
std::size_t Channel::unacked() const {
  return state_ ? state_->unacked() : 0;
}
std::optional<double> Channel::oldest_unacked_age_ms() const {
  return state_ ? state_->stats().oldest_unacked_age_ms : std::nullopt;
}
std::optional<double> Channel::smoothed_rtt_ms() const {
  return state_ ? state_->stats().smoothed_rtt_ms : std::nullopt;
}
ChannelStats Channel::stats() const {
  return state_ ? state_->stats() : ChannelStats{};
}
const PeerId& Channel::peer() const {
  AETHEL_CHECK(state_ != nullptr);
  return state_->peer;
}
const std::string& Channel::protocol() const {
  AETHEL_CHECK(state_ != nullptr);
  return state_->protocol;
}
bool Channel::is_outbound() const {
  return state_ && state_->outbound;
}
void Channel::close() {
  if (state_) state_->close();
}
void Channel::reset() {
  if (state_) state_->reset();
}

}  // namespace aethel::p2p
