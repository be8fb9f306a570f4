#include "node/history.h"

#include <fmt/format.h>

#include <chrono>
#include <optional>

#include "node/node.h"
#include "node/outcome_index.h"

namespace aethel::node {
namespace {

constexpr uint64_t kMaxBytesPerRead = 4 << 20;

std::string short_hex(const ledger::Hash& hash) {
  return ledger::to_hex(hash).substr(0, 16);
}

}  // namespace

base::Result<ledger::BlockResult> replay_block(ledger::Ledger& ledger, const Block& block) {
  if (block.height != ledger.height() + 1) {
    return Error{"bad_height",
                 fmt::format("block {} does not follow height {}", block.height, ledger.height())};
  }
  if (block.prev_root != ledger.root()) {
    return Error{"root_mismatch",
                 fmt::format("block {} was built on root {}, the replay reached {}", block.height,
                             short_hex(block.prev_root), short_hex(ledger.root()))};
  }
  return ledger.apply_block(block.height, block.transactions);
}

HistoryFiller::HistoryFiller(Node& node, HistoryOptions options)
    : node_(node), options_(std::move(options)) {
  thread_ = base::named_thread("history", [this] { run(); });
}

HistoryFiller::~HistoryFiller() {
  {
    base::MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void HistoryFiller::run() {
  while (true) {
    bool more = fill_lowest_gap();
    base::MutexLock lock(mutex_);
    if (stopping_) return;
    if (more) continue;
    wake_.wait_for(lock, std::chrono::milliseconds(options_.retry_ms), [&] {
      mutex_.assert_held();
      return stopping_;
    });
    if (stopping_) return;
  }
}

bool HistoryFiller::fill_lowest_gap() {
  auto gap = node_.history_gap();
  if (!gap.ok()) {
    options_.log("[HISTORY] cannot read the stored blocks: " + gap.error().message);
    return false;
  }
  if (!gap.value()) return false;
  ledger::Ledger replay(*options_.genesis, ledger_limits(node_.validators(), *options_.genesis));
  base::Status replayed = replay_stored(replay, gap.value()->from - 1);
  if (replayed.ok()) replayed = fetch_and_check(replay, *gap.value());
  if (!replayed.ok()) {
    options_.log(fmt::format("[HISTORY] blocks {}..{} not back-filled yet: {}", gap.value()->from,
                             gap.value()->to - 1, replayed.error().message));
    return false;
  }
  options_.log(fmt::format("[HISTORY] back-filled blocks {}..{}, checked from genesis",
                           gap.value()->from, gap.value()->to - 1));
  return true;
}

// The blocks this node holds below the gap, replayed from genesis.
base::Status HistoryFiller::replay_stored(ledger::Ledger& ledger, uint64_t through_height) {
  while (ledger.height() < through_height) {
    auto blocks = node_.blocks(ledger.height() + 1, options_.blocks_per_fetch, kMaxBytesPerRead);
    if (!blocks.ok()) return blocks.error();
    if (blocks.value().empty()) return Error{"io_error", "a stored block disappeared"};
    for (const Block& block : blocks.value()) {
      if (block.height > through_height) break;
      auto replayed = replay_block(ledger, block);
      if (!replayed.ok()) return Error{"corrupt_history", "stored " + replayed.error().message};
    }
  }
  return {};
}

// The root the last block of `gap` must lead to: the one the node's block gap.to was
// built on or, when the gap ends at a snapshot install with no block above yet, the
// install's root.
base::Result<ledger::Hash> HistoryFiller::root_after(const storage::HistoryGap& gap) const {
  auto next = node_.blocks(gap.to, 1, kMaxBytesPerRead);
  if (!next.ok()) return next.error();
  if (!next.value().empty()) return next.value().front().prev_root;
  auto anchor = node_.history_anchor();
  if (!anchor.ok()) return anchor.error();
  ledger::Hash root{};
  if (!anchor.value() || anchor.value()->height + 1 != gap.to ||
      anchor.value()->root.size() != root.size()) {
    return Error{"io_error", "neither a block nor a snapshot install follows the gap"};
  }
  std::copy(anchor.value()->root.begin(), anchor.value()->root.end(), root.begin());
  return root;
}

// Fetches [gap.from, gap.to) page by page. A block is stored once the next one proves
// it (its prev_root is the root the replay reached after it); the last is proven by
// root_after.
base::Status HistoryFiller::fetch_and_check(ledger::Ledger& ledger,
                                            const storage::HistoryGap& gap) {
  auto expected_root = root_after(gap);
  if (!expected_root.ok()) return expected_root.error();
  // The last fetched block and its outcomes' index records, stored once proven.
  std::optional<storage::Block> unproven;
  std::vector<storage::StateRecord> unproven_outcomes;
  while (ledger.height() + 1 < gap.to) {
    uint64_t from = ledger.height() + 1;
    uint32_t limit =
        static_cast<uint32_t>(std::min<uint64_t>(options_.blocks_per_fetch, gap.to - from));
    auto fetched = options_.fetch(from, limit);
    if (!fetched.ok()) return fetched.error();
    if (fetched.value().empty())
      return Error{"unavailable", "no peer served block " + std::to_string(from)};
    std::vector<storage::Block> proven;
    std::vector<storage::StateRecord> proven_outcomes;
    for (storage::Block& raw : fetched.value()) {
      if (raw.height != ledger.height() + 1 || raw.height >= gap.to) break;
      auto block = decode_block(
          std::string_view(reinterpret_cast<const char*>(raw.data.data()), raw.data.size()));
      if (!block.ok())
        return Error{"bad_block",
                     fmt::format("block {} from a peer: {}", raw.height, block.error().message)};
      auto replayed = replay_block(ledger, block.value());
      if (!replayed.ok()) return Error{"bad_block", "a peer's " + replayed.error().message};
      if (unproven) {
        proven.push_back(std::move(*unproven));
        std::move(unproven_outcomes.begin(), unproven_outcomes.end(),
                  std::back_inserter(proven_outcomes));
      }
      unproven = std::move(raw);
      unproven_outcomes.clear();
      add_outcome_records(block.value().transactions, replayed.value().outcomes, unproven_outcomes);
    }
    if (proven.empty()) continue;
    base::Status stored = node_.store_history(std::move(proven), std::move(proven_outcomes));
    if (!stored.ok()) return stored;
  }
  if (expected_root.value() != ledger.root()) {
    return Error{
        "bad_block",
        fmt::format("the fetched blocks lead to root {}, but this node's root after "
                    "height {} is {}",
                    short_hex(ledger.root()), gap.to - 1, short_hex(expected_root.value()))};
  }
  if (!unproven) return {};
  return node_.store_history({std::move(*unproven)}, std::move(unproven_outcomes));
}

}  // namespace aethel::node
