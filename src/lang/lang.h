// The Aethel language: syntax tree, parser, printer, transfer extraction and the
// SMT verifier of intent definitions. Pure and deterministic: the same source
// always parses to the same tree and verifies to the same verdict and message.
//
// Grammar and semantics: docs/LANGUAGE.md (SPEC §5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace aethel::lang {

// ---------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------

// 1-based position in the source. Positions never take part in equality: two
// trees are equal when they mean the same program, wherever it was written.
struct SourcePos {
  uint32_t line = 1;
  uint32_t column = 1;
  friend bool operator==(const SourcePos&, const SourcePos&) { return true; }
};

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kMod };
enum class CompareOp { kEq, kNe, kGe, kLe, kGt, kLt };

// An integer expression. Values are mathematical integers; `/` and `%` truncate
// toward zero like int64 arithmetic (see docs/LANGUAGE.md).
struct Expr {
  enum class Kind { kNumber, kName, kNegate, kBinary };
  Kind kind = Kind::kNumber;
  std::string text;              // kNumber: canonical decimal digits; kName: the name
  BinaryOp op = BinaryOp::kAdd;  // kBinary only
  std::vector<Expr> operands;    // kNegate: 1, kBinary: 2 (left, right)
  SourcePos pos;

  static Expr number(std::string digits, SourcePos pos = {});
  static Expr name(std::string name, SourcePos pos = {});
  static Expr negate(Expr operand, SourcePos pos = {});
  static Expr binary(BinaryOp op, Expr left, Expr right, SourcePos pos = {});
  friend bool operator==(const Expr&, const Expr&) = default;
};

struct Comparison {
  Expr left;
  CompareOp op = CompareOp::kEq;
  Expr right;
  friend bool operator==(const Comparison&, const Comparison&) = default;
};

// `comparison` or `(premise) ==> (conclusion)`. `secret` and `external` are
// annotations kept for tooling; they do not change what is proven.
struct Condition {
  bool secret = false;
  bool external = false;
  std::optional<Comparison> premise;  // set for an implication
  Comparison conclusion;
  SourcePos pos;
  friend bool operator==(const Condition&, const Condition&) = default;
};

struct Param {
  bool secret = false;
  bool external = false;
  std::string name;
  std::string type;
  friend bool operator==(const Param&, const Param&) = default;
};

// `solve { key: value; }` entries: hints for the engine, no effect on proofs.
struct SolveEntry {
  std::string key;
  std::string value;
  friend bool operator==(const SolveEntry&, const SolveEntry&) = default;
};

// `intent NAME(params) { guard {...} solve {...} verify {...} }`
struct IntentDef {
  std::string name;
  std::vector<Param> params;
  std::vector<Condition> guard;
  std::vector<SolveEntry> solve;
  std::vector<Condition> verify;
  SourcePos pos;
  friend bool operator==(const IntentDef&, const IntentDef&) = default;
};

// One `name: value` field of an invocation. A number may carry a leading '-'
// so that a negative amount reaches the ledger check and is refused with a reason.
struct Field {
  enum class Kind { kName, kNumber, kString };
  std::string name;
  Kind kind = Kind::kName;
  std::string value;  // name, canonical decimal, or the decoded string
  SourcePos pos;
  friend bool operator==(const Field&, const Field&) = default;
};

// `intent NAME { field, ... }`: a transaction request.
struct IntentCall {
  std::string name;
  std::vector<Field> fields;
  SourcePos pos;

  const Field* field(std::string_view field_name) const;
  friend bool operator==(const IntentCall&, const IntentCall&) = default;
};

using BatchItem = std::variant<IntentDef, IntentCall>;

// `atomic_batch NAME { ... }`: its invocations commit all together or not at all.
struct AtomicBatch {
  std::string name;
  std::vector<BatchItem> items;
  SourcePos pos;
  friend bool operator==(const AtomicBatch&, const AtomicBatch&) = default;
};

using Item = std::variant<IntentDef, IntentCall, AtomicBatch>;

struct Program {
  std::vector<Item> items;
  friend bool operator==(const Program&, const Program&) = default;
};

// ---------------------------------------------------------------------------
// Parsing and printing
// ---------------------------------------------------------------------------

// Bounds that keep parsing linear in time and bounded in memory and stack.
struct ParseLimits {
  size_t max_source_bytes = 256 * 1024;
  size_t max_identifier_bytes = 128;
  size_t max_number_digits = 40;
  size_t max_string_bytes = 1024;
  size_t max_nesting_depth = 64;  // parentheses and unary minus
  size_t max_intents = 1024;      // definitions + invocations, batches included
};

struct ParseError {
  SourcePos pos;
  std::string expected;  // what the parser wanted, e.g. "';'"
  std::string found;     // what it saw, e.g. "'}'" or "end of input"
  std::string message;   // "line 3, column 7: expected ';', found '}'"
};

struct ParseResult {
  std::optional<Program> program;
  std::optional<ParseError> error;
  bool ok() const { return program.has_value(); }
};

ParseResult parse(std::string_view source, const ParseLimits& limits = {});

// Canonical source text; parse(print(p)) == p for every tree the parser can produce.
std::string print(const Program& program);
std::string print(const Expr& expr);
std::string print(const Comparison& comparison);
std::string print(const Condition& condition);

const char* to_string(BinaryOp op);
const char* to_string(CompareOp op);

// ---------------------------------------------------------------------------
// Invocations
// ---------------------------------------------------------------------------

// What authorizes a debit of an owned account (SPEC §8): `nonce: N` and
// `signature: "<128 hex digits>"`, checked for shape only; whether they verify is the
// ledger's business.
struct CallAuthorization {
  std::optional<uint64_t> nonce;
  std::optional<std::string> signature_hex;  // exactly 128 hex digits
};

// A transfer request as written by the user, checked for shape only; balances are
// the ledger's business.
struct TransferRequest {
  std::string from;
  std::string to;
  int64_t amount = 0;
  std::optional<std::string> id;
  std::optional<std::string> memo;
  CallAuthorization authorization;
};

// An invocation of a deployed intent (SPEC §11), checked for shape only: whether the
// intent exists and its arguments fit its parameters is the ledger's business.
// `id`, `memo`, `nonce` and `signature` are annotations, never arguments.
struct InvocationRequest {
  std::string intent;
  // In the order written: an account name, or an integer in canonical decimal.
  std::vector<std::pair<std::string, std::string>> arguments;
  std::optional<std::string> id;
  std::optional<std::string> memo;
  CallAuthorization authorization;
};

struct CallCheck {
  // At most one is set, when the call is well formed.
  std::optional<TransferRequest> transfer;
  std::optional<InvocationRequest> invocation;
  std::string error;  // otherwise why not
};

// Checks `intent transfer { from: A, to: B, amount: N [, id: "..."] [, memo: "..."]
// [, nonce: N, signature: "<hex>"] }`: required fields, positive int64 amount,
// sender != receiver, a uint64 nonce, a 128-hex-digit signature. Any other name is an
// invocation of a deployed intent: arguments are names or numbers; `id`, `memo` and
// `signature` are strings, `nonce` a number.
CallCheck check_call(const IntentCall& call);

// ---------------------------------------------------------------------------
// Verification of definitions
// ---------------------------------------------------------------------------

enum class Verdict { kProved, kFailed, kRejected };
// kExecutability is checked only for definitions being deployed (SPEC §11).
enum class Property { kConsistency, kConservation, kNonNegativity, kNoOverflow, kExecutability };

const char* to_string(Verdict verdict);    // "PROVED", "FAILED", "REJECTED"
const char* to_string(Property property);  // "consistency", "conservation", ...

struct Assignment {
  std::string name;
  std::string value;  // decimal, may lie outside int64
  friend bool operator==(const Assignment&, const Assignment&) = default;
};

struct Violation {
  Property property = Property::kConsistency;
  std::string message;
  std::vector<Assignment> counterexample;  // empty for consistency
  friend bool operator==(const Violation&, const Violation&) = default;
};

struct VerifyReport {
  Verdict verdict = Verdict::kRejected;
  std::string message;
  std::vector<Violation> violations;  // every violated property, in Property order
  friend bool operator==(const VerifyReport&, const VerifyReport&) = default;
};

struct VerifyLimits {
  size_t max_variables = 256;
  size_t max_expression_nodes = 10'000;
  // Z3 resource units per query: a deterministic bound on work.
  unsigned solver_rlimit = 20'000'000;
  // Wall-clock bound per query. Z3 counts few resource units inside nonlinear
  // arithmetic, so only a timer bounds it there; reaching it gives REJECTED.
  unsigned solver_timeout_ms = 3'000;
  // Wall-clock bound on all the definitions of one program (check_program); 0: none.
  // Each query's timer is cut to what is left of it, and a definition reached once it
  // is spent is REJECTED: one request holds a verifier thread for about this long.
  unsigned request_budget_ms = 0;
};

// Proves the four properties of SPEC §5 for all inputs. Each call uses a fresh
// SMT context, so a verdict never depends on what was checked before.
VerifyReport verify(const IntentDef& definition, const VerifyLimits& limits = {});

// ---------------------------------------------------------------------------
// Whole programs
// ---------------------------------------------------------------------------

// One intent of a program, in source order, with the batch that holds it (if any).
struct ProgramIntent {
  const IntentDef* definition = nullptr;  // exactly one of definition and call is set
  const IntentCall* call = nullptr;
  const AtomicBatch* batch = nullptr;
};

std::vector<ProgramIntent> intents_of(const Program& program);

struct IntentOutcome {
  std::string name;
  SourcePos pos;
  bool is_definition = false;
  std::string batch;  // enclosing atomic_batch, empty if none
  VerifyReport report;
  std::optional<TransferRequest> transfer;      // well-formed transfers
  std::optional<InvocationRequest> invocation;  // well-formed calls of deployed intents
  // How long checking took, for reports. Measured by check_program; no verdict
  // depends on it (the verifier's own wall-clock limit is in VerifyLimits).
  double elapsed_ms = 0;
};

// Verifies a definition or shape-checks an invocation.
IntentOutcome check_intent(const ProgramIntent& intent, const VerifyLimits& limits = {});

// Checks every intent of the program in source order, timing each, and applies the
// batch rule: the verdicts a program gets, before any ledger sees it.
std::vector<IntentOutcome> check_program(const Program& program, const VerifyLimits& limits = {});

// Whether the program has a definition, i.e. whether checking it needs the SMT
// solver (seconds of CPU) rather than shape checks (microseconds).
bool has_definitions(const Program& program);

// All-or-nothing: when any intent of an atomic_batch is not PROVED, its
// invocations are all FAILED, each saying which intent sank the batch.
void apply_batch_rule(std::vector<IntentOutcome>& outcomes);

// FAILED if any intent failed, else REJECTED if any was rejected, else PROVED.
Verdict overall_verdict(const std::vector<IntentOutcome>& outcomes);

// ---------------------------------------------------------------------------
// Deployable intents (SPEC §11)
// ---------------------------------------------------------------------------

// The built-in intent; no deployed intent may take its name.
constexpr std::string_view kBuiltinIntent = "transfer";

// The balance of one Account parameter after the intent, and the equation that
// computes it.
struct StateUpdate {
  std::string param;     // the Account parameter
  std::string variable;  // its state variable: the parameter's name or NAME_balance
  Expr value;            // over old_ values and integer parameters only
  friend bool operator==(const StateUpdate&, const StateUpdate&) = default;
};

struct ExecutableForm {
  std::vector<StateUpdate> updates;  // one per Account parameter, in parameter order
  std::string error;                 // non-empty: why the definition cannot run
  bool ok() const { return error.empty(); }
};

// Whether a definition can run on the ledger, decided from its syntax alone (no
// solver, deterministic): parameters typed `Account` take account names and every
// other type takes integers; the balance of Account parameter P is the state
// variable P or P_balance; the guard reads only parameters and old_ values; and
// verify holds, for every state variable X, an equation `X == e` (or `e == X`)
// whose `e` reads only parameters and old_ values, which then computes X.
ExecutableForm executable_form(const IntentDef& definition);

// With the solver, for all inputs: whenever the guard holds, the old_ balances are
// >= 0 and every input lies in the signed 64-bit range, the post-state `form`
// computes satisfies every verify condition, so the proof of the definition covers
// each run. PROVED, FAILED (property kExecutability, with a counterexample) or
// REJECTED when the solver gives up.
VerifyReport verify_executable(const IntentDef& definition, const ExecutableForm& form,
                               const VerifyLimits& limits = {});

}  // namespace aethel::lang
