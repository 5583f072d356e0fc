#!/usr/bin/env bash
# bnh bench, report and compare: help, and one line with exit status 2 for every bad call or
# bad file.
set -u
bnh=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$(dirname "$0")/expect.sh"

echo 'hello' >"$dir/text.json"
echo '{"schema": "bnharness-report", "version": 1, "benchmarks": [' >"$dir/truncated.json"
echo '{"schema": "something-else", "version": 1}' >"$dir/foreign.json"
echo '{"schema": "bnharness-report", "version": 7, "benchmarks": []}' >"$dir/future.json"
echo '{"schema": "bnharness-report", "version": 1, "benchmarks": []}' >"$dir/empty-run.json"

expect 0 'usage: bnh bench' -- "$bnh" bench --help
expect 0 'usage: bnh report' -- "$bnh" report --help
expect 0 'usage: bnh compare' -- "$bnh" compare --help
expect 0 'usage: bnh compare' -- "$bnh" compare -h
expect 0 'usage: bnh report' -- "$bnh" report -h
expect 0 'bench +benchmark implementations' -- "$bnh" --help
expect 2 "unknown flag '--frobnicate'" -- "$bnh" bench --frobnicate
expect 2 '--repetitions must be odd' -- "$bnh" bench --repetitions 4
expect 2 "unknown suite 'nosuch'" -- "$bnh" bench --suite nosuch
expect 2 "has no shape '1x2'" -- "$bnh" bench --suite mlp --shapes 1x2
expect 2 "unknown implementation 'nosuch'" -- "$bnh" bench --impls nosuch
expect 2 "unknown dtype 'f8'" -- "$bnh" bench --dtype f8
expect 2 '--min-time expects a number' -- "$bnh" bench --min-time fast
expect 2 '--threads must be in \[1, [0-9]+\], got 0' -- "$bnh" bench --threads 0
expect 2 'expected one report file, got none' -- "$bnh" report
expect 2 "unknown flag '--pdf'" -- "$bnh" report "$dir/empty-run.json" --pdf x
expect 2 'text.json: not JSON' -- "$bnh" report "$dir/text.json"
expect 2 'truncated.json: truncated JSON' -- "$bnh" report "$dir/truncated.json"
expect 2 'foreign.json: not a bnharness report' -- "$bnh" report "$dir/foreign.json"
expect 2 'future.json: report version 7 is newer than this bnh reads' -- "$bnh" report "$dir/future.json"
expect 2 'missing.json: cannot read' -- "$bnh" report "$dir/missing.json"
expect 0 'wrote .*empty-run.html and .*empty-run.md' -- "$bnh" report "$dir/empty-run.json"
expect 2 'expected two reports' -- "$bnh" compare "$dir/empty-run.json"
expect 2 'text.json: not JSON' -- "$bnh" compare "$dir/empty-run.json" "$dir/text.json"
expect 2 'future.json: report version 7' -- "$bnh" compare "$dir/future.json" "$dir/empty-run.json"
expect 2 '--threshold expects a number' -- "$bnh" compare "$dir/empty-run.json" "$dir/empty-run.json" --threshold x
expect 2 '--alpha must be below 1' -- "$bnh" compare "$dir/empty-run.json" "$dir/empty-run.json" --alpha 2
expect 0 'no significant regression' -- "$bnh" compare "$dir/empty-run.json" "$dir/empty-run.json"
expect 2 "unexpected argument '-h'" -- "$bnh" compare "$dir/empty-run.json" -h

finish_expectations
