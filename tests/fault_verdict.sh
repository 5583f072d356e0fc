#!/usr/bin/env bash
# usage: fault_verdict.sh STATUS [-e PATTERN]... -- COMMAND...
# Runs COMMAND (bnh on a plugin of the fault catalogue); passes when it exits with STATUS, its
# output (stdout and stderr) matches every extended regular expression PATTERN, and no process
# it started is left behind.
source "$(dirname "$0")/fault_lib.sh"

expected_status=$1
shift
patterns=()
while [ "$1" = -e ]; do
  patterns+=("$2")
  shift 2
done
[ "$1" = -- ] && shift

bnh=$1
plugin=$(printf '%s\n' "$@" | grep -m1 -A1 -x -e --plugin | tail -1)
run "$@"
if [ "$status" -ne "$expected_status" ]; then
  fail "exited $status, expected $expected_status"
fi
for pattern in "${patterns[@]}"; do
  grep -qE -- "$pattern" "$workdir/output" || fail "the output does not match '$pattern'"
done
[ "$failures" -ne 0 ] && show_output "$@"
expect_no_stray "after bnh exited"
finish
