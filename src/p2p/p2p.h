// aethel::p2p — a libp2p-compatible networking stack, written from the libp2p specs.
//
// What a peer on the wire sees (SPEC.md §6.1):
//   TCP → multistream-select 1.0 → Noise XX (/noise) → multistream-select → Yamux
//   (/yamux/1.0.0) → one multistream-select per stream → identify (/ipfs/id/1.0.0),
//   ping (/ipfs/ping/1.0.0), gossipsub (/meshsub/1.1.0), the node's own
//   request/response protocols and its persistent framed channels.
// Any libp2p implementation (js-libp2p is the one the interop tests run) can connect.
//
// Layers, bottom up; each wire layer is a sans-I/O state machine in its own header beside
// this one so that it can be unit-tested and fuzzed without sockets:
//   codec.h        unsigned varint, base58btc, minimal protobuf reader/writer
//   this header    keys, peer IDs, multiaddrs, the Host (sockets, Boost.Asio)
//   multistream.h  protocol negotiation
//   noise.h        Noise XX handshake + libp2p handshake payload + transport framing
//   yamux.h        stream multiplexing with flow-control windows
//   identify.h     the identify message
//   gossipsub.h    gossipsub v1.1 router and pubsub RPC codec
//   channel_codec.h  the record format and ack bookkeeping of channels
// and the Boost.Asio part, internal to the module: connection.h (TCP, the upgrade, Yamux
// streams), negotiate.h (the one multistream-select loop), host_impl.h (connections and
// the protocol handler map) and one service per protocol (ping, identify, request,
// pubsub, channel).
// docs/P2P.md describes the whole stack, its limits and the interop tests.
//
// Errors are values (Result / Status). Nothing in this module throws across its API, and
// no input from the network can crash the process: a malformed or oversized frame closes
// that one stream or connection with a log line.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"

namespace boost::asio {
class io_context;
}

namespace aethel::p2p {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// ---------------------------------------------------------------------------------------
// Errors as values: the project's one Error {code, message} (base.h). Codes used here are
// snake_case and stable ("bad_varint", "handshake_failed", "stream_reset", "timeout",
// "not_connected", ...); the message names the offending value for an operator.
using Error = base::Error;
template <typename T>
using Result = base::Result<T>;
using Status = base::Status;

// ---------------------------------------------------------------------------------------
// Identity: Ed25519 keys (libsodium) and their libp2p protobuf encodings (peer-ids spec).

inline constexpr std::size_t kEd25519PublicKeyBytes = 32;
inline constexpr std::size_t kEd25519SeedBytes = 32;
inline constexpr std::size_t kEd25519SignatureBytes = 64;

// An Ed25519 public key. Verification is the only thing a remote key is used for.
class PublicKey {
 public:
  explicit PublicKey(std::array<std::uint8_t, kEd25519PublicKeyBytes> raw) : raw_(raw) {}

  // Decodes the libp2p `PublicKey` protobuf {Type = Ed25519 (1), Data = 32 bytes}.
  // Other key types (RSA, secp256k1, ECDSA) are refused: Aethel peers are Ed25519 only.
  static Result<PublicKey> from_protobuf(ByteView encoded);
  // The canonical protobuf encoding: 08 01 12 20 <32 bytes>, 36 bytes in all.
  Bytes to_protobuf() const;

  bool verify(ByteView message, ByteView signature) const;
  const std::array<std::uint8_t, kEd25519PublicKeyBytes>& raw() const { return raw_; }
  bool operator==(const PublicKey&) const = default;

 private:
  std::array<std::uint8_t, kEd25519PublicKeyBytes> raw_;
};

// An Ed25519 key pair: the node's long-lived identity. Its peer ID never changes because
// the key is stored (see load_or_create_key).
class KeyPair {
 public:
  static KeyPair generate();
  static KeyPair from_seed(const std::array<std::uint8_t, kEd25519SeedBytes>& seed);
  // Decodes the libp2p `PrivateKey` protobuf {Type = Ed25519, Data = seed || public key}
  // (64 bytes; a bare 32-byte seed is accepted too). The embedded public key must match
  // the one derived from the seed, so a corrupted file is detected rather than used.
  static Result<KeyPair> from_protobuf(ByteView encoded);
  Bytes to_protobuf() const;

  std::array<std::uint8_t, kEd25519SignatureBytes> sign(ByteView message) const;
  const PublicKey& public_key() const { return public_key_; }
  const std::array<std::uint8_t, kEd25519SeedBytes>& seed() const { return seed_; }

 private:
  KeyPair(std::array<std::uint8_t, kEd25519SeedBytes> seed, PublicKey public_key,
          std::array<std::uint8_t, 64> expanded)
      : seed_(seed), public_key_(public_key), expanded_(expanded) {}
  std::array<std::uint8_t, kEd25519SeedBytes> seed_;
  PublicKey public_key_;
  std::array<std::uint8_t, 64> expanded_;  // libsodium's secret key (seed || public key)
};

// The node key file: exactly the bytes of the libp2p `PrivateKey` protobuf for an Ed25519
// key (68 bytes: 08 01 12 40, then the 32-byte seed and the 32-byte public key), the
// format go-libp2p and js-libp2p use to store keys. Created with mode 0600 on first start
// (written to a temporary file, fsynced, renamed), read on every later start. A file that
// exists but does not decode is an error, never silently replaced: replacing it would
// change the node's peer ID.
Result<KeyPair> load_or_create_key(const std::string& path);

// ---------------------------------------------------------------------------------------
// Peer IDs (peer-ids spec): a multihash of the protobuf-encoded public key. Ed25519 keys
// are short enough to be inlined with the identity multihash (0x00), which base58btc
// renders as `12D3KooW…`. Older sha2-256 IDs (`Qm…`) are parsed and compared too, but
// cannot yield a public key.
class PeerId {
 public:
  static PeerId from_public_key(const PublicKey& key);
  // Accepts base58btc `12D3KooW…` and `Qm…`. The error for anything else says that the
  // text is not a valid peer ID and why (a placeholder such as `QmNode2PeerID` fails
  // base58 or multihash decoding).
  static Result<PeerId> parse(std::string_view text);
  // Accepts the binary multihash form (as carried in /p2p/ multiaddr components and in
  // gossipsub `from` fields).
  static Result<PeerId> from_bytes(ByteView multihash);

  std::string to_base58() const;
  const Bytes& bytes() const { return multihash_; }
  // The public key inlined in an identity-multihash ID; empty for sha2-256 IDs.
  std::optional<PublicKey> public_key() const;

  bool operator==(const PeerId&) const = default;
  // Byte-wise order, so PeerId can key a std::map (defined out of line: g++ 12 warns
  // falsely on the inlined defaulted vector comparison).
  std::strong_ordering operator<=>(const PeerId& other) const;

 private:
  explicit PeerId(Bytes multihash) : multihash_(std::move(multihash)) {}
  Bytes multihash_;
};

// ---------------------------------------------------------------------------------------
// Multiaddrs (multiformats/multiaddr) for the protocols Aethel uses:
//   /ip4/A.B.C.D  /ip6/…  /dns4/NAME  /dns/NAME  /dns6/NAME  /tcp/PORT  /p2p/PEERID
// (`/ipfs/` is read as the old name of `/p2p/`).
class Multiaddr {
 public:
  enum class Protocol : std::uint32_t {
    kIp4 = 4,
    kTcp = 6,
    kIp6 = 41,
    kDns = 53,
    kDns4 = 54,
    kDns6 = 55,
    kP2p = 421,
  };
  struct Component {
    Protocol protocol;
    std::string value;  // text form: "127.0.0.1", "9000", "12D3KooW…"
    bool operator==(const Component&) const = default;
  };

  // Parses the text form. Errors name the component and what was expected, e.g.
  // "/p2p/QmNode2PeerID: not a valid peer ID (...)".
  static Result<Multiaddr> parse(std::string_view text);
  // Like parse(), but for operator-written bootstrap addresses: a host name written under
  // /ip4/ (as the original deployment guide does, /ip4/api.example.com/tcp/9000/...) is
  // read as /dns4/ and `warning` says so. Everything else is as strict as parse().
  static Result<Multiaddr> parse_bootstrap(std::string_view text, std::string& warning);
  // Parses the binary form (varint code, then the protocol's value bytes).
  static Result<Multiaddr> from_bytes(ByteView bytes);

  std::string to_string() const;
  Bytes to_bytes() const;

  const std::vector<Component>& components() const { return components_; }
  // The host (ip4/ip6/dns*) and TCP port, if this is a TCP address.
  std::optional<std::pair<std::string, std::uint16_t>> tcp_endpoint() const;
  // The peer ID of a trailing /p2p/ component, if any.
  std::optional<PeerId> peer_id() const;
  // This address without its /p2p/ component.
  Multiaddr without_peer_id() const;
  // This address with /p2p/<peer> appended (replacing any present).
  Multiaddr with_peer_id(const PeerId& peer) const;

  bool operator==(const Multiaddr&) const = default;

 private:
  std::vector<Component> components_;
};

// ---------------------------------------------------------------------------------------
// The Host: listens, dials, upgrades connections and serves protocols. All methods must be
// called on the io_context's thread; callbacks run there too.

// Explicit limits; a peer that exceeds one loses that stream or connection, not the node.
struct HostLimits {
  std::size_t max_connections = 256;
  std::size_t max_streams_per_connection = 256;
  std::size_t max_message_bytes = 4 * 1024 * 1024;  // request/response messages
  std::uint32_t handshake_timeout_ms = 10'000;      // TCP connect + full upgrade
  std::uint32_t request_timeout_ms = 10'000;        // open stream → response read
  // Channels. A larger frame is refused by send() and, received, resets the stream.
  std::size_t max_channel_frame_bytes = 64 * 1024 * 1024;
  // send() refuses a frame once this many bytes wait to be written (an empty buffer
  // always takes one frame, so a frame up to max_channel_frame_bytes can be sent).
  std::size_t channel_send_buffer_bytes = 8 * 1024 * 1024;
  // send() refuses a frame while this many sent frames are unacknowledged.
  std::size_t max_channel_unacked_frames = 65'536;
  // Yamux receive window of a channel stream: bounds throughput to window / RTT, so it
  // is larger than the 256 KiB default of other streams (at most 16 MiB).
  std::uint32_t channel_window_bytes = 4 * 1024 * 1024;
};

// Gossipsub v1.1 parameters (names as in the spec); the defaults are the spec's.
struct GossipConfig {
  std::size_t d = 6;        // desired mesh degree per topic
  std::size_t d_low = 4;    // below this the heartbeat grafts
  std::size_t d_high = 12;  // above this the heartbeat prunes
  std::uint32_t heartbeat_interval_ms = 1000;
  std::size_t max_queued_rpcs_per_peer = 4096;  // a slow peer loses RPCs beyond this
};

struct HostConfig {
  KeyPair key = KeyPair::generate();
  std::vector<Multiaddr> listen_addrs;  // e.g. /ip4/127.0.0.1/tcp/0 (0: pick a port)
  std::string agent_version = "aethel/0.1.0";
  HostLimits limits;
  GossipConfig gossip;
  // Log sink for operator-facing lines ("[P2P] Peer connected: …"); default: stderr.
  std::function<void(std::string_view)> log;
};

// What identify told us about a peer (/ipfs/id/1.0.0).
struct PeerInfo {
  PeerId peer;
  std::string agent_version;
  std::string protocol_version;
  std::vector<std::string> protocols;
  std::vector<Multiaddr> listen_addrs;
  std::optional<Multiaddr> observed_addr;  // how the peer sees us
};

// ---------------------------------------------------------------------------------------
// Channels: persistent framed streams for consensus traffic. One long-lived Yamux stream
// per peer, protocol and direction carries many frames back to back, many in flight, with
// no negotiation per frame. Both ends may send frames on it. Every frame is acknowledged:
// the receiver answers with cumulative "processed through frame N" acks (at most one per
// read batch), from which the sender knows what is unacknowledged since when and the
// smoothed round-trip time. docs/P2P.md has the wire format.
//
// A channel runs over whichever connection exists to the peer, whoever dialed it. Yamux
// interleaves the streams of a connection and a large frame is written in window-sized
// chunks, so a large frame on one channel does not delay small frames on another.

// What the owner of a channel hears from it. Callbacks run on the io_context's thread,
// never after Host::stop().
struct ChannelEvents {
  // Each frame the remote sent, in order. Returning from it acknowledges the frame.
  std::function<void(Bytes frame)> on_frame;
  // The channel ended without a local close()/reset(): "stream_reset" (by the peer),
  // "closed_by_peer", "connection_closed", "timeout" (opening), "protocol_not_supported",
  // "bad_frame" / "frame_too_large" / "bad_ack" (the peer broke the channel protocol).
  // Runs at most once; the channel is unusable afterwards.
  std::function<void(const Error& reason)> on_closed;
  // After send() refused a frame: the buffer (and the unacknowledged count) fell to half
  // its limit, so send() accepts frames again.
  std::function<void()> on_writable;
};

struct ChannelStats {
  std::uint64_t frames_sent = 0;                // accepted by send()
  std::uint64_t frames_acked = 0;               // of those, processed by the remote
  std::uint64_t frames_received = 0;            // delivered to on_frame
  std::size_t buffered_bytes = 0;               // accepted by send(), not yet written to the stream
  std::optional<double> oldest_unacked_age_ms;  // since send() of the oldest unacked frame
  std::optional<double> smoothed_rtt_ms;        // frame written → its ack; none before one
  std::optional<double> rtt_variance_ms;
};

// A handle to a channel; copies refer to the same channel. Call it on the io_context's
// thread. A default-constructed or ended channel refuses every frame.
class Channel {
 public:
  class State;
  Channel() = default;
  explicit Channel(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Queues one frame. False (frame not queued) when the channel has ended or is closing,
  // the frame exceeds HostLimits::max_channel_frame_bytes, or the buffered bytes or the
  // unacknowledged frames are at their limit (see ChannelEvents::on_writable).
  bool send(Bytes frame);
  // Opening (outbound, before the protocol is agreed) or open.
  bool is_open() const;
  std::size_t buffered_bytes() const;
  // Frames accepted by send() and not yet acknowledged by the remote.
  std::size_t unacked() const;
  std::optional<double> oldest_unacked_age_ms() const;
  std::optional<double> smoothed_rtt_ms() const;
  ChannelStats stats() const;

  const PeerId& peer() const;
  const std::string& protocol() const;
  // True for the side that opened the channel.
  bool is_outbound() const;

  // Sends what is queued, then closes our direction; the channel ends when the remote
  // closes theirs. No on_closed for a local close.
  void close();
  // Abandons the channel at once (Yamux RST); no on_closed.
  void reset();

 private:
  std::shared_ptr<State> state_;
};

class Host {
 public:
  using ConnectCallback = std::function<void(Result<PeerId>)>;
  using PingCallback = std::function<void(Result<double> rtt_ms)>;
  using ResponseCallback = std::function<void(Result<Bytes>)>;
  // A request handler returns the response or an Error (which resets the stream).
  using RequestHandler = std::function<Result<Bytes>(const PeerId& from, Bytes request)>;
  using PeerCallback = std::function<void(const PeerId&)>;
  using IdentifyCallback = std::function<void(const PeerInfo&)>;

  Host(boost::asio::io_context& io, HostConfig config);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Binds every listen address; on success the addresses carry their real ports.
  Status start();
  // Closes listeners and every connection (peers see a Yamux go-away). Idempotent.
  void stop();

  const PeerId& peer_id() const;
  std::vector<Multiaddr> listen_addrs() const;

  // Dials a TCP multiaddr. With a /p2p/ component the remote must prove that identity
  // during the Noise handshake or the connection is refused. Reuses an existing
  // connection to the same peer.
  void connect(const Multiaddr& address, ConnectCallback done);
  // Closes every connection to `peer` after a goodbye (a Yamux go-away) is written.
  void disconnect(const PeerId& peer);
  // Closes every connection to `peer` at once, without a goodbye: for a connection
  // that stopped answering, whose goodbye would never get through either. `reason`
  // goes into the log line.
  void drop(const PeerId& peer, const std::string& reason);
  std::vector<PeerId> connected_peers() const;
  std::optional<PeerInfo> peer_info(const PeerId& peer) const;

  // One /ipfs/ping/1.0.0 round trip of 32 random bytes on a connected peer.
  void ping(const PeerId& peer, PingCallback done);

  // Request/response protocols (e.g. /aethel/raft/1.0.0): one stream per request, each
  // message a varint length prefix and at most limits.max_message_bytes.
  void set_request_handler(const std::string& protocol_id, RequestHandler handler);
  void request(const PeerId& peer, const std::string& protocol_id, Bytes request,
               ResponseCallback done);

  // Channels (see Channel). Outbound: a channel to a connected peer for `protocol_id`;
  // usable at once (frames queue until the remote agrees to the protocol). Fails with
  // "not_connected", "stopped", or "channel_exists" while an outbound channel for the same
  // peer and protocol is open.
  Result<Channel> open_channel(const PeerId& peer, const std::string& protocol_id,
                               ChannelEvents events);
  // Inbound: `accept` runs when a peer opens a channel for `protocol_id`; it returns the
  // events for that channel, or std::nullopt to refuse it (the stream is reset).
  using ChannelAcceptor = std::function<std::optional<ChannelEvents>(const Channel& channel)>;
  void set_channel_handler(const std::string& protocol_id, ChannelAcceptor accept);

  // Gossipsub (/meshsub/1.1.0, also answering /meshsub/1.0.0), StrictSign with our key.
  // `on_message` receives each valid message on `topic` once, with its author.
  using MessageCallback = std::function<void(const PeerId& author, const Bytes& data)>;
  void subscribe(const std::string& topic, MessageCallback on_message);
  // Signs and sends `data`; fails when no connected peer is subscribed to the topic.
  Status publish(const std::string& topic, Bytes data);
  // Peers in our mesh for `topic` (for status pages and tests).
  std::vector<PeerId> mesh_peers(const std::string& topic) const;
  // Connected peers that told us they subscribe to `topic`.
  std::vector<PeerId> topic_peers(const std::string& topic) const;

  // Connection events for the node (SPEC.md §6.3 log lines are written by the Host).
  void on_peer_connected(PeerCallback callback);
  void on_peer_disconnected(PeerCallback callback);
  void on_peer_identified(IdentifyCallback callback);

  // Protocols this host answers (identify reports this list).
  std::vector<std::string> protocols() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace aethel::p2p
