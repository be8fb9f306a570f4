// Small POSIX helpers for the few files the store writes itself (FORMAT, LOCK):
// an owning file descriptor, durable atomic file replacement and errno
// translation into errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "storage/storage.h"

namespace aethel::storage {

// Owns a file descriptor; closes it once.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  bool valid() const { return fd_ >= 0; }
  int get() const { return fd_; }
  int release();

 private:
  int fd_;
};

// "<what>: <strerror>" with a code chosen from errno: permission and read-only
// errors become kNotWritable, the rest kIoError.
base::Error errno_error(std::string_view what, int error_number);

// Reads from `fd` until `buffer` is full or the file ends; returns the bytes read.
// `path` names the file in the error.
Result<std::size_t> read_up_to(int fd, std::span<char> buffer, const std::string& path);

// "<prefix><number, 20 digits><suffix>": the names of the store's numbered files
// (snapshot and journal files), whose name order is number order.
std::string numbered_file_name(std::string_view prefix, std::uint64_t number,
                               std::string_view suffix);
// The number such a name carries; nullopt for any other name.
std::optional<std::uint64_t> numbered_file_number(std::string_view name, std::string_view prefix,
                                                  std::string_view suffix);

// Writes all of `contents` to `fd` (retrying short and interrupted writes); `path`
// names the file in the error.
Status write_fully(int fd, std::string_view contents, const std::string& path);
// The same at byte `offset` of the file (pwrite): the file position does not move.
Status write_fully_at(int fd, std::string_view contents, std::uint64_t offset,
                      const std::string& path);

// fsyncs a directory, making the names created in it durable.
Status fsync_directory(const std::filesystem::path& dir);

// Replaces dir/name with `contents` so that after a crash the file holds either
// the old or the new contents in full: write a temp file, fsync it, rename it
// over the target, fsync the directory.
Status write_file_atomically(const std::filesystem::path& dir, const std::string& name,
                             std::string_view contents);
// The same with the contents produced a piece at a time.
Status write_file_atomically(const std::filesystem::path& dir, const std::string& name,
                             const PieceWriter& write_contents);

}  // namespace aethel::storage
