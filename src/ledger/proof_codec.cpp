// Byte and JSON forms of Merkle proofs (layouts: docs/MERKLE.md).
#include <fmt/format.h>

#include "ledger/bytes.h"
#include "ledger/json_util.h"
#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

constexpr uint8_t kProofVersion = 1;
// Version 2: an other_leaf proof whose other account has an owner (its 32 bytes
// follow the nonce). Every other proof keeps version 1's bytes.
constexpr uint8_t kProofVersionOwnedOther = 2;
constexpr size_t kMaxProofDepth = 256;

Error bad_proof(std::string message) {
  return Error{"bad_proof", std::move(message)};
}

const char* terminal_name(ProofTerminal t) {
  switch (t) {
    case ProofTerminal::kLeaf:
      return "leaf";
    case ProofTerminal::kEmpty:
      return "empty";
    case ProofTerminal::kOtherLeaf:
      return "other_leaf";
  }
  return "unknown";
}

// An optional owner key member: absent is nullopt, anything but 64 hex digits an error.
Result<std::optional<PublicKey>> optional_owner(const boost::json::object& object,
                                                std::string_view member) {
  const auto* value = object.if_contains(member);
  if (value == nullptr) return std::optional<PublicKey>();
  std::optional<PublicKey> key;
  if (value->is_string()) key = public_key_from_hex(std::string_view(value->get_string()));
  if (!key) return bad_proof(fmt::format("\"{}\" must be 64 hex digits", member));
  return key;
}

std::optional<ProofTerminal> terminal_from_name(std::string_view name) {
  if (name == "leaf") return ProofTerminal::kLeaf;
  if (name == "empty") return ProofTerminal::kEmpty;
  if (name == "other_leaf") return ProofTerminal::kOtherLeaf;
  return std::nullopt;
}

}  // namespace

std::string encode_proof(const Proof& proof) {
  const bool owned_other =
      proof.terminal == ProofTerminal::kOtherLeaf && proof.other_account.owner.has_value();
  ByteWriter out;
  out.u8(owned_other ? kProofVersionOwnedOther : kProofVersion);
  out.u8(static_cast<uint8_t>(proof.terminal));
  out.u16(static_cast<uint16_t>(proof.siblings.size()));
  std::string bitmap((proof.siblings.size() + 7) / 8, '\0');
  for (size_t i = 0; i < proof.siblings.size(); ++i) {
    if (proof.siblings[i] != kEmptyHash) bitmap[i / 8] |= static_cast<char>(0x80u >> (i % 8));
  }
  out.bytes(bitmap);
  for (const Hash& sibling : proof.siblings) {
    if (sibling != kEmptyHash) put_hash(out, sibling);
  }
  if (proof.terminal == ProofTerminal::kOtherLeaf) {
    put_hash(out, proof.other_key);
    out.i64(proof.other_account.balance);
    out.u64(proof.other_account.nonce);
    if (owned_other) put_hash(out, *proof.other_account.owner);
  }
  return out.take();
}

Result<Proof> decode_proof(std::string_view bytes) {
  ByteReader in(bytes);
  const uint8_t version = in.u8();
  const uint8_t terminal = in.u8();
  const uint16_t depth = in.u16();
  if (!in.ok()) return bad_proof("proof is shorter than its 4-byte header");
  if (version != kProofVersion && version != kProofVersionOwnedOther) {
    return bad_proof("unsupported proof version " + std::to_string(version));
  }
  if (terminal > static_cast<uint8_t>(ProofTerminal::kOtherLeaf)) {
    return bad_proof("unknown proof terminal " + std::to_string(terminal));
  }
  if (version == kProofVersionOwnedOther &&
      terminal != static_cast<uint8_t>(ProofTerminal::kOtherLeaf)) {
    return bad_proof("proof version 2 is only for an other_leaf terminal");
  }
  if (depth > kMaxProofDepth) return bad_proof("proof depth " + std::to_string(depth) + " > 256");
  const std::string_view bitmap = in.bytes((depth + 7u) / 8u);
  if (!in.ok()) return bad_proof("proof is truncated in its sibling bitmap");
  Proof proof;
  proof.terminal = static_cast<ProofTerminal>(terminal);
  proof.siblings.resize(depth, kEmptyHash);
  for (size_t i = 0; i < bitmap.size() * 8; ++i) {
    const bool present = (static_cast<uint8_t>(bitmap[i / 8]) & (0x80u >> (i % 8))) != 0;
    if (!present) continue;
    if (i >= depth) return bad_proof("proof bitmap has bits set past its depth");
    proof.siblings[i] = read_hash(in);
    if (!in.ok()) return bad_proof("proof is truncated in its siblings");
    if (proof.siblings[i] == kEmptyHash) {
      return bad_proof("proof lists an empty sibling explicitly (not canonical)");
    }
  }
  if (proof.terminal == ProofTerminal::kOtherLeaf) {
    proof.other_key = read_hash(in);
    proof.other_account.balance = in.i64();
    proof.other_account.nonce = in.u64();
    if (version == kProofVersionOwnedOther) proof.other_account.owner = read_hash(in);
    if (!in.ok()) return bad_proof("proof is truncated in its other leaf");
    if (proof.other_account.balance < 0)
      return bad_proof("proof's other leaf has a negative balance");
  }
  if (!in.at_end()) {
    return bad_proof("proof has " + std::to_string(in.remaining()) + " trailing bytes");
  }
  return proof;
}

namespace {

boost::json::object proof_object(const Proof& proof) {
  boost::json::object out;
  out["version"] = kProofVersion;
  out["terminal"] = terminal_name(proof.terminal);
  boost::json::array siblings;
  for (const Hash& sibling : proof.siblings) siblings.emplace_back(to_hex(sibling));
  out["siblings"] = std::move(siblings);
  if (proof.terminal == ProofTerminal::kOtherLeaf) {
    out["other_key"] = to_hex(proof.other_key);
    out["other_balance"] = proof.other_account.balance;
    out["other_nonce"] = proof.other_account.nonce;
    if (proof.other_account.owner) out["other_owner"] = to_hex(*proof.other_account.owner);
  }
  return out;
}

}  // namespace

std::string proof_to_json(const Proof& proof) {
  return boost::json::serialize(proof_object(proof));
}

Result<Proof> proof_from_json(std::string_view json_text) {
  auto parsed = parse_strict_json(json_text);
  if (!parsed.ok()) return bad_proof(parsed.error().message);
  const boost::json::object* object = parsed.value().if_object();
  if (object == nullptr) return bad_proof("proof JSON must be an object");
  const auto* version = object->if_contains("version");
  if (version == nullptr || json_int64(*version, 0, 255) != kProofVersion) {
    return bad_proof("proof JSON needs \"version\": 1");
  }
  const auto* terminal = object->if_contains("terminal");
  std::optional<ProofTerminal> kind;
  if (terminal != nullptr && terminal->is_string()) {
    kind = terminal_from_name(std::string_view(terminal->get_string()));
  }
  if (!kind)
    return bad_proof("proof JSON needs \"terminal\": \"leaf\", \"empty\" or \"other_leaf\"");
  const auto* siblings = object->if_contains("siblings");
  if (siblings == nullptr || !siblings->is_array()) {
    return bad_proof("proof JSON needs \"siblings\": an array of hex hashes");
  }
  if (siblings->get_array().size() > kMaxProofDepth)
    return bad_proof("proof has more than 256 siblings");
  Proof proof;
  proof.terminal = *kind;
  for (const auto& sibling : siblings->get_array()) {
    std::optional<Hash> hash;
    if (sibling.is_string()) hash = hash_from_hex(std::string_view(sibling.get_string()));
    if (!hash)
      return bad_proof("proof sibling " + std::to_string(proof.siblings.size()) +
                       " is not 64 hex digits");
    proof.siblings.push_back(*hash);
  }
  if (proof.terminal == ProofTerminal::kOtherLeaf) {
    const auto* key = object->if_contains("other_key");
    const auto* balance = object->if_contains("other_balance");
    const auto* nonce = object->if_contains("other_nonce");
    std::optional<Hash> other_key;
    if (key != nullptr && key->is_string())
      other_key = hash_from_hex(std::string_view(key->get_string()));
    const auto other_balance = balance ? json_int64(*balance, 0, INT64_MAX) : std::nullopt;
    const auto other_nonce = nonce ? json_uint64(*nonce) : std::nullopt;
    if (!other_key || !other_balance || !other_nonce) {
      return bad_proof("an other_leaf proof needs other_key (hex), other_balance and other_nonce");
    }
    proof.other_key = *other_key;
    proof.other_account = {*other_balance, *other_nonce};
    Result<std::optional<PublicKey>> owner = optional_owner(*object, "other_owner");
    if (!owner.ok()) return owner.error();
    proof.other_account.owner = owner.value();
  }
  return proof;
}

std::string proof_document_to_json(const ProofDocument& document) {
  boost::json::object out;
  out["name"] = document.name;
  out["exists"] = document.account.has_value();
  if (document.account) {
    out["balance"] = document.account->balance;
    out["nonce"] = document.account->nonce;
    if (document.account->owner) out["owner"] = to_hex(*document.account->owner);
  }
  out["merkle_root"] = to_hex(document.root);
  if (document.intents_root) out["intents_root"] = to_hex(*document.intents_root);
  out["height"] = document.height;
  out["proof"] = proof_object(document.proof);
  return boost::json::serialize(out);
}

Result<ProofDocument> parse_proof_document(std::string_view json_text) {
  auto parsed = parse_strict_json(json_text);
  if (!parsed.ok()) return bad_proof(parsed.error().message);
  const boost::json::object* object = parsed.value().if_object();
  if (object == nullptr) return bad_proof("proof document must be a JSON object");
  ProofDocument document;
  const auto* name = object->if_contains("name");
  if (name == nullptr || !name->is_string()) return bad_proof("proof document needs \"name\"");
  document.name = std::string(std::string_view(name->get_string()));
  const auto* root = object->if_contains("merkle_root");
  std::optional<Hash> root_hash;
  if (root != nullptr && root->is_string())
    root_hash = hash_from_hex(std::string_view(root->get_string()));
  if (!root_hash) return bad_proof("proof document needs \"merkle_root\": 64 hex digits");
  document.root = *root_hash;
  if (const auto* intents = object->if_contains("intents_root")) {
    document.intents_root = intents->is_string()
                                ? hash_from_hex(std::string_view(intents->get_string()))
                                : std::nullopt;
    if (!document.intents_root) return bad_proof("\"intents_root\" must be 64 hex digits");
  }
  const auto* height = object->if_contains("height");
  const auto height_value = height ? json_uint64(*height) : std::nullopt;
  if (!height_value) return bad_proof("proof document needs \"height\": an unsigned integer");
  document.height = *height_value;
  const auto* exists = object->if_contains("exists");
  if (exists == nullptr || !exists->is_bool())
    return bad_proof("proof document needs \"exists\": true or false");
  if (exists->get_bool()) {
    const auto* balance = object->if_contains("balance");
    const auto* nonce = object->if_contains("nonce");
    const auto balance_value = balance ? json_int64(*balance, 0, INT64_MAX) : std::nullopt;
    const auto nonce_value = nonce ? json_uint64(*nonce) : std::nullopt;
    if (!balance_value || !nonce_value) {
      return bad_proof("a proof document with \"exists\": true needs \"balance\" and \"nonce\"");
    }
    document.account = Account{*balance_value, *nonce_value};
    Result<std::optional<PublicKey>> owner = optional_owner(*object, "owner");
    if (!owner.ok()) return owner.error();
    document.account->owner = owner.value();
  }
  const auto* proof = object->if_contains("proof");
  if (proof == nullptr || !proof->is_object())
    return bad_proof("proof document needs \"proof\": {...}");
  auto decoded = proof_from_json(boost::json::serialize(*proof));
  if (!decoded.ok()) return decoded.error();
  document.proof = std::move(decoded).value();
  return document;
}

std::optional<Error> verify_proof_document(const ProofDocument& document) {
  return verify_proof_against(document.root, document.intents_root, document.name, document.account,
                              document.proof);
}

}  // namespace aethel::ledger
