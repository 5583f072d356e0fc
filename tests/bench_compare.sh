#!/usr/bin/env bash
# bnh bench twice on the same build, and once deliberately slowed (BNH_BENCH_SLOWDOWN=2: every
# call followed by a busy wait as long as the call); bnh compare must find no regression between
# the first two (exit 0) and a regression in the slowed one (exit 1).
#
# One small shape, naive and openmp, 5 repetitions: the exact Mann-Whitney test cannot reach
# p < 0.05 with 3 against 3 (its smallest p is 0.1), with 5 against 5 it can (0.008). The
# threshold is 40% rather than the default 5%: the test machine may be shared, and two runs a
# minute apart can differ by more than 5% (on a busy 2-core machine by up to 1.5x on the
# smallest kernels) for reasons that have nothing to do with the build; a 2x slow-down is
# beyond that.
set -u
bnh=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0

bench() {  # bench OUTPUT [env...]
  local output=$1
  shift
  env "$@" "$bnh" bench --quick --impls naive,openmp --no-accuracy --shapes 2x256x14x14 --repetitions 5 \
    --output "$output" >"$dir/bench.out" 2>&1 || { echo "FAIL: bnh bench exited $?"; cat "$dir/bench.out"; exit 1; }
}

bench "$dir/base.json"
bench "$dir/same.json"
bench "$dir/slow.json" BNH_BENCH_SLOWDOWN=2

"$bnh" compare "$dir/base.json" "$dir/same.json" --threshold 0.4 >"$dir/same.txt" 2>&1
status=$?
cat "$dir/same.txt"
if [ "$status" -ne 0 ]; then
  echo "FAIL: comparing two runs of the same build exited $status (expected 0)"
  failures=$((failures + 1))
fi

"$bnh" compare "$dir/base.json" "$dir/slow.json" --threshold 0.4 >"$dir/slow.txt" 2>&1
status=$?
cat "$dir/slow.txt"
if [ "$status" -ne 1 ] || ! grep -q 'significant regression(s)' "$dir/slow.txt"; then
  echo "FAIL: comparing with the slowed run exited $status (expected 1, a significant regression)"
  failures=$((failures + 1))
fi
if ! grep -q '"slowdown": 2' "$dir/slow.json"; then
  echo "FAIL: the slowed report does not record suite.slowdown"
  failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] && echo "bench/compare: same build passes, slowed build is a regression"
exit "$failures"
