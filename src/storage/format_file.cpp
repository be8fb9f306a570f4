#include "storage/format_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "storage/posix_file.h"

namespace aethel::storage::format_file {
namespace {

constexpr std::string_view kMagic = "aethel-storage-format ";
constexpr std::size_t kMaxVersionDigits = 9;
// A valid file is a few dozen bytes; reading more only feeds the message.
constexpr std::size_t kMaxReadBytes = 256;
constexpr std::size_t kMaxShownBytes = 40;

std::string printable(std::string_view bytes) {
  std::string shown;
  for (char c : bytes.substr(0, kMaxShownBytes)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\') {
      shown.push_back(c);
    } else {
      shown += fmt::format("\\x{:02x}", byte);
    }
  }
  if (bytes.size() > kMaxShownBytes) shown += "...";
  return shown;
}

Contents parse(std::string_view text) {
  Contents garbage{Contents::State::kGarbage, 0, printable(text)};
  if (text.substr(0, kMagic.size()) != kMagic) return garbage;
  std::string_view rest = text.substr(kMagic.size());
  if (rest.empty() || rest.back() != '\n') return garbage;
  rest.remove_suffix(1);
  if (rest.empty() || rest.size() > kMaxVersionDigits) return garbage;
  std::uint32_t version = 0;
  for (char c : rest) {
    if (c < '0' || c > '9') return garbage;
    version = version * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return Contents{Contents::State::kValid, version, {}};
}

}  // namespace

std::string text_for(std::uint32_t version) {
  return fmt::format("{}{}\n", kMagic, version);
}

Result<Contents> read(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kFormatFileName;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Contents{};
    return errno_error(fmt::format("cannot read format file {}", path.string()), errno);
  }
  std::array<char, kMaxReadBytes> buffer{};
  auto size = read_up_to(fd.get(), buffer, "format file " + path.string());
  if (!size.ok()) return size.error();
  return parse(std::string_view(buffer.data(), size.value()));
}

Status write(const std::filesystem::path& dir, std::uint32_t version) {
  return write_file_atomically(dir, std::string(kFormatFileName), text_for(version));
}

std::string refusal_message(const std::filesystem::path& dir, const Contents& contents) {
  if (contents.state == Contents::State::kGarbage) {
    return fmt::format(
        "data directory {} has an unreadable format file {} (found \"{}\"); this build "
        "supports storage format version {}. Restore the directory from a backup or "
        "rebuild the node from a peer's snapshot.",
        dir.string(), (dir / kFormatFileName).string(), contents.found, kFormatVersion);
  }
  return fmt::format(
      "data directory {} has storage format version {}; this build supports version {}. "
      "Use a build that supports version {} (see docs/STORAGE.md, format version policy).",
      dir.string(), contents.version, kFormatVersion, contents.version);
}

}  // namespace aethel::storage::format_file
