// aethel::base — the few things every module shares, written once:
//
//   Error, Result<T>, Status   errors as values at every boundary ([[nodiscard]])
//   to_hex, from_hex           lower-case hex out, strict hex in
//   ByteWriter, ByteReader     big-endian fixed-width coding with bounds checks
//   Mutex, MutexLock, CondVar  a mutex whose users say what it guards (clang
//                              -Wthread-safety checks GUARDED_BY / REQUIRES)
//   fatal, AETHEL_CHECK        the one way to stop on a broken invariant
//   named_thread               a thread with the name `top -H` shows
//
// Nothing here knows about consensus, ledgers or sockets.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// ---------------------------------------------------------------------------
// Thread-safety annotations (clang; no-ops elsewhere). The names follow clang's
// documentation and LevelDB's port/thread_annotations.h.
// ---------------------------------------------------------------------------
#if defined(__clang__)
#define AETHEL_TSA(x) __attribute__((x))
#else
#define AETHEL_TSA(x)
#endif
#define CAPABILITY(name) AETHEL_TSA(capability(name))
#define SCOPED_CAPABILITY AETHEL_TSA(scoped_lockable)
#define GUARDED_BY(m) AETHEL_TSA(guarded_by(m))
#define PT_GUARDED_BY(m) AETHEL_TSA(pt_guarded_by(m))
#define REQUIRES(...) AETHEL_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) AETHEL_TSA(requires_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) AETHEL_TSA(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) AETHEL_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) AETHEL_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) AETHEL_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) AETHEL_TSA(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) AETHEL_TSA(release_generic_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS AETHEL_TSA(no_thread_safety_analysis)

namespace aethel::base {

// ---------------------------------------------------------------------------
// Errors as values
// ---------------------------------------------------------------------------

// A refusal at a boundary. `code` is stable and machine readable (snake_case:
// "bad_block", "unavailable", "compacted"); `message` is one line for a human that
// names the offending value and what was expected.
struct Error {
  std::string code;
  std::string message;
};

class Status;

// Either a value or the Error that prevented it. Never throws; reading the value of
// a failed Result (or the error of a good one) is a programming error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT: implicit on purpose
  Result(Error error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }
  const Error& error() const { return error_; }
  // Ok when a value is held, otherwise the Error: for `return x.status();` where only
  // success matters, and for printing with to_string().
  Status status() const;

 private:
  std::optional<T> value_;
  Error error_;
};

// Success, or the Error that explains the failure.
class [[nodiscard]] Status {
 public:
  Status() = default;                                // ok
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit on purpose
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }
  // "ok" or "<code>: <message>".
  std::string to_string() const;

 private:
  std::optional<Error> error_;
};

template <class T>
Status Result<T>::status() const {
  if (ok()) return Status();
  return Status(error_);
}

// ---------------------------------------------------------------------------
// Hex
// ---------------------------------------------------------------------------

// Lower-case hex, two characters per byte.
std::string to_hex(std::span<const uint8_t> bytes);
std::string to_hex(std::string_view bytes);
// An even number of hex digits of either case; anything else is nullopt. Two texts
// that differ only in case decode to the same bytes: compare bytes, not texts.
std::optional<std::vector<uint8_t>> from_hex(std::string_view hex);

// IP addresses, as text

// An IPv4 or IPv6 address in the one form inet_ntop prints ("::1", "10.0.0.1"), so
// two spellings of one address compare equal; nullopt for anything else.
std::optional<std::string> canonical_ip(std::string_view text);

// ---------------------------------------------------------------------------
// Big-endian coding
// ---------------------------------------------------------------------------

// Writes `v` big-endian into all of `out` (its size is the width, 1 to 8 bytes): for
// fixed-size buffers on hot paths, such as hash preimages, where ByteWriter's string
// would allocate. ByteWriter writes through it too.
inline void store_be(std::span<uint8_t> out, uint64_t v) {
  for (size_t i = out.size(); i > 0; --i) {
    out[i - 1] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

// Appends fixed-width big-endian integers and raw bytes to a string.
class ByteWriter {
 public:
  ByteWriter() = default;
  // Reuses `buffer`'s allocation; its contents are discarded.
  explicit ByteWriter(std::string buffer) : out_(std::move(buffer)) { out_.clear(); }
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { be(v, 2); }
  void u32(uint32_t v) { be(v, 4); }
  void u64(uint64_t v) { be(v, 8); }
  void i64(int64_t v) { be(static_cast<uint64_t>(v), 8); }
  void bytes(std::string_view b) { out_.append(b); }
  void bytes(std::span<const uint8_t> b) {
    out_.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  // u32 length, then the bytes.
  void string32(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes(s);
  }
  size_t size() const { return out_.size(); }
  std::string& str() { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void be(uint64_t v, size_t width) {
    uint8_t buffer[8];
    store_be(std::span<uint8_t>(buffer, width), v);
    out_.append(reinterpret_cast<const char*>(buffer), width);
  }
  std::string out_;
};

// Reads what ByteWriter writes. Every read either succeeds fully or leaves ok()
// false; after the first failure all reads fail (returning zeros and empty views),
// so a decoder may check once at the end of a record.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  explicit ByteReader(std::span<const uint8_t> in)
      : in_(reinterpret_cast<const char*>(in.data()), in.size()) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }

  uint8_t u8() { return static_cast<uint8_t>(be(1)); }
  uint16_t u16() { return static_cast<uint16_t>(be(2)); }
  uint32_t u32() { return static_cast<uint32_t>(be(4)); }
  uint64_t u64() { return be(8); }
  int64_t i64() { return static_cast<int64_t>(be(8)); }
  std::string_view bytes(size_t n) {
    if (!take(n)) return {};
    return in_.substr(pos_ - n, n);
  }
  // A u32 length, then that many bytes (at most max_bytes).
  std::string_view string32(size_t max_bytes) {
    uint32_t n = u32();
    if (n > max_bytes) ok_ = false;
    return bytes(n);
  }
  std::string_view rest() { return bytes(remaining()); }
  void fail() { ok_ = false; }

 private:
  bool take(size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  uint64_t be(size_t width) {
    if (!take(width)) return 0;
    uint64_t v = 0;
    for (size_t i = pos_ - width; i < pos_; ++i) v = (v << 8) | static_cast<uint8_t>(in_[i]);
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// ---------------------------------------------------------------------------
// Annotated locks
// ---------------------------------------------------------------------------

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }
  bool try_lock() AETHEL_TSA(try_acquire_capability(true)) { return mutex_.try_lock(); }
  // Tells the analysis that the caller holds this mutex (checked nowhere else).
  void assert_held() const AETHEL_TSA(assert_capability(this)) {}

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds a Mutex for its scope; may be released and taken again (unlock/lock) inside
// it, e.g. around a callback that must run without the lock.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : lock_(mutex.mutex_) {}
  ~MutexLock() RELEASE() = default;
  void unlock() RELEASE() { lock_.unlock(); }
  void lock() ACQUIRE() { lock_.lock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// A condition variable that waits with a MutexLock held.
class CondVar {
 public:
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }
  template <class Predicate>
  void wait(MutexLock& lock, Predicate ready) {
    cv_.wait(lock.lock_, ready);
  }
  template <class TimePoint, class Predicate>
  bool wait_until(MutexLock& lock, TimePoint deadline, Predicate ready) {
    return cv_.wait_until(lock.lock_, deadline, ready);
  }
  template <class Duration, class Predicate>
  bool wait_for(MutexLock& lock, Duration timeout, Predicate ready) {
    return cv_.wait_for(lock.lock_, timeout, ready);
  }

 private:
  std::condition_variable cv_;
};

// A reader/writer mutex for state that many threads read and one writes.
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { mutex_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mutex_.unlock_shared(); }

 private:
  std::shared_mutex mutex_;
};

class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~WriterLock() RELEASE() { mutex_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mutex_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mutex) ACQUIRE_SHARED(mutex) : mutex_(mutex) {
    mutex_.lock_shared();
  }
  ~ReaderLock() RELEASE() { mutex_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mutex_;
};

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

// Names the calling thread, as `top -H`, `ps -L` and perf show it, so an operator can
// tell a node's threads apart. Linux keeps 15 characters; the rest is cut.
void name_this_thread(std::string_view name);

// A thread that names itself `name`, then runs `run`.
template <typename Run>
std::thread named_thread(std::string_view name, Run run) {
  return std::thread([name = std::string(name), run = std::move(run)]() mutable {
    name_this_thread(name);
    run();
  });
}

// ---------------------------------------------------------------------------
// Fatal errors
// ---------------------------------------------------------------------------

// A broken invariant or a failure after which the process can no longer keep its
// promises (the disk refused a write that a vote depends on): print one line to
// stderr and abort. The simulator installs a handler that throws instead, so a
// planted bug is reported with its replay command.
[[noreturn]] void fatal(std::string_view what);
using FatalHandler = void (*)(std::string_view what);
// Installs `handler` (null: print and abort). A handler must not return normally.
void set_fatal_handler(FatalHandler handler);

// `what` at file:line, for AETHEL_CHECK.
[[noreturn]] void check_failed(const char* condition, const char* file, int line);

}  // namespace aethel::base

// An invariant checked in every build type.
#define AETHEL_CHECK(condition)                                     \
  do {                                                              \
    if (!(condition)) {                                             \
      ::aethel::base::check_failed(#condition, __FILE__, __LINE__); \
    }                                                               \
  } while (false)
