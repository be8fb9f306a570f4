// Two identical ledgers, so that readers never wait for an apply.
//
// Applying a block of 8192 transfers takes tens of milliseconds, and a reader locked
// out for that long breaks the latency goal of GET /api/lattice/state. So the node
// keeps two ledgers at the same height: a block is applied first to the one readers
// are not using, which is then published (one atomic store), and the other one is
// brought to the same height. Readers only ever wait for the rare reader that raced
// a publication. The price is CPU for a second apply and memory for a second state,
// less the remembered outcomes (most of it under load): full chunks of them are shared
// once both ledgers hold them. Both ledgers must end at the same root (checked: a
// difference stops the node).
//
// Threads: read() from any thread; every other call from the one thread that
// applies (the replica's).
#pragma once

#include <array>
#include <atomic>

#include "base/base.h"
#include "ledger/ledger.h"
#include "node/block.h"

namespace aethel::node {

class LedgerPair {
 public:
  explicit LedgerPair(const ledger::Ledger& ledger) : slots_{Slot(ledger), Slot(ledger)} {}

  // Runs `reader` on the published ledger under a shared lock: one consistent height.
  template <class F>
  auto read(F&& reader) const {
    const Slot& slot = slots_[published_.load(std::memory_order_acquire)];
    base::ReaderLock lock(slot.mutex);
    return reader(static_cast<const ledger::Ledger&>(slot.ledger));
  }

  // Applies `block` (its height and prev_root are filled in here) to both ledgers,
  // publishing the new height as soon as the first one has it. A ledger that refuses
  // a committed block, or two ledgers that disagree, stop the process: determinism
  // is broken and nothing the node serves could be trusted.
  ledger::BlockResult apply(Block& block);
  // Replaces both ledgers (a snapshot was installed).
  void replace(const ledger::Ledger& ledger);

  uint64_t height() const;
  ledger::Hash root() const;

 private:
  struct Slot {
    explicit Slot(const ledger::Ledger& l) : ledger(l) {}
    Slot(const Slot& other) : ledger(other.ledger) {}
    mutable base::SharedMutex mutex;
    ledger::Ledger ledger GUARDED_BY(mutex);
  };
  void catch_up_standby(const Block& block, const ledger::Hash& expected_root);

  std::array<Slot, 2> slots_;
  std::atomic<int> published_{0};
};

}  // namespace aethel::node
