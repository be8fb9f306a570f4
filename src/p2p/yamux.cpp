#include "p2p/yamux.h"

namespace aethel::p2p {

namespace {
constexpr std::uint32_t kGoAwayProtocolError = 1;
constexpr std::uint32_t kMaxWindowBytes = 16 * 1024 * 1024;

std::uint32_t read_u32(ByteView bytes) {
  return (static_cast<std::uint32_t>(bytes[0]) << 24) |
         (static_cast<std::uint32_t>(bytes[1]) << 16) |
         (static_cast<std::uint32_t>(bytes[2]) << 8) | bytes[3];
}
void append_u32(Bytes& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 24));
  out.push_back(static_cast<std::uint8_t>(value >> 16));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}
}  // namespace

void append_yamux_header(Bytes& out, const YamuxHeader& header) {
  out.push_back(header.version);
  out.push_back(static_cast<std::uint8_t>(header.type));
  out.push_back(static_cast<std::uint8_t>(header.flags >> 8));
  out.push_back(static_cast<std::uint8_t>(header.flags));
  append_u32(out, header.stream_id);
  append_u32(out, header.length);
}

Result<YamuxHeader> decode_yamux_header(ByteView bytes) {
  if (bytes.size() < kYamuxHeaderBytes) return Error{"bad_yamux_header", "yamux: short header"};
  YamuxHeader header;
  header.version = bytes[0];
  if (header.version != 0)
    return Error{"bad_yamux_header", "yamux: unknown version " + std::to_string(bytes[0])};
  if (bytes[1] > 3)
    return Error{"bad_yamux_header", "yamux: unknown frame type " + std::to_string(bytes[1])};
  header.type = static_cast<YamuxType>(bytes[1]);
  header.flags = static_cast<std::uint16_t>((bytes[2] << 8) | bytes[3]);
  header.stream_id = read_u32(bytes.subspan(4));
  header.length = read_u32(bytes.subspan(8));
  return header;
}

YamuxSession::YamuxSession(bool is_client, YamuxConfig config)
    : is_client_(is_client),
      config_(config),
      next_stream_id_(is_client ? 1 : 2),
      max_window_bytes_(config.initial_window_bytes) {}

void YamuxSession::queue(YamuxType type, std::uint16_t flags, std::uint32_t stream_id,
                         std::uint32_t length, ByteView body) {
  append_yamux_header(output_, {0, type, flags, stream_id, length});
  output_.insert(output_.end(), body.begin(), body.end());
}

Status YamuxSession::protocol_error(std::string why) {
  if (!failed_) {
    failed_ = true;
    go_away(kGoAwayProtocolError);
  }
  return Error{"yamux_protocol_error", "yamux: " + std::move(why)};
}

Status YamuxSession::receive(ByteView bytes) {
  if (failed_) return Error{"yamux_failed", "yamux: session already failed"};
  input_.insert(input_.end(), bytes.begin(), bytes.end());
  while (true) {
    const std::size_t available = input_.size() - input_offset_;
    if (available < kYamuxHeaderBytes) break;
    const ByteView rest = ByteView(input_).subspan(input_offset_);
    auto header = decode_yamux_header(rest);
    if (!header) return protocol_error(header.error().message);
    std::size_t body_bytes = 0;
    if (header->type == YamuxType::kData) {
      // Refuse before buffering: nothing legitimate exceeds the largest window we grant.
      if (header->length > max_window_bytes_) {
        return protocol_error("data frame of " + std::to_string(header->length) +
                              " bytes exceeds any window");
      }
      body_bytes = header->length;
    }
    if (available < kYamuxHeaderBytes + body_bytes) break;
    const auto body = rest.subspan(kYamuxHeaderBytes, body_bytes);
    if (auto handled = handle_frame(header.value(), body); !handled) return handled;
    input_offset_ += kYamuxHeaderBytes + body_bytes;
  }
  if (input_offset_ == input_.size()) {
    input_.clear();
    input_offset_ = 0;
  } else if (input_offset_ > 0) {
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(input_offset_));
    input_offset_ = 0;
  }
  return {};
}

Status YamuxSession::handle_stream_flags(const YamuxHeader& header, bool& stream_exists) {
  const std::uint32_t id = header.stream_id;
  auto it = streams_.find(id);
  if (header.flags & yamux_flag::kSyn) {
    if (it != streams_.end()) return protocol_error("SYN for an open stream " + std::to_string(id));
    const bool remote_parity_is_odd = !is_client_;
    if (id == 0 || ((id % 2 == 1) != remote_parity_is_odd)) {
      return protocol_error("peer opened stream " + std::to_string(id) + " with our parity");
    }
    if (streams_.size() >= config_.max_streams || local_went_away_) {
      queue(YamuxType::kWindowUpdate, yamux_flag::kRst, id, 0);
      stream_exists = false;
      return {};
    }
    Stream stream;
    stream.send_window = kYamuxInitialWindowBytes;
    stream.receive_window = config_.initial_window_bytes;
    stream.window_bytes = config_.initial_window_bytes;
    it = streams_.emplace(id, stream).first;
    events_.push_back({YamuxEvent::Kind::kStreamOpened, id, {}, 0});
    // Accept at once and grant any window above the protocol's initial 256 KiB.
    const std::uint32_t extra = config_.initial_window_bytes - kYamuxInitialWindowBytes;
    queue(YamuxType::kWindowUpdate, yamux_flag::kAck, id, extra);
    it->second.acked = true;
  }
  stream_exists = it != streams_.end();
  if (!stream_exists) return {};  // frames for streams already gone are dropped
  if (header.flags & yamux_flag::kRst) {
    streams_.erase(it);
    events_.push_back({YamuxEvent::Kind::kReset, id, {}, 0});
    stream_exists = false;
  }
  return {};
}

Status YamuxSession::handle_frame(const YamuxHeader& header, ByteView body) {
  if (header.type == YamuxType::kPing) {
    if (header.flags & yamux_flag::kSyn) {
      queue(YamuxType::kPing, yamux_flag::kAck, 0, header.length);
    } else if (header.flags & yamux_flag::kAck) {
      events_.push_back({YamuxEvent::Kind::kPingAck, 0, {}, header.length});
    }
    return {};
  }
  if (header.type == YamuxType::kGoAway) {
    remote_went_away_ = true;
    events_.push_back({YamuxEvent::Kind::kGoAway, 0, {}, header.length});
    return {};
  }
  if (header.stream_id == 0) return protocol_error("stream frame on stream 0");
  bool exists = false;
  if (auto flags = handle_stream_flags(header, exists); !flags) return flags;
  if (!exists) return {};
  Stream& stream = streams_.at(header.stream_id);
  if (header.type == YamuxType::kWindowUpdate) {
    if (header.length > kMaxWindowBytes - std::min(stream.send_window, kMaxWindowBytes)) {
      return protocol_error("window update overflows the send window");
    }
    stream.send_window += header.length;
    if (header.length > 0) {
      events_.push_back({YamuxEvent::Kind::kWritable, header.stream_id, {}, 0});
    }
  } else if (!body.empty()) {
    if (body.size() > stream.receive_window) {
      return protocol_error("peer overran the receive window of stream " +
                            std::to_string(header.stream_id));
    }
    if (stream.remote_closed) return protocol_error("data after FIN");
    stream.receive_window -= static_cast<std::uint32_t>(body.size());
    events_.push_back(
        {YamuxEvent::Kind::kData, header.stream_id, Bytes(body.begin(), body.end()), 0});
  }
  if ((header.flags & yamux_flag::kFin) && !stream.remote_closed) {
    stream.remote_closed = true;
    events_.push_back({YamuxEvent::Kind::kRemoteClosed, header.stream_id, {}, 0});
    remove_if_finished(header.stream_id);
  }
  return {};
}

Result<std::uint32_t> YamuxSession::open_stream() {
  if (failed_ || remote_went_away_ || local_went_away_) {
    return Error{"going_away", "yamux: session is going away"};
  }
  if (streams_.size() >= config_.max_streams)
    return Error{"too_many_streams", "yamux: too many streams"};
  if (next_stream_id_ > 0xfffffffdU)
    return Error{"stream_ids_exhausted", "yamux: stream IDs exhausted"};
  const std::uint32_t id = next_stream_id_;
  next_stream_id_ += 2;
  Stream stream;
  stream.send_window = kYamuxInitialWindowBytes;
  stream.receive_window = config_.initial_window_bytes;
  stream.window_bytes = config_.initial_window_bytes;
  stream.acked = true;  // outbound: the ACK is the peer's to send
  streams_.emplace(id, stream);
  queue(YamuxType::kWindowUpdate, yamux_flag::kSyn, id,
        config_.initial_window_bytes - kYamuxInitialWindowBytes);
  return id;
}

std::uint16_t YamuxSession::take_ack_flag(std::uint32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.acked) return 0;
  it->second.acked = true;
  return yamux_flag::kAck;
}

std::size_t YamuxSession::send(std::uint32_t stream_id, ByteView data) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.local_closed || failed_) return 0;
  Stream& stream = it->second;
  const std::size_t accepted = std::min<std::size_t>(data.size(), stream.send_window);
  // Frames of at most 64 KiB keep one stream from monopolising the connection.
  constexpr std::size_t kMaxFrameBody = 64 * 1024;
  std::size_t offset = 0;
  while (offset < accepted) {
    const std::size_t chunk = std::min(kMaxFrameBody, accepted - offset);
    queue(YamuxType::kData, take_ack_flag(stream_id), stream_id, static_cast<std::uint32_t>(chunk),
          data.subspan(offset, chunk));
    offset += chunk;
  }
  stream.send_window -= static_cast<std::uint32_t>(accepted);
  return accepted;
}

void YamuxSession::close_write(std::uint32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.local_closed) return;
  it->second.local_closed = true;
  queue(YamuxType::kWindowUpdate,
        static_cast<std::uint16_t>(yamux_flag::kFin | take_ack_flag(stream_id)), stream_id, 0);
  remove_if_finished(stream_id);
}

void YamuxSession::reset(std::uint32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  streams_.erase(it);
  queue(YamuxType::kWindowUpdate, yamux_flag::kRst, stream_id, 0);
}

void YamuxSession::consumed(std::uint32_t stream_id, std::uint32_t bytes) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Stream& stream = it->second;
  stream.unacknowledged_consumed += bytes;
  // Batch window updates: grant once half the window has been consumed.
  if (stream.unacknowledged_consumed >= stream.window_bytes / 2 && !stream.remote_closed) {
    const std::uint32_t delta = stream.unacknowledged_consumed;
    stream.unacknowledged_consumed = 0;
    stream.receive_window += delta;
    queue(YamuxType::kWindowUpdate, take_ack_flag(stream_id), stream_id, delta);
  }
}

void YamuxSession::set_receive_window(std::uint32_t stream_id, std::uint32_t window_bytes) {
  auto it = streams_.find(stream_id);
  window_bytes = std::min(window_bytes, kMaxWindowBytes);
  if (it == streams_.end() || window_bytes <= it->second.window_bytes || failed_) return;
  Stream& stream = it->second;
  const std::uint32_t delta = window_bytes - stream.window_bytes;
  stream.window_bytes = window_bytes;
  stream.receive_window += delta;
  max_window_bytes_ = std::max(max_window_bytes_, window_bytes);
  if (!stream.remote_closed)
    queue(YamuxType::kWindowUpdate, take_ack_flag(stream_id), stream_id, delta);
}

void YamuxSession::ping(std::uint32_t opaque) {
  queue(YamuxType::kPing, yamux_flag::kSyn, 0, opaque);
}

void YamuxSession::go_away(std::uint32_t code) {
  if (local_went_away_) return;
  local_went_away_ = true;
  queue(YamuxType::kGoAway, 0, 0, code);
}

std::size_t YamuxSession::send_window(std::uint32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? 0 : it->second.send_window;
}

bool YamuxSession::can_send(std::uint32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it != streams_.end() && !it->second.local_closed && !failed_;
}

bool YamuxSession::remote_closed(std::uint32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() || it->second.remote_closed;
}

void YamuxSession::remove_if_finished(std::uint32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it != streams_.end() && it->second.local_closed && it->second.remote_closed) {
    streams_.erase(it);
  }
}

}  // namespace aethel::p2p
