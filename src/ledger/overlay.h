// One transaction's view of the accounts while it is checked, and the verdict it
// gets. Internal to the ledger module (ledger.cpp, intent_run.cpp).
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/ledger_state.h"

namespace aethel::ledger {

inline constexpr uint32_t kNoSlot = UINT32_MAX;
// Past this many accounts in one transaction's overlay, lookups switch from a
// linear scan (fastest for the common 2-account transfer) to a hash index.
inline constexpr size_t kOverlayLinearLimit = 8;

// The accounts one transaction reads and writes, as they would be if it commits.
// Nothing reaches the ledger unless the whole transaction passes.
class Overlay {
 public:
  struct Entry {
    std::string_view name;
    Account before;
    Account after;
    uint32_t slot;  // kNoSlot: an account this transaction creates
  };

  void clear() {
    entries_.clear();
    position_.clear();
    created_ = 0;
  }
  size_t created() const { return created_; }
  const std::vector<Entry>& entries() const { return entries_; }
  Entry& at(size_t i) { return entries_[i]; }

  // Index of the entry for `name`, loading it from the ledger on first use;
  // nullopt if the account exists in neither.
  std::optional<size_t> find(const LedgerState& state, std::string_view name) {
    if (entries_.size() <= kOverlayLinearLimit) {
      for (size_t i = 0; i < entries_.size(); ++i) {
        if (entries_[i].name == name) return i;
      }
    } else if (auto it = position_.find(name); it != position_.end()) {
      return it->second;
    }
    const auto slot = state.find_slot(name);
    if (!slot) return std::nullopt;
    const Account account = state.account_at(*slot);
    return add({name, account, account, *slot});
  }

  size_t create(std::string_view name) {
    ++created_;
    return add({name, Account{}, Account{}, kNoSlot});
  }

 private:
  size_t add(const Entry& entry) {
    entries_.push_back(entry);
    const size_t index = entries_.size() - 1;
    if (entries_.size() == kOverlayLinearLimit + 1) {
      for (size_t i = 0; i < entries_.size(); ++i) position_.emplace(entries_[i].name, i);
    } else if (entries_.size() > kOverlayLinearLimit + 1) {
      position_.emplace(entry.name, index);
    }
    return index;
  }

  std::vector<Entry> entries_;
  std::unordered_map<std::string_view, size_t> position_;
  size_t created_ = 0;
};

struct Verdict {
  OutcomeCode code = OutcomeCode::kCommitted;
  std::string message;
  uint32_t failed_transfer = 0;
  // Refused before the debited account's owner was shown to have signed: such a
  // refusal must not take the client id, or anyone could occupy an owner's ids.
  bool unauthenticated = false;
};

inline Verdict refuse(OutcomeCode code, std::string message, size_t transfer = 0) {
  return Verdict{code, std::move(message), static_cast<uint32_t>(transfer)};
}

inline Verdict refuse_unauthenticated(OutcomeCode code, std::string message, size_t transfer) {
  Verdict verdict = refuse(code, std::move(message), transfer);
  verdict.unauthenticated = true;
  return verdict;
}

// Outcome messages are bounded (kMaxOutcomeMessageBytes): a message that quotes
// outside text (a condition, a parse error) is cut, never the verdict.
inline std::string bounded(std::string message) {
  constexpr size_t kMaxBytes = 900;
  if (message.size() > kMaxBytes) message = message.substr(0, kMaxBytes) + "...";
  return message;
}

// Whether item `index` of `tx` may lower `account` (named `name`, as the overlay has
// it so far) under SPEC §8: nullopt when it may (the caller bumps the nonce), else
// an unauthorized or bad_nonce verdict naming why.
std::optional<Verdict> authorize_debit(const LedgerState& state, const Transaction& tx,
                                       size_t index, std::string_view name, const Account& account);
// Whether lowering `account` needs its owner's signature (always, on a closed lattice).
inline bool debit_needs_signature(const LedgerState& state, const Account& account) {
  return account.owner.has_value() || !state.open_accounts;
}

// Item `index` of `tx`, an invocation of a deployed intent, against the overlay
// (SPEC §11): nullopt when it passes, with the overlay holding its result.
std::optional<Verdict> run_invocation(const LedgerState& state, Overlay& overlay,
                                      const Transaction& tx, size_t index);

}  // namespace aethel::ledger
