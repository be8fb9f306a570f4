// SHA-256 for the ledger's hot paths. Internal to the ledger module.
//
// libsodium's crypto_hash_sha256 is the reference and the fallback. On x86-64 CPUs
// with the SHA extensions (SHA-NI) the compression function runs on those
// instructions instead, several times faster (the Merkle update of a block is
// dominated by SHA-256). Both paths give identical bytes; tests compare them on
// every length up to several blocks.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <cstdint>

namespace aethel::ledger {

void sha256_digest(const uint8_t* data, size_t size, uint8_t out[32]);

// The two implementations, exposed for the equivalence test.
void sha256_digest_sodium(const uint8_t* data, size_t size, uint8_t out[32]);
// Returns false (and writes nothing) when the CPU lacks SHA-NI.
bool sha256_digest_shani(const uint8_t* data, size_t size, uint8_t out[32]);
bool cpu_has_shani();

// SHA-256 of bytes given a piece at a time, with the same two implementations (SHA-NI
// unless the CPU lacks it or `allow_shani` is false, for the equivalence test).
class Sha256Stream {
 public:
  explicit Sha256Stream(bool allow_shani = true);
  void update(const uint8_t* data, size_t size);
  // The digest of everything given; the stream is spent.
  void finish(uint8_t out[32]);

 private:
  bool shani_;
  uint32_t state_[8];
  uint8_t buffer_[64];  // a partial block not compressed yet
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
  crypto_hash_sha256_state sodium_;
};

}  // namespace aethel::ledger
