// The durable index of transaction outcomes by id (issue 14; docs/STORAGE.md,
// "Outcome index").
//
// The ledger remembers outcomes only inside its retention window, which keeps its
// memory and its snapshots bounded. Beyond the window, a client id stays taken
// forever through this index: every node writes the outcomes of each block it
// applies into its store, in the same write as the block (and back-filled blocks with
// theirs), and the leader answers a transaction whose id the index holds with that
// original outcome (exists: true) instead of proposing it again. Reads of
// /api/lattice/tx/{id} fall back to it. Derived ids are not indexed: they are answered
// inside the ledger's window only.
//
// Key: the client id, one zero byte, then the scope (client_id_scope; empty for the
// lattice-wide ids of invocations and deployments). Ids are printable, so the ids of one key prefix
// are one id. Value: ledger::encode_outcome.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "ledger/ledger.h"
#include "storage/storage.h"

namespace aethel::node {

std::string outcome_key(std::string_view tx_id, std::string_view scope);

// Records for the outcomes of one applied block (`outcomes[i]` is that of `txs[i]`): each
// first outcome under a client id the transaction took. Not a repeat inside the window
// (exists = true), and not a derived id: those are unique by construction, and their
// random keys would cost the store a page write each (measured: batch throughput fell
// from 30k to 10k transfers/s as 2 M of them filled the index).
void add_outcome_records(std::span<const ledger::Transaction> txs,
                         const std::vector<ledger::Outcome>& outcomes,
                         std::vector<storage::StateRecord>& records);

// The original outcomes the index holds for `txs` (nullopt: none, or no usable client
// id), each with exists = true. An Error when this node cannot decide: its store has
// a gap in its history, whose outcomes it has not indexed yet ("history_incomplete"),
// or a read failed.
base::Result<std::vector<std::optional<ledger::Outcome>>> recorded_outcomes(
    const storage::Store& store, std::span<const ledger::Transaction> txs);

// The outcome of `tx_id` in `scope` (without a scope: in any scope) from the index;
// nullopt when it holds none. An Error "history_incomplete" instead when it holds none
// but the store has a gap in its history, which may hold the id.
base::Result<std::optional<ledger::Outcome>> find_recorded_outcome(
    const storage::Store& store, std::string_view tx_id, std::optional<std::string_view> scope);

}  // namespace aethel::node
