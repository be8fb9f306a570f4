#include "storage/posix_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace aethel::storage {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

int Fd::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

base::Error errno_error(std::string_view what, int error_number) {
  const bool not_writable =
      error_number == EACCES || error_number == EPERM || error_number == EROFS;
  return make_error(not_writable ? Code::kNotWritable : Code::kIoError,
                    fmt::format("{}: {}", what, std::strerror(error_number)));
}

Result<std::size_t> read_up_to(int fd, std::span<char> buffer, const std::string& path) {
  std::size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(fmt::format("cannot read {}", path), errno);
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  return size;
}

namespace {

// A big file is flushed as it is written, a few MiB at a time: its dirty pages then
// never pile up in front of another file's fsync (the database's commits), which the
// file system's journal would make wait for them.
constexpr std::size_t kFlushEveryBytes = std::size_t{4} << 20;

Status fsync_path(const std::string& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) return errno_error(fmt::format("cannot open {} to fsync it", path), errno);
  if (::fsync(fd.get()) != 0) return errno_error(fmt::format("cannot fsync {}", path), errno);
  return {};
}

}  // namespace

std::string numbered_file_name(std::string_view prefix, std::uint64_t number,
                               std::string_view suffix) {
  return fmt::format("{}{:020}{}", prefix, number, suffix);
}

std::optional<std::uint64_t> numbered_file_number(std::string_view name, std::string_view prefix,
                                                  std::string_view suffix) {
  if (!name.starts_with(prefix) || !name.ends_with(suffix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  name.remove_suffix(suffix.size());
  std::uint64_t number = 0;
  auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (error != std::errc() || end != name.data() + name.size() || name.size() != 20) {
    return std::nullopt;
  }
  return number;
}

// Calls `write_some(rest, written)` (a write of `rest`, which starts `written` bytes
// into `contents`) until all of `contents` is written, retrying interrupted writes.
template <class WriteSome>
static Status write_all(std::string_view contents, const std::string& path, WriteSome write_some) {
  for (std::size_t written = 0; written < contents.size();) {
    const ssize_t n = write_some(contents.substr(written), written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(fmt::format("cannot write {}", path), errno);
    written += static_cast<std::size_t>(n);
  }
  return {};
}

Status write_fully(int fd, std::string_view contents, const std::string& path) {
  return write_all(contents, path, [fd](std::string_view rest, std::size_t) {
    return ::write(fd, rest.data(), rest.size());
  });
}

Status write_fully_at(int fd, std::string_view contents, std::uint64_t offset,
                      const std::string& path) {
  return write_all(contents, path, [fd, offset](std::string_view rest, std::size_t written) {
    return ::pwrite(fd, rest.data(), rest.size(), static_cast<off_t>(offset + written));
  });
}

Status fsync_directory(const std::filesystem::path& dir) {
  return fsync_path(dir.string(), O_RDONLY | O_DIRECTORY);
}

Status write_file_atomically(const std::filesystem::path& dir, const std::string& name,
                             std::string_view contents) {
  return write_file_atomically(dir, name, [&](const PieceSink& sink) { sink(contents); });
}

Status write_file_atomically(const std::filesystem::path& dir, const std::string& name,
                             const PieceWriter& write_contents) {
  const std::string target = (dir / name).string();
  const std::string temp = target + ".tmp";
  {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return errno_error(fmt::format("cannot create {}", temp), errno);
    Status written;  // the first failure; later pieces are dropped
    std::size_t unflushed_bytes = 0;
    write_contents([&](std::string_view piece) {
      if (written.ok()) written = write_fully(fd.get(), piece, temp);
      unflushed_bytes += piece.size();
      if (written.ok() && unflushed_bytes >= kFlushEveryBytes) {
        unflushed_bytes = 0;
        if (::fdatasync(fd.get()) != 0)
          written = errno_error(fmt::format("cannot fsync {}", temp), errno);
      }
    });
    if (!written.ok()) return written.error();
    if (::fsync(fd.get()) != 0) return errno_error(fmt::format("cannot fsync {}", temp), errno);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    return errno_error(fmt::format("cannot rename {} to {}", temp, target), errno);
  }
  return fsync_directory(dir);
}

}  // namespace aethel::storage
