// The `aethel` command line: one function per subcommand, each taking the
// arguments after the subcommand's name and returning the process exit code.
#pragma once

#include <string>
#include <vector>

namespace aethel::cli {

using Args = std::vector<std::string>;

// `aethel verify FILE|- [--json]`: exit 0 when every intent is PROVED, 1 when any
// is FAILED or REJECTED, 2 on a parse error or unreadable input.
int run_verify(const Args& args);

}  // namespace aethel::cli
