// Applied blocks whose write is not durable yet (a Ready's write in flight, or one the
// replica deferred: replica.h), so that readers on other threads see every block up to
// the height the ledgers show. A block is added before the ledgers show its height and
// dropped once the write that carries it is durable, so a reader that looks here first
// and then in the store misses none.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "base/base.h"
#include "storage/storage.h"

namespace aethel::node {

class UnwrittenBlocks {
 public:
  // Heights increase from add to add.
  void add(storage::Block block);
  void drop_through(uint64_t height);
  // Copies of the blocks from `height` on, at most `limit`.
  std::vector<storage::Block> from(uint64_t height, uint32_t limit) const;

 private:
  mutable base::Mutex mutex_;
  std::deque<storage::Block> blocks_ GUARDED_BY(mutex_);
};

}  // namespace aethel::node
