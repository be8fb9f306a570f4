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
  // Consumes received bytes; returns bytes to send (possibly empty). Fails when the peer
  // breaks the protocol or no protocol can be agreed.
  Result<Bytes> receive(ByteView bytes);

  bool done() const { return !selected_.empty(); }
  const std::string& selected() const { return selected_; }
  Bytes take_leftover() { return lines_.take_rest(); }

 protected:
  // One line from the peer (after its header); appends any answer to `out`.
  virtual Status answer(const std::string& line, Bytes& out) = 0;

  std::string selected_;

 private:
  MultistreamLineReader lines_;
  bool header_received_ = false;
};

class MultistreamDialer final : public MultistreamNegotiator {
 public:
  // `protocols` in order of preference; must not be empty.
  explicit MultistreamDialer(std::vector<std::string> protocols);
  // The header and the first proposal, to be sent at once (each "na" gets the next).
  Bytes start() override;

 private:
  Status answer(const std::string& line, Bytes& out) override;

  std::vector<std::string> protocols_;
  std::size_t proposal_ = 0;
};

class MultistreamListener final : public MultistreamNegotiator {
 public:
  explicit MultistreamListener(std::function<bool(std::string_view)> supports);
  // The listener's header, sent without waiting for the dialer; then "na" or the echo of
  // the accepted protocol.
  Bytes start() override;

 private:
  Status answer(const std::string& line, Bytes& out) override;

  std::function<bool(std::string_view)> supports_;
  std::size_t proposals_ = 0;
};

}  // namespace aethel::p2p
