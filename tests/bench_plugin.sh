#!/usr/bin/env bash
# bnh bench with a plugin as the focus: the example plugin (examples/plugin) measured in the
# sandbox against two built-ins on one tiny shape. Checks the plumbing only, never the speed:
# the report holds the plugin's benchmarks with the role "under test", names it as the focus,
# and the summary is about it.
# A plugin that crashes fails the run (status 1, the benchmarks listed as faults, not refusals),
# and one that supports none of the benchmarks asked for is "nothing measured" (status 3).
#   tests/bench_plugin.sh BNH PLUGIN CRASHING_PLUGIN F64_ONLY_PLUGIN
set -u
bnh=$1 plugin=$2 crashing=$3 f64_only=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$bnh" bench --suite quick --shapes 2x256x14x14 --impls naive,openmp --plugin "$plugin" --focus my_batchnorm \
  --ops bn_forward_train,bn_backward --layout nchw --repetitions 1 --min-time 0.001 --no-accuracy \
  --output "$dir/r.json" >"$dir/out.txt" 2>"$dir/err.txt"
status=$?
[ "$status" -eq 0 ] || { fail "bnh bench exited $status"; cat "$dir/err.txt"; }
python3 - "$dir/r.json" <<'PY' || fail "the report"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["focus"] == "my_batchnorm", report["focus"]
mine = [b for b in report["benchmarks"] if b["implementation"] == "my_batchnorm"]
assert len(mine) == 2, [b["id"] for b in report["benchmarks"]]
assert all(b["role"] == "under test" for b in mine)
assert all(b["speedup_vs_naive"] is not None and b["bound_fraction"] is not None for b in mine)
roles = {b["implementation"]: b["role"] for b in report["benchmarks"]}
assert roles["naive"] == "baseline" and roles["openmp"] == "built-in", roles
PY
grep -q "my_batchnorm" "$dir/out.txt" || fail "the summary does not name the focus: $(cat "$dir/out.txt")"

expect_refusal() {  # expect_refusal MESSAGE ARGS...
  local message=$1
  shift
  output=$("$bnh" bench --suite quick --shapes 2x256x14x14 --repetitions 1 --no-accuracy --output "$dir/x.json" "$@" 2>&1)
  status=$?
  [ "$status" -eq 2 ] || fail "bnh bench $* exited $status, expected 2"
  grep -q "$message" <<<"$output" || fail "bnh bench $*: no '$message' in: $output"
}
expect_refusal "is not one of the implementations measured" --impls naive --focus nosuch
expect_refusal "two implementations are called 'naive'" --impls naive,naive
expect_refusal "sync is synchronized; bnh bench --sync" --impls naive,sync

tiny=(--suite quick --shapes 2x256x14x14 --impls naive --ops bn_forward_infer --layout nchw --repetitions 1
  --min-time 0.001 --no-accuracy)
"$bnh" bench "${tiny[@]}" --dtype f64 --plugin "$crashing" --output "$dir/crash.json" >"$dir/crash.txt" 2>&1
status=$?
[ "$status" -eq 1 ] || fail "a crashing plugin: bnh bench exited $status, expected 1: $(cat "$dir/crash.txt")"
grep -q "failed: the implementation crashed" "$dir/crash.txt" || fail "a crashing plugin: no failure line"
python3 - "$dir/crash.json" <<'PY' || fail "a crashing plugin: the report's errors"
import json, sys
errors = json.load(open(sys.argv[1]))["errors"]
assert errors and all(e["fault"] and "SIGSEGV" in e["error"] for e in errors), errors
PY
"$bnh" bench "${tiny[@]}" --dtype f32 --plugin "$f64_only" --output "$dir/none.json" >"$dir/none.txt" 2>&1
status=$?
[ "$status" -eq 3 ] || fail "a plugin with nothing to measure: bnh bench exited $status, expected 3"
grep -q "nothing was measured for" "$dir/none.txt" || fail "a plugin with nothing to measure: no message"

[ "$failures" -eq 0 ] && echo "bench with a plugin in focus: measured, under test, the report's focus" || exit 1
