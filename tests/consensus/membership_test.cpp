// Membership changes in the Raft core: learners, single-server changes through the log,
// one at a time, promotion only of a caught-up learner, no removal of the leader, and
// safety (one leader per term, matching logs, nothing committed lost) while servers are
// added, promoted and removed under message loss.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "consensus/consensus.h"
#include "tests/consensus/cluster.h"

namespace aethel::consensus {
namespace {

using testing::Cluster;

Bytes payload(std::uint8_t value) {
  return Bytes{'d', value};
}

// Proposes `next` on the leader and runs the cluster until every live member holds it.
Error change(Cluster& cluster, const Membership& next) {
  const NodeId leader = cluster.leader();
  if (leader == kNoNode) return Error::kNotLeader;
  const ProposeResult proposed =
      cluster.node(leader).propose_membership(next, Bytes{'a', 'p', 'p'});
  if (proposed.error != Error::kNone) return proposed.error;
  cluster.tick_all(5);
  return Error::kNone;
}

bool holds_data(Cluster& cluster, NodeId id, const Bytes& data) {
  for (const Entry& e : cluster.applied[id]) {
    if (e.data == data) return true;
  }
  return false;
}

TEST(ConsensusMembership, ValidateChangeAllowsExactlyOneServerAtATime) {
  const Membership three{{1, 2, 3}, {}};
  EXPECT_FALSE(validate_change(three, Membership{{1, 2, 3}, {4}}));  // add a learner
  EXPECT_FALSE(validate_change(Membership{{1, 2, 3}, {4}}, Membership{{1, 2, 3, 4}, {}}));
  EXPECT_FALSE(validate_change(three, Membership{{1, 2}, {}}));      // remove a voter
  EXPECT_FALSE(validate_change(Membership{{1, 2, 3}, {4}}, three));  // remove a learner
  // Refused: a voter added directly, two servers at once, the last voter, no change,
  // a voter turned into a learner, a member listed twice.
  EXPECT_TRUE(validate_change(three, Membership{{1, 2, 3, 4}, {}}));
  EXPECT_TRUE(validate_change(three, Membership{{1, 2, 3}, {4, 5}}));
  EXPECT_TRUE(validate_change(three, Membership{{1}, {}}));
  EXPECT_TRUE(validate_change(Membership{{1}, {}}, Membership{{}, {}}));
  EXPECT_TRUE(validate_change(three, three));
  EXPECT_TRUE(validate_change(three, Membership{{1, 2}, {3}}));
  EXPECT_TRUE(validate_change(three, Membership{{1, 2, 3}, {3}}));
  // A membership entry round-trips with the application's bytes; other data is none.
  const Membership with_learner{{1, 2, 3}, {1ull << 40}};
  auto entry = decode_membership_entry(encode_membership_entry(with_learner, Bytes{7, 8}));
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->membership, with_learner);
  EXPECT_EQ(entry->data, (Bytes{7, 8}));
  EXPECT_FALSE(decode_membership_entry(Bytes{1, 2, 3}));
  Bytes truncated = encode_membership_entry(with_learner, {});
  truncated.pop_back();
  EXPECT_FALSE(decode_membership_entry(truncated));
}

TEST(ConsensusMembership, ALearnerReceivesTheLogButNeitherVotesNorCounts) {
  Cluster cluster(3, 11);
  const NodeId leader = cluster.wait_for_leader();
  ASSERT_NE(leader, kNoNode);
  const Membership with_learner{{1, 2, 3}, {4}};
  cluster.add_node(4, with_learner);
  ASSERT_EQ(change(cluster, with_learner), Error::kNone);
  for (NodeId id : cluster.ids) EXPECT_EQ(cluster.node(id).membership(), with_learner) << id;
  // The application finds the change, with its own bytes, among the applied entries.
  std::optional<MembershipEntry> applied;
  for (const Entry& e : cluster.applied[4]) {
    if (auto change = decode_membership_entry(e.data)) applied = change;
  }
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->membership, with_learner);
  EXPECT_EQ(applied->data, (Bytes{'a', 'p', 'p'}));

  // Caught up: the learner applies what the voters commit.
  ASSERT_EQ(cluster.node(leader).propose(payload(1)).error, Error::kNone);
  cluster.tick_all(3);
  EXPECT_TRUE(holds_data(cluster, 4, payload(1)));

  // The leader with only the learner reachable commits nothing: a learner is no quorum.
  for (NodeId id : cluster.ids) {
    if (id != leader && id != 4) cluster.isolate(id);
  }
  const ProposeResult stuck = cluster.node(leader).propose(payload(2));
  ASSERT_EQ(stuck.error, Error::kNone);
  cluster.tick_all(3);
  EXPECT_EQ(cluster.node(leader).match_of(4), stuck.index);
  EXPECT_LT(cluster.node(leader).commit_index(), stuck.index);

  // Left alone, the learner never campaigns.
  cluster.heal();
  cluster.isolate(4);
  const Term learner_term = cluster.node(4).term();
  cluster.tick_all(100);
  EXPECT_EQ(cluster.node(4).role(), Role::kFollower);
  EXPECT_EQ(cluster.node(4).term(), learner_term);
}

TEST(ConsensusMembership, APromotedLearnerVotesAndCounts) {
  Cluster cluster(3, 12);
  ASSERT_NE(cluster.wait_for_leader(), kNoNode);
  cluster.add_node(4, Membership{{1, 2, 3}, {4}});
  ASSERT_EQ(change(cluster, Membership{{1, 2, 3}, {4}}), Error::kNone);
  const Membership four{{1, 2, 3, 4}, {}};
  ASSERT_EQ(change(cluster, four), Error::kNone);
  for (NodeId id : cluster.ids) EXPECT_EQ(cluster.node(id).membership(), four) << id;

  // One of four down leaves two original voters: a quorum of three needs the promoted
  // node's vote and its copy.
  const NodeId old_leader = cluster.leader();
  cluster.crash(old_leader);
  const NodeId next = cluster.wait_for_leader();
  ASSERT_NE(next, kNoNode);
  ASSERT_EQ(cluster.node(next).propose(payload(7)).error, Error::kNone);
  cluster.tick_all(3);
  EXPECT_TRUE(holds_data(cluster, next, payload(7)));
  EXPECT_TRUE(holds_data(cluster, 4, payload(7)));
}

TEST(ConsensusMembership, OneChangeAtATimeAndOnlyOfACaughtUpLearner) {
  Cluster cluster(3, 13);
  const NodeId leader = cluster.wait_for_leader();
  ASSERT_NE(leader, kNoNode);
  Raft& raft = cluster.node(leader);
  const Membership with_learner{{1, 2, 3}, {4}};
  cluster.add_node(4, with_learner);
  ASSERT_EQ(raft.propose_membership(with_learner, Bytes{}).error, Error::kNone);
  // The first is not applied yet: a second is refused, and nothing is appended.
  const Index last = raft.last_index();
  const Membership other{{1, 2, 3}, {4, 5}};
  EXPECT_EQ(raft.propose_membership(other, Bytes{}).error, Error::kChangePending);
  EXPECT_EQ(raft.propose(encode_membership_entry(other, {})).error, Error::kInvalidArgument);
  const Membership two_at_once{{1, 2, 3, 5}, {}};
  EXPECT_EQ(raft.propose_membership(two_at_once, Bytes{}).error, Error::kInvalidArgument);
  EXPECT_EQ(raft.last_index(), last);
  const Membership promote{{1, 2, 3, 4}, {}};
  cluster.isolate(4);  // the learner falls behind
  cluster.tick_all(5);
  ASSERT_EQ(raft.membership(), with_learner);
  ASSERT_EQ(raft.propose(payload(1)).error, Error::kNone);
  cluster.tick_all(3);
  EXPECT_EQ(raft.propose_membership(promote, Bytes{}).error, Error::kLearnerBehind);
  EXPECT_EQ(raft.membership(), with_learner);
  cluster.heal();
  cluster.tick_all(10);
  ASSERT_EQ(raft.propose_membership(promote, Bytes{}).error, Error::kNone);
  const NodeId removed = leader == 3 ? 2 : 3;
  Membership remove_three{{}, {}};
  for (NodeId id : promote.voters) {
    if (id != removed) remove_three.voters.push_back(id);
  }
  EXPECT_EQ(raft.propose_membership(remove_three, Bytes{}).error, Error::kChangePending);
  cluster.tick_all(5);
  EXPECT_EQ(raft.membership(), promote);
  EXPECT_EQ(raft.propose_membership(remove_three, Bytes{}).error, Error::kNone);
}

TEST(ConsensusMembership, TheLeaderIsRemovedOnlyAfterHandingOverLeadership) {
  Cluster cluster(3, 14);
  const NodeId leader = cluster.wait_for_leader();
  ASSERT_NE(leader, kNoNode);
  Membership without_leader{{}, {}};
  for (NodeId id : cluster.ids) {
    if (id != leader) without_leader.voters.push_back(id);
  }
  const Index last = cluster.node(leader).last_index();
  EXPECT_EQ(cluster.node(leader).propose_membership(without_leader, Bytes{}).error,
            Error::kRemovesLeader);
  EXPECT_EQ(cluster.node(leader).last_index(), last);

  ASSERT_EQ(cluster.node(leader).transfer_leadership(without_leader.voters[0]), Error::kNone);
  cluster.tick_all(5);
  ASSERT_EQ(cluster.leader(), without_leader.voters[0]);
  ASSERT_EQ(change(cluster, without_leader), Error::kNone);
  // The removed node starts no election, and the two left commit without it.
  cluster.isolate(leader);
  cluster.tick_all(100);
  EXPECT_NE(cluster.node(leader).role(), Role::kCandidate);
  const NodeId now = cluster.leader();
  ASSERT_NE(now, kNoNode);
  EXPECT_NE(now, leader);
  const ProposeResult proposed = cluster.node(now).propose(payload(3));
  ASSERT_EQ(proposed.error, Error::kNone);
  cluster.tick_all(3);
  EXPECT_GE(cluster.node(now).commit_index(), proposed.index);
}

TEST(ConsensusMembership, ASnapshotCarriesTheMembershipToANewLearner) {
  Cluster cluster(3, 15);
  const NodeId leader = cluster.wait_for_leader();
  ASSERT_NE(leader, kNoNode);
  for (std::uint8_t i = 0; i < 20; ++i) cluster.node(leader).propose(payload(i));
  cluster.tick_all(3);
  const Membership with_learner{{1, 2, 3}, {4}};
  cluster.add_node(4, with_learner);
  cluster.isolate(4);  // it receives nothing until the log is compacted
  ASSERT_EQ(change(cluster, with_learner), Error::kNone);
  Raft& raft = cluster.node(leader);
  ASSERT_EQ(raft.compact(raft.applied_index(), Bytes{'s'}), Error::kNone);
  ASSERT_EQ(raft.snapshot()->meta.learners, std::vector<NodeId>{4});
  cluster.heal();
  cluster.tick_all(10);
  EXPECT_GE(cluster.snapshots_installed[4], 1);
  EXPECT_EQ(cluster.node(4).membership(), with_learner);
  EXPECT_EQ(cluster.node(4).commit_index(), raft.commit_index());
  // Restarted from its disk, it takes the membership from the snapshot it holds.
  cluster.crash(4);
  cluster.restart(4);
  EXPECT_EQ(cluster.node(4).membership(), with_learner);
}

// A joining node starts outside the membership it was told of: it never campaigns.
// Once added, it accepts the leader's snapshot although that was taken before the
// change (its membership leaves the node out), and the entries after it add the node.
TEST(ConsensusMembership, ANodeWaitingToBeAddedNeverCampaignsThenCatchesUpFromAnOlderSnapshot) {
  Cluster cluster(3, 17);
  const NodeId leader = cluster.wait_for_leader();
  ASSERT_NE(leader, kNoNode);
  for (std::uint8_t i = 0; i < 20; ++i) cluster.node(leader).propose(payload(i));
  cluster.tick_all(3);
  Raft& raft = cluster.node(leader);
  ASSERT_EQ(raft.compact(raft.applied_index(), Bytes{'s'}), Error::kNone);
  cluster.add_node(4, Membership{{1, 2, 3}, {}});
  cluster.tick_all(100);
  EXPECT_EQ(cluster.node(4).term(), 0u) << "a node outside the membership campaigned";
  EXPECT_EQ(cluster.node(4).role(), Role::kFollower);

  const Membership with_learner{{1, 2, 3}, {4}};
  ASSERT_EQ(change(cluster, with_learner), Error::kNone);
  cluster.tick_all(10);
  EXPECT_GE(cluster.snapshots_installed[4], 1);
  EXPECT_EQ(cluster.node(4).membership(), with_learner);
  EXPECT_EQ(cluster.node(4).commit_index(), raft.commit_index());
}

// Servers join as learners, are promoted and removed, at random, under message loss and
// crashes: at most one leader per term, and every entry once committed stays in the log
// of every later leader.
RC_GTEST_PROP(ConsensusMembership, RandomChangesKeepElectionSafetyAndCommittedEntries, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1000000);
  Cluster cluster(3, seed);
  cluster.drop_percent = *rc::gen::inRange<std::uint64_t>(0, 20);
  Prng prng(seed);
  NodeId next_id = 4;
  int changes = 0;
  std::map<Index, Term> committed;  // index → term of every entry seen committed
  for (int round = 0; round < 40; ++round) {
    cluster.tick_all(3);
    const NodeId leader = cluster.leader();
    if (leader == kNoNode) continue;
    Raft& raft = cluster.node(leader);
    raft.propose(payload(static_cast<std::uint8_t>(round)));
    Membership m = raft.membership();
    Membership next = m;
    const std::uint64_t action = prng.below(4);
    if (action == 0 && next_id < 9) {
      next.learners.push_back(next_id);
      if (raft.propose_membership(next, Bytes{}).error == Error::kNone) {
        cluster.add_node(next_id++, next);
        ++changes;
      }
    } else if (action == 1 && !m.learners.empty()) {
      next.voters.push_back(m.learners.front());
      next.learners.erase(next.learners.begin());
      changes += raft.propose_membership(next, Bytes{}).error == Error::kNone ? 1 : 0;
    } else if (action == 2 && m.voters.size() > 2) {
      NodeId gone = m.voters[prng.below(m.voters.size())];
      if (gone == leader) continue;
      next.voters.erase(std::find(next.voters.begin(), next.voters.end(), gone));
      changes += raft.propose_membership(next, Bytes{}).error == Error::kNone ? 1 : 0;
    } else if (action == 3) {
      const NodeId id = cluster.ids[prng.below(cluster.ids.size())];
      if (cluster.down.count(id)) {
        cluster.restart(id);
      } else {
        cluster.crash(id);
      }
    }
    for (NodeId id : cluster.ids) {
      if (cluster.down.count(id)) continue;
      Raft& r = cluster.node(id);
      for (Index i = r.first_index(); i <= r.commit_index(); ++i) {
        const auto term = r.term_at(i);
        if (!term) continue;
        auto [it, inserted] = committed.emplace(i, *term);
        RC_ASSERT(it->second == *term);  // one committed entry per index, forever
      }
    }
  }
  RC_ASSERT(cluster.election_safe());
  RC_CLASSIFY(changes >= 3, "three or more changes");
}

}  // namespace
}  // namespace aethel::consensus
