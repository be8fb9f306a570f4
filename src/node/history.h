// The whole history on every node (SPEC §10, issue 12).
//
// A node that caught up by installing a snapshot holds no blocks below it. The
// HistoryFiller fetches those blocks from peers in the background and stores them
// only once they are proven: the blocks the node already holds below the gap are
// replayed from genesis, every fetched block must be built on the root the replay has
// reached (its prev_root), and the last one must lead to the root the node's own next
// block was built on, or, before it has one, to the root of the snapshot it installed.
// A peer can delay the back-fill, never falsify it.
//
// replay_block is the one rule every replay uses (back-fill, `aethel audit`): the next
// height, built on the current root, applied with the ledger's own rules.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "base/base.h"
#include "ledger/ledger.h"
#include "node/block.h"
#include "storage/storage.h"

namespace aethel::node {

class Node;

// Applies `block` to `ledger` when it is the next height and was built on the
// ledger's root; Error "bad_height" or "root_mismatch" (naming both roots) otherwise,
// and the ledger is unchanged.
base::Result<ledger::BlockResult> replay_block(ledger::Ledger& ledger, const Block& block);

struct HistoryOptions {
  std::shared_ptr<const ledger::Genesis> genesis;  // shared with the node (NodeOptions)
  // Stored blocks [from, from + limit) from some peer, as the store keeps them
  // (encode_block). An error or an empty answer: the filler tries again later.
  std::function<base::Result<std::vector<storage::Block>>(uint64_t from, uint32_t limit)> fetch;
  // Operator lines ("[HISTORY] ..."), without the newline.
  std::function<void(std::string_view)> log;
  uint32_t retry_ms = 2'000;  // after a failed fetch, and between checks for gaps
  uint32_t blocks_per_fetch = 256;
};

// One background thread; stops (and joins) with the object.
class HistoryFiller {
 public:
  HistoryFiller(Node& node, HistoryOptions options);
  ~HistoryFiller();
  HistoryFiller(const HistoryFiller&) = delete;
  HistoryFiller& operator=(const HistoryFiller&) = delete;

 private:
  void run();
  // Fills the lowest gap; false when there is none or a fetch failed (wait, retry).
  bool fill_lowest_gap();
  base::Status replay_stored(ledger::Ledger& ledger, uint64_t through_height);
  base::Status fetch_and_check(ledger::Ledger& ledger, const storage::HistoryGap& gap);
  base::Result<ledger::Hash> root_after(const storage::HistoryGap& gap) const;

  Node& node_;
  HistoryOptions options_;
  base::Mutex mutex_;
  base::CondVar wake_;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace aethel::node
