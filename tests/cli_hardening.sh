#!/usr/bin/env bash
# Absurd flags, unusable outputs and broken reports are refused in one line with status 2
# before anything runs; what escapes a command becomes one line and a documented status (1 for
# a plugin that crashes while loading, 4 for running out of memory), never an abort.
set -u
bnh=$1 f32_only_plugin=$2 crash_on_load_plugin=$3 minimal_plugin=$4 refuse_small_batch_plugin=$5
dir=$(mktemp -d)
trap 'chmod -R u+w "$dir"; rm -rf "$dir"' EXIT
source "$(dirname "$0")/expect.sh"

# gradcheck and accuracy check the dtypes and operations the implementation has, and say in one
# line each what they skipped; with nothing left, "nothing was checked" and status 3.
expect 0 'f32_only: bn gradient check, f32 nchw 3x2x1x1' -- "$bnh" gradcheck --plugin "$f32_only_plugin" --shape 3,2
expect 0 'naive: bn gradient check, f64 nchw 3x2x1x1' -- "$bnh" gradcheck --impl naive --shape 3,2
expect 3 'skipped f64: f32_only does not support f64 nchw' -- \
  "$bnh" gradcheck --plugin "$f32_only_plugin" --shape 3,2 --dtype f64
expect 3 'nothing was checked' -- "$bnh" gradcheck --plugin "$f32_only_plugin" --shape 3,2 --dtype f64
expect 0 'skipped f64: f32_only does not support f64 nhwc' -- \
  "$bnh" gradcheck --plugin "$f32_only_plugin" --shape 3,2,2,2 --layout nhwc --dtype f64,f32 --mode renorm
expect 0 'renorm gradient check, f32 nhwc 3x2x2x2, full Jacobian' -- \
  "$bnh" gradcheck --plugin "$f32_only_plugin" --shape 3,2,2,2 --layout nhwc --dtype f64,f32 --mode renorm
expect 3 'nothing was checked: minimal does not provide bn_forward_train, bn_backward' -- \
  "$bnh" gradcheck --plugin "$minimal_plugin" --shape 3,2
# A plugin that declines a valid call checks nothing there: status 3, with its reason.
expect 3 'skipped f32: .*rejected bn_forward_train: this kernel needs a batch of at least 4' -- \
  "$bnh" gradcheck --plugin "$refuse_small_batch_plugin" --shape 3,2
expect 0 'gradient check .*passed' -- "$bnh" gradcheck --plugin "$refuse_small_batch_plugin" --shape 4,2
quick=(--m 16 --kappas 1 --cases 1 --output "$dir/a.json")
expect 0 'skipped f64 for f32_only: it does not support f64' -- "$bnh" accuracy --plugin "$f32_only_plugin" "${quick[@]}"
expect 0 'every error is within its bound' -- "$bnh" accuracy --plugin "$f32_only_plugin" "${quick[@]}"
expect 0 'skipped bn_backward for minimal: it does not provide it' -- "$bnh" accuracy --plugin "$minimal_plugin" "${quick[@]}"
expect 3 'nothing was measured' -- "$bnh" accuracy --plugin "$minimal_plugin" --ops bn_backward "${quick[@]}"
expect 3 'skipped f32 for minimal: it does not support f32' -- \
  "$bnh" accuracy --plugin "$minimal_plugin" --dtype f32 "${quick[@]}"

# Allocation limits, checked before anything is allocated (status 2, one line).
expect 2 'gradcheck: --shape 99999999999,1,1,1 needs about .* of memory, more than the' -- \
  "$bnh" gradcheck --impl naive --shape 99999999999,1,1,1
expect 2 'gradcheck: --shape 100000,100000 needs about' -- "$bnh" gradcheck --impl naive --shape 100000,100000
expect 2 'overflows int64' -- "$bnh" gradcheck --impl naive --shape 9223372036854775807,2
expect 2 '--full on 4096,1,1,1 compares 16785408 Jacobian entries, more than 2\^24' -- \
  "$bnh" gradcheck --impl naive --shape 4096,1,1,1 --full
expect 2 '--step must be below 1, got 1e308' -- "$bnh" gradcheck --impl naive --shape 3,2 --step 1e308
expect 2 "--step expects a number, got 'nan'" -- "$bnh" gradcheck --impl naive --shape 3,2 --step nan
expect 2 '--atol must be >= 0, got -1' -- "$bnh" gradcheck --impl naive --shape 3,2 --atol -1
expect 2 "--rtol expects a number, got 'inf'" -- "$bnh" gradcheck --impl naive --shape 3,2 --rtol inf
expect 2 '--channels must be in \[1, 16777216\], got 4294967296' -- \
  "$bnh" accuracy --impl naive --channels 4294967296 --output "$dir/a.json"
expect 2 'accuracy: --m 65536 with --channels 16777216 and --cases 2 needs about .* of memory' -- \
  "$bnh" accuracy --impl naive --channels 16777216 --output "$dir/a.json"
expect 2 '--channels must be in \[1, 16777216\], got 18446744073709551616' -- \
  "$bnh" accuracy --impl naive --channels 18446744073709551616
expect 2 'accuracy: --m 4611686018427387904 with --channels 4 .* needs about' -- \
  "$bnh" accuracy --impl naive --m 4611686018427387904 --channels 4
expect 2 '--cases must be in \[1, 1000\], got 4294967296' -- "$bnh" accuracy --impl naive --cases 4294967296
expect 2 "--channels expects an integer, got '1e12'" -- "$bnh" accuracy --impl naive --channels 1e12
expect 2 '--kappas must be at most 1e12' -- "$bnh" accuracy --impl naive --kappas 1,1e300
expect 2 '--threads must be in \[1, [0-9]+\], got 100000' -- "$bnh" bench --quick --threads 100000
expect 2 '--threads must be in \[1, [0-9]+\], got 4294967297' -- "$bnh" bench --quick --threads 1,4294967297
expect 2 "--threads expects an integer, got '1e3'" -- "$bnh" bench --quick --threads 1e3
expect 2 "bench: the suite's largest tensor, 100000x256x56x56, needs about .* of memory" -- \
  "$bnh" bench --quick --n 100000
expect 2 "bench: the suite's largest tensor, 9223372036854775807x64x112x112, needs about" -- \
  "$bnh" bench --n 9223372036854775807
expect 2 '--repetitions must be in \[1, 999\], got 4294967297' -- "$bnh" bench --quick --repetitions 4294967297
expect 2 '--min-time must be at most 3600 seconds, got 1e300' -- "$bnh" bench --quick --min-time 1e300

# The default output's folder is created, as before; a folder the user names must exist.
mkdir "$dir/fresh"
expect 0 'wrote out/accuracy.json' -- bash -c 'cd "$1" && exec "$0" accuracy --impl naive --m 16 --kappas 1 --cases 1 \
  --ops bn_forward_infer' "$bnh" "$dir/fresh"
expect 0 'accuracy' -- cat "$dir/fresh/out/accuracy.json"

# Output paths are checked before the run: a missing folder, a folder named as the file. One
# line means nothing ran (a run prints progress first).
for command in "bench --quick --impls naive --no-accuracy" "accuracy --impl naive --m 16 --cases 1"; do
  expect 2 "cannot write $dir/missing/out.json: no folder $dir/missing" -- \
    "$bnh" $command --output "$dir/missing/out.json"
  expect 2 "cannot write $dir: it is a folder" -- "$bnh" $command --output "$dir"
done
echo '{"schema": "bnharness-report", "version": 1, "benchmarks": []}' >"$dir/empty-run.json"
expect 2 "cannot write $dir/missing/r.html: no folder" -- "$bnh" report "$dir/empty-run.json" --html "$dir/missing/r.html"
expect 2 "cannot write $dir: it is a folder" -- "$bnh" report "$dir/empty-run.json" --markdown "$dir"
expect 2 'name the same file' -- "$bnh" report "$dir/empty-run.json" --html "$dir/x" --markdown "$dir/x"
if [ ! -e "$dir/empty-run.html" ] && [ ! -e "$dir/missing" ]; then :; else
  echo "FAIL: a refused report left files behind"; failures=$((failures + 1))
fi
# A folder that is not writable: root writes anywhere, so this is tested only as another user.
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$dir/read-only" && chmod 555 "$dir/read-only"
  expect 2 "cannot write $dir/read-only/out.json: folder $dir/read-only: Permission denied" -- \
    "$bnh" accuracy --impl naive --m 16 --cases 1 --output "$dir/read-only/out.json"
  expect 2 "cannot write $dir/read-only/r.html: folder" -- "$bnh" report "$dir/empty-run.json" --html "$dir/read-only/r.html"
else
  echo "note: running as root, the read-only folder case is not tested"
fi
# A write that fails half way (a file size limit, which binds root too) leaves no temporary
# file and no half of the output.
mkdir "$dir/limited"
expect 2 "cannot write $dir/limited/r.html: File too large" -- \
  bash -c "trap '' XFSZ; ulimit -f 1; exec \"\$0\" \"\$@\"" "$bnh" report "$dir/empty-run.json" \
  --html "$dir/limited/r.html" --markdown "$dir/limited/r.md"
if [ -n "$(ls -A "$dir/limited")" ]; then
  echo "FAIL: a failed write left files behind: $(ls -A "$dir/limited")"; failures=$((failures + 1))
fi

# compare refuses times that are not a measurement instead of calling them faster.
report_with_times() {  # MEDIAN REPETITIONS
  printf '{"schema": "bnharness-report", "version": 1, "benchmarks": [{"id": "op/nchw/f32/2x3/t1/x",
    "implementation": "x", "operation": "bn_forward_train", "dtype": "f32", "layout": "nchw",
    "threads": 1, "shape": [2, 3], "repetitions": [%s], "median_s": %s}]}\n' "$2" "$1"
}
report_with_times 0.002 0.002,0.002,0.002 >"$dir/base.json"
report_with_times 0 0,0,0 >"$dir/zero.json"
report_with_times -0.001 -0.001,-0.001,-0.001 >"$dir/negative.json"
report_with_times 0.001 0.001,-0.001,0.001 >"$dir/one-negative.json"
report_with_times 1e400 1e400,1e400,1e400 >"$dir/infinite.json"
expect 2 'zero.json: benchmarks\[0\] \(op/nchw/f32/2x3/t1/x\) has a repetition time of 0 s: times must be positive and finite' -- \
  "$bnh" compare "$dir/base.json" "$dir/zero.json"
expect 2 'negative.json: benchmarks\[0\] .* of -0.001 s' -- "$bnh" compare "$dir/negative.json" "$dir/base.json"
expect 2 'one-negative.json: .* has a repetition time of -0.001 s' -- "$bnh" compare "$dir/base.json" "$dir/one-negative.json"
expect 2 "infinite.json: not a usable report: number overflow parsing '1e400'" -- "$bnh" compare "$dir/base.json" "$dir/infinite.json"
expect 0 'no significant regression' -- "$bnh" compare "$dir/base.json" "$dir/base.json"

# The top-level handler: a plugin that crashes while loading is a failed check, status 1.
expect 1 'gradcheck: plugin .* crashed while loading .*SIGSEGV' -- \
  "$bnh" gradcheck --plugin "$crash_on_load_plugin" --shape 3,2
expect 1 'accuracy: plugin .* crashed while loading' -- \
  "$bnh" accuracy --plugin "$crash_on_load_plugin" --m 16 --cases 1 --output "$dir/a.json"
# Out of memory is one line and status 4: a report file read under an address-space limit 50 MB
# above what bnh needs to start (which depends on the libraries it was built with).
starts_within() { bash -c 'ulimit -v '"$1"'; exec "$0" --help' "$bnh" >/dev/null 2>&1; }
if ! starts_within 16000000; then
  # AddressSanitizer reserves terabytes of address space: no limit lets it start.
  echo "note: bnh does not start under an address-space limit (a sanitizer build?); out-of-memory case not tested"
else
  low_kb=10000 high_kb=16000000
  while [ $((high_kb - low_kb)) -gt 10000 ]; do
    middle_kb=$(((low_kb + high_kb) / 2))
    if starts_within "$middle_kb"; then high_kb=$middle_kb; else low_kb=$middle_kb; fi
  done
  limit_kb=$((high_kb + 50000))
  head -c 100000000 /dev/zero | tr '\0' ' ' >"$dir/huge.json"
  expect 4 '^bnh report: out of memory' -- \
    bash -c 'ulimit -v '"$limit_kb"'; exec "$0" "$@"' "$bnh" report "$dir/huge.json" --html "$dir/h.html" --markdown "$dir/h.md"
  rm -f "$dir/huge.json"
fi
# Terminal escapes in what the user typed are not echoed raw.
expect 2 "unknown command 'x\\\\x1B\[2Jy'" -- "$bnh" "$(printf 'x\033[2Jy')"

finish_expectations
