// Any input must parse or fail with an error, never crash; whatever parses must
// print to text that parses back to the same tree.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lang/lang.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aethel::lang;
  std::string_view source(reinterpret_cast<const char*>(data), size);
  ParseResult parsed = parse(source);
  if (!parsed.ok()) {
    if (!parsed.error || parsed.error->message.empty()) std::abort();
    return 0;
  }
  ParseResult again = parse(print(*parsed.program));
  if (!again.ok() || !(*again.program == *parsed.program)) std::abort();
  for (const ProgramIntent& intent : intents_of(*parsed.program)) {
    if (intent.call) check_call(*intent.call);
  }
  return 0;
}
