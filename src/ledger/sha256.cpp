#include "ledger/sha256.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define AETHEL_LEDGER_HAVE_SHANI_CODE 1
#endif

namespace aethel::ledger {

void sha256_digest_sodium(const uint8_t* data, size_t size, uint8_t out[32]) {
  crypto_hash_sha256(out, data, size);
}

#if defined(AETHEL_LEDGER_HAVE_SHANI_CODE)
namespace {

alignas(16) constexpr uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t kInitialState[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// Compresses `blocks` 64-byte blocks into `state` (a..h, host order).
__attribute__((target("sha,sse4.1,ssse3"))) void compress_shani(uint32_t state[8],
                                                                const uint8_t* data,
                                                                size_t blocks) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  // The instructions keep the state as ABEF and CDGH.
  __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0]));
  __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4]));
  const __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
  const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

  for (; blocks > 0; --blocks, data += 64) {
    const __m128i abef_before = abef;
    const __m128i cdgh_before = cdgh;
    __m128i w[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * i)),
                              byte_swap);
    }
#pragma GCC unroll 16
    for (int group = 0; group < 16; ++group) {
      __m128i& current = w[group & 3];
      if (group >= 4) {
        // W[t] for the four words of this group from W[t-16], W[t-15], W[t-7], W[t-2].
        const __m128i& minus1 = w[(group - 1) & 3];
        const __m128i& minus2 = w[(group - 2) & 3];
        const __m128i& minus3 = w[(group - 3) & 3];
        __m128i next = _mm_sha256msg1_epu32(current, minus3);
        next = _mm_add_epi32(next, _mm_alignr_epi8(minus1, minus2, 4));
        current = _mm_sha256msg2_epu32(next, minus1);
      }
      __m128i message = _mm_add_epi32(
          current, _mm_load_si128(reinterpret_cast<const __m128i*>(&kRoundConstants[4 * group])));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, message);
      message = _mm_shuffle_epi32(message, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, message);
    }
    abef = _mm_add_epi32(abef, abef_before);
    cdgh = _mm_add_epi32(cdgh, cdgh_before);
  }

  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  dcba = _mm_blend_epi16(feba, dchg, 0xF0);
  hgfe = _mm_alignr_epi8(dchg, feba, 8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), dcba);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), hgfe);
}

bool detect_shani() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool sha = (ebx & (1u << 29)) != 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool ssse3 = (ecx & (1u << 9)) != 0;
  const bool sse41 = (ecx & (1u << 19)) != 0;
  return sha && ssse3 && sse41;
}

}  // namespace

bool cpu_has_shani() {
  static const bool has = detect_shani();
  return has;
}

namespace {

// The last, partial block (`rest` < 64 bytes of it) of a message of `size` bytes in all,
// padded, compressed into `state`, and the digest written out.
void finish_shani(uint32_t state[8], const uint8_t* last, size_t rest, uint64_t size,
                  uint8_t out[32]) {
  // Padding: 0x80, zeros, then the bit length as a 64-bit big-endian integer.
  uint8_t tail[128] = {};
  if (rest > 0) std::memcpy(tail, last, rest);
  tail[rest] = 0x80;
  const size_t tail_blocks = rest + 1 + 8 <= 64 ? 1 : 2;
  const uint64_t bits = size * 8;
  for (int i = 0; i < 8; ++i) {
    tail[tail_blocks * 64 - 1 - static_cast<size_t>(i)] = static_cast<uint8_t>(bits >> (8 * i));
  }
  compress_shani(state, tail, tail_blocks);
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<uint8_t>(state[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(state[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(state[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(state[i]);
  }
}

}  // namespace

bool sha256_digest_shani(const uint8_t* data, size_t size, uint8_t out[32]) {
  if (!cpu_has_shani()) return false;
  uint32_t state[8];
  std::memcpy(state, kInitialState, sizeof state);
  const size_t full_blocks = size / 64;
  compress_shani(state, data, full_blocks);
  finish_shani(state, data + full_blocks * 64, size - full_blocks * 64, size, out);
  return true;
}

Sha256Stream::Sha256Stream(bool allow_shani) : shani_(allow_shani && cpu_has_shani()) {
  std::memcpy(state_, kInitialState, sizeof state_);
  crypto_hash_sha256_init(&sodium_);
}

void Sha256Stream::update(const uint8_t* data, size_t size) {
  if (!shani_) {
    crypto_hash_sha256_update(&sodium_, data, size);
    return;
  }
  total_bytes_ += size;
  if (buffered_ > 0) {
    const size_t take = std::min(size, sizeof buffer_ - buffered_);
    std::memcpy(buffer_ + buffered_, data, take);
    buffered_ += take;
    data += take;
    size -= take;
    if (buffered_ < sizeof buffer_) return;
    compress_shani(state_, buffer_, 1);
    buffered_ = 0;
  }
  const size_t full_blocks = size / 64;
  compress_shani(state_, data, full_blocks);
  buffered_ = size - full_blocks * 64;
  if (buffered_ > 0) std::memcpy(buffer_, data + full_blocks * 64, buffered_);
}

void Sha256Stream::finish(uint8_t out[32]) {
  if (shani_) {
    finish_shani(state_, buffer_, buffered_, total_bytes_, out);
  } else {
    crypto_hash_sha256_final(&sodium_, out);
  }
}

#else

bool cpu_has_shani() {
  return false;
}
bool sha256_digest_shani(const uint8_t*, size_t, uint8_t*) {
  return false;
}
Sha256Stream::Sha256Stream(bool) : shani_(false) {
  crypto_hash_sha256_init(&sodium_);
}
void Sha256Stream::update(const uint8_t* data, size_t size) {
  crypto_hash_sha256_update(&sodium_, data, size);
}
void Sha256Stream::finish(uint8_t out[32]) {
  crypto_hash_sha256_final(&sodium_, out);
}

#endif

void sha256_digest(const uint8_t* data, size_t size, uint8_t out[32]) {
  if (!sha256_digest_shani(data, size, out)) sha256_digest_sodium(data, size, out);
}

}  // namespace aethel::ledger
