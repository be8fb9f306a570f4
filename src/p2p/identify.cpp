#include "p2p/identify.h"

#include "p2p/codec.h"

namespace aethel::p2p {

Bytes encode_identify(const IdentifyMessage& message) {
  ProtoWriter writer;
  writer.add_bytes(1, message.public_key);
  for (const auto& address : message.listen_addrs) writer.add_bytes(2, address);
  for (const auto& protocol : message.protocols) writer.add_string(3, protocol);
  if (!message.observed_addr.empty()) writer.add_bytes(4, message.observed_addr);
  writer.add_string(5, message.protocol_version);
  writer.add_string(6, message.agent_version);
  return writer.take();
}

Result<IdentifyMessage> decode_identify(ByteView encoded) {
  if (encoded.size() > kMaxIdentifyBytes)
    return Error{"identify_too_large", "identify: message too large"};
  IdentifyMessage message;
  auto decoded = for_each_field(encoded, [&](const ProtoField& f) -> Status {
    if (f.type != WireType::kLengthDelimited) return {};
    const Bytes value(f.bytes.begin(), f.bytes.end());
    switch (f.number) {
      case 1:
        message.public_key = value;
        break;
      case 2:
        if (message.listen_addrs.size() == kMaxIdentifyListEntries) {
          return Error{"bad_identify", "too many listen addresses"};
        }
        message.listen_addrs.push_back(value);
        break;
      case 3:
        if (message.protocols.size() == kMaxIdentifyListEntries) {
          return Error{"bad_identify", "too many protocols"};
        }
        message.protocols.push_back(as_string(value));
        break;
      case 4:
        message.observed_addr = value;
        break;
      case 5:
        message.protocol_version = as_string(value);
        break;
      case 6:
        message.agent_version = as_string(value);
        break;
      default:
        break;
    }
    return {};
  });
  if (!decoded) return Error{"bad_identify", "identify: " + decoded.error().message};
  return message;
}

Result<PeerInfo> identify_to_peer_info(const PeerId& peer, const IdentifyMessage& message) {
  if (!message.public_key.empty()) {
    auto key = PublicKey::from_protobuf(message.public_key);
    if (!key) return Error{"bad_identify", "identify: " + key.error().message};
    if (PeerId::from_public_key(key.value()) != peer) {
      return Error{"identify_key_mismatch",
                   "identify: public key does not belong to " + peer.to_base58()};
    }
  }
  PeerInfo info{peer, message.agent_version, message.protocol_version, message.protocols, {}, {}};
  for (const auto& raw : message.listen_addrs) {
    auto address = Multiaddr::from_bytes(raw);
    if (address) info.listen_addrs.push_back(address.value());
  }
  if (!message.observed_addr.empty()) {
    auto observed = Multiaddr::from_bytes(message.observed_addr);
    if (observed) info.observed_addr = observed.value();
  }
  return info;
}

}  // namespace aethel::p2p
