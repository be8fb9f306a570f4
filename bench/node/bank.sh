#!/bin/sh
# The jepsen-style bank test as a long benchmark (issue 12): the same test the test
# command runs for 20 s, here for BANK_SECONDS (default 60) of kill -9, SIGSTOP,
# `aethel rebuild` and P2P cuts. Prints the fault log and what was checked; exit 0
# only when nothing acknowledged was lost and every read was current.
#   BANK_SECONDS=300 bench/node/bank.sh [build-dir]
set -eu
build=${1:-build}
exec env AETHEL_BANK_SECONDS="${BANK_SECONDS:-60}" "$build/tests/node/bank_test"
