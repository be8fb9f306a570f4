// multistream-select 1.0 (multiformats/multistream-select) as sans-I/O state machines.
//
// Every message is a varint length, the UTF-8 line, and '\n'. Both sides first send the
// header "/multistream/1.0.0"; the dialer then proposes protocols one at a time and the
// listener echoes the one it accepts or answers "na". The dialer pipelines its header
// and first proposal (one round trip when the first choice is accepted).
//
// Bytes that arrive after the final answer belong to the negotiated protocol (a peer may
// send data optimistically); take_leftover() hands them on.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "p2p/codec.h"

namespace aethel::p2p {

inline constexpr std::string_view kMultistreamHeader = "/multistream/1.0.0";
// A protocol line longer than this is a protocol error (the spec allows up to 64 KiB; no
// libp2p protocol id comes close).
inline constexpr std::size_t kMaxMultistreamLineBytes = 1024;
// Proposals a listener answers before giving up on the peer.
inline constexpr std::size_t kMaxMultistreamProposals = 32;

// Appends one multistream message (length prefix + line + '\n').
void append_multistream_line(Bytes& out, std::string_view line);

// Splits buffered bytes into multistream lines.
class MultistreamLineReader {
 public:
  void feed(ByteView bytes) { reader_.feed(bytes); }
  // The next complete line without its '\n', std::nullopt if more bytes are needed.
  Result<std::optional<std::string>> next();
  Bytes take_rest() { return reader_.take_rest(); }

 private:
  LengthPrefixedReader reader_{kMaxMultistreamLineBytes};
};

// What the negotiation loop (negotiate.h) drives: either side of multistream-select.
class MultistreamNegotiator {
 public:
  virtual ~MultistreamNegotiator() = default;
  // Bytes to send before reading anything.
  virtual Bytes start() = 0;
  // Consumes received bytes; returns bytes to send (possibly empty).
  virtual Result<Bytes> receive(ByteView bytes) = 0;

  bool done() const { return !selected_.empty(); }
  const std::string& selected() const { return selected_; }
  Bytes take_leftover() { return lines_.take_rest(); }

 protected:
  std::string selected_;
  MultistreamLineReader lines_;
};

class MultistreamDialer final : public MultistreamNegotiator {
 public:
  // `protocols` in order of preference; must not be empty.
  explicit MultistreamDialer(std::vector<std::string> protocols);

  // The header and the first proposal, to be sent at once.
  Bytes start() override;
  // Consumes received bytes; returns bytes to send (a further proposal after "na").
  // Fails when the listener refuses every protocol or breaks the protocol.
  Result<Bytes> receive(ByteView bytes) override;

 private:
  std::vector<std::string> protocols_;
  std::size_t proposal_ = 0;
  bool header_received_ = false;
};

class MultistreamListener final : public MultistreamNegotiator {
 public:
  explicit MultistreamListener(std::function<bool(std::string_view)> supports);

  // The listener's header, sent without waiting for the dialer.
  Bytes start() override;
  // Consumes received bytes; returns the answers to send ("na" or the echoed protocol).
  Result<Bytes> receive(ByteView bytes) override;

 private:
  std::function<bool(std::string_view)> supports_;
  bool header_received_ = false;
  std::size_t proposals_ = 0;
};

}  // namespace aethel::p2p
