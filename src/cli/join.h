// Joining a running lattice (AETHEL_JOIN, SPEC §10): what a new node learns from a
// member before it opens its store, and keeps in <data dir>/joined.json so that a
// restart needs no member to answer.
#pragma once

#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "node/members.h"
#include "node/node.h"

namespace aethel::cli {

struct Joined {
  std::string lattice_id;
  ledger::Genesis genesis;
  std::vector<std::string> genesis_validators;
  std::vector<node::Member> members;  // as the member reported them (with their URLs)
};

// <data dir>/joined.json when present; otherwise GET /api/lattice/members and
// /api/lattice/genesis from config.join_url, checked (the lattice id must follow from
// the genesis and its validators) and written there atomically (nothing secret: the
// data directory is 0700). Errors name
// the URL or the file and what was wrong.
base::Result<Joined> join_lattice(const node::Config& config);

}  // namespace aethel::cli
