// Account keys on the command line (SPEC §8): the key file `aethel account new`
// writes, and the signing of a program's transfers and invocations that
// `aethel submit --key` does before sending it.
//
// The key file is a JSON Web Key (RFC 8037), the form WebCrypto imports as is, so the
// dashboard loads the same file:
//   {"kty":"OKP","crv":"Ed25519","x":"<public key, base64url>","d":"<seed, base64url>"}
// It is written with mode 0600 whatever the umask.
#pragma once

#include <boost/json/object.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "base/base.h"
#include "http/http.h"
#include "lang/lang.h"
#include "ledger/ledger.h"

namespace aethel::cli {

// A fresh key from the system's random source, written to `path` (which must not
// exist). Errors: "exists", "io_error".
base::Result<ledger::KeyPair> create_account_key(const std::filesystem::path& path);
// Reads a key file; Error "bad_key" names what is wrong (not JSON, wrong kty/crv,
// x not matching d, ...).
base::Result<ledger::KeyPair> read_account_key(const std::filesystem::path& path);

// Gives every transfer and invocation of `program` a `nonce` (the account's next one,
// consecutive within the program, unless written) and a `signature` by `key`, as the
// node will build its transactions. Invocations debit `invocation_account`, which must
// then be set. Reads the lattice id and nonces from `node`. Errors name the call or
// account that could not be signed.
base::Status sign_program(lang::Program& program, const ledger::KeyPair& key,
                          const std::optional<std::string>& invocation_account,
                          const http::Url& node);

// The item of POST /api/lattice/transactions that opens account `name` owned by
// `key`, signed for the lattice `node` belongs to.
base::Result<boost::json::object> sign_open_account(const std::string& name,
                                                    const std::string& client_id,
                                                    const ledger::KeyPair& key,
                                                    const http::Url& node);

}  // namespace aethel::cli
