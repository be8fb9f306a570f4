// The ledger's remembered outcomes, oldest first: a queue that is cheap to copy.
//
// A snapshot needs the outcomes as they were at one height while the ledger goes on
// applying blocks. Copying a million outcomes would stall the apply as long as
// serializing them, so full chunks are immutable and shared between copies (a copy
// costs one pointer per chunk plus the partly filled last chunk), and a copy may be
// read on another thread while the original appends and forgets.
//
// Internal to the ledger module.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include "base/base.h"
#include "ledger/ledger.h"

namespace aethel::ledger {

class RecordLog {
 public:
  static constexpr size_t kChunkOutcomes = 4096;

  size_t size() const { return full_.size() * kChunkOutcomes + tail_.size() - forgotten_; }
  bool empty() const { return size() == 0; }

  const Outcome& operator[](size_t i) const {
    const size_t position = i + forgotten_;
    const size_t chunk = position / kChunkOutcomes;
    if (chunk < full_.size()) return (*full_[chunk])[position % kChunkOutcomes];
    return tail_[position - full_.size() * kChunkOutcomes];
  }
  const Outcome& front() const { return (*this)[0]; }
  const Outcome& back() const { return (*this)[size() - 1]; }

  void push_back(Outcome outcome) {
    if (tail_.empty()) tail_.reserve(kChunkOutcomes);
    tail_.push_back(std::move(outcome));
    if (tail_.size() == kChunkOutcomes) {
      full_.push_back(std::make_shared<const std::vector<Outcome>>(std::move(tail_)));
      tail_ = {};
    }
  }

  void pop_front() {
    AETHEL_CHECK(!empty());
    ++forgotten_;
    if (!full_.empty() && forgotten_ == kChunkOutcomes) {
      full_.pop_front();
      forgotten_ = 0;
    } else if (full_.empty() && forgotten_ == tail_.size()) {
      tail_.clear();
      forgotten_ = 0;
    }
  }

  // `twin` holds the same outcomes at the same positions (it applied the same blocks):
  // this log takes twin's full chunks in place of its own, so the two keep one copy.
  void share_chunks_with(const RecordLog& twin) {
    AETHEL_CHECK(forgotten_ == twin.forgotten_ && full_.size() == twin.full_.size() &&
                 tail_.size() == twin.tail_.size());
    for (size_t i = full_.size(); i-- > 0 && full_[i] != twin.full_[i];) {
      AETHEL_CHECK(full_[i]->back() == twin.full_[i]->back());
      full_[i] = twin.full_[i];
    }
  }

  template <class F>
  void for_each(F&& visit) const {
    for (size_t i = 0, n = size(); i < n; ++i) visit((*this)[i]);
  }

 private:
  std::deque<std::shared_ptr<const std::vector<Outcome>>> full_;  // kChunkOutcomes each
  std::vector<Outcome> tail_;  // the chunk being filled; owned by this copy alone
  size_t forgotten_ = 0;       // outcomes popped from the first chunk (full_ or tail_)
};

}  // namespace aethel::ledger
