#include "lattice/lung.h"

#include <fmt/format.h>

#include <algorithm>

namespace aethel::lattice {
namespace {

constexpr uint8_t kWhole = 1;
constexpr uint8_t kFragment = 2;
// A fragment carries at least this much, whatever the body limit says.
constexpr size_t kMinFragmentBytes = 1024;
constexpr uint32_t kMaxFragments = 1u << 20;

base::Error malformed(std::string why) {
  return base::Error{"malformed_body", std::move(why)};
}

}  // namespace

void LungPacker::add(std::string_view envelope, std::deque<std::string>& queue) {
  if (envelope.size() + kWholeRecordOverhead <= max_body_bytes_) {
    base::ByteWriter out;
    out.u8(kWhole);
    out.string32(envelope);
    queue.push_back(out.take());
    return;
  }
  size_t chunk = std::max(kMinFragmentBytes, max_body_bytes_ - kFragmentRecordOverhead);
  auto count = static_cast<uint32_t>((envelope.size() + chunk - 1) / chunk);
  uint64_t id = next_message_id_++;
  for (uint32_t index = 0; index < count; ++index) {
    base::ByteWriter out;
    out.u8(kFragment);
    out.u64(id);
    out.u32(index);
    out.u32(count);
    out.string32(envelope.substr(index * chunk, chunk));
    queue.push_back(out.take());
  }
}

std::string LungPacker::next_body(std::deque<std::string>& queue) const {
  std::string body;
  while (!queue.empty() &&
         (body.empty() || body.size() + queue.front().size() <= max_body_bytes_)) {
    body += queue.front();
    queue.pop_front();
  }
  return body;
}

base::Result<std::vector<std::string>> LungAssembler::feed(std::string_view body) {
  std::vector<std::string> complete;
  base::ByteReader in(body);
  while (in.ok() && !in.at_end()) {
    uint8_t kind = in.u8();
    if (kind == kWhole) {
      std::string_view envelope = in.string32(body.size());
      if (in.ok()) complete.emplace_back(envelope);
    } else if (kind == kFragment) {
      base::Status added = add_fragment(in, complete);
      if (!added.ok()) return added.error();
    } else {
      return malformed(fmt::format("unknown record kind {} at byte {}", kind, in.position() - 1));
    }
  }
  if (!in.ok()) return malformed("a record is truncated");
  return complete;
}

base::Status LungAssembler::add_fragment(base::ByteReader& in, std::vector<std::string>& complete) {
  uint64_t id = in.u64();
  uint32_t index = in.u32();
  uint32_t count = in.u32();
  std::string_view bytes = in.string32(max_pending_bytes_);
  if (!in.ok()) return malformed("a fragment is truncated or too large");
  if (count < 2 || count > kMaxFragments || index >= count) {
    return malformed(fmt::format("fragment {} of {} is out of range", index, count));
  }
  auto [it, fresh] = pending_.try_emplace(id);
  Partial& partial = it->second;
  if (fresh) {
    partial.count = count;
    partial.parts.resize(count);
    arrival_.push_back(id);
  }
  if (partial.count != count) return malformed("fragments of one message disagree on their count");
  if (!partial.parts[index].empty() || bytes.empty()) return {};  // a duplicate
  partial.parts[index] = std::string(bytes);
  partial.bytes += bytes.size();
  pending_bytes_ += bytes.size();
  if (++partial.received == partial.count) {
    std::string whole;
    whole.reserve(partial.bytes);
    for (const std::string& part : partial.parts) whole += part;
    complete.push_back(std::move(whole));
    pending_bytes_ -= partial.bytes;
    pending_.erase(it);
    arrival_.erase(std::find(arrival_.begin(), arrival_.end(), id));
  }
  while (pending_.size() > max_pending_messages_ || pending_bytes_ > max_pending_bytes_) {
    evict_oldest();
  }
  return {};
}

void LungAssembler::evict_oldest() {
  uint64_t id = arrival_.front();
  arrival_.pop_front();
  auto it = pending_.find(id);
  pending_bytes_ -= it->second.bytes;
  pending_.erase(it);
}

}  // namespace aethel::lattice
