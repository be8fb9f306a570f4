// The inside of a Ledger. Internal to the ledger module (ledger.cpp, snapshot.cpp).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lang/lang.h"
#include "ledger/flat_index.h"
#include "ledger/generation_index.h"
#include "ledger/ledger.h"
#include "ledger/name_order.h"
#include "ledger/record_log.h"
#include "ledger/smt.h"

namespace aethel::ledger {

// apply_block scans every balance (LedgerState::assert_conservation) once this many
// blocks, and at load; in between each transaction checks what it moves.
constexpr uint64_t kConservationScanBlocks = 1024;

// Outcome messages are built from bounded parts; this bound keeps snapshots simple.
constexpr size_t kMaxOutcomeMessageBytes = 1024;

// A client id: 1..kMaxClientIdBytes printable ASCII bytes without spaces.
inline bool is_valid_client_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxClientIdBytes) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// A deployed intent with the form the ledger runs (parsed once, at deployment).
struct IntentEntry {
  DeployedIntent info;
  lang::IntentDef definition;
  lang::ExecutableForm form;
};

// Parses and checks a deployment's source into an entry (version and height unset);
// an Error names why the definition cannot run. Deterministic: every node decides
// the same.
Result<IntentEntry> compile_intent(std::string_view source, std::string deployed_by);

struct LedgerState {
  static constexpr uint64_t kNeverTouched = UINT64_MAX;
  static constexpr uint32_t kNoOwner = UINT32_MAX;

  // An account as stored: 64 bytes (account_at() gives it as an Account).
  struct Slot {
    std::string name;
    int64_t balance;
    uint64_t nonce;
    uint32_t owner;              // its owner's key in `owners`; kNoOwner: none
    uint32_t leaf;               // its leaf in `tree` (which keeps its key), kNone until
                                 // the first tree update
    uint64_t touched_at_height;  // dedupes `touched` within a block
  };

  LedgerState() = default;
  // Copies the owning parts and rebuilds the hash indexes.
  LedgerState(const LedgerState& other);
  LedgerState& operator=(const LedgerState&) = delete;

  Limits limits;
  bool open_accounts = true;  // Genesis::open_accounts
  int64_t supply = 0;
  uint64_t height = 0;

  // Accounts live in `slots` (stable indices, never removed); `names` orders them for
  // pages; `slot_index` is the fast lookup by name hash.
  std::vector<Slot> slots;
  // One key per account that has had an owner (Slot::owner), rewritten when it
  // rotates: most accounts have none, and an optional key in every slot took 40 bytes.
  std::vector<PublicKey> owners;
  NameOrder names;
  FlatIndex slot_index;

  SparseMerkleTree tree;
  std::vector<uint32_t> touched;  // slots changed since the last tree update

  // Remembered outcomes in the order applied (oldest first). Record number n (counted
  // since this state was built) sits at records[n - first_record_number]. Two indexes
  // map hashes of ids (without scope) to record numbers: `hex_index` those with a hex
  // id and no scope (RecordLog::unscoped_hex: every derived id, so most outcomes),
  // whose numbers it forgets by generation; `record_index` all others, one by one.
  RecordLog records;
  uint64_t first_record_number = 0;
  FlatIndex record_index;
  GenerationIndex hex_index;

  // Deployed intents by name, and the roots over them and over everything.
  std::map<std::string, IntentEntry, std::less<>> intents;
  Hash intents_root{};
  Hash root{};

  // Scratch space reused on the hot path (derive_tx_id's encoding, the ids of
  // forgotten outcomes), so it does not allocate.
  std::string id_scratch;

  static uint64_t text_hash(std::string_view text) { return std::hash<std::string_view>{}(text); }
  std::string_view name_of(uint32_t slot) const { return slots[slot].name; }
  Account account_at(uint32_t slot) const;
  void set_account(uint32_t slot, const Account& account);
  std::optional<uint32_t> find_slot(std::string_view name) const;
  // The record of `tx_id` in `scope`; without a scope, the oldest in any scope.
  std::optional<Outcome> find_record(std::string_view tx_id,
                                     std::optional<std::string_view> scope) const;

  void rebuild_views();
  uint32_t add_account(std::string_view name, const Account& account);
  void touch(uint32_t slot, uint64_t block_height);
  // Pushes every touched account into the tree and rehashes once.
  void update_tree();
  // Recomputes intents_root (when `intents_changed`) and root after update_tree.
  void update_root(bool intents_changed);
  void remember(const Outcome& outcome);
  // Adds records[i], whose id is `tx_id`, to the index its id and scope belong to.
  void index_record(size_t i, std::string_view tx_id);
  // Applies the retention rule at the current height.
  void forget_expired();
  // Aborts unless every balance is >= 0 and they sum to the supply.
  void assert_conservation() const;
};

}  // namespace aethel::ledger
