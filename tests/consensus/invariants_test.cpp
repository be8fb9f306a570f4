// The core's invariants run after every tick(), step() and advance(): states that break
// one (built here by reaching into the core, as no message sequence can) are stopped
// through base::fatal, whose handler the test turns into an exception.
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/base.h"
#include "consensus/consensus.h"
#include "consensus/raft_impl.h"

namespace aethel::consensus {
namespace {

[[noreturn]] void throw_on_fatal(std::string_view what) {
  throw std::logic_error(std::string(what));
}

// What base::fatal reported while `action` ran; empty if nothing was violated.
std::string violation_of(const std::function<void()>& action) {
  base::set_fatal_handler(throw_on_fatal);
  std::string what;
  try {
    action();
  } catch (const std::logic_error& e) {
    what = e.what();
  }
  base::set_fatal_handler(nullptr);
  return what;
}

Config config_of(std::vector<NodeId> voters) {
  Config config;
  config.id = 1;
  config.voters = std::move(voters);
  return config;
}

void drain(RaftImpl& raft) {
  while (raft.has_ready()) {
    raft.ready();
    raft.advance();
  }
}

// A group of one that elected itself and committed its no-op and `proposals` entries.
RaftImpl leader_of_one(int proposals = 0) {
  RaftImpl raft(config_of({1}), DurableState{}, 0);
  while (raft.role_ != Role::kLeader) raft.tick();
  for (int i = 0; i < proposals; ++i) EXPECT_EQ(raft.propose(Bytes{1, 2}).error, Error::kNone);
  drain(raft);
  return raft;
}

TEST(ConsensusInvariants, AHealthyCoreNeverTrips) {
  EXPECT_EQ(violation_of([] {
              RaftImpl raft = leader_of_one(3);
              EXPECT_EQ(raft.log_.committed(), 4u);
              for (int i = 0; i < 30; ++i) raft.tick();
              drain(raft);
            }),
            "");
}

TEST(ConsensusInvariants, ATermGoingBackwardsIsCaughtAfterTick) {
  RaftImpl raft = leader_of_one();
  raft.term_ -= 1;
  EXPECT_NE(violation_of([&] { raft.tick(); }).find("term_ >= checked_term_"), std::string::npos);
}

TEST(ConsensusInvariants, ATermGoingBackwardsIsCaughtAfterStep) {
  RaftImpl raft = leader_of_one();
  raft.term_ -= 1;
  Message ignored;  // from nobody: refused, yet the invariants still run
  EXPECT_NE(violation_of([&] { raft.step(ignored); }).find("term_ >= checked_term_"),
            std::string::npos);
}

TEST(ConsensusInvariants, ATermGoingBackwardsIsCaughtAfterAdvance) {
  RaftImpl raft = leader_of_one();
  raft.term_ -= 1;
  const std::string what = violation_of([&] {
    raft.ready();
    raft.advance();
  });
  EXPECT_NE(what.find("term_ >= checked_term_"), std::string::npos) << what;
}

TEST(ConsensusInvariants, ACommitGoingBackwardsIsCaught) {
  RaftImpl raft = leader_of_one(3);
  std::vector<Entry> entries;
  for (Index i = raft.log_.first_index(); i <= raft.log_.last_index(); ++i) {
    entries.push_back(*raft.log_.entry_at(i));
  }
  raft.log_ = RaftLog(0, 0, entries);  // the same entries, nothing committed
  const std::string what = violation_of([&] { raft.tick(); });
  EXPECT_NE(what.find("log_.committed() >= checked_commit_"), std::string::npos) << what;
}

TEST(ConsensusInvariants, AnEntryFromAFutureTermIsCaught) {
  RaftImpl raft(config_of({1, 2, 3}), DurableState{}, 0);
  raft.log_ = RaftLog(0, 0, {Entry{5, 1, {}}});
  const std::string what = violation_of([&] { raft.tick(); });
  EXPECT_NE(what.find("log_.last_term() <= term_"), std::string::npos) << what;
}

TEST(ConsensusInvariants, ALeaderThatIsNotItsOwnLeaderIsCaught) {
  RaftImpl raft(config_of({1, 2, 3}), DurableState{}, 0);
  raft.role_ = Role::kLeader;  // never elected
  const std::string what = violation_of([&] { raft.tick(); });
  EXPECT_NE(what.find("leader_ == config_.id"), std::string::npos) << what;
}

TEST(ConsensusInvariants, ALeaderWithoutAnEntryOfItsTermIsCaught) {
  RaftImpl raft = leader_of_one();
  raft.term_ += 1;  // as if it had led a later term without its no-op
  const std::string what = violation_of([&] { raft.tick(); });
  EXPECT_NE(what.find("log_.last_term() == term_"), std::string::npos) << what;
}

TEST(ConsensusInvariants, ADiskWithASnapshotFromAFutureTermIsRefused) {
  DurableState durable;
  durable.hard_state.term = 1;
  durable.snapshot = Snapshot{SnapshotMeta{5, 2, {1}}, std::make_shared<const Bytes>()};
  EXPECT_EQ(validate(durable), "snapshot term beyond the hard state term");
}

}  // namespace
}  // namespace aethel::consensus
