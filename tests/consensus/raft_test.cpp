// Behaviour of the Raft core in isolation: elections, replication, commit rules, conflicts,
// pre-vote, check-quorum, snapshots, leadership transfer, ReadIndex, durability ordering.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "consensus/consensus.h"
#include "tests/consensus/cluster.h"

namespace aethel::consensus {
namespace {

using testing::Cluster;

Bytes bytes_of(std::uint64_t value) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
  return out;
}

// Every pair of logs that agree on (index, term) agrees on everything before it.
bool logs_match(Cluster& cluster) {
  for (NodeId a : cluster.ids) {
    for (NodeId b : cluster.ids) {
      if (a >= b || cluster.down.count(a) || cluster.down.count(b)) continue;
      Raft& ra = cluster.node(a);
      Raft& rb = cluster.node(b);
      const Index lo = std::max(ra.first_index(), rb.first_index());
      const Index hi = std::min(ra.last_index(), rb.last_index());
      bool agreed = false;
      for (Index i = hi; i >= lo && i > 0; --i) {
        const Entry* ea = ra.entry_at(i);
        const Entry* eb = rb.entry_at(i);
        if (agreed && !(*ea == *eb)) return false;
        if (ea->term == eb->term) {
          if (!(*ea == *eb)) return false;
          agreed = true;
        }
      }
    }
  }
  return true;
}

TEST(ConsensusRaft, SingleNodeElectsItselfAndCommitsAfterPersisting) {
  Cluster cluster(1, 1);
  ASSERT_EQ(cluster.wait_for_leader(), 1u);
  Raft& raft = cluster.node(1);
  const ProposeResult result = raft.propose(bytes_of(42));
  ASSERT_EQ(result.error, Error::kNone);
  Ready first = raft.ready();
  // Durability: the entry is handed out to persist but not yet to apply.
  ASSERT_EQ(first.entries.size(), 1u);
  EXPECT_TRUE(first.committed_entries.empty());
  EXPECT_LT(raft.commit_index(), result.index);
  raft.advance();
  Ready second = raft.ready();
  ASSERT_EQ(second.committed_entries.size(), 1u);
  EXPECT_EQ(second.committed_entries[0].data, bytes_of(42));
  raft.advance();
}

TEST(ConsensusRaft, FollowerAcknowledgesOnlyThroughReadyMessages) {
  Cluster cluster(3, 2);
  const NodeId leader = cluster.wait_for_leader();
  ASSERT_NE(leader, kNoNode);
  cluster.node(leader).propose(bytes_of(1));
  Ready rd = cluster.node(leader).ready();
  ASSERT_FALSE(rd.messages.empty());
  const Message append = rd.messages.front();
  cluster.node(leader).advance();
  Raft& follower = cluster.node(append.to);
  follower.step(append);
  Ready frd = follower.ready();
  // The acknowledgement and the entries it promises come out together: the caller
  // persists first, then sends.
  ASSERT_FALSE(frd.entries.empty());
  bool has_ack = false;
  for (const Message& m : frd.messages) has_ack |= m.type == MessageType::kAppendResponse;
  EXPECT_TRUE(has_ack);
  EXPECT_TRUE(frd.must_sync());
  follower.advance();
}

// PIPELINING: the leader takes a second Ready while its first write is in flight; each
// entry is handed out once; a majority of followers commits, yet nothing is handed out
// to apply before it is durable here too.
TEST(ConsensusRaft, ReadiesInFlightHandOutEachEntryOnceAndApplyOnlyWhatIsDurable) {
  Cluster cluster(3, 2, [](Config& c) { c.max_readies_in_flight = 2; });
  const NodeId leader_id = cluster.wait_for_leader();
  ASSERT_NE(leader_id, kNoNode);
  Raft& leader = cluster.node(leader_id);
  const Index a = leader.propose(bytes_of(1)).index;
  Ready first = leader.ready();
  const Index b = leader.propose(bytes_of(2)).index;
  ASSERT_TRUE(leader.has_ready());
  Ready second = leader.ready();
  EXPECT_FALSE(leader.has_ready());  // two in flight: the limit
  ASSERT_EQ(first.entries.size(), 1u);
  EXPECT_EQ(first.entries[0].index, a);
  ASSERT_EQ(second.entries.size(), 1u);
  EXPECT_EQ(second.entries[0].index, b);

  // The followers persist and acknowledge both; the leader has persisted neither.
  for (Ready* rd : {&first, &second}) {
    for (Message& m : rd->messages) cluster.network.push_back(m);
  }
  cluster.deliver_all();
  EXPECT_EQ(leader.commit_index(), b);  // two durable copies of three
  EXPECT_EQ(leader.stable_index(), a - 1);
  leader.advance();  // the first write is durable
  ASSERT_TRUE(leader.has_ready());
  Ready third = leader.ready();
  ASSERT_EQ(third.committed_entries.size(), 1u);  // a only: b is not durable here
  EXPECT_EQ(third.committed_entries[0].index, a);
  EXPECT_TRUE(third.entries.empty());
  leader.advance();  // the second write
  leader.advance();  // the third (it wrote the commit index)
  Ready fourth = leader.ready();
  ASSERT_EQ(fourth.committed_entries.size(), 1u);
  EXPECT_EQ(fourth.committed_entries[0].index, b);
  leader.advance();
}

TEST(ConsensusRaft, AClassicCoreHandsOutOneReadyAtATime) {
  Cluster cluster(3, 2);
  const NodeId leader_id = cluster.wait_for_leader();
  ASSERT_NE(leader_id, kNoNode);
  Raft& leader = cluster.node(leader_id);
  leader.propose(bytes_of(1));
  Ready first = leader.ready();
  leader.propose(bytes_of(2));
  EXPECT_FALSE(leader.has_ready());
  leader.advance();
  EXPECT_TRUE(leader.has_ready());
}

RC_GTEST_PROP(ConsensusRaft, PipelinedReplicationDeliversTheSameSequenceEverywhere, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1000000);
  const auto readies = *rc::gen::inRange<std::uint32_t>(1, 9);
  Cluster cluster(3, seed, [&](Config& c) { c.max_readies_in_flight = readies; });
  cluster.pipelined = true;
  cluster.drop_percent = *rc::gen::inRange<std::uint64_t>(0, 20);
  int proposed = 0;
  for (int round = 0; round < 40; ++round) {
    cluster.tick_all(2);
    const NodeId leader = cluster.leader();
    if (leader != kNoNode && cluster.node(leader).propose(bytes_of(proposed)).error == Error::kNone)
      ++proposed;
  }
  RC_ASSERT(cluster.election_safe());
  RC_ASSERT(logs_match(cluster));
  // Whatever each node applied is one sequence: the same entry at every index.
  std::map<Index, Entry> at;
  for (NodeId id : cluster.ids) {
    for (const Entry& e : cluster.applied[id]) {
      auto [it, first] = at.emplace(e.index, e);
      RC_ASSERT(first || it->second == e);
    }
  }
}

RC_GTEST_PROP(ConsensusRaft, AtMostOneLeaderPerTermAndLogsMatchUnderLoss, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1000000);
  const auto size = *rc::gen::element<std::size_t>(3, 5);
  Cluster cluster(size, seed);
  cluster.drop_percent = *rc::gen::inRange<std::uint64_t>(0, 30);
  for (int round = 0; round < 30; ++round) {
    cluster.tick_all(5);
    const NodeId leader = cluster.leader();
    if (leader != kNoNode) cluster.node(leader).propose(bytes_of(round));
  }
  RC_ASSERT(cluster.election_safe());
  RC_ASSERT(logs_match(cluster));
}

RC_GTEST_PROP(ConsensusRaft, ReplicatesTheSameSequenceToEveryNode, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1000000);
  const auto count = *rc::gen::inRange<int>(1, 300);
  Cluster cluster(3, seed, [](Config& c) { c.max_entries_per_append = 16; });
  const NodeId leader = cluster.wait_for_leader();
  RC_ASSERT(leader != kNoNode);
  for (int i = 0; i < count; ++i) {
    RC_ASSERT(cluster.node(leader).propose(bytes_of(i)).error == Error::kNone);
  }
  cluster.tick_all(5);
  for (NodeId id : cluster.ids) {
    std::vector<Bytes> data;
    for (const Entry& e : cluster.applied[id]) {
      if (!e.data.empty()) data.push_back(e.data);
    }
    RC_ASSERT(data.size() == static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) RC_ASSERT(data[i] == bytes_of(i));
  }
}

// Raft paper Figure 8: a leader must not commit an entry of an earlier term just because a
// majority holds it; only counting replicas of a current-term entry commits.
TEST(ConsensusRaft, NeverCommitsPreviousTermEntryByCountingReplicas) {
  Config config;
  config.id = 1;
  config.voters = {1, 2, 3};
  DurableState durable;
  durable.hard_state.term = 2;
  durable.entries = {Entry{1, 1, bytes_of(1)}, Entry{2, 2, bytes_of(2)}};
  Raft raft(config, durable);
  while (raft.role() != Role::kPreCandidate) raft.tick();
  raft.ready();
  raft.advance();
  Message grant;
  grant.type = MessageType::kPreVoteResponse;
  grant.from = 2;
  grant.to = 1;
  grant.term = 3;
  raft.step(grant);
  ASSERT_EQ(raft.role(), Role::kCandidate);
  grant.type = MessageType::kVoteResponse;
  raft.step(grant);
  ASSERT_EQ(raft.role(), Role::kLeader);
  ASSERT_EQ(raft.term(), 3u);
  raft.ready();
  raft.advance();  // leader's no-op at index 3 is durable
  Message ack;
  ack.type = MessageType::kAppendResponse;
  ack.from = 2;
  ack.to = 1;
  ack.term = 3;
  ack.index = 2;  // follower 2 holds the term-2 entry: 2 of 3 replicas
  raft.step(ack);
  EXPECT_LT(raft.commit_index(), 2u);
  ack.index = 3;  // now it holds the current-term no-op: commit everything up to 3
  raft.step(ack);
  EXPECT_EQ(raft.commit_index(), 3u);
}

TEST(ConsensusRaft, DivergentUncommittedSuffixIsReplacedByTheNewLeader) {
  Cluster cluster(3, 11);
  const NodeId old_leader = cluster.wait_for_leader();
  ASSERT_NE(old_leader, kNoNode);
  cluster.node(old_leader).propose(bytes_of(100));
  cluster.tick_all(3);
  cluster.isolate(old_leader);
  for (int i = 0; i < 5; ++i) cluster.node(old_leader).propose(bytes_of(200 + i));
  cluster.deliver_all();
  const Index stale_last = cluster.node(old_leader).last_index();
  NodeId new_leader = kNoNode;
  for (int t = 0; t < 300 && (new_leader == kNoNode || new_leader == old_leader); ++t) {
    cluster.tick_all();
    for (NodeId id : cluster.ids) {
      if (id != old_leader && cluster.node(id).role() == Role::kLeader) new_leader = id;
    }
  }
  ASSERT_NE(new_leader, kNoNode);
  for (int i = 0; i < 8; ++i) cluster.node(new_leader).propose(bytes_of(300 + i));
  cluster.tick_all(3);
  cluster.heal();
  cluster.tick_all(30);
  EXPECT_TRUE(logs_match(cluster));
  const Raft& old = cluster.node(old_leader);
  EXPECT_GE(old.last_index(), stale_last);
  for (Index i = 1; i <= old.last_index(); ++i) {
    const Entry* e = old.entry_at(i);
    ASSERT_NE(e, nullptr);
    if (!e->data.empty()) {
      EXPECT_FALSE(e->data[0] >= 200 && e->data[0] < 205) << "stale proposal survived at " << i;
    }
  }
  EXPECT_EQ(cluster.node(old_leader).commit_index(), cluster.node(new_leader).commit_index());
}

Term term_of_isolated_node_after(bool pre_vote) {
  Cluster cluster(3, 5, [&](Config& c) { c.pre_vote = pre_vote; });
  const NodeId leader = cluster.wait_for_leader();
  const NodeId victim = leader == 3 ? 2 : 3;
  const Term before = cluster.node(victim).term();
  cluster.isolate(victim);
  cluster.tick_all(200);
  return cluster.node(victim).term() - before;
}

TEST(ConsensusRaft, PreVoteKeepsAPartitionedNodeFromInflatingItsTerm) {
  EXPECT_EQ(term_of_isolated_node_after(true), 0u);
  EXPECT_GT(term_of_isolated_node_after(false), 3u);  // the test can tell the difference
}

TEST(ConsensusRaft, RejoiningPartitionedNodeDoesNotDisruptTheLeader) {
  Cluster cluster(3, 6);
  const NodeId leader = cluster.wait_for_leader();
  const Term term = cluster.node(leader).term();
  const NodeId victim = leader == 3 ? 2 : 3;
  cluster.isolate(victim);
  cluster.tick_all(100);
  cluster.heal();
  cluster.tick_all(50);
  EXPECT_EQ(cluster.leader(), leader);
  EXPECT_EQ(cluster.node(leader).term(), term);
}

TEST(ConsensusRaft, CheckQuorumMakesAnIsolatedLeaderStepDown) {
  Cluster cluster(3, 8);
  const NodeId leader = cluster.wait_for_leader();
  cluster.isolate(leader);
  const std::uint32_t timeout = cluster.configs[leader].election_timeout_ticks;
  cluster.tick_all(2 * timeout + 1);
  EXPECT_NE(cluster.node(leader).role(), Role::kLeader);
  Cluster without(3, 8, [](Config& c) { c.check_quorum = false; });
  const NodeId stubborn = without.wait_for_leader();
  without.isolate(stubborn);
  without.tick_all(2 * timeout + 1);
  EXPECT_EQ(without.node(stubborn).role(), Role::kLeader);  // contrast: no step-down
}

TEST(ConsensusRaft, FarBehindFollowerReceivesASnapshot) {
  Cluster cluster(3, 9);
  const NodeId leader = cluster.wait_for_leader();
  const NodeId lagging = leader == 3 ? 2 : 3;
  cluster.crash(lagging);
  for (int i = 0; i < 50; ++i) cluster.node(leader).propose(bytes_of(i));
  cluster.tick_all(3);
  Raft& l = cluster.node(leader);
  const Index applied = l.applied_index();
  ASSERT_GE(applied, 50u);
  ASSERT_EQ(l.compact(applied, bytes_of(applied)), Error::kNone);
  EXPECT_EQ(l.first_index(), applied + 1);
  cluster.restart(lagging);
  cluster.tick_all(20);
  EXPECT_EQ(cluster.snapshots_installed[lagging], 1);
  ASSERT_NE(cluster.disks[lagging].snapshot, std::nullopt);
  EXPECT_EQ(*cluster.disks[lagging].snapshot->data, bytes_of(applied));
  EXPECT_EQ(cluster.node(lagging).commit_index(), l.commit_index());
  // Replication continues after the snapshot.
  l.propose(bytes_of(999));
  cluster.tick_all(3);
  EXPECT_EQ(cluster.node(lagging).applied_index(), l.applied_index());
  EXPECT_EQ(cluster.applied[lagging].back().data, bytes_of(999));
}

TEST(ConsensusRaft, LeadershipTransferHandsOverWithinAFewTicks) {
  Cluster cluster(3, 10);
  const NodeId leader = cluster.wait_for_leader();
  const NodeId target = leader == 1 ? 2 : 1;
  const Term term = cluster.node(leader).term();
  cluster.node(leader).propose(bytes_of(5));  // target must catch up first
  ASSERT_EQ(cluster.node(leader).transfer_leadership(target), Error::kNone);
  EXPECT_EQ(cluster.node(leader).propose(bytes_of(6)).error, Error::kTransferInProgress);
  cluster.tick_all(3);
  EXPECT_EQ(cluster.leader(), target);
  EXPECT_EQ(cluster.node(target).term(), term + 1);
  EXPECT_EQ(cluster.node(leader).transfer_leadership(target), Error::kNotLeader);
}

RC_GTEST_PROP(ConsensusRaft, PreferredLeaderEndsUpLeading, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1000000);
  const auto preferred = *rc::gen::inRange<NodeId>(1, 4);
  Cluster cluster(3, seed, [&](Config& c) { c.preferred_leader = preferred; });
  cluster.tick_all(100);
  RC_ASSERT(cluster.leader() == preferred);
  // When it fails another node leads; when it returns it gets leadership back.
  cluster.isolate(preferred);
  cluster.tick_all(100);
  RC_ASSERT(cluster.leader() != kNoNode);
  RC_ASSERT(cluster.leader() != preferred || cluster.node(preferred).term() < 2);
  cluster.heal();
  cluster.tick_all(100);
  RC_ASSERT(cluster.leader() == preferred);
  RC_ASSERT(cluster.election_safe());
}

TEST(ConsensusRaft, ReadIndexOnLeaderAndFollower) {
  Cluster cluster(3, 12);
  const NodeId leader = cluster.wait_for_leader();
  cluster.tick_all(2);
  const ProposeResult write = cluster.node(leader).propose(bytes_of(7));
  cluster.tick_all(2);
  ASSERT_EQ(cluster.node(leader).read_index(77), Error::kNone);
  cluster.deliver_all();
  ASSERT_EQ(cluster.reads[leader].size(), 1u);
  EXPECT_EQ(cluster.reads[leader][0].context, 77u);
  EXPECT_GE(cluster.reads[leader][0].index, write.index);
  const NodeId follower = leader == 1 ? 2 : 1;
  ASSERT_EQ(cluster.node(follower).read_index(88), Error::kNone);
  cluster.deliver_all();
  ASSERT_EQ(cluster.reads[follower].size(), 1u);
  EXPECT_EQ(cluster.reads[follower][0].context, 88u);
  EXPECT_GE(cluster.reads[follower][0].index, write.index);
}

TEST(ConsensusRaft, WithoutALeaseAnIsolatedLeaderServesNoReadIndex) {
  Cluster cluster(3, 13, [](Config& c) { c.lease_reads = false; });
  const NodeId leader = cluster.wait_for_leader();
  cluster.tick_all(2);
  cluster.isolate(leader);
  ASSERT_EQ(cluster.node(leader).read_index(5), Error::kNone);
  cluster.tick_all(5);
  EXPECT_TRUE(cluster.reads[leader].empty());  // no quorum confirmed leadership
}

TEST(ConsensusRaft, UnderItsLeaseALeaderAnswersAReadWithoutARound) {
  Cluster cluster(3, 13);
  const NodeId leader = cluster.wait_for_leader();
  cluster.tick_all(2);
  ASSERT_EQ(cluster.node(leader).read_index(6), Error::kNone);
  cluster.process(leader);  // no message delivered
  ASSERT_EQ(cluster.reads[leader].size(), 1u);
  EXPECT_EQ(cluster.reads[leader][0].context, 6u);
}

TEST(ConsensusRaft, AnIsolatedLeaderServesNoReadOnceItsLeaseRanOut) {
  Cluster cluster(3, 13);
  const NodeId leader = cluster.wait_for_leader();
  cluster.tick_all(2);
  cluster.isolate(leader);
  // Election timeout 10, margin 3: the lease of the last answered round ends within 7
  // ticks; the others cannot have a new leader before 10.
  for (int t = 0; t < 8; ++t) {
    cluster.tick_all();
    for (NodeId other : cluster.ids) {
      if (other != leader) EXPECT_NE(cluster.node(other).role(), Role::kLeader) << "tick " << t;
    }
  }
  ASSERT_EQ(cluster.node(leader).read_index(7), Error::kNone);
  cluster.tick_all(5);
  EXPECT_TRUE(cluster.reads[leader].empty());
}

// A follower's read costs one round trip: the leader answers from its lease.
TEST(ConsensusRaft, AFollowersReadIsAnsweredFromTheLeadersLease) {
  Cluster cluster(3, 16);
  const NodeId leader = cluster.wait_for_leader();
  cluster.tick_all(2);
  const NodeId follower = leader == 1 ? 2 : 1;
  ASSERT_EQ(cluster.node(follower).read_index(9), Error::kNone);
  cluster.process(follower);
  ASSERT_EQ(cluster.network.size(), 1u);  // the request
  Message request = cluster.network.front();
  cluster.network.pop_front();
  cluster.node(leader).step(request);
  cluster.process(leader);
  ASSERT_FALSE(cluster.network.empty());
  EXPECT_EQ(cluster.network.back().type, MessageType::kReadIndexResponse);  // no round first
}

TEST(ConsensusRaft, ProposalsOnFollowersAreRefusedWithALeaderHint) {
  Cluster cluster(3, 14);
  const NodeId leader = cluster.wait_for_leader();
  cluster.tick_all(2);
  const NodeId follower = leader == 1 ? 2 : 1;
  const ProposeResult result = cluster.node(follower).propose(bytes_of(1));
  EXPECT_EQ(result.error, Error::kNotLeader);
  EXPECT_EQ(result.leader_hint, leader);
}

TEST(ConsensusRaft, CrashAndRestartKeepsCommittedEntries) {
  Cluster cluster(3, 15);
  NodeId leader = cluster.wait_for_leader();
  for (int i = 0; i < 10; ++i) cluster.node(leader).propose(bytes_of(i));
  cluster.tick_all(3);
  const Index committed = cluster.node(leader).commit_index();
  for (NodeId id : cluster.ids) cluster.crash(id);
  for (NodeId id : cluster.ids) cluster.restart(id);
  leader = cluster.wait_for_leader();
  ASSERT_NE(leader, kNoNode);
  cluster.tick_all(5);
  EXPECT_GT(cluster.node(leader).commit_index(), committed);
  for (Index i = 1; i <= committed; ++i) {
    EXPECT_EQ(cluster.node(leader).entry_at(i)->data, cluster.disks[leader].entries[i - 1].data);
  }
}

TEST(ConsensusRaft, GarbageMessagesAreIgnored) {
  Cluster cluster(3, 16);
  const NodeId leader = cluster.wait_for_leader();
  Raft& raft = cluster.node(leader == 1 ? 2 : 1);
  const Term term = raft.term();
  Message bad;
  bad.type = MessageType::kAppendResponse;  // an answer from a non-member is dropped
  bad.from = 99;
  bad.to = raft.id();
  bad.term = term + 5;
  raft.step(bad);
  EXPECT_EQ(raft.term(), term);
  bad.type = MessageType::kAppend;
  bad.from = leader;
  bad.entries = {Entry{term, 7, {}}};  // not consecutive after index 0
  raft.step(bad);
  EXPECT_EQ(raft.term(), term);
  EXPECT_EQ(raft.last_index(), cluster.node(leader).last_index());
}

TEST(ConsensusRaft, ConfigValidation) {
  Config config;
  EXPECT_TRUE(validate(config).has_value());
  config.id = 1;
  config.voters = {1, 2};
  EXPECT_FALSE(validate(config).has_value());
  config.voters = {2, 3};  // a node waiting to be added
  EXPECT_FALSE(validate(config).has_value());
  config.voters = {1, 1};
  EXPECT_TRUE(validate(config).has_value());
  config.voters = {1, 2};
  config.election_timeout_ticks = 1;
  EXPECT_TRUE(validate(config).has_value());
}

// Found by the codec fuzzer: a message with the largest term, then TimeoutNow, made the
// node campaign in term 2^64 (overflow) and trip "terms never go backwards".
TEST(ConsensusRaft, AbsurdTermsAreIgnoredInsteadOfOverflowing) {
  Config config;
  config.id = 1;
  config.voters = {1, 2, 3};
  Raft raft(config, DurableState{});
  Message heartbeat;
  heartbeat.type = MessageType::kHeartbeat;
  heartbeat.from = 2;
  heartbeat.to = 1;
  heartbeat.term = ~Term{0};
  raft.step(heartbeat);
  EXPECT_EQ(raft.term(), 0u);
  Message timeout_now = heartbeat;
  timeout_now.type = MessageType::kTimeoutNow;
  raft.step(timeout_now);
  EXPECT_LT(raft.term(), Term{1} << 62);
}

}  // namespace
}  // namespace aethel::consensus

namespace aethel::consensus {
namespace {

// Issue 12's repair scenario at the core's level: L leads, C is down, entries commit on
// L+B; B loses its disk and restarts; L dies; C returns. Returns whether C, which lacks
// the entries, could be elected.
bool amnesiac_helps_elect_a_stale_leader(bool recovering) {
  Cluster cluster(3, 21);
  const NodeId l = cluster.wait_for_leader();
  const NodeId b = l == 1 ? 2 : 1;
  const NodeId c = 6 - l - b;
  cluster.crash(c);
  for (int i = 0; i < 50; ++i) cluster.node(l).propose(bytes_of(i));
  cluster.tick_all(3);
  EXPECT_GE(cluster.node(l).commit_index(), 50u);
  cluster.crash(b);
  cluster.disks[b] = DurableState{};  // rebuilt: its log is gone
  cluster.restart(b);
  cluster.node(b).set_recovering(recovering);
  cluster.crash(l);
  cluster.restart(c);
  cluster.tick_all(300);
  return cluster.node(c).role() == Role::kLeader;
}

TEST(ConsensusRaft, ARecoveringNodeNeverHelpsElectALeaderLackingWhatItAcknowledged) {
  EXPECT_TRUE(amnesiac_helps_elect_a_stale_leader(false)) << "the scenario must show the danger";
  EXPECT_FALSE(amnesiac_helps_elect_a_stale_leader(true));
}

// With a vote floor (the most up-to-date log it learned of), a recovering node votes for
// a candidate at or above it and for no one below it.
TEST(ConsensusRaft, ARecoveringNodeVotesOnlyAboveItsFloor) {
  Cluster cluster(3, 23);
  const NodeId l = cluster.wait_for_leader();
  const NodeId b = l == 1 ? 2 : 1;
  const NodeId c = 6 - l - b;
  cluster.crash(c);
  for (int i = 0; i < 20; ++i) cluster.node(l).propose(bytes_of(i));
  cluster.tick_all(3);
  const LogPosition floor = cluster.node(l).last_position();
  cluster.crash(b);
  cluster.disks[b] = DurableState{};
  cluster.restart(b);
  cluster.node(b).set_recovering(true, Raft::VoteFloor{floor, cluster.node(l).term()});
  cluster.crash(l);
  cluster.restart(c);
  cluster.tick_all(300);
  EXPECT_NE(cluster.node(c).role(), Role::kLeader);  // below the floor: no vote from b
  cluster.restart(l);
  const NodeId leader = cluster.wait_for_leader();
  EXPECT_EQ(leader, l);  // at the floor: b (or c) votes for it
  EXPECT_GE(cluster.node(leader).commit_index(), floor.index);
  EXPECT_TRUE(cluster.election_safe());
}

TEST(ConsensusRaft, ARecoveringNodeFollowsAndAcknowledgesButNeverCampaigns) {
  Cluster cluster(3, 22);
  const NodeId l = cluster.wait_for_leader();
  const NodeId b = l == 1 ? 2 : 1;
  cluster.crash(b);
  cluster.disks[b] = DurableState{};
  cluster.restart(b);
  cluster.node(b).set_recovering(true);
  for (int i = 0; i < 5; ++i) cluster.node(l).propose(bytes_of(i));
  cluster.tick_all(5);
  EXPECT_EQ(cluster.node(b).commit_index(), cluster.node(l).commit_index());  // caught up
  EXPECT_EQ(cluster.node(l).transfer_leadership(b), Error::kNone);
  cluster.isolate(l);  // whatever happens now, b must not lead
  cluster.tick_all(300);
  EXPECT_NE(cluster.node(b).role(), Role::kLeader);
  EXPECT_NE(cluster.node(b).role(), Role::kCandidate);
  cluster.node(b).set_recovering(false);  // caught up: it may vote and lead again
  cluster.tick_all(300);
  EXPECT_NE(cluster.leader(), l);
  EXPECT_NE(cluster.leader(), kNoNode);
}

// A follower that lost its disk while the lattice is idle: the leader only sends
// heartbeats, and its record says the follower holds everything. The follower's answer
// says where its log ends, and the leader sends the entries again (found by the
// simulator: the rebuilt node stayed empty once the clients had stopped writing).
TEST(ConsensusRaft, AFollowerThatLostItsLogWhileIdleIsSentItAgain) {
  Cluster cluster(3, 23);
  const NodeId l = cluster.wait_for_leader();
  for (int i = 0; i < 5; ++i) cluster.node(l).propose(bytes_of(i));
  cluster.tick_all(5);
  const NodeId b = l == 1 ? 2 : 1;
  const Index committed = cluster.node(l).commit_index();
  ASSERT_EQ(cluster.node(b).commit_index(), committed);
  cluster.crash(b);
  cluster.disks[b] = DurableState{};
  cluster.restart(b);
  cluster.node(b).set_recovering(true);
  cluster.tick_all(20);  // heartbeats only: nothing is proposed
  EXPECT_EQ(cluster.node(b).last_index(), cluster.node(l).last_index());
  EXPECT_EQ(cluster.node(b).commit_index(), committed);
}

// The validators of a new lattice leave recovery together, long past their timeouts.
// They campaign one at a time in the order of their ids, jitter / voters ticks apart
// (15 / 2 / 3 = 2 ticks): at once they would all be candidates before any vote request
// arrived, and split the vote.
TEST(ConsensusRaft, ValidatorsLeavingRecoveryTogetherCampaignOneAtATime) {
  Cluster cluster(3, 24, [](Config& config) { config.election_timeout_ticks = 15; });
  for (NodeId id : cluster.ids) cluster.node(id).set_recovering(true);
  for (int t = 0; t < 60; ++t) {
    for (NodeId id : cluster.ids) cluster.node(id).tick();
  }
  for (NodeId id : cluster.ids) EXPECT_EQ(cluster.node(id).role(), Role::kFollower);
  for (NodeId id : cluster.ids) cluster.node(id).set_recovering(false);
  std::map<NodeId, int> campaigned_at_tick;
  for (int t = 1; t <= 10; ++t) {  // no message delivered: each campaigns on its own clock
    for (NodeId id : cluster.ids) {
      cluster.node(id).tick();
      if (cluster.node(id).role() != Role::kFollower) campaigned_at_tick.emplace(id, t);
    }
  }
  EXPECT_EQ(campaigned_at_tick, (std::map<NodeId, int>{{1, 1}, {2, 3}, {3, 5}}));
  EXPECT_NE(cluster.wait_for_leader(), kNoNode);
  EXPECT_TRUE(cluster.election_safe());
}

// Two survivors of a leader's crash whose timeouts fell within one network delay: both
// candidates in the same term, each refusing the other. They retry in their slots of
// the jitter, in id order (15 / 2 / 3 = 2 ticks per voter before them): the lower id
// campaigns first and wins the next term. At random times they could split again (with
// 50 ms one way, a leader-kill gap of 4.5 s: three splits in a row).
TEST(ConsensusRaft, CandidatesWhoseVoteSplitRetryInIdOrder) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    Cluster cluster(3, seed, [](Config& config) { config.election_timeout_ticks = 15; });
    const NodeId crashed = cluster.wait_for_leader();
    ASSERT_NE(crashed, kNoNode);
    cluster.crash(crashed);
    std::vector<NodeId> survivors;
    for (NodeId id : cluster.ids) {
      if (id != crashed) survivors.push_back(id);
    }
    auto role_of = [&](std::size_t i) { return cluster.node(survivors[i]).role(); };
    // Each times out on its own clock with its pre-votes held back...
    for (int t = 0;
         t < 40 && (role_of(0) != Role::kPreCandidate || role_of(1) != Role::kPreCandidate); ++t) {
      for (NodeId id : survivors) {
        if (cluster.node(id).role() == Role::kFollower) cluster.node(id).tick();
      }
    }
    // ...and in flight for two ticks (a WAN's delay: past the pre-vote tie-break, which
    // only covers pre-candidates that started within a heartbeat of each other)...
    for (int t = 0; t < 2; ++t) {
      for (NodeId id : survivors) cluster.node(id).tick();
    }
    // ...then both win their pre-votes and become candidates before either's vote
    // request arrives, and refuse each other.
    std::deque<Message> vote_requests;
    for (NodeId id : survivors) cluster.process(id);
    while (!cluster.network.empty()) {
      Message m = std::move(cluster.network.front());
      cluster.network.pop_front();
      if (cluster.down.count(m.to) > 0) continue;
      if (m.type == MessageType::kVote) {
        vote_requests.push_back(std::move(m));
        continue;
      }
      cluster.node(m.to).step(m);
      cluster.process(m.to);
    }
    cluster.network = std::move(vote_requests);
    cluster.deliver_all();
    ASSERT_EQ(role_of(0), Role::kCandidate);
    ASSERT_EQ(role_of(1), Role::kCandidate);
    const Term split_term = cluster.node(survivors[0]).term();
    ASSERT_EQ(cluster.node(survivors[1]).term(), split_term);
    EXPECT_EQ(cluster.wait_for_leader(100), survivors[0]);
    EXPECT_EQ(cluster.node(survivors[0]).term(), split_term + 1);
    EXPECT_TRUE(cluster.election_safe());
  }
}

}  // namespace
}  // namespace aethel::consensus
