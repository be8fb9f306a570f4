#include "sim/bank.h"

namespace aethel::sim {
namespace {

void put_u64(consensus::Bytes& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

bool get_u64(std::span<const std::uint8_t>& in, std::uint64_t& value) {
  if (in.size() < 8) return false;
  value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<std::uint64_t>(in[i]) << (8 * i);
  in = in.subspan(8);
  return true;
}

}  // namespace

consensus::Bytes encode_transfer(const Transfer& t) {
  consensus::Bytes out;
  out.reserve(40);
  put_u64(out, t.client);
  put_u64(out, t.seq);
  put_u64(out, (static_cast<std::uint64_t>(t.from) << 32) | t.to);
  put_u64(out, t.amount);
  return out;
}

std::optional<Transfer> decode_transfer(std::span<const std::uint8_t> bytes) {
  Transfer t;
  std::uint64_t accounts = 0;
  if (!get_u64(bytes, t.client) || !get_u64(bytes, t.seq) || !get_u64(bytes, accounts) ||
      !get_u64(bytes, t.amount) || !bytes.empty()) {
    return std::nullopt;
  }
  t.from = static_cast<std::uint32_t>(accounts >> 32);
  t.to = static_cast<std::uint32_t>(accounts);
  return t;
}

Bank::Bank() {
  balances_.fill(kInitialBalance);
}

std::optional<AppliedTransfer> Bank::apply(consensus::Index index,
                                           std::span<const std::uint8_t> data, std::string& error) {
  if (index != applied_ + 1) {
    error = "bank: entry " + std::to_string(index) + " applied after " + std::to_string(applied_);
    return std::nullopt;
  }
  applied_ = index;
  hash_ = hash_bytes(hash_ ^ index, data);
  if (data.empty()) return std::nullopt;
  const std::optional<Transfer> t = decode_transfer(data);
  if (!t) return std::nullopt;
  ClientRecord& record = clients_[t->client];
  if (t->seq <= record.seq) {  // a retry of something already applied: exactly once
    return AppliedTransfer{t->client, t->seq, t->seq == record.seq ? record.index : 0};
  }
  record.seq = t->seq;
  record.index = index;
  if (t->from >= kAccounts || t->to >= kAccounts || t->from == t->to || t->amount == 0) {
    record.outcome = Outcome::kInvalid;
  } else if (balances_[t->from] < t->amount) {
    record.outcome = Outcome::kInsufficientFunds;
  } else {
    balances_[t->from] -= t->amount;
    balances_[t->to] += t->amount;
    record.outcome = Outcome::kApplied;
  }
  return AppliedTransfer{t->client, t->seq, index};
}

bool Bank::has_applied(std::uint64_t client, std::uint64_t seq, consensus::Index& index) const {
  const auto found = clients_.find(client);
  if (found == clients_.end() || found->second.seq < seq) return false;
  index = found->second.seq == seq ? found->second.index : 0;
  return true;
}

std::uint64_t Bank::total() const {
  std::uint64_t sum = 0;
  for (std::uint64_t balance : balances_) sum += balance;
  return sum;
}

consensus::Bytes Bank::serialize() const {
  consensus::Bytes out;
  put_u64(out, applied_);
  put_u64(out, hash_);
  for (std::uint64_t balance : balances_) put_u64(out, balance);
  put_u64(out, clients_.size());
  for (const auto& [id, record] : clients_) {
    put_u64(out, id);
    put_u64(out, record.seq);
    put_u64(out, static_cast<std::uint64_t>(record.outcome));
    put_u64(out, record.index);
  }
  return out;
}

std::optional<Bank> Bank::deserialize(std::span<const std::uint8_t> in) {
  Bank bank;
  std::uint64_t count = 0;
  if (!get_u64(in, bank.applied_) || !get_u64(in, bank.hash_)) return std::nullopt;
  for (auto& balance : bank.balances_) {
    if (!get_u64(in, balance)) return std::nullopt;
  }
  if (!get_u64(in, count) || count > in.size() / 32) return std::nullopt;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t id = 0;
    std::uint64_t outcome = 0;
    ClientRecord record;
    if (!get_u64(in, id) || !get_u64(in, record.seq) || !get_u64(in, outcome) ||
        !get_u64(in, record.index) || outcome > 2) {
      return std::nullopt;
    }
    record.outcome = static_cast<Outcome>(outcome);
    bank.clients_[id] = record;
  }
  if (!in.empty()) return std::nullopt;
  return bank;
}

}  // namespace aethel::sim
