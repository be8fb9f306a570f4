#include "p2p/multistream.h"

namespace aethel::p2p {

void append_multistream_line(Bytes& out, std::string_view line) {
  append_varint(out, line.size() + 1);
  out.insert(out.end(), line.begin(), line.end());
  out.push_back('\n');
}

Result<std::optional<std::string>> MultistreamLineReader::next() {
  auto message = reader_.next();
  if (!message) return Error{"bad_multistream", "multistream: " + message.error().message};
  if (!message.value()) return std::optional<std::string>();
  const Bytes& bytes = *message.value();
  if (bytes.empty() || bytes.back() != '\n') {
    return Error{"bad_multistream", "multistream: message does not end with a newline"};
  }
  return std::optional<std::string>(std::string(bytes.begin(), bytes.end() - 1));
}

Result<Bytes> MultistreamNegotiator::receive(ByteView bytes) {
  lines_.feed(bytes);
  Bytes out;
  while (!done()) {
    auto line = lines_.next();
    if (!line) return line.error();
    if (!line.value()) break;
    const std::string& text = *line.value();
    if (header_received_) {
      if (auto answered = answer(text, out); !answered) return answered.error();
      continue;
    }
    if (text != kMultistreamHeader) {
      return Error{"bad_multistream", "multistream: expected header " +
                                          std::string(kMultistreamHeader) + ", got '" +
                                          text.substr(0, 64) + "'"};
    }
    header_received_ = true;
  }
  return out;
}

MultistreamDialer::MultistreamDialer(std::vector<std::string> protocols)
    : protocols_(std::move(protocols)) {}

Bytes MultistreamDialer::start() {
  Bytes out;
  append_multistream_line(out, kMultistreamHeader);
  if (!protocols_.empty()) append_multistream_line(out, protocols_.front());
  return out;
}

Status MultistreamDialer::answer(const std::string& text, Bytes& out) {
  if (proposal_ >= protocols_.size()) {
    return Error{"bad_multistream", "multistream: unexpected message"};
  }
  if (text == protocols_[proposal_]) {
    selected_ = text;
    return {};
  }
  if (text != "na") {
    return Error{"bad_multistream", "multistream: listener answered '" + text.substr(0, 64) +
                                        "' to '" + protocols_[proposal_] + "'"};
  }
  if (++proposal_ == protocols_.size()) {
    return Error{"protocol_not_supported",
                 "multistream: peer supports none of the proposed protocols (first: " +
                     protocols_.front() + ")"};
  }
  append_multistream_line(out, protocols_[proposal_]);
  return {};
}

MultistreamListener::MultistreamListener(std::function<bool(std::string_view)> supports)
    : supports_(std::move(supports)) {}

Bytes MultistreamListener::start() {
  Bytes out;
  append_multistream_line(out, kMultistreamHeader);
  return out;
}

Status MultistreamListener::answer(const std::string& text, Bytes& out) {
  if (++proposals_ > kMaxMultistreamProposals) {
    return Error{"too_many_proposals", "multistream: too many proposals"};
  }
  if (text != "ls" && supports_(text)) {
    selected_ = text;
    append_multistream_line(out, text);
    return {};
  }
  append_multistream_line(out, "na");
  return {};
}

}  // namespace aethel::p2p
