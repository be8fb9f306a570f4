// The layout read here is LMDB's data format version 1 (mdb.c: MDB_page, MDB_meta,
// MDB_db, MDB_node) on a little-endian 64-bit machine, the only kind this project
// builds for.
#include "storage/lmdb_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <string>

#include "storage/posix_file.h"

namespace aethel::storage::lmdb {
namespace {

static_assert(sizeof(void*) == 8 && std::endian::native == std::endian::little,
              "the data file layout below is LMDB's on 64-bit little-endian machines");

constexpr std::size_t kPageHeaderBytes = 16;  // pgno, pad, flags, lower and upper
constexpr std::size_t kFlagsAt = 10;
constexpr std::size_t kLowerAt = 12;
constexpr std::uint16_t kBranchPage = 0x01;
constexpr std::uint16_t kLeafPage = 0x02;
constexpr std::uint16_t kOverflowPage = 0x04;
constexpr std::uint16_t kMetaPage = 0x08;
// MDB_meta follows the page header: magic, version, address, map size, then the free
// list's MDB_db (root last, at +40 of it), the main MDB_db, last page and txnid.
constexpr std::size_t kMagicAt = kPageHeaderBytes;
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::size_t kFreeRootAt = kPageHeaderBytes + 24 + 40;
constexpr std::size_t kTxnidAt = kPageHeaderBytes + 24 + 2 * 48 + 8;
constexpr std::uint64_t kNoPage = ~std::uint64_t{0};
// A node: data size (or child page) in lo/hi, flags (high bits of a child page), key size.
constexpr std::size_t kNodeHeaderBytes = 8;
constexpr std::uint16_t kBigData = 0x01;  // the value is on overflow pages

template <typename T>
T load(const std::string& bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

class DataFile {
 public:
  DataFile(const std::filesystem::path& path, std::uint32_t page_bytes)
      : path_(path.string()), page_bytes_(page_bytes) {}

  Status open() {
    fd_ = Fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat info {};
    if (!fd_.valid() || ::fstat(fd_.get(), &info) != 0) {
      return errno_error(fmt::format("cannot read {}", path_), errno);
    }
    pages_ = static_cast<std::uint64_t>(info.st_size) / page_bytes_;
    return {};
  }

  // `count` pages from `pgno`, all of which must be in the file.
  Result<std::string> read(std::uint64_t pgno, std::uint64_t count = 1) const {
    if (pgno >= pages_ || count > pages_ - pgno) {
      return make_error(Code::kCorruption, fmt::format("{} is truncated: page {} lies past its end",
                                                       path_, std::max(pgno, pages_)));
    }
    std::string bytes(count * page_bytes_, '\0');
    if (::lseek(fd_.get(), static_cast<off_t>(pgno * page_bytes_), SEEK_SET) < 0) {
      return errno_error(fmt::format("cannot read page {} of {}", pgno, path_), errno);
    }
    auto read = read_up_to(fd_.get(), bytes, path_);
    if (!read.ok()) return read.error();
    if (read.value() < bytes.size()) return bad(fmt::format("page {} ends early", pgno));
    return bytes;
  }

  base::Error bad(std::string_view what) const {
    return make_error(Code::kCorruption, fmt::format("{}: {}", path_, what));
  }
  std::uint32_t page_bytes() const { return page_bytes_; }
  std::uint64_t pages() const { return pages_; }

 private:
  std::string path_;
  std::uint32_t page_bytes_;
  Fd fd_;
  std::uint64_t pages_ = 0;
};

// The root of the free list in the meta page that committed `txnid`.
Result<std::uint64_t> free_list_root(const DataFile& file, std::uint64_t txnid) {
  for (std::uint64_t pgno : {0, 1}) {
    auto page = file.read(pgno);
    if (!page.ok()) return page.error();
    if (load<std::uint32_t>(*page, kMagicAt) != kMagic ||
        !(load<std::uint16_t>(*page, kFlagsAt) & kMetaPage)) {
      return file.bad(fmt::format("page {} is not a meta page", pgno));
    }
    if (load<std::uint64_t>(*page, kTxnidAt) == txnid) {
      return load<std::uint64_t>(*page, kFreeRootAt);
    }
  }
  return file.bad(fmt::format("no meta page holds transaction {}", txnid));
}

// A free-list record: a count, then that many page numbers.
Status add_page_list(const DataFile& file, std::string_view list, std::uint64_t at_pgno,
                     std::vector<std::uint64_t>& pages) {
  std::uint64_t count = 0;
  if (list.size() >= 8) std::memcpy(&count, list.data(), 8);
  if (list.size() < 8 || count > list.size() / 8 - 1) {
    return file.bad(fmt::format("the free-list record on page {} does not parse", at_pgno));
  }
  for (std::uint64_t i = 1; i <= count; ++i) {
    std::uint64_t pgno = 0;
    std::memcpy(&pgno, list.data() + 8 * i, 8);
    pages.push_back(pgno);
  }
  return {};
}

// A leaf's value: inline, or on the overflow pages its node names.
Result<std::string> leaf_value(const DataFile& file, const std::string& page, std::uint64_t pgno,
                               std::size_t node_at) {
  const auto size = load<std::uint16_t>(page, node_at) |
                    (std::uint64_t{load<std::uint16_t>(page, node_at + 2)} << 16);
  const auto flags = load<std::uint16_t>(page, node_at + 4);
  const std::size_t value_at = node_at + kNodeHeaderBytes + load<std::uint16_t>(page, node_at + 6);
  if (!(flags & kBigData)) {
    if (value_at + size > page.size()) return file.bad(fmt::format("page {} is damaged", pgno));
    return page.substr(value_at, size);
  }
  if (value_at + 8 > page.size()) return file.bad(fmt::format("page {} is damaged", pgno));
  // The value follows the first page's header, on as many pages as it needs.
  const auto first = load<std::uint64_t>(page, value_at);
  const std::uint64_t count = (kPageHeaderBytes + size + file.page_bytes() - 1) / file.page_bytes();
  auto pages = file.read(first, count);
  if (!pages.ok()) return pages.error();
  if (!(load<std::uint16_t>(*pages, kFlagsAt) & kOverflowPage)) {
    return file.bad(fmt::format("overflow page {} is damaged", first));
  }
  return pages->substr(kPageHeaderBytes, size);
}

// Adds the children of a branch page, or the page lists of a leaf page.
Status visit(const DataFile& file, std::uint64_t pgno, std::vector<std::uint64_t>& to_visit,
             std::vector<std::uint64_t>& pages) {
  auto page = file.read(pgno);
  if (!page.ok()) return page.error();
  const auto flags = load<std::uint16_t>(*page, kFlagsAt);
  const auto lower = load<std::uint16_t>(*page, kLowerAt);
  if (!(flags & (kBranchPage | kLeafPage)) || lower < kPageHeaderBytes || lower > page->size()) {
    return file.bad(fmt::format("free-list page {} is damaged", pgno));
  }
  for (std::size_t i = 0; i < (lower - kPageHeaderBytes) / 2; ++i) {
    const std::size_t node_at = load<std::uint16_t>(*page, kPageHeaderBytes + 2 * i);
    if (node_at + kNodeHeaderBytes > page->size()) {
      return file.bad(fmt::format("free-list page {} is damaged", pgno));
    }
    if (flags & kBranchPage) {
      to_visit.push_back(load<std::uint16_t>(*page, node_at) |
                         (std::uint64_t{load<std::uint16_t>(*page, node_at + 2)} << 16) |
                         (std::uint64_t{load<std::uint16_t>(*page, node_at + 4)} << 32));
      continue;
    }
    auto value = leaf_value(file, *page, pgno, node_at);
    if (!value.ok()) return value.error();
    if (Status added = add_page_list(file, *value, pgno, pages); !added.ok()) return added;
  }
  return {};
}

}  // namespace

Result<std::vector<std::uint64_t>> free_pages(const std::filesystem::path& data_path,
                                              std::uint32_t page_bytes, std::uint64_t txnid) {
  DataFile file(data_path, page_bytes);
  if (Status opened = file.open(); !opened.ok()) return opened.error();
  auto root = free_list_root(file, txnid);
  if (!root.ok()) return root.error();
  std::vector<std::uint64_t> pages;
  std::vector<std::uint64_t> to_visit;
  if (*root != kNoPage) to_visit.push_back(*root);
  // A tree visits each page once: more visits than pages means a cycle.
  for (std::uint64_t visits = 0; !to_visit.empty(); ++visits) {
    if (visits > file.pages()) return file.bad("the free list loops");
    const std::uint64_t pgno = to_visit.back();
    to_visit.pop_back();
    if (Status visited = visit(file, pgno, to_visit, pages); !visited.ok()) return visited.error();
  }
  std::sort(pages.begin(), pages.end());
  return pages;
}

}  // namespace aethel::storage::lmdb
