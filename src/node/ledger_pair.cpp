#include "node/ledger_pair.h"

#include <fmt/format.h>

namespace aethel::node {

ledger::BlockResult LedgerPair::apply(Block& block) {
  int standby = 1 - published_.load();
  Slot& slot = slots_[standby];
  ledger::BlockResult applied;
  {
    base::WriterLock lock(slot.mutex);
    block.height = slot.ledger.height() + 1;
    block.prev_root = slot.ledger.root();
    auto result = slot.ledger.apply_block(block.height, block.transactions);
    if (!result.ok()) {
      base::fatal(
          fmt::format("block {} cannot be applied: {}", block.height, result.error().message));
    }
    applied = std::move(result).value();
  }
  published_.store(standby, std::memory_order_release);
  catch_up_standby(block, applied.root);
  return applied;
}

// Determinism makes both ledgers equal; a difference is a bug that would make the
// next reads disagree. Equal, they keep one copy of the remembered outcomes.
void LedgerPair::catch_up_standby(const Block& block, const ledger::Hash& expected_root) {
  Slot& slot = slots_[1 - published_.load()];
  const Slot& published = slots_[published_.load()];
  base::WriterLock lock(slot.mutex);
  auto result = slot.ledger.apply_block(block.height, block.transactions);
  if (!result.ok() || result.value().root != expected_root) {
    base::fatal(fmt::format("the standby ledger diverged at height {}", block.height));
  }
  base::ReaderLock published_lock(published.mutex);
  slot.ledger.share_outcomes_with(published.ledger);
}

void LedgerPair::replace(const ledger::Ledger& ledger) {
  for (Slot& slot : slots_) {
    base::WriterLock lock(slot.mutex);
    slot.ledger = ledger;
  }
}

uint64_t LedgerPair::height() const {
  return read([](const ledger::Ledger& l) { return l.height(); });
}

ledger::Hash LedgerPair::root() const {
  return read([](const ledger::Ledger& l) { return l.root(); });
}

}  // namespace aethel::node
