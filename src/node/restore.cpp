#include "node/restore.h"

#include <fmt/format.h>

#include <algorithm>

#include "node/node.h"

namespace aethel::node {
namespace {

// Log entries are read back in slices of at most this many bytes.
constexpr uint64_t kReplayBytesPerRead = 64ull << 20;

Error storage_error(const storage::Status& status) {
  return Error{"storage_error", status.to_string()};
}

consensus::NodeId vote_from_string(const std::string& text) {
  return text.empty() ? consensus::kNoNode : std::stoull(text);
}

Result<std::vector<consensus::Entry>> stored_entries(const storage::Store& store, uint64_t first) {
  auto bounds = store.log_bounds();
  if (!bounds.ok()) return storage_error(bounds.status());
  std::vector<consensus::Entry> out;
  first = std::max(first, bounds->first_index);
  for (uint64_t from = first; from <= bounds->last_index;) {
    auto entries = store.entries(from, bounds->last_index + 1, kReplayBytesPerRead);
    if (!entries.ok()) return storage_error(entries.status());
    for (storage::LogEntry& e : entries.value()) {
      out.push_back(consensus::Entry{e.term, e.index, std::move(e.data)});
    }
    from += entries->size();
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> validator_set(std::vector<std::string> validators,
                                               const std::string& self, bool joining) {
  if (validators.empty()) validators.push_back(self);
  std::sort(validators.begin(), validators.end());
  validators.erase(std::unique(validators.begin(), validators.end()), validators.end());
  if (!joining && !std::binary_search(validators.begin(), validators.end(), self)) {
    return Error{"bad_config", fmt::format("AETHEL_VALIDATORS does not include this node's own "
                                           "peer ID {}",
                                           self)};
  }
  if (validators.size() > consensus::kMaxVoters) {
    return Error{"bad_config", fmt::format("AETHEL_VALIDATORS lists {} peers; at most {}",
                                           validators.size(), consensus::kMaxVoters)};
  }
  return validators;
}

consensus::Config consensus_config(const NodeOptions& options, const std::string& self) {
  consensus::Config config;
  config.election_timeout_ticks = options.election_timeout_ticks;
  config.max_entry_bytes = 64ull << 20;  // a block of 8192 transfers with memos
  // Blocks are large: a deep pipeline of 1 MiB appends only queues behind itself in
  // the follower's stream windows and delays the answers the stall detector waits for.
  config.max_inflight_appends = 8;
  // A learner that keeps up under load trails the commit index by what is in flight.
  config.promotable_lag_entries = 2 * config.max_inflight_appends;
  // The runtime's disk thread writes one Ready while the consensus thread builds and
  // sends the next ones; each fsync takes whatever queued meanwhile (group commit).
  config.max_readies_in_flight = 8;
  // A leader answers reads from its lease for 2 ticks (100 ms at 50 ms ticks) less
  // than the election timeout: room for the followers' clocks running faster.
  config.lease_margin_ticks = 2;
  // Seeded by identity, so two nodes never draw the same timeouts.
  config.prng_seed = ledger::sha256(self)[0] * 0x9E3779B97F4A7C15ull + 1;
  return config;
}

std::optional<consensus::Snapshot> consensus_snapshot(const storage::Snapshot& s) {
  consensus::Membership membership;  // none stored (before membership changes): keep genesis
  if (!s.configuration.empty()) {
    auto decoded = decode_configuration(std::string_view(
        reinterpret_cast<const char*>(s.configuration.data()), s.configuration.size()));
    if (!decoded) return std::nullopt;
    membership = std::move(*decoded);
  }
  return consensus::Snapshot{
      consensus::SnapshotMeta{s.last_included_index, s.last_included_term,
                              std::move(membership.voters), std::move(membership.learners)},
      std::make_shared<const consensus::Bytes>(s.data)};
}

Result<Recovered> recover(const storage::Store& store) {
  Recovered recovered;
  consensus::DurableState& durable = recovered.durable;
  auto hard = store.hard_state();
  if (!hard.ok()) return storage_error(hard.status());
  durable.hard_state =
      consensus::HardState{hard->term, vote_from_string(hard->voted_for), hard->commit_index};
  auto snapshot = store.snapshot();
  if (!snapshot.ok()) return storage_error(snapshot.status());
  if (snapshot.value()) {
    durable.snapshot = consensus_snapshot(**snapshot);
    if (!durable.snapshot) {
      return Error{"bad_snapshot", "the snapshot membership in " + store.dir().string()};
    }
  }
  uint64_t first = durable.snapshot ? durable.snapshot->meta.index + 1 : 1;
  auto entries = stored_entries(store, first);
  if (!entries.ok()) return entries.error();
  durable.entries = std::move(entries).value();
  if (auto broken = consensus::validate(durable)) {
    return Error{"bad_log", "the consensus log in " + store.dir().string() + ": " + *broken};
  }
  auto blocks = store.block_bounds();
  if (!blocks.ok()) return storage_error(blocks.status());
  recovered.last_stored_height = blocks->last_height;
  auto recovery = store.recovery();
  if (!recovery.ok()) return storage_error(recovery.status());
  if (*recovery > static_cast<uint8_t>(Recovery::kRecovering)) {
    return Error{"bad_store",
                 fmt::format("unknown recovery state {} in {}", *recovery, store.dir().string())};
  }
  recovered.recovery = static_cast<Recovery>(*recovery);
  return recovered;
}

Result<ledger::Ledger> ledger_at(const Recovered& recovered, const ledger::Genesis& genesis,
                                 const ledger::Limits& limits, const storage::Store& store) {
  if (!recovered.durable.snapshot) return ledger::Ledger(genesis, limits);
  const consensus::Bytes& bytes = *recovered.durable.snapshot->data;
  auto data = decode_snapshot_data(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!data) return Error{"bad_snapshot", "snapshot members in " + store.dir().string()};
  auto restored = ledger::Ledger::deserialize(data->ledger_snapshot);
  if (!restored.ok()) {
    return Error{"bad_snapshot",
                 "snapshot in " + store.dir().string() + ": " + restored.error().message};
  }
  if (restored.value().total_supply() != genesis.total_supply()) {
    return Error{"genesis_mismatch",
                 fmt::format("the stored state has supply {} but the genesis has {}: the data "
                             "directory belongs to another genesis",
                             restored.value().total_supply(), genesis.total_supply())};
  }
  if (restored.value().limits().lattice_id == ledger::Hash{}) {
    restored.value().adopt_lattice_id(limits.lattice_id);  // a snapshot from before ids
  }
  if (restored.value().limits() != limits) {
    return Error{"genesis_mismatch",
                 fmt::format("the stored state belongs to lattice {}, this node's is {}: the "
                             "data directory belongs to another lattice",
                             ledger::to_hex(restored.value().limits().lattice_id),
                             ledger::to_hex(limits.lattice_id))};
  }
  if (auto broken = restored.value().check_invariants()) return *broken;
  return restored;
}

}  // namespace aethel::node
