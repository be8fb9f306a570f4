#include "node/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "consensus/consensus.h"

namespace aethel::node {
namespace {

constexpr uint8_t kBlockVersion = 1;
constexpr size_t kBlockHeaderBytes = 1 + 8 + 32 + 4;
constexpr uint32_t kReplayBlocksPerRead = 256;
constexpr uint64_t kReplayBytesPerRead = 64ull << 20;

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void put_u64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
uint64_t get_be(std::string_view bytes, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

Error bad_block(const std::string& why) {
  return Error{"bad_block", "stored block: " + why};
}

CommitResult failed(Error error) {
  CommitResult result;
  result.error = std::move(error);
  return result;
}

storage::Bytes to_bytes(std::string_view s) {
  return storage::Bytes(s.begin(), s.end());
}
std::string_view as_view(const storage::Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

std::string encode_block(const Block& block) {
  std::string out;
  out.push_back(static_cast<char>(kBlockVersion));
  put_u64(out, block.height);
  out.append(reinterpret_cast<const char*>(block.prev_root.data()), block.prev_root.size());
  put_u32(out, static_cast<uint32_t>(block.transactions.size()));
  for (const ledger::Transaction& tx : block.transactions) {
    std::string encoded = ledger::encode_transaction(tx);
    put_u32(out, static_cast<uint32_t>(encoded.size()));
    out += encoded;
  }
  return out;
}

Result<Block> decode_block(std::string_view bytes) {
  if (bytes.size() < kBlockHeaderBytes) return bad_block("truncated header");
  if (static_cast<uint8_t>(bytes[0]) != kBlockVersion) {
    return bad_block(fmt::format("unknown version {}", static_cast<uint8_t>(bytes[0])));
  }
  Block block;
  block.height = get_be(bytes, 1, 8);
  std::copy_n(bytes.begin() + 9, 32, reinterpret_cast<char*>(block.prev_root.data()));
  uint64_t count = get_be(bytes, 41, 4);
  if (count > ledger::kMaxBlockTransactions) return bad_block("too many transactions");
  size_t at = kBlockHeaderBytes;
  for (uint64_t i = 0; i < count; ++i) {
    if (bytes.size() - at < 4) return bad_block("truncated transaction length");
    uint64_t length = get_be(bytes, at, 4);
    at += 4;
    if (bytes.size() - at < length) return bad_block("truncated transaction");
    auto tx = ledger::decode_transaction(bytes.substr(at, length));
    if (!tx.ok()) return bad_block(tx.error().message);
    block.transactions.push_back(std::move(tx).value());
    at += length;
  }
  if (at != bytes.size()) return bad_block("trailing bytes");
  return block;
}

// ---------------------------------------------------------------------------
// Envelopes: what validators send each other through the Transport
// ---------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
using consensus::Index;
using consensus::Term;

enum class EnvelopeKind : uint8_t {
  kRaft = 1,          // a consensus::Message
  kForward = 2,       // follower → leader: u64 request id | transactions as a block
  kForwardReply = 3,  // leader → follower: u64 request id | u8 accepted | u64 term |
                      // u64 index | u32 offset of the request in that entry
};
constexpr size_t kForwardReplyBytes = 1 + 8 + 1 + 8 + 8 + 4;
// Outcomes of recently applied entries, for forward replies that arrive after the
// follower already applied the entry they point at.
constexpr size_t kRecentEntries = 256;
// Forwarded writes remembered per leader, to drop a second delivery of one.
constexpr size_t kRememberedForwards = 65'536;
// A Ready with at least this many committed entries is a backlog worth progress lines.
constexpr size_t kProgressMinEntries = 64;
constexpr auto kProgressInterval = std::chrono::seconds(1);

std::string envelope(EnvelopeKind kind, std::string_view payload) {
  std::string out(1, static_cast<char>(kind));
  out += payload;
  return out;
}

// Raft entries carry their transactions in the block layout, height and root zero:
// those are only known when the entry is applied.
std::string encode_entry(const std::vector<ledger::Transaction>& txs) {
  return encode_block(Block{0, {}, txs});
}

struct ForwardReply {
  uint64_t request_id = 0;
  bool accepted = false;
  Term term = 0;
  Index index = 0;
  uint32_t offset = 0;
};

std::string encode_forward_reply(const ForwardReply& reply) {
  std::string out(1, static_cast<char>(EnvelopeKind::kForwardReply));
  put_u64(out, reply.request_id);
  out.push_back(reply.accepted ? 1 : 0);
  put_u64(out, reply.term);
  put_u64(out, reply.index);
  put_u32(out, reply.offset);
  return out;
}

std::optional<ForwardReply> decode_forward_reply(std::string_view bytes) {
  if (bytes.size() != kForwardReplyBytes) return std::nullopt;
  return ForwardReply{get_be(bytes, 1, 8), bytes[9] != 0, get_be(bytes, 10, 8),
                      get_be(bytes, 18, 8), static_cast<uint32_t>(get_be(bytes, 26, 4))};
}

Error unavailable(std::string message) {
  return Error{"unavailable", std::move(message)};
}

std::string vote_to_string(consensus::NodeId vote) {
  return vote == consensus::kNoNode ? "" : std::to_string(vote);
}
consensus::NodeId vote_from_string(const std::string& text) {
  return text.empty() ? consensus::kNoNode : std::stoull(text);
}

}  // namespace

// ---------------------------------------------------------------------------
// Replica: drives the Raft core. One thread persists, sends and applies; any
// thread may submit or deliver messages (both under `mutex_`, microseconds).
// ---------------------------------------------------------------------------

class Node::Replica {
  using LedgerSlot = Node::LedgerSlot;

 public:
  Replica(Node& node, const NodeOptions& options, consensus::Raft raft, uint64_t last_stored_height)
      : node_(node),
        options_(options),
        raft_(std::move(raft)),
        last_stored_height_(last_stored_height) {
    // The committed log after the snapshot is applied before anyone reads.
    while (raft_.has_ready()) {
      consensus::Ready ready = raft_.ready();
      handle_ready(ready);
      raft_.advance();
    }
    applied_through_ = raft_.applied_index();
    // A group of one need not wait out an election timeout: it elects itself now.
    for (uint32_t i = 0; node_.validators_.size() == 1 && i < 4 * options_.election_timeout_ticks &&
                         raft_.role() != consensus::Role::kLeader;
         ++i) {
      raft_.tick();
    }
    status_ = status_locked();
    thread_ = std::thread([this] { run(); });
  }

  ~Replica() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    Error stopping{"stopping", "the node is stopping"};
    for (Submission& s : queue_) s.done(failed(stopping));
    for (auto& [id, s] : awaiting_reply_) s.done(failed(stopping));
    for (auto& [index, w] : waiters_) w.done(failed(stopping));
  }

  void submit(std::vector<ledger::Transaction> txs, CommitCallback done) {
    {
      std::lock_guard lock(mutex_);
      if (!stopping_) {
        queue_.push_back(Submission{std::move(txs), std::move(done), deadline(), {}, 0});
        wake_.notify_one();
        return;
      }
    }
    done(failed(Error{"stopping", "the node is stopping"}));
  }

  void receive(const std::string& from_peer, std::string_view bytes) {
    consensus::NodeId from = node_id_of(from_peer);
    if (from == consensus::kNoNode || bytes.empty()) return;
    std::string_view payload = bytes.substr(1);
    switch (static_cast<EnvelopeKind>(bytes[0])) {
      case EnvelopeKind::kRaft:
        return receive_raft(from, payload);
      case EnvelopeKind::kForward:
        return receive_forward(from_peer, payload);
      case EnvelopeKind::kForwardReply:
        if (auto reply = decode_forward_reply(bytes)) receive_forward_reply(*reply);
        return;
    }
  }

  void set_transport(Transport* transport) {
    std::lock_guard lock(mutex_);
    transport_ = transport;
  }

  ConsensusStatus status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

  void on_block_applied(std::function<void(const AppliedBlock&)> callback) {
    std::lock_guard lock(mutex_);
    on_block_applied_ = std::move(callback);
  }
  void on_role_changed(std::function<void(const ConsensusStatus&)> callback) {
    std::lock_guard lock(mutex_);
    on_role_changed_ = std::move(callback);
  }

 private:
  // A write waiting to be proposed. `origin` set: it came from that follower, which
  // waits for a ForwardReply with `request_id`.
  struct Submission {
    std::vector<ledger::Transaction> txs;
    CommitCallback done;
    Clock::time_point deadline;
    std::string origin;
    uint64_t request_id = 0;
  };
  // A proposed write waiting for its entry to be applied.
  struct Waiter {
    Term term = 0;
    uint32_t offset = 0;
    uint32_t count = 0;
    CommitCallback done;
    Clock::time_point deadline;
  };
  struct AppliedEntry {
    Index index = 0;
    Term term = 0;
    uint64_t height = 0;
    ledger::Hash root{};
    std::vector<ledger::Outcome> outcomes;
  };

  Clock::time_point deadline() const {
    return Clock::now() + std::chrono::milliseconds(options_.commit_timeout_ms);
  }

  consensus::NodeId node_id_of(const std::string& peer_id) const {
    const auto& v = node_.validators_;
    auto it = std::lower_bound(v.begin(), v.end(), peer_id);
    if (it == v.end() || *it != peer_id) return consensus::kNoNode;
    return static_cast<consensus::NodeId>(it - v.begin()) + 1;
  }
  const std::string& peer_of(consensus::NodeId id) const { return node_.validators_[id - 1]; }

  void receive_raft(consensus::NodeId from, std::string_view payload) {
    auto decoded = consensus::decode(
        std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
    if (!decoded.message || decoded.message->from != from) return;
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    raft_.step(*decoded.message);
    wake_.notify_one();
  }

  void receive_forward(const std::string& from_peer, std::string_view payload) {
    if (payload.size() < 8) return;
    uint64_t request_id = get_be(payload, 0, 8);
    auto block = decode_block(payload.substr(8));
    if (!block.ok() || block.value().transactions.empty()) return;
    std::lock_guard lock(mutex_);
    if (stopping_ || !first_delivery(from_peer, request_id)) return;
    queue_.push_back(Submission{std::move(block.value().transactions), nullptr, deadline(),
                                from_peer, request_id});
    wake_.notify_one();
  }

  // The transport may deliver a forward twice (a P2P request that failed after it
  // arrived is resent over HTTP); proposing it twice could apply it twice.
  bool first_delivery(const std::string& from_peer, uint64_t request_id) {
    auto key = std::make_pair(from_peer, request_id);
    if (!seen_forwards_.insert(key).second) return false;
    seen_order_.push_back(std::move(key));
    if (seen_order_.size() > kRememberedForwards) {
      seen_forwards_.erase(seen_order_.front());
      seen_order_.pop_front();
    }
    return true;
  }

  void receive_forward_reply(const ForwardReply& reply) {
    std::unique_lock lock(mutex_);
    auto it = awaiting_reply_.find(reply.request_id);
    if (it == awaiting_reply_.end()) return;
    Submission submission = std::move(it->second);
    awaiting_reply_.erase(it);
    if (!reply.accepted) {  // the leader moved: route it again
      queue_.push_back(std::move(submission));
      wake_.notify_one();
      return;
    }
    Waiter waiter{reply.term, reply.offset, static_cast<uint32_t>(submission.txs.size()),
                  std::move(submission.done), submission.deadline};
    if (reply.index > applied_through_) {
      waiters_.emplace(reply.index, std::move(waiter));
      return;
    }
    CommitResult result = recent_result(reply.index, waiter);
    lock.unlock();
    waiter.done(std::move(result));
  }

  // --- the consensus thread ------------------------------------------------

  void run() {
    const auto tick = std::chrono::milliseconds(options_.tick_ms);
    Clock::time_point next_tick = Clock::now() + tick;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_until(lock, next_tick, [&] {
        return stopping_ || raft_.has_ready() || (!queue_.empty() && can_route());
      });
      if (stopping_) break;
      Clock::time_point now = Clock::now();
      if (now >= next_tick) {
        raft_.tick();
        next_tick = std::max(next_tick + tick, now);
        expire(now, lock);
      }
      route_submissions();
      if (!raft_.has_ready()) continue;
      consensus::Ready ready = raft_.ready();
      lock.unlock();
      handle_ready(ready);  // persists, or stops the process
      lock.lock();
      raft_.advance();
      maybe_compact();
      publish_status(lock);
    }
  }

  bool can_route() const {
    return raft_.role() == consensus::Role::kLeader || raft_.leader() != consensus::kNoNode;
  }

  // Leader: everything queued (up to the block cap) becomes one entry. Follower with
  // a known leader: each submission is forwarded. No leader: it waits.
  void route_submissions() {
    reroute_after_leader_change();
    if (queue_.empty()) return;
    if (raft_.role() == consensus::Role::kLeader) return propose_group();
    consensus::NodeId leader = raft_.leader();
    if (leader == consensus::kNoNode || transport_ == nullptr) return;
    while (!queue_.empty()) {
      Submission s = std::move(queue_.front());
      queue_.pop_front();
      if (!s.origin.empty()) {  // a follower asked the wrong node: let it retry
        send(s.origin, encode_forward_reply(ForwardReply{s.request_id, false, 0, 0, 0}));
        continue;
      }
      uint64_t request_id = next_request_id_++;
      std::string payload;
      put_u64(payload, request_id);
      payload += encode_entry(s.txs);
      send(peer_of(leader), envelope(EnvelopeKind::kForward, payload));
      awaiting_reply_.emplace(request_id, std::move(s));
    }
  }

  // Writes forwarded to a leader that is gone would wait for their deadline; those
  // whose transactions all carry client ids go to the new leader instead. Should the
  // old leader have committed them after all, idempotency answers with "exists".
  // Without client ids a resend could apply twice, so those wait (outcome unknown).
  void reroute_after_leader_change() {
    consensus::NodeId leader = raft_.leader();
    if (leader == routed_leader_) return;
    routed_leader_ = leader;
    for (auto it = awaiting_reply_.begin(); it != awaiting_reply_.end();) {
      const auto& txs = it->second.txs;
      bool idempotent = std::all_of(txs.begin(), txs.end(), [](const ledger::Transaction& tx) {
        return !tx.client_id.empty();
      });
      if (!idempotent) {
        ++it;
        continue;
      }
      queue_.push_front(std::move(it->second));
      it = awaiting_reply_.erase(it);
    }
  }

  void propose_group() {
    std::vector<Submission> group;
    std::vector<ledger::Transaction> txs;
    while (!queue_.empty()) {
      size_t next = queue_.front().txs.size();
      if (!group.empty() && txs.size() + next > options_.max_block_transactions) break;
      for (ledger::Transaction& tx : queue_.front().txs) txs.push_back(tx);
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    std::string data = encode_entry(txs);
    consensus::ProposeResult proposed = raft_.propose(consensus::Bytes(data.begin(), data.end()));
    if (proposed.error != consensus::Error::kNone) {
      Error error = unavailable(std::string("consensus refused the write: ") +
                                consensus::error_name(proposed.error));
      for (Submission& s : group) {
        if (s.origin.empty()) s.done(failed(error));  // a follower's request times out there
      }
      return;
    }
    uint32_t offset = 0;
    for (Submission& s : group) {
      uint32_t count = static_cast<uint32_t>(s.txs.size());
      if (s.origin.empty()) {
        waiters_.emplace(proposed.index,
                         Waiter{proposed.term, offset, count, std::move(s.done), s.deadline});
      } else {
        send(s.origin, encode_forward_reply(ForwardReply{s.request_id, true, proposed.term,
                                                         proposed.index, offset}));
      }
      offset += count;
    }
  }

  void send(const std::string& peer, std::string bytes) {
    if (transport_ != nullptr) transport_->send(peer, std::move(bytes));
  }

  // Fails what waited past its deadline; the write may still commit later.
  void expire(Clock::time_point now, std::unique_lock<std::mutex>& lock) {
    std::vector<CommitCallback> expired;
    auto take = [&](auto& container, auto item_of) {
      for (auto it = container.begin(); it != container.end();) {
        auto& item = item_of(*it);
        if (item.deadline > now) {
          ++it;
          continue;
        }
        if (item.done) expired.push_back(std::move(item.done));
        it = container.erase(it);
      }
    };
    auto itself = [](auto& x) -> auto& {
      return x;
    };
    auto mapped = [](auto& pair) -> auto& {
      return pair.second;
    };
    take(queue_, itself);
    take(awaiting_reply_, mapped);
    take(waiters_, mapped);
    if (expired.empty()) return;
    lock.unlock();
    Error error = unavailable(
        "no quorum answered in time; the outcome is unknown and a retry "
        "with the same id is safe");
    for (CommitCallback& done : expired) done(failed(error));
    lock.lock();
  }

  // Applies committed entries, persists the Ready with one fsync, then sends.
  void handle_ready(consensus::Ready& ready) {
    if (ready.snapshot) install_snapshot(*ready.snapshot);
    storage::WriteBatch batch = persistable(ready);
    CatchUpProgress progress(ready.committed_entries.size(), last_applied_height_, *this);
    for (consensus::Entry& entry : ready.committed_entries) {
      apply_entry(entry, batch);
      progress.applied(last_applied_height_);
    }
    progress.finish();
    if (!ready.committed_entries.empty()) answer_through(ready.committed_entries.back().index);
    auto write_start = Clock::now();
    storage::Status written = node_.store_->write(batch);
    bool wrote = batch.snapshot || !batch.entries.empty() || batch.hard_state ||
                 !batch.blocks.empty();  // an empty batch costs no fsync: not a sample
    if (options_.on_store_write && wrote) {
      options_.on_store_write(std::chrono::duration<double>(Clock::now() - write_start).count());
    }
    if (!written.ok()) {
      // Nothing may be sent that promises these writes; without a disk the node
      // cannot take part, and continuing could acknowledge lost data.
      fmt::print(stderr, "[NODE] fatal: cannot persist consensus state: {}\n", written.to_string());
      std::abort();
    }
    for (consensus::Message& message : ready.messages) {
      consensus::Bytes bytes = consensus::encode(message);
      send(peer_of(message.to),
           envelope(EnvelopeKind::kRaft,
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
    }
  }

  storage::WriteBatch persistable(const consensus::Ready& ready) {
    storage::WriteBatch batch;
    if (ready.snapshot) {
      const consensus::Snapshot& s = *ready.snapshot;
      batch.snapshot = storage::Snapshot{s.meta.index, s.meta.term, {}, *s.data};
    }
    for (const consensus::Entry& e : ready.entries) {
      batch.entries.push_back(storage::LogEntry{e.index, e.term, e.data});
    }
    if (ready.hard_state) {
      batch.hard_state = storage::HardState{
          ready.hard_state->term, vote_to_string(ready.hard_state->vote), ready.hard_state->commit};
    }
    return batch;
  }

  // Progress of a long run of committed entries (a restart's replay, a follower
  // catching up): one line at most every kProgressInterval, so an operator sees a
  // backlog move without a line per block.
  class CatchUpProgress {
   public:
    CatchUpProgress(size_t total_entries, uint64_t height_before, Replica& replica)
        : total_(total_entries),
          replica_(replica),
          last_height_(height_before),
          last_line_(Clock::now()) {}
    // One committed entry was applied; the ledger is now at `height` (unchanged for a
    // leader's no-op entry).
    void applied(uint64_t height) {
      ++done_;
      if (height == last_height_) return;
      if (first_height_ == 0) first_height_ = height;
      last_height_ = height;
      if (total_ < kProgressMinEntries || Clock::now() - last_line_ < kProgressInterval) return;
      line();
    }
    // The closing line of a backlog that printed progress.
    void finish() {
      if (total_ >= kProgressMinEntries && first_height_ != 0) line();
    }

   private:
    void line() {
      replica_.log(fmt::format("[SYNC] applied blocks {}..{} ({}/{})", first_height_, last_height_,
                               done_, total_));
      first_height_ = 0;
      last_line_ = Clock::now();
    }
    size_t total_;
    size_t done_ = 0;
    Replica& replica_;
    uint64_t first_height_ = 0;  // of the blocks not yet reported; 0: none
    uint64_t last_height_ = 0;
    Clock::time_point last_line_;
  };

  void log(const std::string& line) const {
    if (options_.log) {
      options_.log(line);
    } else {
      fmt::print("{}\n", line);
      std::fflush(stdout);
    }
  }

  void install_snapshot(const consensus::Snapshot& snapshot) {
    log(fmt::format("[SYNC] installing snapshot at log index {} ({} bytes)", snapshot.meta.index,
                    snapshot.data->size()));
    auto restored = ledger::Ledger::deserialize(std::string_view(
        reinterpret_cast<const char*>(snapshot.data->data()), snapshot.data->size()));
    if (!restored.ok()) {
      fmt::print(stderr, "[NODE] fatal: the leader's snapshot does not decode: {}\n",
                 restored.error().message);
      std::abort();
    }
    for (LedgerSlot& slot : node_.slots_) {
      std::unique_lock lock(slot.mutex);
      slot.ledger = restored.value();
    }
    last_applied_height_ = restored.value().height();
    log(fmt::format("[SYNC] installed snapshot at height {} (log index {}, {} bytes)",
                    restored.value().height(), snapshot.meta.index, snapshot.data->size()));
  }

  // Entry → block: applied to the ledger readers do not use, published, then the
  // other ledger follows. Blocks already stored (a restart re-applies the log after
  // the last snapshot) are not written again.
  void apply_entry(const consensus::Entry& entry, storage::WriteBatch& batch) {
    if (entry.data.empty()) return;  // a new leader's no-op
    auto decoded = decode_block(
        std::string_view(reinterpret_cast<const char*>(entry.data.data()), entry.data.size()));
    if (!decoded.ok()) {
      fmt::print(stderr, "[NODE] fatal: committed entry {} does not decode: {}\n", entry.index,
                 decoded.error().message);
      std::abort();
    }
    Block block = std::move(decoded).value();
    int standby = 1 - node_.published_.load();
    AppliedEntry applied{entry.index, entry.term, 0, {}, {}};
    {
      LedgerSlot& slot = node_.slots_[standby];
      std::unique_lock lock(slot.mutex);
      block.height = slot.ledger.height() + 1;
      block.prev_root = slot.ledger.root();
      auto result = slot.ledger.apply_block(block.height, block.transactions);
      if (!result.ok()) {
        fmt::print(stderr, "[NODE] fatal: block {} cannot be applied: {}\n", block.height,
                   result.error().message);
        std::abort();
      }
      applied.height = result.value().height;
      applied.root = result.value().root;
      applied.outcomes = std::move(result.value().outcomes);
    }
    node_.published_.store(standby, std::memory_order_release);
    catch_up_standby(block, applied.root);
    if (block.height > last_stored_height_) {
      batch.blocks.push_back({block.height, to_bytes(encode_block(block))});
      last_stored_height_ = block.height;
    }
    last_applied_height_ = applied.height;
    if (on_block_applied_) {
      size_t committed = static_cast<size_t>(
          std::count_if(applied.outcomes.begin(), applied.outcomes.end(),
                        [](const ledger::Outcome& o) { return o.committed(); }));
      on_block_applied_(
          AppliedBlock{applied.height, applied.root, applied.outcomes.size(), committed});
    }
    just_applied_.push_back(std::move(applied));
    ++blocks_since_snapshot_;
  }

  // Determinism makes both ledgers equal; a difference is a bug that would make the
  // next reads disagree, so it stops the node.
  void catch_up_standby(const Block& block, const ledger::Hash& expected_root) {
    LedgerSlot& slot = node_.slots_[1 - node_.published_.load()];
    std::unique_lock lock(slot.mutex);
    auto result = slot.ledger.apply_block(block.height, block.transactions);
    if (!result.ok() || result.value().root != expected_root) {
      fmt::print(stderr, "[NODE] fatal: the standby ledger diverged at height {}\n", block.height);
      std::abort();
    }
  }

  CommitResult recent_result(Index index, const Waiter& waiter) const {
    for (const AppliedEntry& e : recent_) {
      if (e.index != index) continue;
      if (e.term != waiter.term || waiter.offset + waiter.count > e.outcomes.size()) break;
      CommitResult result{std::nullopt, e.height, e.root, {}};
      auto first = e.outcomes.begin() + waiter.offset;
      result.outcomes.assign(first, first + waiter.count);
      return result;
    }
    return failed(unavailable(
        "the outcome of this write is not known here (its log entry was replaced by another "
        "leader's, or arrived inside a snapshot); a retry with the same id is safe"));
  }

  // Answers every waiter whose entry is now applied. This may run before the fsync
  // of the current Ready: a committed entry is already durable on a majority, which
  // is the promise an answer makes, and the local log holds it since an earlier Ready.
  void answer_through(Index applied) {
    std::vector<std::pair<CommitCallback, CommitResult>> answers;
    {
      std::lock_guard lock(mutex_);
      for (AppliedEntry& e : just_applied_) recent_.push_back(std::move(e));
      just_applied_.clear();
      while (recent_.size() > kRecentEntries) recent_.pop_front();
      applied_through_ = applied;
      while (!waiters_.empty() && waiters_.begin()->first <= applied) {
        auto node = waiters_.extract(waiters_.begin());
        Waiter& w = node.mapped();
        answers.emplace_back(std::move(w.done), recent_result(node.key(), w));
      }
    }
    for (auto& [done, result] : answers) done(std::move(result));
  }

  // Every snapshot_interval_blocks blocks, the ledger state becomes the Raft
  // snapshot and the log before it is dropped.
  void maybe_compact() {
    if (options_.snapshot_interval_blocks == 0 ||
        blocks_since_snapshot_ < options_.snapshot_interval_blocks) {
      return;
    }
    blocks_since_snapshot_ = 0;
    Index index = raft_.applied_index();
    std::string state = node_.read([](const ledger::Ledger& l) { return l.serialize(); });
    consensus::Bytes bytes(state.begin(), state.end());
    if (raft_.compact(index, bytes) != consensus::Error::kNone) return;
    auto term = raft_.term_at(index);
    storage::WriteBatch batch;
    batch.snapshot = storage::Snapshot{index, term.value_or(0), {}, std::move(bytes)};
    storage::Status written = node_.store_->write(batch);
    if (written.ok()) written = node_.store_->compact_prefix(index);
    if (!written.ok()) {
      log(fmt::format("[NODE] snapshot at log index {} failed: {}", index, written.to_string()));
    }
  }

  ConsensusStatus status_locked() const {
    ConsensusStatus s;
    bool alone = node_.validators_.size() == 1;
    switch (raft_.role()) {
      case consensus::Role::kLeader:
        s.role = alone ? "standalone" : "leader";
        break;
      case consensus::Role::kFollower:
        s.role = alone ? "standalone" : "follower";
        break;
      default:
        s.role = alone ? "standalone" : "candidate";
    }
    s.term = raft_.term();
    if (raft_.leader() != consensus::kNoNode) s.leader_peer_id = peer_of(raft_.leader());
    s.commit_index = raft_.commit_index();
    s.applied_index = raft_.applied_index();
    return s;
  }

  void publish_status(std::unique_lock<std::mutex>& lock) {
    ConsensusStatus now = status_locked();
    bool changed = now.role != status_.role || now.term != status_.term ||
                   now.leader_peer_id != status_.leader_peer_id;
    status_ = now;
    if (!changed) return;
    auto callback = on_role_changed_;
    if (!callback) return;
    lock.unlock();
    callback(now);
    lock.lock();
  }

  Node& node_;
  const NodeOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  consensus::Raft raft_;
  Transport* transport_ = nullptr;
  std::deque<Submission> queue_;
  std::map<uint64_t, Submission> awaiting_reply_;
  std::multimap<Index, Waiter> waiters_;
  // Random start: a restarted follower must not reuse ids the leader remembers.
  uint64_t next_request_id_ = (uint64_t{std::random_device{}()} << 32) ^
                              static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  std::set<std::pair<std::string, uint64_t>> seen_forwards_;
  std::deque<std::pair<std::string, uint64_t>> seen_order_;
  consensus::NodeId routed_leader_ = consensus::kNoNode;  // where forwards went last
  std::deque<AppliedEntry> recent_;                       // guarded by mutex_
  std::vector<AppliedEntry> just_applied_;  // consensus thread only, until answer_through
  Index applied_through_ = 0;               // guarded by mutex_
  uint64_t last_stored_height_ = 0;
  uint64_t blocks_since_snapshot_ = 0;
  uint64_t last_applied_height_ = 0;  // consensus thread only; for progress lines
  ConsensusStatus status_;
  std::function<void(const AppliedBlock&)> on_block_applied_;
  std::function<void(const ConsensusStatus&)> on_role_changed_;
  bool stopping_ = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// Opening: key, store, consensus state, ledger restore
// ---------------------------------------------------------------------------

namespace {

Result<std::vector<std::string>> validator_set(std::vector<std::string> validators,
                                               const std::string& self) {
  if (validators.empty()) validators.push_back(self);
  std::sort(validators.begin(), validators.end());
  validators.erase(std::unique(validators.begin(), validators.end()), validators.end());
  if (!std::binary_search(validators.begin(), validators.end(), self)) {
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

Error storage_error(const storage::Status& status) {
  return Error{"storage_error", status.to_string()};
}

// The snapshot, hard state and log the store holds, as the consensus core wants them.
Result<consensus::DurableState> durable_state(const storage::Store& store,
                                              const std::vector<consensus::NodeId>& voters) {
  consensus::DurableState durable;
  auto hard = store.hard_state();
  if (!hard.ok()) return storage_error(hard.status());
  durable.hard_state =
      consensus::HardState{hard->term, vote_from_string(hard->voted_for), hard->commit_index};
  auto snapshot = store.snapshot();
  if (!snapshot.ok()) return storage_error(snapshot.status());
  if (snapshot.value()) {
    const storage::Snapshot& s = **snapshot;
    durable.snapshot = consensus::Snapshot{
        consensus::SnapshotMeta{s.last_included_index, s.last_included_term, voters},
        std::make_shared<const consensus::Bytes>(s.data)};
  }
  auto bounds = store.log_bounds();
  if (!bounds.ok()) return storage_error(bounds.status());
  // A snapshot is written before the log prefix it covers is dropped (two commits): a
  // crash in between leaves entries the snapshot already holds. They are skipped.
  uint64_t first = bounds->first_index;
  if (durable.snapshot) first = std::max(first, durable.snapshot->meta.index + 1);
  for (uint64_t from = first; from <= bounds->last_index;) {
    auto entries = store.entries(from, bounds->last_index + 1, kReplayBytesPerRead);
    if (!entries.ok()) return storage_error(entries.status());
    for (storage::LogEntry& e : entries.value()) {
      durable.entries.push_back(consensus::Entry{e.term, e.index, std::move(e.data)});
    }
    from += entries->size();
  }
  if (auto broken = consensus::validate(durable)) {
    return Error{"bad_log", "the consensus log in " + store.dir().string() + ": " + *broken};
  }
  return durable;
}

Result<ledger::Ledger> ledger_at(const consensus::DurableState& durable,
                                 const ledger::Genesis& genesis, const storage::Store& store) {
  if (!durable.snapshot) return ledger::Ledger(genesis);
  const consensus::Bytes& data = *durable.snapshot->data;
  auto restored = ledger::Ledger::deserialize(
      std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
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
  return restored;
}

consensus::Config consensus_config(const NodeOptions& options,
                                   const std::vector<std::string>& validators,
                                   const std::string& self) {
  consensus::Config config;
  for (size_t i = 0; i < validators.size(); ++i) {
    config.voters.push_back(i + 1);
    if (validators[i] == self) config.id = i + 1;
  }
  config.election_timeout_ticks = options.election_timeout_ticks;
  config.max_entry_bytes = 64ull << 20;  // a block of 8192 transfers with memos
  // Blocks are large: a deep pipeline of 1 MiB appends only queues behind itself in
  // the follower's stream windows and delays the answers the stall detector waits for.
  config.max_inflight_appends = 8;
  // Seeded by identity, so two nodes never draw the same timeouts.
  config.prng_seed = ledger::sha256(self)[0] * 0x9E3779B97F4A7C15ull + 1;
  return config;
}

}  // namespace

Result<std::unique_ptr<Node>> Node::open(const NodeOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  auto store = storage::Store::open(options.data_dir);
  if (!store.ok()) return storage_error(store.status());
  auto key = p2p::load_or_create_key(options.node_key_path.string());
  if (!key.ok()) {
    return Error{"bad_key", options.node_key_path.string() + ": " + key.error().message};
  }
  std::string self = p2p::PeerId::from_public_key(key.value().public_key()).to_base58();
  auto validators = validator_set(options.validators, self);
  if (!validators.ok()) return validators.error();
  consensus::Config config = consensus_config(options, validators.value(), self);
  auto durable = durable_state(*store.value(), config.voters);
  if (!durable.ok()) return durable.error();
  auto ledger = ledger_at(durable.value(), options.genesis, *store.value());
  if (!ledger.ok()) return ledger.error();
  if (auto broken = ledger.value().check_invariants()) return *broken;
  auto blocks = store.value()->block_bounds();
  if (!blocks.ok()) return storage_error(blocks.status());
  Index applied = durable.value().snapshot ? durable.value().snapshot->meta.index : 0;

  std::unique_ptr<Node> node(
      new Node(std::move(store).value(), std::move(key).value(), std::move(ledger).value()));
  node->validators_ = std::move(validators).value();
  consensus::Raft raft(config, durable.value(), applied);
  node->replica_ = std::make_unique<Replica>(*node, options, std::move(raft), blocks->last_height);
  return node;
}

Node::Node(std::unique_ptr<storage::Store> store, p2p::KeyPair key, ledger::Ledger ledger)
    : store_(std::move(store)),
      key_(std::move(key)),
      peer_id_(p2p::PeerId::from_public_key(key_.public_key()).to_base58()),
      slots_{LedgerSlot(ledger), LedgerSlot(ledger)} {}

Node::~Node() {
  replica_.reset();
}

void Node::submit_async(std::vector<ledger::Transaction> transactions, CommitCallback done) {
  replica_->submit(std::move(transactions), std::move(done));
}

CommitResult Node::submit(std::vector<ledger::Transaction> transactions) {
  std::promise<CommitResult> answer;
  std::future<CommitResult> answered = answer.get_future();
  submit_async(std::move(transactions),
               [&answer](CommitResult result) { answer.set_value(std::move(result)); });
  return answered.get();
}

void Node::receive(const std::string& from_peer_id, std::string_view envelope) {
  replica_->receive(from_peer_id, envelope);
}
void Node::set_transport(Transport* transport) {
  replica_->set_transport(transport);
}
ConsensusStatus Node::consensus_status() const {
  return replica_->status();
}
bool Node::is_leader() const {
  ConsensusStatus s = replica_->status();
  return s.leader_peer_id == peer_id_;
}
void Node::on_block_applied(std::function<void(const AppliedBlock&)> callback) {
  replica_->on_block_applied(std::move(callback));
}
void Node::on_role_changed(std::function<void(const ConsensusStatus&)> callback) {
  replica_->on_role_changed(std::move(callback));
}

Result<std::vector<Block>> Node::blocks(uint64_t from_height, uint32_t limit,
                                        uint64_t max_bytes) const {
  auto stored = store_->blocks(from_height, limit, max_bytes);
  if (!stored.ok()) return Error{"storage_error", stored.status().to_string()};
  std::vector<Block> out;
  for (const storage::Block& raw : stored.value()) {
    auto block = decode_block(as_view(raw.data));
    if (!block.ok()) return block.error();
    out.push_back(std::move(block).value());
  }
  return out;
}

std::string lattice_id(std::vector<std::string> validators, const ledger::Genesis& genesis) {
  std::sort(validators.begin(), validators.end());
  std::string text = "aethel-lattice-v1\n";
  for (const std::string& v : validators) text += v + "\n";
  for (const ledger::GenesisAccount& a : genesis.accounts) {
    text += fmt::format("{}={}\n", a.name, a.balance);
  }
  return ledger::to_hex(ledger::sha256(text));
}

}  // namespace aethel::node
