// Durable storage of one Aethel node: the Raft log, the Raft hard state, the
// latest snapshot, the applied ledger state and the committed blocks served to
// peers for catch-up. Everything lives in one LMDB environment inside a data
// directory, so a single write transaction can make a whole batch of changes
// durable with one commit (group commit); a journal beside it makes the Raft part
// of a write durable with one flush before the commit (Store::journal).
//
// The module knows nothing about consensus or the ledger: entries, snapshots,
// blocks and state records carry opaque bytes. The caller (the node's Ready
// loop) decides what they mean.
//
// Layout, key encodings, durability guarantees and the format version policy:
// docs/STORAGE.md.
//
// Threads: one Store may be used by any number of threads at once. Reads run
// in their own LMDB read transactions and never block, nor are blocked by, the
// writer; each read sees one committed state. Writes are serialized by LMDB's
// writer lock, so the intended shape is one dedicated writer thread (the
// node's store thread) calling `write_all` with large batches, one thread (the
// node's disk thread) appending to the journal ahead of it, while the event loop
// and HTTP handlers read concurrently.
//
// Errors are values: every call returns a base::Status (or base::Result) whose
// Error::code is a Code's name and whose message names what failed and the data
// directory. Bad input, a corrupt file, a full
// map or a read-only disk never crash the process.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"

namespace aethel::storage {

// ---------------------------------------------------------------------------
// Status and Result: base's, with the store's machine codes
// ---------------------------------------------------------------------------

using Status = base::Status;
template <typename T>
using Result = base::Result<T>;

// What went wrong, for callers that branch on it. A failed Status or Result carries
// code_name(code) as its Error::code and a message for an operator.
enum class Code : std::uint8_t {
  kOk,
  kInvalidArgument,    // the request breaks a rule of the log (gap, stale term, ...)
  kCompacted,          // the index lies in the prefix dropped after a snapshot
  kOutOfRange,         // the index lies beyond the last stored entry
  kUnsupportedFormat,  // the data directory has a format version this build does not know
  kCorruption,         // stored bytes do not decode, or files disagree with each other
  kNotWritable,        // the directory or a file cannot be created or written
  kLocked,             // another Store (this or another process) has the directory open
  kMapFull,            // the LMDB map is full: raise StoreOptions::map_size_bytes
  kIoError,            // any other operating system or LMDB failure
};

// The stable snake_case name of a code, e.g. "compacted", "io_error": the Error::code
// of the failures this module returns.
std::string_view code_name(Code code);

// The Error a store operation returns for `code` (never kOk).
base::Error make_error(Code code, std::string message);

// The Code of a failure made by make_error; kOk for success. A code this module did
// not make reads as kIoError.
Code code_of(const base::Error& error);
Code code_of(const Status& status);
template <typename T>
Code code_of(const Result<T>& result) {
  return result.ok() ? Code::kOk : code_of(result.error());
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

using Bytes = std::vector<std::uint8_t>;
// Receives some contents a piece at a time, in order.
using PieceSink = std::function<void(std::string_view piece)>;
// Produces some contents by calling the sink with each piece.
using PieceWriter = std::function<void(const PieceSink& sink)>;

// One Raft log entry. Indexes start at 1; `data` is opaque to the store.
struct LogEntry {
  std::uint64_t index = 0;
  std::uint64_t term = 0;
  Bytes data;
  friend bool operator==(const LogEntry&, const LogEntry&) = default;
};

// The Raft state that must survive a crash before any vote or append reply is
// sent. `voted_for` is empty when no vote was cast in `term`.
struct HardState {
  std::uint64_t term = 0;
  std::string voted_for;
  std::uint64_t commit_index = 0;
  friend bool operator==(const HardState&, const HardState&) = default;
};

// A snapshot of the applied state machine up to and including
// `last_included_index`. `data` is e.g. the ledger's serialized state,
// `configuration` the cluster membership at that index; both opaque.
struct Snapshot {
  std::uint64_t last_included_index = 0;
  std::uint64_t last_included_term = 0;
  Bytes configuration;
  Bytes data;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

// What the ledger had applied when it last wrote, so a restart does not replay
// the whole log: the applied index, the Merkle root at that index and,
// optionally, the state itself as one blob. A ledger with many accounts keeps
// `state` empty and writes per-account StateRecords in the same batch instead.
struct AppliedState {
  std::uint64_t applied_index = 0;
  Bytes merkle_root;
  Bytes state;
  friend bool operator==(const AppliedState&, const AppliedState&) = default;
};

// One key of the applied state (e.g. an account name and its encoded
// balance and nonce). Keys are compared as bytes.
struct StateRecord {
  std::string key;
  Bytes value;
  friend bool operator==(const StateRecord&, const StateRecord&) = default;
};

// A committed block, served by height to peers catching up over HTTP or P2P.
struct Block {
  std::uint64_t height = 0;
  Bytes data;
  friend bool operator==(const Block&, const Block&) = default;
};

// The stored part of the log is [first_index, last_index]; it is empty when
// last_index == first_index - 1. Entries before first_index were dropped after
// a snapshot; `compacted_term` is the term of entry first_index - 1 (0 when
// nothing was compacted), which Raft needs for its log-matching check.
struct LogBounds {
  std::uint64_t first_index = 1;
  std::uint64_t last_index = 0;
  std::uint64_t compacted_term = 0;
  bool empty() const { return last_index + 1 == first_index; }
  friend bool operator==(const LogBounds&, const LogBounds&) = default;
};

// Stored block heights; both 0 when no block was ever written. Heights are
// strictly increasing but may have gaps (a node that caught up by snapshot
// has no blocks before the snapshot).
struct BlockBounds {
  std::uint64_t first_height = 0;
  std::uint64_t last_height = 0;
  friend bool operator==(const BlockBounds&, const BlockBounds&) = default;
};

// Heights [from, to) missing below a stored block: the history a node that caught up
// by snapshot has not fetched yet.
struct HistoryGap {
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  friend bool operator==(const HistoryGap&, const HistoryGap&) = default;
};

// Where a snapshot install brought the state: its height and the state root there. The
// history below it is missing until back-filled, even before any block above it is
// stored, and the last back-filled block must lead to this root.
struct HistoryAnchor {
  std::uint64_t height = 0;
  Bytes root;
  friend bool operator==(const HistoryAnchor&, const HistoryAnchor&) = default;
};

// Everything one durable commit makes persistent, applied in this order in a
// single LMDB write transaction: all of it survives a crash, or none of it. (A batch
// made durable by Store::journal instead: its entries and hard state survive.)
struct WriteBatch {
  // Installs a snapshot. If the log holds the snapshot's last entry with the
  // same term, the log is kept (compact it later with compact_prefix);
  // otherwise the whole log is discarded and restarts after the snapshot.
  std::optional<Snapshot> snapshot;
  // When set, the snapshot's data is not in `snapshot` (its data is empty) but in this
  // file, made durable before by Store::prepare_snapshot_file.
  std::optional<std::string> snapshot_file;
  // Contiguous entries. The first index may be at most last_index + 1; any
  // stored entries at or after it are replaced (Raft conflict resolution).
  std::vector<LogEntry> entries;
  // Term and commit index never decrease; commit_index <= last_index after
  // the entries above are written.
  std::optional<HardState> hard_state;
  // Strictly increasing heights, all above the last stored height.
  std::vector<Block> blocks;
  // Back-filled history: strictly increasing heights, each missing from the store and
  // not above its history's top: the last stored height or the anchor's (the caller
  // checked them against the chain).
  std::vector<Block> history;
  // Only with `snapshot`, when it is an install: replaces a lower anchor (a lower one
  // than the stored anchor is ignored).
  std::optional<HistoryAnchor> history_anchor;
  // When true, every stored StateRecord is deleted before the puts below
  // (installing a snapshot replaces the state wholesale).
  bool replace_state = false;
  std::vector<std::string> state_deletes;
  std::vector<StateRecord> state_puts;
  // Records of the index of transaction outcomes by id (key → value; a put replaces).
  // Installing a snapshot leaves them: the index outlives the log and the state.
  std::vector<StateRecord> outcomes;
  // applied_index never decreases.
  std::optional<AppliedState> applied_state;
  // Last: drops the log entries up to this index, as compact_prefix does (a snapshot
  // in this batch may be the one that covers them).
  std::optional<std::uint64_t> compact_through;
  // The replica's recovery state (opaque here; 0 when never written): whether this
  // node must not vote until it has caught up (node/replica.h, "Recovery").
  std::optional<std::uint8_t> recovery;
  // Set by Store::journal: the sequence number of this batch's journal record; 0 when
  // it was not journaled.
  std::uint64_t journal_seq = 0;

  bool empty() const;
};

// ---------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------

// The storage format this build writes and the only one it opens. Bumped on
// any incompatible change of the layout (docs/STORAGE.md).
// Version 1 (no journal) is opened too, and upgraded to this one.
inline constexpr std::uint32_t kFormatVersion = 2;
// Name of the format version file inside the data directory.
inline constexpr std::string_view kFormatFileName = "FORMAT";

struct StoreOptions {
  // Size of the LMDB memory map: the upper bound of the database file. The
  // file is not preallocated, it grows with the data, so a large map costs
  // only address space. 64 GiB holds ~500 million 100-byte entries.
  std::uint64_t map_size_bytes = std::uint64_t{64} << 30;
  // Concurrent read transactions (threads reading at the same moment).
  std::uint32_t max_readers = 126;
  // Limits on one write; a batch beyond them is refused before anything is
  // written, so one bad request cannot fill the map.
  std::uint64_t max_entry_bytes = std::uint64_t{16} << 20;
  std::uint64_t max_batch_bytes = std::uint64_t{1} << 30;
};

// How far a commit goes before the call returns.
enum class Sync : std::uint8_t {
  kDurable,  // on disk: it survives a crash of the process or of the machine
  // Its data is flushed, and the page that makes it the database's current state is
  // written but not flushed: it survives a crash of the process, and of the machine
  // once a later commit (of any kind) or sync() returns; a crash of the machine before
  // that undoes it as a whole. The database stays intact either way.
  kDataFlushed,
};

// Counters since open, for metrics and benchmarks.
struct StoreStats {
  std::uint64_t durable_commits = 0;  // commits (data flush, and meta page flush unless deferred)
  std::uint64_t entries_written = 0;
  std::uint64_t bytes_written = 0;  // payload bytes of entries, blocks, state, snapshots
  // Journal records the database lacked at open, replayed into it then.
  std::uint64_t journal_records_replayed = 0;
};

// The files a store keeps in `dir` (its FORMAT file, the database and its lock files,
// snapshot files, journal files), by name: what moving a store aside must move.
std::vector<std::string> store_file_names(const std::filesystem::path& dir);

class Store {
 public:
  // Opens the store in `dir`, creating the directory and a fresh store (with
  // the current format version) when it does not exist or is empty. Refuses,
  // with a message naming the directory:
  //  - a format version other than kFormatVersion, or an unreadable FORMAT
  //    file (kUnsupportedFormat: found vs supported version);
  //  - a directory that cannot be written (kNotWritable);
  //  - a directory already open by another Store (kLocked);
  //  - a database file that is garbage, truncated or disagrees with FORMAT
  //    (kCorruption).
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir,
                                             const StoreOptions& options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- writes: each call is at most one write transaction and one durable
  // commit; a call that changes nothing does not touch the disk. --------------

  // Applies the whole batch atomically and returns only after the commit is
  // on disk (LMDB durable commit: fdatasync of the data, then of the meta
  // page). An empty batch returns immediately without touching the disk.
  Status write(const WriteBatch& batch);
  // Writes a snapshot's data to a file beside the database and makes it durable, for a
  // later write() whose batch names it in `snapshot_file`: a big snapshot then costs
  // that write a small record instead of the data. Safe on any thread, also while
  // another writes. Returns the file's name. Files of older snapshots are deleted here
  // (on the caller's thread, not in write()) and when the store opens.
  Result<std::string> prepare_snapshot_file(std::uint64_t index,
                                            std::span<const std::uint8_t> data) const;
  // The same with the data written a piece at a time as `write_data` produces it, so
  // that a big snapshot is never held whole.
  Result<std::string> prepare_snapshot_file(std::uint64_t index,
                                            const PieceWriter& write_data) const;
  // The data of the file prepare_snapshot_file wrote for `index`, for a caller that
  // no longer holds it; kCorruption (naming the file) when it is missing or does not
  // have `data_bytes` bytes. Safe on any thread. The file stays until a snapshot
  // after the stored one is prepared.
  Result<Bytes> read_prepared_snapshot_file(std::uint64_t index, std::uint64_t data_bytes) const;
  // Group commit of independent batches, for the fsync thread that drains
  // everything queued while the previous commit was syncing: each batch is
  // applied atomically on its own, in order (a batch that breaks a rule is
  // rolled back alone and gets its own error), and all the accepted ones
  // become durable with ONE commit. Returns one Status per batch.
  // With Sync::kDataFlushed the commit costs one device flush instead of two, and is
  // durable only once a later commit or sync() returns (see Sync).
  std::vector<Status> write_all(std::span<const WriteBatch> batches, Sync sync = Sync::kDurable);
  // Makes every commit so far durable (one fdatasync of the database file).
  Status sync();
  // Appends the Raft part (entries and hard state) of each batch to the store's
  // journal and returns once it is on disk: one device flush, where a durable commit
  // costs two. Sets each batch's journal_seq. The caller then commits the batches with
  // write_all, in order, before any batch that is not journaled; until they are
  // durable there, a restart replays the journaled part into the database (the rest
  // of a batch, such as blocks and applied state, the node derives again from the
  // log). Each batch's record is atomic; a crash during the call may keep a prefix
  // of the batches. Refuses, changing nothing, a batch that is not journalable.
  // One thread calls journal while another (the database's writer) calls write_all
  // and sync.
  Status journal(std::span<WriteBatch> batches);
  // Whether journal() can make `batch` durable: all of it that must not be lost is in
  // its entries and hard state. A snapshot, a history anchor, a replaced state or a
  // recovery mark must reach the database durably (write_all with Sync::kDurable).
  static bool journalable(const WriteBatch& batch);
  // Group commit of the Raft Ready: entries and hard state, one fsync.
  Status append(const std::vector<LogEntry>& entries,
                const std::optional<HardState>& hard_state = std::nullopt);
  // Deletes every entry with index >= from_index. Refused when that would
  // remove a committed entry (from_index <= commit index).
  Status truncate_suffix(std::uint64_t from_index);
  // Drops entries with index <= through_index, which must be covered by the
  // stored snapshot. A through_index at or below the compacted prefix is a
  // no-op.
  Status compact_prefix(std::uint64_t through_index);

  // --- reads: each call is one consistent read transaction ------------------

  Result<LogBounds> log_bounds() const;
  // Entries [from_index, to_index_exclusive), cut short once their data
  // exceeds max_bytes; at least one entry is returned when the range is not
  // empty. kCompacted if from_index < first_index, kOutOfRange if the range
  // goes past last_index + 1.
  Result<std::vector<LogEntry>> entries(std::uint64_t from_index, std::uint64_t to_index_exclusive,
                                        std::uint64_t max_bytes) const;
  // The term of entry `index`; also answers for first_index - 1 (the
  // compacted term, 0 for index 0).
  Result<std::uint64_t> term_at(std::uint64_t index) const;
  // The stored hard state; all zero when none was ever written.
  Result<HardState> hard_state() const;
  Result<std::optional<Snapshot>> snapshot() const;
  // The last recovery state written; 0 when none was.
  Result<std::uint8_t> recovery() const;
  Result<std::optional<AppliedState>> applied_state() const;
  // Blocks with heights in [from_height, from_height + limit), contiguous from
  // from_height: stops at the first missing height, after `limit` blocks, or
  // once their data exceeds max_bytes (at least one block when one exists).
  Result<std::vector<Block>> blocks(std::uint64_t from_height, std::uint32_t limit,
                                    std::uint64_t max_bytes) const;
  Result<BlockBounds> block_bounds() const;
  // The lowest missing range of heights up to the history's top (the last stored
  // block, or the anchor of the last snapshot install when that is higher); nullopt
  // when every height from 1 to the top is stored (counting is O(1); only a store with
  // a gap is walked).
  Result<std::optional<HistoryGap>> history_gap() const;
  // The anchor of the last snapshot install; nullopt when none was installed.
  Result<std::optional<HistoryAnchor>> history_anchor() const;
  Result<std::optional<Bytes>> state_get(std::string_view key) const;
  // Up to `limit` records with key > after_key, in byte order of the keys
  // (pass "" to start at the first key): the pages of GET /api/lattice/state.
  Result<std::vector<StateRecord>> state_scan(std::string_view after_key,
                                              std::uint32_t limit) const;
  // The outcome records under `keys`, in their order (nullopt: no record), in one read
  // transaction.
  Result<std::vector<std::optional<Bytes>>> outcomes_get(std::span<const std::string> keys) const;
  // Up to `limit` outcome records whose keys start with `prefix`, in key order.
  Result<std::vector<StateRecord>> outcomes_with_prefix(std::string_view prefix,
                                                        std::uint32_t limit) const;
  // The first block height whose outcomes the index holds: 1 for a store created with
  // the index; for a store that had blocks before this build added the index, the
  // height after its last block then (docs/STORAGE.md, "Upgrades").
  Result<std::uint64_t> outcomes_indexed_from() const;

  StoreStats stats() const;
  const std::filesystem::path& dir() const;

  // The LMDB environment and the transaction logic (store.cpp). Public only
  // so that helpers in store.cpp can name it; not part of the interface.
  class Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aethel::storage
