#!/usr/bin/env bash
# The command's exit statuses and one-line errors: 0 success, 1 a failed check, 2 bad usage,
# 3 nothing checked, 4 an internal error (docs/conventions.md).
set -u
bnh=$1 minimal_plugin=$2 wrong_abi_plugin=$3
source "$(dirname "$0")/expect.sh"

expect 0 'usage: bnh <command>' -- "$bnh" --help
expect 0 '3 nothing was checked, 4 an internal error' -- "$bnh" --help
expect 2 'usage: bnh <command>' -- "$bnh"
expect 2 "unknown command 'frobnicate'" -- "$bnh" frobnicate
expect 2 "unknown option '--frobnicate'" -- "$bnh" --frobnicate
# Every command answers --help, a lone -h and --help among its other flags with its usage.
for command in list check gradcheck accuracy bench report compare; do
  expect 0 "usage: bnh $command" -- "$bnh" $command --help
  expect 0 "usage: bnh $command" -- "$bnh" $command -h
done
expect 0 'usage: bnh check' -- "$bnh" check --impl naive --help
expect 0 'usage: bnh accuracy' -- "$bnh" accuracy --plugin ./nosuch.so --help
expect 0 'usage: bnh bench' -- "$bnh" bench --quick --help
expect 0 'usage: bnh compare' -- "$bnh" compare a.json b.json --help
expect 2 "unknown flag '--all'" -- "$bnh" list --all
expect 0 'usage: bnh check' -- "$bnh" check --help
expect 2 "unknown flag '--frobnicate'" -- "$bnh" check --frobnicate
expect 2 "unknown implementation 'nosuch' \(built-in: .*naive" -- "$bnh" check --impl nosuch
expect 2 "unknown dtype 'f8'" -- "$bnh" check --dtype f8
expect 2 "unknown layout 'nchwc'" -- "$bnh" check --layout nchwc
expect 2 "unknown operation 'forward'" -- "$bnh" check --ops forward
expect 0 'agreement_bn_backward .*pass' -- "$bnh" check --impl naive --ops bn_forward_train,bn_backward --cases 5
expect 2 '--seed expects a non-negative integer' -- "$bnh" check --seed abc
expect 2 '--cases needs a value' -- "$bnh" check --cases
# Counts are 64-bit and bounded: none is cut to int (4294967296 once ran 0 cases and passed).
for count in 4294967296 2147483648 1000000000000 99999999999999999999999 -1 0; do
  expect 2 "--cases must be in \\[1, 10000000\\], got $count" -- "$bnh" check --impl naive --cases "$count"
done
expect 2 '--timeout must be in \[1, 86400\]' -- "$bnh" check --plugin "$minimal_plugin" --timeout 4294967296
expect 2 'cannot load plugin .*nosuch.so' -- "$bnh" check --plugin ./nosuch.so
expect 2 'speaks ABI version 2, this harness speaks 1' -- "$bnh" check --plugin "$wrong_abi_plugin"
expect 0 'all properties hold' -- "$bnh" check --plugin "$minimal_plugin" --cases 5
expect 0 'agreement_bn_forward_train .*skipped' -- "$bnh" check --plugin "$minimal_plugin" --cases 5
expect 2 "unknown property 'nosuch'" -- "$bnh" check --property nosuch
expect 2 "case spec: bad shape" -- "$bnh" check --impl naive --case "f32 nchw 2by3"
expect 0 'agreement_bn_forward_train +holds' -- "$bnh" check --impl naive --case "f32 nhwc 2x3x4x5 regime=large-mean seed=3"
expect 2 '--cases must be in \[1, [0-9]+\], got 0' -- "$bnh" check --cases 0

expect 0 'usage: bnh gradcheck' -- "$bnh" gradcheck --help
expect 2 '--shape N,C,H,W is required' -- "$bnh" gradcheck --impl naive
expect 2 "bad --shape '2,x,3,3'" -- "$bnh" gradcheck --impl naive --shape 2,x,3,3
expect 2 '--shape needs N,C,H,W or N,C' -- "$bnh" gradcheck --impl naive --shape 2,3,4
expect 2 'dimension C must be >= 1' -- "$bnh" gradcheck --impl naive --shape 2,0,3,3
expect 2 'expected more than 1 value per channel' -- "$bnh" gradcheck --impl naive --shape 1,3,1,1
expect 2 "--mode is bn or renorm, got 'batch'" -- "$bnh" gradcheck --impl naive --shape 2,3 --mode batch
expect 2 'give --impl NAME or --plugin PATH' -- "$bnh" gradcheck --shape 2,3
expect 2 'cannot load plugin ./nosuch.so' -- "$bnh" gradcheck --plugin ./nosuch.so --shape 2,3
expect 2 "--atol expects a number, got 'small'" -- "$bnh" gradcheck --impl naive --shape 2,3 --atol small
expect 0 'gradient check .*passed' -- "$bnh" gradcheck --impl naive --shape 3,2,2,2 --mode renorm --dtype f32 --layout nhwc
expect 0 'directional' -- "$bnh" gradcheck --impl openmp --shape 8,4,6,6 --fast
# 16-bit data: f32 differences by default; JAX's step of 1e-4 on bf16's own differences refused.
expect 0 'differences of the f32 forward.*passed' -- "$bnh" gradcheck --impl naive --shape 4,3 --dtype bf16:bf16
expect 0 'gradient check \(step 0.125, .*passed' -- "$bnh" gradcheck --impl naive --shape 4,3 --dtype f16 --differences data
expect 2 '--step 0.0001 is below what bf16 resolves on this data: .*; use 0.0[0-9]+ or more' -- \
  "$bnh" gradcheck --impl naive --shape 4,3 --dtype bf16 --differences data --step 1e-4
expect 2 "--differences is f32 or data, got 'f16'" -- "$bnh" gradcheck --impl naive --shape 4,3 --differences f16
expect 2 'statistics dtype f64 does not go with bf16 data' -- "$bnh" check --impl naive --dtype bf16:f64
expect 0 'agreement_bn_backward +holds' -- "$bnh" check --impl naive --case "f16:f16 nhwc 2x3x4x5 regime=huge seed=3"
expect 2 'cannot write /nonexistent/dir/x.json' -- "$bnh" check --impl naive --cases 2 --json /nonexistent/dir/x.json

finish_expectations
