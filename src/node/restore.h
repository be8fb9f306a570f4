// Opening a node's durable state: the validator set, the Raft settings, what the
// store holds (snapshot, hard state, log, stored blocks) and the ledger at the
// snapshot. Used by the runtime at start; errors name the directory or setting.
#pragma once

#include <string>
#include <vector>

#include "consensus/consensus.h"
#include "ledger/ledger.h"
#include "node/replica.h"
#include "storage/storage.h"

namespace aethel::node {

struct NodeOptions;

// The sorted, de-duplicated genesis validator peer IDs; empty means "this node
// alone". An Error when there are too many, or when `self` is not among them and the
// node is not `joining` a running lattice.
Result<std::vector<std::string>> validator_set(std::vector<std::string> validators,
                                               const std::string& self, bool joining = false);

// Raft settings of a production node (ids and voters are the replica's to fill).
consensus::Config consensus_config(const NodeOptions& options, const std::string& self);

// A stored snapshot as the core wants it (its `configuration` is the membership);
// nullopt when that does not decode.
std::optional<consensus::Snapshot> consensus_snapshot(const storage::Snapshot& snapshot);

// The snapshot, hard state and committed log the store holds, as the core wants them,
// and the height of the last stored block. A crash between writing a snapshot and
// dropping the log it covers leaves entries the snapshot holds: they are skipped.
Result<Recovered> recover(const storage::Store& store);

// The ledger at the recovered snapshot, or the genesis with `limits` when there is
// none. A snapshot of another genesis (different supply) or another lattice (other
// limits, lattice id included) is refused.
Result<ledger::Ledger> ledger_at(const Recovered& recovered, const ledger::Genesis& genesis,
                                 const ledger::Limits& limits, const storage::Store& store);

}  // namespace aethel::node
