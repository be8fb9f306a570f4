// The identify message (libp2p/specs identify): what a peer tells about itself on
// /ipfs/id/1.0.0 — one varint-length-prefixed protobuf, then the stream is closed.
#pragma once

#include "p2p/p2p.h"

namespace aethel::p2p {

inline constexpr std::string_view kIdentifyProtocolId = "/ipfs/id/1.0.0";
inline constexpr std::string_view kIdentifyProtocolVersion = "ipfs/0.1.0";
inline constexpr std::string_view kPingProtocolId = "/ipfs/ping/1.0.0";
inline constexpr std::size_t kPingPayloadBytes = 32;
// js-libp2p caps identify at 8 KiB; we accept a little more but not arbitrarily much.
inline constexpr std::size_t kMaxIdentifyBytes = 64 * 1024;
inline constexpr std::size_t kMaxIdentifyListEntries = 64;

struct IdentifyMessage {
  std::string protocol_version;
  std::string agent_version;
  Bytes public_key;                 // libp2p PublicKey protobuf
  std::vector<Bytes> listen_addrs;  // binary multiaddrs
  Bytes observed_addr;              // binary multiaddr (may be empty)
  std::vector<std::string> protocols;
};

Bytes encode_identify(const IdentifyMessage& message);
// Decodes and bounds the message; unknown fields (e.g. signedPeerRecord) are skipped.
Result<IdentifyMessage> decode_identify(ByteView encoded);

// Turns a decoded message into PeerInfo, checking that the public key matches `peer`.
// Unparseable multiaddrs are skipped (a peer may listen on transports we do not speak).
Result<PeerInfo> identify_to_peer_info(const PeerId& peer, const IdentifyMessage& message);

}  // namespace aethel::p2p
