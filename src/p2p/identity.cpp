// Ed25519 keys, their libp2p protobuf encodings, the node key file, and peer IDs.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "p2p/codec.h"
#include "p2p/crypto.h"

namespace aethel::p2p {

namespace {
constexpr std::uint64_t kKeyTypeEd25519 = 1;
constexpr std::uint8_t kMultihashIdentity = 0x00;
constexpr std::uint8_t kMultihashSha256 = 0x12;
constexpr std::size_t kSha256Bytes = 32;
// The peer-ids spec inlines keys whose protobuf is at most 42 bytes.
constexpr std::size_t kMaxInlineKeyBytes = 42;
constexpr std::size_t kMaxKeyFileBytes = 4096;

struct KeyProto {
  std::uint64_t type = ~0ULL;
  ByteView data;
};

Result<KeyProto> decode_key_proto(ByteView encoded) {
  KeyProto proto;
  bool has_type = false;
  bool has_data = false;
  auto decoded = for_each_field(encoded, [&](const ProtoField& f) {
    if (f.number == 1 && f.type == WireType::kVarint) {
      proto.type = f.varint;
      has_type = true;
    } else if (f.number == 2 && f.type == WireType::kLengthDelimited) {
      proto.data = f.bytes;
      has_data = true;
    }
  });
  if (!decoded) return decoded.error();
  if (!has_type || !has_data) return Error{"bad_key", "key protobuf lacks its Type or Data field"};
  if (proto.type != kKeyTypeEd25519) {
    return Error{"bad_key", "key type " + std::to_string(proto.type) + " is not Ed25519 (1)"};
  }
  return proto;
}
}  // namespace

void ensure_sodium() {
  static const int initialised = sodium_init();
  (void)initialised;  // 1 means "already initialised", which is fine too.
}

// ---- PublicKey ----

Result<PublicKey> PublicKey::from_protobuf(ByteView encoded) {
  auto proto = decode_key_proto(encoded);
  if (!proto) return Error{"bad_key", "public key: " + proto.error().message};
  if (proto->data.size() != kEd25519PublicKeyBytes) {
    return Error{"bad_key", "public key: Ed25519 key is " + std::to_string(proto->data.size()) +
                                " bytes, expected 32"};
  }
  std::array<std::uint8_t, kEd25519PublicKeyBytes> raw{};
  std::copy(proto->data.begin(), proto->data.end(), raw.begin());
  return PublicKey(raw);
}

Bytes PublicKey::to_protobuf() const {
  ProtoWriter writer;
  writer.add_varint(1, kKeyTypeEd25519);
  writer.add_bytes(2, raw_);
  return writer.take();
}

bool PublicKey::verify(ByteView message, ByteView signature) const {
  ensure_sodium();
  if (signature.size() != kEd25519SignatureBytes) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     raw_.data()) == 0;
}

// ---- KeyPair ----

KeyPair KeyPair::generate() {
  ensure_sodium();
  std::array<std::uint8_t, kEd25519SeedBytes> seed{};
  randombytes_buf(seed.data(), seed.size());
  return from_seed(seed);
}

KeyPair KeyPair::from_seed(const std::array<std::uint8_t, kEd25519SeedBytes>& seed) {
  ensure_sodium();
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret_key{};
  crypto_sign_seed_keypair(public_key.data(), secret_key.data(), seed.data());
  return KeyPair(seed, PublicKey(public_key), secret_key);
}

Result<KeyPair> KeyPair::from_protobuf(ByteView encoded) {
  auto proto = decode_key_proto(encoded);
  if (!proto) return Error{"bad_key", "private key: " + proto.error().message};
  const auto data = proto->data;
  if (data.size() != 64 && data.size() != 32) {
    return Error{"bad_key", "private key: Ed25519 key data is " + std::to_string(data.size()) +
                                " bytes, expected 64 (seed and public key) or 32 (seed)"};
  }
  std::array<std::uint8_t, kEd25519SeedBytes> seed{};
  std::copy(data.begin(), data.begin() + kEd25519SeedBytes, seed.begin());
  KeyPair pair = from_seed(seed);
  if (data.size() == 64 &&
      !std::equal(data.begin() + 32, data.end(), pair.public_key().raw().begin())) {
    return Error{"bad_key",
                 "private key: stored public key does not match the seed (corrupt key?)"};
  }
  return pair;
}

Bytes KeyPair::to_protobuf() const {
  Bytes data(seed_.begin(), seed_.end());
  data.insert(data.end(), public_key_.raw().begin(), public_key_.raw().end());
  ProtoWriter writer;
  writer.add_varint(1, kKeyTypeEd25519);
  writer.add_bytes(2, data);
  sodium_memzero(data.data(), data.size());
  return writer.take();
}

std::array<std::uint8_t, kEd25519SignatureBytes> KeyPair::sign(ByteView message) const {
  ensure_sodium();
  std::array<std::uint8_t, kEd25519SignatureBytes> signature{};
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), expanded_.data());
  return signature;
}

// ---- key file ----

namespace {
Result<Bytes> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"io_error", "cannot open " + path};
  Bytes content;
  char chunk[512];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    content.insert(content.end(), chunk, chunk + in.gcount());
    if (content.size() > kMaxKeyFileBytes)
      return Error{"bad_key_file", path + " is too large for a key file"};
  }
  return content;
}

Status write_file_atomically(const std::string& path, ByteView content) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{"io_error", "cannot create " + temp + ": " + std::strerror(errno)};
  std::size_t written = 0;
  while (written < content.size()) {
    const auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Error{"io_error", "cannot write " + temp + ": " + std::strerror(errno)};
    }
    written += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return Error{"io_error", "cannot fsync " + temp + ": " + std::strerror(errno)};
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return Error{"io_error", "cannot rename " + temp + " to " + path + ": " + std::strerror(errno)};
  }
  return {};
}
}  // namespace

Result<KeyPair> load_or_create_key(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    auto content = read_small_file(path);
    if (!content) return content.error();
    auto key = KeyPair::from_protobuf(content.value());
    sodium_memzero(content->data(), content->size());
    if (!key) return Error{"bad_key_file", "node key file " + path + ": " + key.error().message};
    return key;
  }
  if (errno != ENOENT)
    return Error{"io_error", "cannot stat " + path + ": " + std::strerror(errno)};
  KeyPair key = KeyPair::generate();
  Bytes encoded = key.to_protobuf();
  auto written = write_file_atomically(path, encoded);
  sodium_memzero(encoded.data(), encoded.size());
  if (!written) return written.error();
  return key;
}

// ---- PeerId ----

PeerId PeerId::from_public_key(const PublicKey& key) {
  const Bytes encoded = key.to_protobuf();
  Bytes multihash{kMultihashIdentity, static_cast<std::uint8_t>(encoded.size())};
  multihash.insert(multihash.end(), encoded.begin(), encoded.end());
  return PeerId(std::move(multihash));
}

Result<PeerId> PeerId::from_bytes(ByteView multihash) {
  auto code = decode_varint(multihash);
  if (!code) return Error{"bad_multihash", "multihash code: " + code.error().message};
  auto length = decode_varint(multihash.subspan(code->length));
  if (!length) return Error{"bad_multihash", "multihash length: " + length.error().message};
  const auto digest = multihash.subspan(code->length + length->length);
  if (digest.size() != length->value) {
    return Error{"bad_multihash", "multihash declares " + std::to_string(length->value) +
                                      " digest bytes but has " + std::to_string(digest.size())};
  }
  if (code->value == kMultihashIdentity) {
    if (digest.size() > kMaxInlineKeyBytes)
      return Error{"bad_multihash", "identity multihash too long for a key"};
    auto key = PublicKey::from_protobuf(digest);
    if (!key)
      return Error{"bad_multihash",
                   "identity multihash does not hold an Ed25519 key: " + key.error().message};
  } else if (code->value == kMultihashSha256) {
    if (digest.size() != kSha256Bytes)
      return Error{"bad_multihash", "sha2-256 multihash digest is not 32 bytes"};
  } else {
    return Error{"bad_multihash", "multihash code " + std::to_string(code->value) +
                                      " is neither identity (0x00) nor sha2-256 (0x12)"};
  }
  return PeerId(Bytes(multihash.begin(), multihash.end()));
}

Result<PeerId> PeerId::parse(std::string_view text) {
  auto invalid = [&](const std::string& why) {
    return Error{"bad_peer_id", "'" + std::string(text) + "' is not a valid peer ID (" + why +
                                    "); expected base58btc 12D3KooW... or Qm..."};
  };
  if (text.empty()) return invalid("empty");
  if (!text.starts_with("12D3KooW") && !text.starts_with("Qm") && !text.starts_with('1')) {
    return invalid("unknown prefix");
  }
  auto bytes = base58_decode(text);
  if (!bytes) return invalid(bytes.error().message);
  auto peer = from_bytes(bytes.value());
  if (!peer) return invalid(peer.error().message);
  return peer;
}

std::strong_ordering PeerId::operator<=>(const PeerId& other) const {
  const std::size_t common = std::min(multihash_.size(), other.multihash_.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (multihash_[i] != other.multihash_[i]) return multihash_[i] <=> other.multihash_[i];
  }
  return multihash_.size() <=> other.multihash_.size();
}

std::string PeerId::to_base58() const {
  return base58_encode(multihash_);
}

std::optional<PublicKey> PeerId::public_key() const {
  if (multihash_.size() < 2 || multihash_[0] != kMultihashIdentity) return std::nullopt;
  auto key = PublicKey::from_protobuf(ByteView(multihash_).subspan(2));
  if (!key) return std::nullopt;
  return key.value();
}

}  // namespace aethel::p2p
