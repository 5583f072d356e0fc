#!/usr/bin/env bash
# bnh accuracy: help, refusals, a plugin that is accurate on the sweep (exit 0), naive in bf16
# and f16 (mixed and pure), one whose one-pass variance fails at large kappa (exit 1, naming the
# point and how to reproduce it) and one that crashes (exit 1, with the reason), and a written
# report that bnh report renders.
set -u
bnh=$1 minimal_plugin=$2 one_pass_plugin=$3 crash_plugin=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$(dirname "$0")/expect.sh"

quick=(--m 16,1000 --kappas 1,1e4,1e8 --cases 1)
expect 0 'usage: bnh accuracy' -- "$bnh" accuracy --help
expect 2 'give --impl NAME or --plugin PATH' -- "$bnh" accuracy
expect 2 '--m must be >= 2, got 1' -- "$bnh" accuracy --impl naive --m 1
expect 2 "--kappas expects a number, got 'big'" -- "$bnh" accuracy --impl naive --kappas 1,big
expect 2 '--kappas must be > 0' -- "$bnh" accuracy --impl naive --kappas -1
expect 2 "unknown operation 'forward'" -- "$bnh" accuracy --impl naive --ops forward
expect 2 'cannot load plugin ./nosuch.so' -- "$bnh" accuracy --plugin ./nosuch.so
expect 3 'nothing was measured' -- "$bnh" accuracy --plugin "$minimal_plugin" --ops bn_backward
expect 0 'every error is within its bound' -- "$bnh" accuracy --impl openmp --dtype f32 "${quick[@]}" \
  --output "$dir/openmp.json"
expect 0 'openmp  renorm_backward  f32' -- "$bnh" accuracy --impl openmp --dtype f32 "${quick[@]}" \
  --output "$dir/openmp.json"
expect 0 'minimal  bn_forward_infer  f64' -- "$bnh" accuracy --plugin "$minimal_plugin" "${quick[@]}" \
  --output "$dir/minimal.json"
expect 1 'one_pass bn_forward_train f32, M 1000, kappa 1e4: .* > bound' -- "$bnh" accuracy \
  --plugin "$one_pass_plugin" "${quick[@]}" --output "$dir/one_pass.json"
expect 1 "reproduce: bnh accuracy --plugin $one_pass_plugin --ops bn_forward_train --dtype f32 --m 1000" -- \
  "$bnh" accuracy --plugin "$one_pass_plugin" "${quick[@]}" --output "$dir/one_pass.json"
# A plugin that crashes fails every point, with the reason, and the report is still written.
# (Under the sanitizers their handler catches the fault and the child exits instead: "crashed:
# exited without returning".)
expect 1 'a valid call failed: crashes bn_forward_infer crashed( with SIGSEGV|: exited without returning)' -- "$bnh" accuracy \
  --plugin "$crash_plugin" --m 16 --kappas 1 --cases 1 --output "$dir/crash.json"
expect 0 '"failed_cases": 1' -- cat "$dir/crash.json"
# The point named is enough to see the failure again, alone.
expect 1 'kappa 1e8: ' -- "$bnh" accuracy --plugin "$one_pass_plugin" --ops bn_forward_train --dtype f32 \
  --m 16 --cases 1 --kappas 1e8 --output "$dir/again.json"
# bf16 and f16: mixed and pure, an invalid pair refused, a plugin without them skipped.
expect 2 'statistics dtype bf16 does not go with f32 data' -- "$bnh" accuracy --impl naive --dtype f32:bf16
expect 3 'skipped bf16 for minimal: it does not support bf16' -- "$bnh" accuracy --plugin "$minimal_plugin" \
  --dtype bf16 "${quick[@]}"
expect 0 'naive  bn_forward_infer  bf16:bf16' -- "$bnh" accuracy --impl naive --ops bn_forward_infer \
  --dtype bf16,bf16:bf16,f16 "${quick[@]}" --output "$dir/reduced.json"
expect 0 '"dtype": "f16"' -- cat "$dir/reduced.json"
expect 0 'wrote .*one_pass.html' -- "$bnh" report "$dir/one_pass.json"
expect 0 'id="accuracy-bn-forward-train-f32"' -- cat "$dir/one_pass.html"
expect 0 '^# bnharness accuracy' -- cat "$dir/one_pass.md"
expect 0 '\*\*FAIL\*\*' -- cat "$dir/one_pass.md"

finish_expectations
