#!/usr/bin/env bash
# bnh bench -> bnh compare, end to end: the plumbing and the exit statuses, never the speed.
# Two runs of one build may differ by any factor on a busy machine, so no verdict between them
# is asserted: compare must read both reports, print a row per benchmark, and exit 0 or 1. The
# verdicts themselves are judged on the fixtures (tests/fixtures, known distributions), here
# through the command's exit statuses and in reports_test.cpp in detail.
set -u
bnh=$1
fixtures=$(cd "$(dirname "$0")/fixtures" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

bench() {  # bench OUTPUT
  "$bnh" bench --quick --impls naive,blocked --no-accuracy --shapes 2x256x14x14 --ops bn_forward_infer \
    --layout nchw --repetitions 3 --min-time 0.001 --output "$1" >"$dir/bench.out" 2>&1 ||
    { echo "FAIL: bnh bench exited $?"; cat "$dir/bench.out"; exit 1; }
}

bench "$dir/first.json"
bench "$dir/second.json"

# Two real runs: any verdict, but a row per benchmark and a closing line.
"$bnh" compare "$dir/first.json" "$dir/second.json" >"$dir/runs.txt" 2>&1
status=$?
cat "$dir/runs.txt"
[ "$status" -eq 0 ] || [ "$status" -eq 1 ] || fail "comparing two runs exited $status (expected 0 or 1)"
for id in bn_forward_infer/nchw/f32/2x256x14x14/t1/naive bn_forward_infer/nchw/f32/2x256x14x14/t1/blocked; do
  grep -q "^$id " "$dir/runs.txt" || fail "the comparison has no row for $id"
done
grep -qE '^(no significant regression|[0-9]+ significant regression)' "$dir/runs.txt" ||
  fail "the comparison has no verdict line"

# A threshold no slow-down reaches: exit 0 whatever the machine did between the runs.
"$bnh" compare "$dir/first.json" "$dir/second.json" --threshold 1e9 >"$dir/lenient.txt" 2>&1
status=$?
[ "$status" -eq 0 ] || { cat "$dir/lenient.txt"; fail "with --threshold 1e9 compare exited $status (expected 0)"; }

# The verdicts as exit statuses, on times of known distributions.
expect_status() {  # expect_status STATUS NEW-FIXTURE
  "$bnh" compare "$fixtures/base.json" "$fixtures/$2.json" >"$dir/$2.txt" 2>&1
  local status=$?
  [ "$status" -eq "$1" ] || { cat "$dir/$2.txt"; fail "base.json against $2.json exited $status (expected $1)"; }
}
expect_status 0 same
expect_status 1 slower
expect_status 0 faster
expect_status 0 noisy
expect_status 0 few
grep -q '1 significant regression(s)' "$dir/slower.txt" || fail "slower.json is not one significant regression"

[ "$failures" -eq 0 ] && echo "bench -> compare: plumbing and exit statuses as expected"
exit "$failures"
