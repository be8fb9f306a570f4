#include "p2p/crypto.h"

#include <sodium.h>

namespace aethel::p2p {

void random_bytes(std::span<std::uint8_t> out) {
  ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

Sha256Digest sha256(ByteView a, ByteView b) {
  ensure_sodium();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, a.data(), a.size());
  crypto_hash_sha256_update(&state, b.data(), b.size());
  Sha256Digest digest{};
  crypto_hash_sha256_final(&state, digest.data());
  return digest;
}

Sha256Digest hmac_sha256(ByteView key, ByteView a, ByteView b) {
  ensure_sodium();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, a.data(), a.size());
  crypto_auth_hmacsha256_update(&state, b.data(), b.size());
  Sha256Digest digest{};
  crypto_auth_hmacsha256_final(&state, digest.data());
  return digest;
}

std::pair<Sha256Digest, Sha256Digest> noise_hkdf2(const Sha256Digest& ck, ByteView ikm) {
  const Sha256Digest temp = hmac_sha256(ck, ikm);
  const std::uint8_t one = 1;
  const Sha256Digest out1 = hmac_sha256(temp, ByteView(&one, 1));
  const std::uint8_t two = 2;
  const Sha256Digest out2 = hmac_sha256(temp, out1, ByteView(&two, 1));
  return {out1, out2};
}

X25519KeyPair x25519_generate() {
  ensure_sodium();
  X25519Key secret{};
  randombytes_buf(secret.data(), secret.size());
  return x25519_from_secret(secret);
}

X25519KeyPair x25519_from_secret(const X25519Key& secret) {
  ensure_sodium();
  X25519KeyPair pair;
  pair.secret = secret;
  crypto_scalarmult_base(pair.public_key.data(), secret.data());
  return pair;
}

Result<X25519Key> x25519(const X25519Key& secret, const X25519Key& remote_public) {
  ensure_sodium();
  X25519Key shared{};
  if (crypto_scalarmult(shared.data(), secret.data(), remote_public.data()) != 0) {
    return Error{"bad_key", "noise: remote X25519 key is a low-order point"};
  }
  return shared;
}

namespace {
std::array<std::uint8_t, crypto_aead_chacha20poly1305_IETF_NPUBBYTES> noise_nonce(
    std::uint64_t counter) {
  std::array<std::uint8_t, crypto_aead_chacha20poly1305_IETF_NPUBBYTES> nonce{};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(counter >> (8 * i));
  return nonce;
}
}  // namespace

void aead_encrypt(const CipherKey& key, std::uint64_t nonce, ByteView associated_data,
                  ByteView plaintext, Bytes& out_append) {
  const auto start = out_append.size();
  out_append.resize(start + plaintext.size() + kAeadTagBytes);
  unsigned long long written = 0;
  const auto n = noise_nonce(nonce);
  crypto_aead_chacha20poly1305_ietf_encrypt(out_append.data() + start, &written, plaintext.data(),
                                            plaintext.size(), associated_data.data(),
                                            associated_data.size(), nullptr, n.data(), key.data());
  out_append.resize(start + static_cast<std::size_t>(written));
}

Result<Bytes> aead_decrypt(const CipherKey& key, std::uint64_t nonce, ByteView associated_data,
                           ByteView ciphertext) {
  if (ciphertext.size() < kAeadTagBytes)
    return Error{"decrypt_failed", "noise: ciphertext shorter than its tag"};
  Bytes plaintext(ciphertext.size() - kAeadTagBytes);
  unsigned long long written = 0;
  const auto n = noise_nonce(nonce);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(
          plaintext.data(), &written, nullptr, ciphertext.data(), ciphertext.size(),
          associated_data.data(), associated_data.size(), n.data(), key.data()) != 0) {
    return Error{"decrypt_failed", "noise: decryption failed (bad tag)"};
  }
  plaintext.resize(static_cast<std::size_t>(written));
  return plaintext;
}

}  // namespace aethel::p2p
