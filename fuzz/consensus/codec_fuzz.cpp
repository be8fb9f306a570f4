// libFuzzer target: the consensus wire decoder must accept or refuse any byte string
// without crashing; what it accepts must re-encode to the same bytes (one encoding per
// message); and a fresh Raft node must survive stepping whatever was decoded.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "consensus/consensus.h"

using namespace aethel::consensus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const DecodeResult decoded = decode(std::span(data, size));
  if (!decoded.message) {
    if (decoded.error.empty()) std::abort();  // a refusal always says why
    return 0;
  }
  const Bytes again = encode(*decoded.message);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();

  Config config;
  config.id = 1;
  config.voters = {1, 2, 3};
  Raft raft(config, DurableState{});
  raft.step(*decoded.message);
  for (int round = 0; round < 4 && raft.has_ready(); ++round) {
    raft.ready();
    raft.advance();
  }
  return 0;
}
