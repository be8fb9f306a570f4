// Big-endian byte writing and bounds-checked reading for the ledger's canonical
// encodings (transactions, proofs, snapshots). Internal to the ledger module.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "ledger/ledger.h"

namespace aethel::ledger {

class ByteWriter {
 public:
  ByteWriter() = default;
  // Reuses `buffer`'s allocation; its contents are discarded.
  explicit ByteWriter(std::string buffer) : out_(std::move(buffer)) { out_.clear(); }
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { be(v, 2); }
  void u32(uint32_t v) { be(v, 4); }
  void u64(uint64_t v) { be(v, 8); }
  void i64(int64_t v) { be(static_cast<uint64_t>(v), 8); }
  void bytes(std::string_view b) { out_.append(b); }
  void hash(const Hash& h) { out_.append(reinterpret_cast<const char*>(h.data()), h.size()); }
  std::string& str() { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void be(uint64_t v, int width) {
    for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) u8(static_cast<uint8_t>(v >> shift));
  }
  std::string out_;
};

// Every read either succeeds fully or leaves ok() false; after the first failure
// all reads fail, so a decoder may check once at the end of a record.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }

  uint8_t u8() { return static_cast<uint8_t>(be(1)); }
  uint16_t u16() { return static_cast<uint16_t>(be(2)); }
  uint32_t u32() { return static_cast<uint32_t>(be(4)); }
  uint64_t u64() { return be(8); }
  int64_t i64() { return static_cast<int64_t>(be(8)); }
  std::string_view bytes(size_t n) {
    if (!take(n)) return {};
    return in_.substr(pos_ - n, n);
  }
  Hash hash() {
    Hash h{};
    std::string_view b = bytes(h.size());
    if (ok_) std::memcpy(h.data(), b.data(), h.size());
    return h;
  }

 private:
  bool take(size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  uint64_t be(size_t width) {
    if (!take(width)) return 0;
    uint64_t v = 0;
    for (size_t i = pos_ - width; i < pos_; ++i) v = (v << 8) | static_cast<uint8_t>(in_[i]);
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// The canonical encoding of `tx` (encode_transaction) appended to `out`.
void append_transaction(ByteWriter& out, const Transaction& tx);

}  // namespace aethel::ledger
