// Yamux (libp2p/specs yamux, hashicorp/yamux spec.md) as a sans-I/O state machine.
//
// Frame: 12-byte header {version 0, type, flags (u16 BE), stream id (u32 BE), length (u32
// BE)} followed by `length` bytes for Data frames. Types: Data, WindowUpdate, Ping, GoAway.
// Flags: SYN opens a stream, ACK accepts it, FIN half-closes, RST resets.
//
// Flow control: each direction of each stream starts with a 256 KiB window. A sender never
// sends more than the window the receiver granted; the receiver grants more with
// WindowUpdate once the application has consumed data (reported via consumed()). A peer
// that overruns its window breaks the protocol: the session ends with GoAway.
//
// The caller feeds received bytes with receive(), then drains take_output() (bytes to
// send) and take_events() (what happened). Nothing here blocks or allocates unboundedly:
// stream count, frame size and buffered bytes are capped.
#pragma once

#include <deque>
#include <map>

#include "p2p/p2p.h"

namespace aethel::p2p {

inline constexpr std::string_view kYamuxProtocolId = "/yamux/1.0.0";
inline constexpr std::size_t kYamuxHeaderBytes = 12;
inline constexpr std::uint32_t kYamuxInitialWindowBytes = 256 * 1024;

enum class YamuxType : std::uint8_t { kData = 0, kWindowUpdate = 1, kPing = 2, kGoAway = 3 };
namespace yamux_flag {
inline constexpr std::uint16_t kSyn = 1;
inline constexpr std::uint16_t kAck = 2;
inline constexpr std::uint16_t kFin = 4;
inline constexpr std::uint16_t kRst = 8;
}  // namespace yamux_flag

struct YamuxHeader {
  std::uint8_t version = 0;
  YamuxType type = YamuxType::kData;
  std::uint16_t flags = 0;
  std::uint32_t stream_id = 0;
  std::uint32_t length = 0;
};
void append_yamux_header(Bytes& out, const YamuxHeader& header);
Result<YamuxHeader> decode_yamux_header(ByteView twelve_bytes);

struct YamuxConfig {
  std::uint32_t initial_window_bytes = kYamuxInitialWindowBytes;
  std::size_t max_streams = 256;
};

struct YamuxEvent {
  enum class Kind {
    kStreamOpened,  // the peer opened stream_id (SYN)
    kData,          // data for stream_id
    kRemoteClosed,  // the peer half-closed stream_id (FIN): no more data will come
    kReset,         // stream_id was reset (by the peer, or refused)
    kWritable,      // the peer granted more send window on stream_id
    kPingAck,       // our ping `value` came back
    kGoAway,        // the peer is closing the session with code `value`
  };
  Kind kind;
  std::uint32_t stream_id = 0;
  Bytes data;
  std::uint32_t value = 0;
};

class YamuxSession {
 public:
  // The dialer of the underlying connection is the client and uses odd stream IDs.
  YamuxSession(bool is_client, YamuxConfig config = {});

  // Consumes received bytes. An Error means the peer broke the protocol; a GoAway has
  // been queued in the output and the session must be closed after sending it.
  Status receive(ByteView bytes);

  // Opens an outbound stream (a WindowUpdate with SYN is queued).
  Result<std::uint32_t> open_stream();
  // Queues up to the stream's send window of `data`; returns how many bytes were taken.
  // The caller waits for a kWritable event before sending the rest.
  std::size_t send(std::uint32_t stream_id, ByteView data);
  // Half-closes our direction (FIN).
  void close_write(std::uint32_t stream_id);
  // Abandons the stream in both directions (RST).
  void reset(std::uint32_t stream_id);
  // The application has taken `bytes` of received data off the stream; grants window.
  void consumed(std::uint32_t stream_id, std::uint32_t bytes);
  // Raises the stream's receive window to `window_bytes` (at most 16 MiB) and grants the
  // difference at once: a long-lived bulk stream needs a window of about bandwidth × RTT,
  // which the 256 KiB default is not at internet distances. Never shrinks a window.
  void set_receive_window(std::uint32_t stream_id, std::uint32_t window_bytes);
  void ping(std::uint32_t opaque);
  void go_away(std::uint32_t code);

  Bytes take_output() { return std::exchange(output_, Bytes{}); }
  bool has_output() const { return !output_.empty(); }
  std::vector<YamuxEvent> take_events() { return std::exchange(events_, {}); }

  std::size_t stream_count() const { return streams_.size(); }
  std::size_t send_window(std::uint32_t stream_id) const;
  // False once the stream is gone or our direction is closed: waiting for window is futile.
  bool can_send(std::uint32_t stream_id) const;
  bool remote_closed(std::uint32_t stream_id) const;
  // False once the stream was reset or both directions are closed.
  bool has_stream(std::uint32_t stream_id) const { return streams_.contains(stream_id); }
  bool remote_went_away() const { return remote_went_away_; }

 private:
  struct Stream {
    std::uint32_t send_window = 0;
    std::uint32_t receive_window = 0;  // bytes the peer may still send
    std::uint32_t window_bytes = 0;    // the window we grant in all (default or raised)
    std::uint32_t unacknowledged_consumed = 0;
    bool acked = false;  // for inbound streams: our ACK was sent
    bool local_closed = false;
    bool remote_closed = false;
  };

  Status handle_frame(const YamuxHeader& header, ByteView body);
  Status handle_stream_flags(const YamuxHeader& header, bool& stream_exists);
  void queue(YamuxType type, std::uint16_t flags, std::uint32_t stream_id, std::uint32_t length,
             ByteView body = {});
  std::uint16_t take_ack_flag(std::uint32_t stream_id);
  void remove_if_finished(std::uint32_t stream_id);
  Status protocol_error(std::string why);

  bool is_client_;
  YamuxConfig config_;
  std::uint32_t next_stream_id_;
  std::uint32_t max_window_bytes_;  // the largest window granted on any stream
  std::map<std::uint32_t, Stream> streams_;
  Bytes input_;
  std::size_t input_offset_ = 0;
  Bytes output_;
  std::vector<YamuxEvent> events_;
  bool failed_ = false;
  bool remote_went_away_ = false;
  bool local_went_away_ = false;
};

}  // namespace aethel::p2p
