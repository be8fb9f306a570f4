// The production runtime: one consensus thread that owns the replica, the LMDB store
// as its Disk, and whatever transport the lattice sets.
//
// Other threads never touch the replica. They post submissions and envelopes to an
// inbox (a short critical section, no I/O under it); the consensus thread drains the
// inbox, feeds the replica and ticks it. The Disk writes the replica hands over go to
// the disk thread, which commits everything queued with one fsync (group commit) and
// posts how many writes became durable back to the inbox: the consensus thread goes
// on with the next Readys meanwhile (consensus.h, PIPELINING). Before start() (the
// log applied at open), writes are performed on the caller's thread instead.
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <random>
#include <span>
#include <thread>
#include <variant>

#include "node/node.h"
#include "node/outcome_index.h"
#include "node/restore.h"

namespace aethel::node {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kSnapshotThreadNice = 10;
// How long journaled writes wait to be committed to the database together: long enough
// that the database's flushes cost little next to the journal's, short enough that
// the blocks the replica keeps for readers meanwhile stay few.
constexpr auto kStoreEvery = std::chrono::milliseconds(10);

struct Submit {
  std::vector<ledger::Transaction> transactions;
  CommitCallback done;
};
struct Receive {
  std::string from_peer;
  std::string envelope;
};
struct ReadRequest {
  ReadCallback done;
  std::optional<uint64_t> min_height;  // set: wait for this height instead
};
struct MembershipRequest {
  MemberChange change;
  MemberAddress member;
  ReadCallback done;
};
struct SnapshotBuilt {
  consensus::Index index = 0;
  std::optional<std::string> file;  // the store's durable file holding the data,
  uint64_t data_bytes = 0;          // and the data's size;
  consensus::Bytes data;            // or the data, when the file could not be written
};
struct Durable {
  size_t writes = 0;    // the oldest this many writes handed to the disk thread
  bool stored = false;  // they are in the database too (else a Stored event follows)
};
struct Stored {
  size_t writes = 0;  // the oldest this many writes reported Durable without `stored`
};
using Event =
    std::variant<Submit, Receive, ReadRequest, MembershipRequest, SnapshotBuilt, Durable, Stored>;

// What a queued event's caller hears when the node stops before it ran.
void refuse(Event& event, const Error& error) {
  if (auto* submit = std::get_if<Submit>(&event)) submit->done(CommitResult{error, 0, {}, {}});
  if (auto* read = std::get_if<ReadRequest>(&event)) read->done(error);
  if (auto* change = std::get_if<MembershipRequest>(&event)) change->done(error);
}

template <class T>
using Hook = std::shared_ptr<const std::function<void(const T&)>>;

// Forwarded-write ids must not repeat across restarts of one node.
uint64_t random_request_id() {
  return (uint64_t{std::random_device{}()} << 32) ^
         static_cast<uint64_t>(Clock::now().time_since_epoch().count());
}

}  // namespace

class Node::Runtime : public Transport, public Disk {
 public:
  Runtime(Node& node, const NodeOptions& options, Recovered recovered)
      : store_(*node.store_), options_(options) {
    replica_ = std::make_unique<Replica>(replica_options(node, options), std::move(recovered),
                                         *node.ledgers_, *this, *this);
    catch_up_log();
    campaign_if_alone(options.joined_members.empty() ? node.validators_.size() : 0);
    publish_status();
  }

  ~Runtime() {
    {
      base::MutexLock lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
    // So that a restart need not apply those blocks again; nothing more is reported
    // to the replica, which is stopping.
    replica_->write_deferred();
    stop_disk_thread();
    for (storage::WriteBatch& batch : writes_) persist({&batch, 1});
    Error stopping{"stopping", "the node is stopping"};
    for (Event& event : take_inbox()) refuse(event, stopping);
    replica_->stop(stopping);
  }

  void start() {
    store_thread_ = base::named_thread("store", [this] { run_store(); });
    disk_thread_ = base::named_thread("disk", [this] { run_disk(); });
    thread_ = base::named_thread("consensus", [this] { run(); });
  }

  void post(Event event) {
    {
      base::MutexLock lock(mutex_);
      if (!stopping_) {
        inbox_.push_back(std::move(event));
        wake_.notify_one();
        return;
      }
    }
    refuse(event, Error{"stopping", "the node is stopping"});
  }

  // Transport: the lattice, once set.
  void send(const std::string& peer_id, std::string envelope) override {
    if (Transport* transport = transport_.load()) transport->send(peer_id, std::move(envelope));
  }
  void set_transport(Transport* transport) { transport_.store(transport); }

  // Disk: writes go to the disk thread once started. The write of a snapshot built here
  // names its file instead of carrying the data.
  void write(storage::WriteBatch batch) override {
    if (built_snapshot_ && batch.snapshot &&
        batch.snapshot->last_included_index == built_snapshot_->index) {
      batch.snapshot_file = std::move(built_snapshot_->file);
      built_snapshot_.reset();
    }
    if (!disk_thread_.joinable()) return writes_.push_back(std::move(batch));
    {
      base::MutexLock lock(disk_mutex_);
      disk_queue_.push_back(std::move(batch));
    }
    disk_wake_.notify_one();
  }

  // Snapshots are serialized and written to their file on a thread of their own, so
  // the consensus thread only writes a small record; the result comes back through the
  // inbox. The previous one has already posted its result.
  void build_snapshot(consensus::Index index,
                      std::function<void(const storage::PieceSink&)> build) override {
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
    snapshot_thread_ = base::named_thread("snapshot", [this, index, build = std::move(build)] {
      // Background work: on a busy machine the consensus and network threads go first.
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kSnapshotThreadNice);
      SnapshotBuilt built;
      built.index = index;
      auto file = store_.prepare_snapshot_file(index, [&](const storage::PieceSink& sink) {
        build([&](std::string_view piece) {
          built.data_bytes += piece.size();
          sink(piece);
        });
      });
      if (file.ok()) {
        built.file = std::move(file).value();
      } else {
        if (options_.log) {
          options_.log("[SYNC] the snapshot file could not be written (" + file.error().message +
                       "); the snapshot goes into the database instead");
        }
        build([&](std::string_view piece) {
          built.data.insert(built.data.end(), piece.begin(), piece.end());
        });
      }
      post(std::move(built));
    });
  }

  consensus::Bytes read_built_snapshot(consensus::Index index, uint64_t data_bytes) override {
    auto data = store_.read_prepared_snapshot_file(index, data_bytes);
    if (!data.ok()) base::fatal("a snapshot to send cannot be read: " + data.error().message);
    return std::move(data).value();
  }

  ConsensusStatus status() const {
    base::MutexLock lock(status_mutex_);
    return status_;
  }

  void set_applied_hook(std::function<void(const AppliedBlock&)> hook) {
    base::MutexLock lock(status_mutex_);
    applied_hook_ = std::make_shared<const std::function<void(const AppliedBlock&)>>(hook);
  }
  void set_role_hook(std::function<void(const ConsensusStatus&)> hook) {
    base::MutexLock lock(status_mutex_);
    role_hook_ = std::make_shared<const std::function<void(const ConsensusStatus&)>>(hook);
  }
  // Thread-safe; lives as long as the runtime.
  const UnwrittenBlocks& unwritten_blocks() const { return replica_->unwritten_blocks(); }

  // Replays the members learned so far, then reports each new one.
  void set_member_hook(std::function<void(const MemberAddress&)> hook) {
    base::MutexLock lock(status_mutex_);
    member_hook_ = std::make_shared<const std::function<void(const MemberAddress&)>>(hook);
    if (hook) {
      for (const MemberAddress& member : learned_members_) hook(member);
    }
  }

 private:
  ReplicaOptions replica_options(Node& node, const NodeOptions& options) {
    ReplicaOptions r;
    r.self = node.peer_id_;
    r.validators = node.validators_;
    r.consensus = consensus_config(options, node.peer_id_);
    r.max_block_transactions = options.max_block_transactions;
    r.snapshot_interval_blocks = options.snapshot_interval_blocks;
    r.commit_timeout_ticks = std::max<uint32_t>(1, options.commit_timeout_ms / options.tick_ms);
    r.catch_up_timeout_ticks = std::max<uint32_t>(1, options.catch_up_timeout_ms / options.tick_ms);
    r.first_request_id = random_request_id();
    r.log = options.log;
    r.on_block_applied = [this](const AppliedBlock& block) {
      if (auto hook = hook_of(&Runtime::applied_hook_)) (*hook)(block);
    };
    r.on_role_changed = [this](const ConsensusStatus& status) {
      if (auto hook = hook_of(&Runtime::role_hook_)) (*hook)(status);
    };
    r.joined_members = options.joined_members;
    r.recorded_outcomes = [this](std::span<const ledger::Transaction> txs) {
      return recorded_outcomes(store_, txs);
    };
    r.on_member_learned = [this](const MemberAddress& member) {
      {
        base::MutexLock lock(status_mutex_);
        learned_members_.push_back(member);
      }
      if (auto hook = hook_of(&Runtime::member_hook_)) (*hook)(member);
    };
    return r;
  }

  template <class T>
  Hook<T> hook_of(Hook<T> Runtime::*member) {
    base::MutexLock lock(status_mutex_);
    return this->*member;
  }

  // The committed log after the snapshot is applied before anyone reads.
  void catch_up_log() {
    while (replica_->raft().has_ready() || !writes_.empty()) step();
  }

  // A group of one need not wait out an election timeout: it elects itself now.
  void campaign_if_alone(size_t validators) {
    for (uint32_t i = 0; validators == 1 && i < 4 * options_.election_timeout_ticks &&
                         replica_->raft().role() != consensus::Role::kLeader;
         ++i) {
      replica_->tick();
      step();
    }
  }

  void run() {
    const auto tick = std::chrono::milliseconds(options_.tick_ms);
    Clock::time_point next_tick = Clock::now() + tick;
    while (true) {
      std::vector<Event> events;
      {
        base::MutexLock lock(mutex_);
        if (replica_->idle()) {
          wake_.wait_until(lock, next_tick, [&] {
            mutex_.assert_held();
            return stopping_ || !inbox_.empty();
          });
        }
        if (stopping_) return;
        events.swap(inbox_);
      }
      for (Event& event : events) {
        catch_up_ticks(next_tick, tick);
        feed(event);
      }
      catch_up_ticks(next_tick, tick);
      step();
      publish_status();
    }
  }

  // Time that passed while this thread was away (a long fsync, SIGSTOP of the process)
  // counts before anything else is handled: a leader paused past its lease must not
  // answer a read from it. More than an election timeout behind changes nothing more.
  void catch_up_ticks(Clock::time_point& next_tick, Clock::duration tick) {
    auto now = Clock::now();
    if (now < next_tick) return;
    auto missed = static_cast<uint64_t>((now - next_tick) / tick) + 1;
    uint64_t ticks = std::min<uint64_t>(missed, options_.election_timeout_ticks + 1);
    for (uint64_t i = 0; i < ticks; ++i) replica_->tick();
    next_tick += missed * tick;
  }

  void feed(Event& event) {
    if (auto* durable = std::get_if<Durable>(&event)) {
      for (size_t i = 0; i < durable->writes; ++i) replica_->on_durable();
      for (size_t i = 0; durable->stored && i < durable->writes; ++i) replica_->on_stored();
    } else if (auto* stored = std::get_if<Stored>(&event)) {
      for (size_t i = 0; i < stored->writes; ++i) replica_->on_stored();
    } else if (auto* submit = std::get_if<Submit>(&event)) {
      replica_->submit(std::move(submit->transactions), std::move(submit->done));
    } else if (auto* read = std::get_if<ReadRequest>(&event)) {
      if (read->min_height)
        return replica_->wait_for_height(*read->min_height, std::move(read->done));
      replica_->read(std::move(read->done));
    } else if (auto* change = std::get_if<MembershipRequest>(&event)) {
      // The status is published first: the answer shows the membership it made.
      replica_->change_membership(change->change, std::move(change->member),
                                  [this, done = std::move(change->done)](base::Status status) {
                                    publish_status();
                                    done(std::move(status));
                                  });
    } else if (auto* built = std::get_if<SnapshotBuilt>(&event)) {
      if (built->file) {
        built_snapshot_ = BuiltSnapshotFile{built->index, std::move(*built->file)};
        replica_->on_snapshot_stored(built->data_bytes);
      } else {
        replica_->on_snapshot_built(std::move(built->data));
      }
      built_snapshot_.reset();  // unused when a snapshot installed meanwhile covers more
    } else {
      auto& receive = std::get<Receive>(event);
      replica_->receive(receive.from_peer, receive.envelope);
    }
  }

  // One replica step; before start(), also every write it handed over, each reported
  // durable.
  void step() {
    replica_->process();
    while (!writes_.empty()) {
      storage::WriteBatch batch = std::move(writes_.front());
      writes_.pop_front();
      persist({&batch, 1});
      replica_->on_durable();
      replica_->on_stored();
      replica_->process();
    }
  }

  // The disk thread. A write is durable once its entries and hard state are in the
  // store's journal: one device flush for everything queued while the last one ran.
  // The store thread commits the writes to the database behind it (run_store), so a
  // write waits for one device flush, not two, and never for a database commit. A
  // write the journal cannot carry (a snapshot, a recovery mark) is committed durably
  // before anything after it is journaled.
  void run_disk() {
    while (true) {
      DiskWork work = take_disk_queue();
      if (!work.batches.empty()) journal(std::move(work.batches));
      if (work.stopping) return hand_to_store({}, false, true);
    }
  }

  void journal(std::vector<storage::WriteBatch> batches) {
    const auto started = Clock::now();
    const size_t count = batches.size();
    if (std::all_of(batches.begin(), batches.end(), storage::Store::journalable)) {
      check_written(store_.journal(batches));
      observe_write_seconds(started);
      post(Durable{count});
      hand_to_store(std::move(batches), false);
    } else {
      hand_to_store(std::move(batches), true);
      observe_write_seconds(started);
      post(Durable{count, true});
    }
  }

  // Queues `batches` for the store thread; when they must be `durable`, returns once
  // they are. `last`: nothing more comes.
  void hand_to_store(std::vector<storage::WriteBatch> batches, bool durable, bool last = false) {
    base::MutexLock lock(store_mutex_);
    // A queue that was not empty has its deadline set: the store thread wakes then
    // unless it must commit now (a wake per block cost the thread a switch each).
    const bool was_empty = store_queue_.empty();
    if (was_empty) store_queue_since_ = Clock::now();
    if (durable) store_durable_batches_ = batches.size();
    std::move(batches.begin(), batches.end(), std::back_inserter(store_queue_));
    if (last) store_stopping_ = true;
    if (was_empty || durable || last) store_wake_.notify_one();
    store_done_.wait(lock, [&] {
      store_mutex_.assert_held();
      return store_durable_batches_ == 0;
    });
  }

  // The store thread: commits the journaled writes to the database, everything queued
  // in one commit every kStoreEvery, with its data flushed only
  // (storage::Sync::kDataFlushed: the next commit's flush makes it durable and lets
  // the journal go).
  void run_store() {
    bool unsynced = false;  // the last commit's meta page is not flushed
    while (true) {
      StoreWork work = take_store_queue();
      const size_t journaled = work.batches.size() - work.durable_batches;
      const bool durable = work.durable_batches > 0 || work.stopping;
      if (!work.batches.empty()) {
        const auto sync = durable ? storage::Sync::kDurable : storage::Sync::kDataFlushed;
        for (const storage::Status& written : store_.write_all(work.batches, sync)) {
          check_written(written);
        }
        unsynced = !durable;
        if (journaled > 0) post(Stored{journaled});
      }
      if (work.durable_batches > 0) {
        base::MutexLock lock(store_mutex_);
        store_durable_batches_ = 0;
        store_done_.notify_all();
      }
      if (work.stopping) {
        if (unsynced) check_written(store_.sync());
        return;
      }
    }
  }

  struct StoreWork {
    std::vector<storage::WriteBatch> batches;
    // The last this many must be committed durably; the disk thread reports them.
    size_t durable_batches = 0;
    bool stopping = false;
  };
  // Everything queued, once its oldest has waited kStoreEvery, a durable write waits,
  // or the thread stops.
  StoreWork take_store_queue() {
    base::MutexLock lock(store_mutex_);
    while (!store_stopping_ && store_durable_batches_ == 0) {
      if (store_queue_.empty()) {
        store_wake_.wait(lock, [&] {
          store_mutex_.assert_held();
          return store_stopping_ || !store_queue_.empty();
        });
      } else if (!store_wake_.wait_until(lock, store_queue_since_ + kStoreEvery, [&] {
                   store_mutex_.assert_held();
                   return store_stopping_ || store_durable_batches_ > 0;
                 })) {
        break;  // the oldest has waited long enough
      }
    }
    StoreWork work{std::move(store_queue_), store_durable_batches_, store_stopping_};
    store_queue_.clear();
    return work;
  }

  struct DiskWork {
    std::vector<storage::WriteBatch> batches;
    bool stopping = false;
  };
  // Everything queued; waits for some unless the thread stops.
  DiskWork take_disk_queue() {
    base::MutexLock lock(disk_mutex_);
    disk_wake_.wait(lock, [&] {
      disk_mutex_.assert_held();
      return disk_stopping_ || !disk_queue_.empty();
    });
    DiskWork work{
        {std::make_move_iterator(disk_queue_.begin()), std::make_move_iterator(disk_queue_.end())},
        disk_stopping_};
    disk_queue_.clear();
    return work;
  }

  void stop_disk_thread() {
    if (!disk_thread_.joinable()) return;
    {
      base::MutexLock lock(disk_mutex_);
      disk_stopping_ = true;
    }
    disk_wake_.notify_all();
    disk_thread_.join();  // it stops the store thread last
    store_thread_.join();
  }

  void persist(std::span<const storage::WriteBatch> batches) {
    const auto started = Clock::now();
    for (const storage::Status& written : store_.write_all(batches)) check_written(written);
    observe_write_seconds(started);
  }

  // Nothing may be sent that promises a failed write; without a disk the node cannot
  // take part, and continuing could acknowledge lost data.
  static void check_written(const storage::Status& status) {
    if (!status.ok()) base::fatal("cannot persist consensus state: " + status.to_string());
  }

  // One durable write of the log, from its start until it was durable.
  void observe_write_seconds(Clock::time_point started) {
    if (options_.on_store_write) {
      options_.on_store_write(std::chrono::duration<double>(Clock::now() - started).count());
    }
  }

  void publish_status() {
    ConsensusStatus now = replica_->status();
    now.members = replica_->members();
    base::MutexLock lock(status_mutex_);
    status_ = std::move(now);
  }

  std::vector<Event> take_inbox() {
    base::MutexLock lock(mutex_);
    std::vector<Event> events;
    events.swap(inbox_);
    return events;
  }

  storage::Store& store_;
  const NodeOptions options_;
  std::unique_ptr<Replica> replica_;        // consensus thread only (before start: the opener)
  std::deque<storage::WriteBatch> writes_;  // before start() only
  base::Mutex disk_mutex_;
  base::CondVar disk_wake_;
  std::deque<storage::WriteBatch> disk_queue_ GUARDED_BY(disk_mutex_);
  bool disk_stopping_ GUARDED_BY(disk_mutex_) = false;
  std::thread disk_thread_;
  base::Mutex store_mutex_;
  base::CondVar store_wake_;
  base::CondVar store_done_;  // a durable write is
  std::vector<storage::WriteBatch> store_queue_ GUARDED_BY(store_mutex_);
  Clock::time_point store_queue_since_ GUARDED_BY(store_mutex_);
  size_t store_durable_batches_ GUARDED_BY(store_mutex_) = 0;
  bool store_stopping_ GUARDED_BY(store_mutex_) = false;
  std::thread store_thread_;
  std::atomic<Transport*> transport_{nullptr};

  base::Mutex mutex_;
  base::CondVar wake_;
  std::vector<Event> inbox_ GUARDED_BY(mutex_);
  bool stopping_ GUARDED_BY(mutex_) = false;

  mutable base::Mutex status_mutex_;
  ConsensusStatus status_ GUARDED_BY(status_mutex_);
  Hook<AppliedBlock> applied_hook_ GUARDED_BY(status_mutex_);
  Hook<ConsensusStatus> role_hook_ GUARDED_BY(status_mutex_);
  Hook<MemberAddress> member_hook_ GUARDED_BY(status_mutex_);
  std::vector<MemberAddress> learned_members_ GUARDED_BY(status_mutex_);
  std::thread thread_;
  std::thread snapshot_thread_;  // consensus thread only (and the destructor, after it)
  struct BuiltSnapshotFile {
    consensus::Index index = 0;
    std::string file;
  };
  std::optional<BuiltSnapshotFile> built_snapshot_;  // consensus thread only
};

// ---------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------

namespace {

Error storage_error(const storage::Status& status) {
  return Error{"storage_error", status.to_string()};
}

}  // namespace

Result<std::unique_ptr<Node>> Node::open(const NodeOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  auto store = storage::Store::open(options.data_dir);
  if (!store.ok()) return storage_error(store.status());
  const uint64_t replayed = store.value()->stats().journal_records_replayed;
  if (replayed > 0 && options.log) {
    options.log(fmt::format(
        "[STORAGE] replayed {} journaled write(s) the database lacked after a crash", replayed));
  }
  auto key = p2p::load_or_create_key(options.node_key_path.string());
  if (!key.ok()) {
    return Error{"bad_key", options.node_key_path.string() + ": " + key.error().message};
  }
  std::string self = p2p::PeerId::from_public_key(key.value().public_key()).to_base58();
  auto validators = validator_set(options.validators, self, !options.joined_members.empty());
  if (!validators.ok()) return validators.error();
  auto recovered = recover(*store.value());
  if (!recovered.ok()) return recovered.error();
  auto ledger = ledger_at(recovered.value(), *options.genesis,
                          ledger_limits(validators.value(), *options.genesis), *store.value());
  if (!ledger.ok()) return ledger.error();

  std::unique_ptr<Node> node(new Node(std::move(store).value(), std::move(key).value(),
                                      std::move(validators).value(), ledger.value()));
  node->runtime_ = std::make_unique<Runtime>(*node, options, std::move(recovered).value());
  node->runtime_->start();
  return node;
}

Node::Node(std::unique_ptr<storage::Store> store, p2p::KeyPair key,
           std::vector<std::string> validators, const ledger::Ledger& ledger)
    : store_(std::move(store)),
      key_(std::move(key)),
      peer_id_(p2p::PeerId::from_public_key(key_.public_key()).to_base58()),
      validators_(std::move(validators)),
      ledgers_(std::make_unique<LedgerPair>(ledger)) {}

Node::~Node() {
  runtime_.reset();
}

void Node::submit_async(std::vector<ledger::Transaction> transactions, CommitCallback done) {
  runtime_->post(Submit{std::move(transactions), std::move(done)});
}

CommitResult Node::submit(std::vector<ledger::Transaction> transactions) {
  std::promise<CommitResult> answer;
  std::future<CommitResult> answered = answer.get_future();
  submit_async(std::move(transactions),
               [&answer](CommitResult result) { answer.set_value(std::move(result)); });
  return answered.get();
}

void Node::read_linearizable_async(ReadCallback done) {
  runtime_->post(ReadRequest{std::move(done), std::nullopt});
}

void Node::wait_for_height_async(uint64_t height, ReadCallback done) {
  runtime_->post(ReadRequest{std::move(done), height});
}

base::Status Node::read_linearizable() {
  std::promise<base::Status> answer;
  std::future<base::Status> answered = answer.get_future();
  read_linearizable_async([&answer](base::Status status) { answer.set_value(std::move(status)); });
  return answered.get();
}

void Node::receive(const std::string& from_peer_id, std::string_view envelope) {
  runtime_->post(Receive{from_peer_id, std::string(envelope)});
}
void Node::set_transport(Transport* transport) {
  runtime_->set_transport(transport);
}
ConsensusStatus Node::consensus_status() const {
  return runtime_->status();
}
bool Node::is_leader() const {
  return runtime_->status().leader_peer_id == peer_id_;
}
void Node::on_block_applied(std::function<void(const AppliedBlock&)> callback) {
  runtime_->set_applied_hook(std::move(callback));
}
void Node::on_role_changed(std::function<void(const ConsensusStatus&)> callback) {
  runtime_->set_role_hook(std::move(callback));
}
void Node::change_membership_async(MemberChange change, MemberAddress member, ReadCallback done) {
  runtime_->post(MembershipRequest{change, std::move(member), std::move(done)});
}
void Node::on_member_learned(std::function<void(const MemberAddress&)> callback) {
  runtime_->set_member_hook(std::move(callback));
}

Result<std::optional<storage::HistoryGap>> Node::history_gap() const {
  auto gap = store_->history_gap();
  if (!gap.ok()) return storage_error(gap.status());
  return gap.value();
}

Result<std::optional<storage::HistoryAnchor>> Node::history_anchor() const {
  auto anchor = store_->history_anchor();
  if (!anchor.ok()) return storage_error(anchor.status());
  return std::move(anchor).value();
}

base::Status Node::store_history(std::vector<storage::Block> blocks,
                                 std::vector<storage::StateRecord> outcomes) {
  storage::WriteBatch batch;
  batch.history = std::move(blocks);
  batch.outcomes = std::move(outcomes);
  storage::Status written = store_->write(batch);
  if (!written.ok()) return storage_error(written);
  return {};
}

Result<std::optional<ledger::Outcome>> Node::recorded_outcome(
    std::string_view tx_id, std::optional<std::string_view> scope) const {
  return find_recorded_outcome(*store_, tx_id, scope);
}

// Applied blocks not durable yet are read first: one made durable meanwhile is in the
// store then (UnwrittenBlocks drops it only after).
Result<std::vector<storage::Block>> Node::stored_blocks(uint64_t from_height, uint32_t limit,
                                                        uint64_t max_bytes) const {
  std::vector<storage::Block> unwritten = runtime_->unwritten_blocks().from(from_height, limit);
  auto stored = store_->blocks(from_height, limit, max_bytes);
  if (!stored.ok()) return storage_error(stored.status());
  std::vector<storage::Block> blocks = std::move(stored).value();
  uint64_t bytes = 0;
  for (const storage::Block& block : blocks) bytes += block.data.size();
  for (storage::Block& block : unwritten) {
    const uint64_t next = blocks.empty() ? from_height : blocks.back().height + 1;
    if (block.height < next) continue;
    if (block.height > next || blocks.size() >= limit || bytes >= max_bytes) break;
    bytes += block.data.size();
    blocks.push_back(std::move(block));
  }
  return blocks;
}

Result<std::vector<Block>> Node::blocks(uint64_t from_height, uint32_t limit,
                                        uint64_t max_bytes) const {
  auto stored = stored_blocks(from_height, limit, max_bytes);
  if (!stored.ok()) return stored.error();
  std::vector<Block> out;
  for (const storage::Block& raw : stored.value()) {
    auto block = decode_block(
        std::string_view(reinterpret_cast<const char*>(raw.data.data()), raw.data.size()));
    if (!block.ok()) return block.error();
    out.push_back(std::move(block).value());
  }
  return out;
}

namespace {

// Owners and a closed policy add to the hashed text only when present, so a lattice
// without them keeps the id it had before they existed.
ledger::Hash lattice_id_hash(std::vector<std::string> validators, const ledger::Genesis& genesis) {
  std::sort(validators.begin(), validators.end());
  std::string text = "aethel-lattice-v1\n";
  for (const std::string& v : validators) text += v + "\n";
  for (const ledger::GenesisAccount& a : genesis.accounts) {
    text += fmt::format("{}={}", a.name, a.balance);
    if (a.owner) text += " owner=" + ledger::to_hex(*a.owner);
    text += '\n';
  }
  if (!genesis.open_accounts) text += "open_accounts=false\n";
  if (genesis.tx_retention) text += fmt::format("tx_retention={}\n", *genesis.tx_retention);
  return ledger::sha256(text);
}

}  // namespace

std::string lattice_id(std::vector<std::string> validators, const ledger::Genesis& genesis) {
  return ledger::to_hex(lattice_id_hash(std::move(validators), genesis));
}

ledger::Limits ledger_limits(std::vector<std::string> validators, const ledger::Genesis& genesis) {
  ledger::Limits limits;
  limits.lattice_id = lattice_id_hash(std::move(validators), genesis);
  if (genesis.tx_retention) limits.tx_retention_count = *genesis.tx_retention;
  return limits;
}

}  // namespace aethel::node
