// Test harness: a few Raft cores wired by an in-memory network, following the durability
// contract (persist, then send, then apply, then advance). Links can be cut one way.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "consensus/consensus.h"

namespace aethel::consensus::testing {

struct Cluster {
  std::vector<NodeId> ids;
  std::map<NodeId, Config> configs;
  std::map<NodeId, std::unique_ptr<Raft>> nodes;
  std::map<NodeId, DurableState> disks;
  std::map<NodeId, std::vector<Entry>> applied;  // entries applied since the last (re)start
  std::map<NodeId, std::vector<ReadState>> reads;
  std::map<NodeId, int> snapshots_installed;
  std::deque<Message> network;
  std::set<std::pair<NodeId, NodeId>> cut;  // (from, to) links that drop everything
  std::set<NodeId> down;
  std::map<Term, std::set<NodeId>> leaders_by_term;
  Prng drop_prng{7};
  std::uint64_t drop_percent = 0;
  bool pipelined = false;
  std::map<NodeId, std::deque<Ready>> unwritten;  // pipelined: handed out, not yet durable

  template <typename Tweak>
  Cluster(std::size_t size, std::uint64_t seed, Tweak tweak) {
    for (NodeId id = 1; id <= size; ++id) ids.push_back(id);
    for (NodeId id : ids) {
      Config config;
      config.id = id;
      config.voters = ids;
      config.prng_seed = seed * 1000 + id;
      tweak(config);
      configs[id] = config;
      disks[id] = DurableState{};
      nodes[id] = std::make_unique<Raft>(config, disks[id]);
    }
    drop_prng = Prng(seed);
  }
  Cluster(std::size_t size, std::uint64_t seed) : Cluster(size, seed, [](Config&) {}) {}

  Raft& node(NodeId id) { return *nodes.at(id); }

  void persist(NodeId id, const Ready& rd) {
    DurableState& disk = disks[id];
    if (rd.snapshot) {
      disk.snapshot = rd.snapshot;
      disk.entries.clear();
      ++snapshots_installed[id];
    }
    if (rd.hard_state) disk.hard_state = *rd.hard_state;
    if (!rd.entries.empty()) {
      const Index from = rd.entries.front().index;
      while (!disk.entries.empty() && disk.entries.back().index >= from) disk.entries.pop_back();
      disk.entries.insert(disk.entries.end(), rd.entries.begin(), rd.entries.end());
    }
  }

  void process(NodeId id) {
    if (down.count(id)) return;
    Raft& raft = node(id);
    while (raft.has_ready()) {
      Ready rd = raft.ready();
      if (rd.role == Role::kLeader) leaders_by_term[rd.term].insert(id);
      auto& log = applied[id];
      log.insert(log.end(), rd.committed_entries.begin(), rd.committed_entries.end());
      auto& r = reads[id];
      r.insert(r.end(), rd.read_states.begin(), rd.read_states.end());
      if (pipelined) {
        unwritten[id].push_back(std::move(rd));
        continue;
      }
      persist(id, rd);
      for (Message& m : rd.messages) network.push_back(std::move(m));
      raft.advance();
    }
    if (pipelined) write_oldest(id);
  }

  // Pipelined (Config::max_readies_in_flight > 1): Readys wait in `unwritten`; each
  // process() makes the oldest durable, sends its messages and advances.
  void write_oldest(NodeId id) {
    auto& queue = unwritten[id];
    if (queue.empty()) return;
    Ready rd = std::move(queue.front());
    queue.pop_front();
    persist(id, rd);
    for (Message& m : rd.messages) network.push_back(std::move(m));
    node(id).advance();
  }

  void deliver_all(std::size_t max_messages = 1000000) {
    for (NodeId id : ids) process(id);
    for (std::size_t i = 0; i < max_messages && !network.empty(); ++i) {
      Message m = std::move(network.front());
      network.pop_front();
      if (down.count(m.to) || down.count(m.from) || cut.count({m.from, m.to})) continue;
      if (drop_percent > 0 && drop_prng.chance(drop_percent, 100)) continue;
      node(m.to).step(m);
      process(m.to);
    }
  }

  void tick_all(std::size_t ticks = 1) {
    for (std::size_t t = 0; t < ticks; ++t) {
      for (NodeId id : ids) {
        if (down.count(id)) continue;
        node(id).tick();
      }
      deliver_all();
    }
  }

  // The node that is leader with the highest term, or kNoNode.
  NodeId leader() const {
    NodeId best = kNoNode;
    Term best_term = 0;
    for (const auto& [id, raft] : nodes) {
      if (down.count(id) || raft->role() != Role::kLeader) continue;
      if (best == kNoNode || raft->term() > best_term) best = id, best_term = raft->term();
    }
    return best;
  }

  NodeId wait_for_leader(std::size_t max_ticks = 500) {
    for (std::size_t t = 0; t < max_ticks; ++t) {
      tick_all();
      if (leader() != kNoNode) return leader();
    }
    return kNoNode;
  }

  void isolate(NodeId id) {
    for (NodeId other : ids) {
      if (other == id) continue;
      cut.insert({id, other});
      cut.insert({other, id});
    }
  }
  void heal() { cut.clear(); }

  void crash(NodeId id) {
    down.insert(id);
    unwritten[id].clear();  // never written
    nodes[id].reset();
  }
  void restart(NodeId id) {
    down.erase(id);
    applied[id].clear();
    const Index applied_index = disks[id].snapshot ? disks[id].snapshot->meta.index : 0;
    nodes[id] = std::make_unique<Raft>(configs[id], disks[id], applied_index);
  }

  // A new server with an empty disk that knows the group as `membership`.
  void add_node(NodeId id, const Membership& membership) {
    ids.push_back(id);
    Config config = configs.begin()->second;
    config.id = id;
    config.voters = membership.voters;
    config.learners = membership.learners;
    config.prng_seed = config.prng_seed * 31 + id;
    configs[id] = config;
    disks[id] = DurableState{};
    nodes[id] = std::make_unique<Raft>(config, disks[id]);
  }

  bool election_safe() const {
    for (const auto& [term, leaders] : leaders_by_term) {
      if (leaders.size() > 1) return false;
    }
    return true;
  }
};

}  // namespace aethel::consensus::testing
