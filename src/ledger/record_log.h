// The ledger's remembered outcomes, oldest first: a compact queue that is cheap to copy.
//
// A ledger remembers up to a million outcomes (Limits::tx_retention_count). As
// `Outcome` structs with a derived id of 64 hex characters on the heap they took about
// 200 bytes each, so outcomes are kept packed instead: a derived-looking id as its 32
// bytes, small numbers as varints, empty fields as a flag; a committed outcome with a
// derived id packs into about 40 bytes. Reading one decodes it (an `Outcome` by value).
//
// A snapshot needs the outcomes as they were at one height while the ledger goes on
// applying blocks, so full chunks are immutable and shared between copies (a copy
// costs one pointer per chunk plus the partly filled last chunk), and a copy may be
// read on another thread while the original appends and forgets.
//
// The packing is internal to this process: snapshots and the durable outcome index
// have encodings of their own (snapshot.cpp, encode_outcome).
//
// Internal to the ledger module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "ledger/ledger.h"

namespace aethel::ledger {

// Whether `id` is 64 lower-case hex characters, as every derived id is.
bool is_hex_id(std::string_view id);

class RecordLog {
 public:
  static constexpr size_t kChunkOutcomes = 4096;

  size_t size() const { return full_.size() * kChunkOutcomes + tail_.count() - forgotten_; }
  bool empty() const { return size() == 0; }

  Outcome operator[](size_t i) const;
  Outcome back() const { return (*this)[size() - 1]; }
  uint64_t height_at(size_t i) const;
  // Outcome i's id without allocating: a view of the log, or of `scratch` (which it
  // may overwrite).
  std::string_view id_view(size_t i, std::string& scratch) const;
  // Outcome i has id `tx_id` and, when one is given, scope `scope`.
  bool matches(size_t i, std::string_view tx_id, std::optional<std::string_view> scope) const;
  // Outcome i has a hex id (is_hex_id) and no scope, as every derived id has.
  bool unscoped_hex(size_t i) const;

  // `outcome.exists` is not kept.
  void push_back(const Outcome& outcome);
  void pop_front();

  // `twin` holds the same outcomes at the same positions (it applied the same blocks):
  // this log takes twin's full chunks in place of its own, so the two keep one copy.
  void share_chunks_with(const RecordLog& twin);

  template <class F>
  void for_each(F&& visit) const {
    for (size_t i = 0, n = size(); i < n; ++i) visit((*this)[i]);
  }

 private:
  struct Chunk {
    std::string bytes;            // packed outcomes, one after the other
    std::vector<uint32_t> start;  // where each begins in `bytes`

    size_t count() const { return start.size(); }
    std::string_view at(size_t k) const;
  };

  std::string_view packed(size_t i) const;

  std::deque<std::shared_ptr<const Chunk>> full_;  // kChunkOutcomes each
  Chunk tail_;            // the chunk being filled; owned by this copy alone
  size_t forgotten_ = 0;  // outcomes popped from the first chunk (full_ or tail_)
};

}  // namespace aethel::ledger
