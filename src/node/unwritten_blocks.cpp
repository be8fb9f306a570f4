#include "node/unwritten_blocks.h"

namespace aethel::node {

void UnwrittenBlocks::add(storage::Block block) {
  base::MutexLock lock(mutex_);
  blocks_.push_back(std::move(block));
}

void UnwrittenBlocks::drop_through(uint64_t height) {
  base::MutexLock lock(mutex_);
  while (!blocks_.empty() && blocks_.front().height <= height) blocks_.pop_front();
}

std::vector<storage::Block> UnwrittenBlocks::from(uint64_t height, uint32_t limit) const {
  base::MutexLock lock(mutex_);
  std::vector<storage::Block> out;
  for (const storage::Block& block : blocks_) {
    if (out.size() >= limit) break;
    if (block.height >= height) out.push_back(block);
  }
  return out;
}

}  // namespace aethel::node
