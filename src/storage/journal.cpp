#include "storage/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace aethel::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPrefix = "journal-";
constexpr std::string_view kSuffix = ".log";
// Length, checksum, sequence number, and the sequence number of the first record of
// the same append.
constexpr std::size_t kHeaderBytes = 4 + 4 + 8 + 8;
// A record longer than this is garbage: a torn length field, not a real write.
constexpr std::uint32_t kMaxPayloadBytes = std::uint32_t{1} << 31;

std::string file_name(std::uint64_t first_seq) {
  return numbered_file_name(kPrefix, first_seq, kSuffix);
}

// The first sequence number a journal file's name carries; nullopt for any other name.
std::optional<std::uint64_t> journal_file_seq(std::string_view name) {
  return numbered_file_number(name, kPrefix, kSuffix);
}

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) != 0 ? 0x82F63B78u : 0);
    table[i] = crc;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

std::uint32_t crc32c_portable(std::uint32_t crc, std::string_view bytes) {
  for (char c : bytes) crc = kCrcTable[(crc ^ static_cast<std::uint8_t>(c)) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// SSE 4.2's crc32 instruction: a big block's checksum costs microseconds, not a
// noticeable part of its write.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc,
                                                             std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t crc64 = crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word = 0;
    std::copy_n(p, 8, reinterpret_cast<char*>(&word));
    crc64 = _mm_crc32_u64(crc64, word);
  }
  crc = static_cast<std::uint32_t>(crc64);
  for (; n > 0; --n, ++p) crc = _mm_crc32_u8(crc, static_cast<std::uint8_t>(*p));
  return crc;
}
#endif

std::uint64_t get_be(std::string_view bytes) {
  base::ByteReader reader(bytes);
  return bytes.size() == 4 ? reader.u32() : reader.u64();
}

Result<std::string> read_file(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_error(fmt::format("cannot open {}", path.string()), errno);
  std::string contents;
  std::array<char, 1 << 16> chunk{};
  while (true) {
    auto n = read_up_to(fd.get(), chunk, path.string());
    if (!n.ok()) return n.error();
    contents.append(chunk.data(), n.value());
    if (n.value() < chunk.size()) return contents;
  }
}

struct Found {
  JournalRecord record;
  std::uint64_t append_first_seq = 0;
};

// The record at the start of `rest`, when it is whole and passes its checksum.
std::optional<Found> record_at(std::string_view rest) {
  if (rest.size() < kHeaderBytes) return std::nullopt;
  const std::uint64_t length = get_be(rest.substr(0, 4));
  if (length > kMaxPayloadBytes || rest.size() - kHeaderBytes < length) return std::nullopt;
  if (crc32c(rest.substr(8, kHeaderBytes - 8 + length)) != get_be(rest.substr(4, 4))) {
    return std::nullopt;
  }
  return Found{{get_be(rest.substr(8, 8)), std::string(rest.substr(kHeaderBytes, length))},
               get_be(rest.substr(16, 8))};
}

// Whether a whole record of a later append than record `damaged_seq`'s starts anywhere
// in `rest`. Only the last append of a file can be torn by a crash (every earlier one
// was flushed before the next began), and a torn append may be flushed in part, so
// damage followed only by records of its own append is that torn end: none of it was
// reported durable.
bool later_append_in(std::string_view rest, std::uint64_t damaged_seq) {
  for (std::size_t offset = 1; offset + kHeaderBytes <= rest.size(); ++offset) {
    const std::uint64_t seq = get_be(rest.substr(offset + 8, 8));
    if (seq <= damaged_seq || seq - damaged_seq > rest.size()) continue;
    std::optional<Found> found = record_at(rest.substr(offset));
    if (found && found->append_first_seq > damaged_seq) return true;
  }
  return false;
}

// The records of the file whose first record is `first_seq`, in order.
Result<std::vector<JournalRecord>> parse_file(const fs::path& path, std::uint64_t first_seq,
                                              std::string_view contents) {
  std::vector<JournalRecord> records;
  std::size_t offset = 0;
  while (offset < contents.size()) {
    std::optional<Found> found = record_at(contents.substr(offset));
    if (!found) {
      if (contents.find_first_not_of('\0', offset) == std::string_view::npos) {
        break;  // the zeros ahead of the records
      }
      const std::uint64_t damaged_seq = records.empty() ? first_seq : records.back().seq + 1;
      if (later_append_in(contents.substr(offset), damaged_seq)) {
        return make_error(
            Code::kCorruption,
            fmt::format("journal file {} has a damaged record at byte {}", path.string(), offset));
      }
      break;  // the torn end of the last append
    }
    offset += kHeaderBytes + found->record.payload.size();
    records.push_back(std::move(found->record));
  }
  return records;
}

}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return ~crc32c_sse42(~0u, bytes);
#endif
  return ~crc32c_portable(~0u, bytes);
}

bool Journal::is_file_name(std::string_view name) {
  return journal_file_seq(name).has_value();
}

Result<std::vector<std::string>> Journal::file_names(const fs::path& dir) {
  std::error_code error;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    if (is_file_name(name)) names.push_back(std::move(name));
  }
  if (error) {
    return make_error(Code::kIoError,
                      fmt::format("cannot list {}: {}", dir.string(), error.message()));
  }
  std::sort(names.begin(), names.end());  // fixed-width numbers: name order is sequence order
  return names;
}

Result<std::unique_ptr<Journal>> Journal::open(const fs::path& dir, std::uint64_t after_seq,
                                               std::vector<JournalRecord>& recovered,
                                               std::uint64_t rotate_bytes) {
  auto names = file_names(dir);
  if (!names.ok()) return names.error();
  std::vector<File> files;
  std::uint64_t last_seq = after_seq;
  for (const std::string& name : names.value()) {
    auto contents = read_file(dir / name);
    if (!contents.ok()) return contents.error();
    auto parsed = parse_file(dir / name, *journal_file_seq(name), contents.value());
    if (!parsed.ok()) return parsed.error();
    File file{name, 0};
    for (JournalRecord& record : parsed.value()) {
      file.last_seq = record.seq;
      if (record.seq <= after_seq) continue;  // the database has it
      if (record.seq != last_seq + 1) {
        return make_error(Code::kCorruption,
                          fmt::format("journal file {} holds record {} where record {} was "
                                      "expected: records are missing",
                                      (dir / name).string(), record.seq, last_seq + 1));
      }
      last_seq = record.seq;
      recovered.push_back(std::move(record));
    }
    files.push_back(std::move(file));
  }
  // A file already named like the new one holds no record (or its first would be
  // above last_seq): it is replaced, not listed for deletion.
  const std::string name = file_name(last_seq + 1);
  std::erase_if(files, [&](const File& file) { return file.name == name; });
  auto journal =
      std::unique_ptr<Journal>(new Journal(dir, std::move(files), last_seq, rotate_bytes));
  auto fd = journal->create_file(name);
  if (!fd.ok()) return fd.error();
  journal->use_file(name, std::move(fd).value());
  return journal;
}

Journal::Journal(fs::path dir, std::vector<File> files, std::uint64_t last_seq,
                 std::uint64_t rotate_bytes)
    : dir_(std::move(dir)),
      closed_(std::move(files)),
      last_seq_(last_seq),
      rotate_bytes_(rotate_bytes) {}

Result<Fd> Journal::create_file(const std::string& name) const {
  const fs::path path = dir_ / name;
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return errno_error(fmt::format("cannot create journal file {}", path.string()), errno);
  }
  // The name must outlive a crash before the records in the file do.
  if (Status synced = fsync_directory(dir_); !synced.ok()) {
    ::unlink(path.c_str());
    return synced.error();
  }
  return fd;
}

void Journal::use_file(std::string name, Fd fd) {
  current_ = std::move(fd);
  current_file_ = {std::move(name), last_seq_};
  current_bytes_ = 0;
  allocated_bytes_ = 0;
}

Result<std::uint64_t> Journal::append(std::span<const std::string> payloads) {
  if (payloads.empty()) return last_seq_;
  if (current_bytes_ >= rotate_bytes_) rotate();
  base::ByteWriter writer(std::move(buffer_));
  std::uint64_t seq = last_seq_;
  for (const std::string& payload : payloads) {
    if (payload.size() > kMaxPayloadBytes) {
      return make_error(Code::kInvalidArgument,
                        fmt::format("a journal record of {} bytes is over the limit of {}",
                                    payload.size(), kMaxPayloadBytes));
    }
    base::ByteWriter checked;  // what the checksum covers: sequence number and payload
    checked.u64(++seq);
    checked.u64(last_seq_ + 1);  // this append's first
    checked.bytes(payload);
    writer.u32(static_cast<std::uint32_t>(payload.size()));
    writer.u32(crc32c(checked.str()));
    writer.bytes(checked.str());
  }
  buffer_ = writer.take();
  const fs::path path = dir_ / current_file_.name;
  preallocate(current_bytes_ + buffer_.size(), path.string());
  if (Status written = write_fully_at(current_.get(), buffer_, current_bytes_, path.string());
      !written.ok()) {
    return written.error();
  }
  if (::fdatasync(current_.get()) != 0) {
    return errno_error(fmt::format("cannot fsync {}", path.string()), errno);
  }
  current_bytes_ += buffer_.size();
  current_file_.last_seq = last_seq_ = seq;
  return seq;
}

// The zeros go to disk with the write they precede (one fdatasync for both). They only
// save time: a disk too full for them still takes the records.
void Journal::preallocate(std::uint64_t end_bytes, const std::string& path) {
  if (end_bytes <= allocated_bytes_) return;
  const std::uint64_t target =
      std::max(end_bytes, std::min(allocated_bytes_ + kPreallocateBytes, rotate_bytes_));
  static const std::string zeros(1 << 16, '\0');
  for (std::uint64_t offset = end_bytes; offset < target;) {
    const std::uint64_t size = std::min<std::uint64_t>(zeros.size(), target - offset);
    if (!write_fully_at(current_.get(), std::string_view(zeros).substr(0, size), offset, path)
             .ok()) {
      return;
    }
    offset += size;
  }
  allocated_bytes_ = target;
}

Status Journal::release_through(std::uint64_t seq) {
  while (!closed_.empty() && closed_.front().last_seq <= seq) {
    const fs::path path = dir_ / closed_.front().name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return errno_error(fmt::format("cannot delete journal file {}", path.string()), errno);
    }
    closed_.erase(closed_.begin());
  }
  return {};
}

// Without a file descriptor to spare (or a failing directory), the journal keeps
// appending to its file and tries again at the next append: a node out of
// descriptors must not stop writing.
void Journal::rotate() {
  std::string name = file_name(last_seq_ + 1);
  auto fd = create_file(name);
  if (!fd.ok()) return;
  closed_.push_back(current_file_);
  use_file(std::move(name), std::move(fd).value());
}

}  // namespace aethel::storage
