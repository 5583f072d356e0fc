#!/usr/bin/env bash
# bnh bench and bnh report in bf16 and f16 beside f32: the plumbing, never the speed. On one
# tiny shape, naive and openmp in f32, mixed bf16, pure bf16 and f16 give a benchmark each,
# labelled with its dtypes; the reduced ones carry their speed over their own f32; an ABI-1
# plugin of f32 alone is skipped for the reduced dtypes with one line each; the summary,
# the Markdown and the HTML show the reduced dtypes beside f32; bnh compare against an f32-only
# report lists the new benchmarks as only in the new report.
#   tests/bench_reduced.sh BNH F32_ONLY_PLUGIN
set -u
bnh=$1 plugin=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

tiny=(--suite quick --shapes 2x256x14x14 --ops bn_forward_train,bn_backward --layout nhwc --repetitions 1
  --min-time 0.001 --no-accuracy)
"$bnh" bench "${tiny[@]}" --impls naive,openmp --plugin "$plugin" --dtype f32,bf16,bf16:bf16,f16 \
  --output "$dir/r.json" >"$dir/out.txt" 2>"$dir/err.txt"
status=$?
[ "$status" -eq 0 ] || { fail "bnh bench exited $status"; cat "$dir/err.txt"; }
for dtype in bf16 bf16:bf16 f16; do
  grep -q "^skipped $dtype for f32_only: it does not support $dtype\$" "$dir/err.txt" ||
    fail "no line says the plugin was skipped for $dtype"
done
grep -q 'vs f32 >LLC' "$dir/out.txt" || fail "the summary has no vs f32 column"
python3 - "$dir/r.json" <<'PY' || fail "the report"
import json, sys
report = json.load(open(sys.argv[1]))
ids = {b["id"]: b for b in report["benchmarks"]}
for impl in ("naive", "openmp"):
    for dtype, vectors in (("f32", 4), ("bf16", 4), ("bf16:bf16", 2), ("f16", 4)):
        b = ids.get(f"bn_forward_train/nhwc/{dtype}/2x256x14x14/t1/{impl}")
        assert b is not None, (impl, dtype, sorted(ids))
        tensor = 4 if dtype == "f32" else 2
        assert b["dtype"] == dtype and b["bytes"] == 2 * 2 * 256 * 196 * tensor + 8 * 256 * vectors, b
        assert (b.get("speedup_vs_f32") is not None) == (dtype != "f32"), b
        assert b["bound"] == f"copy/{dtype}/2x256x14x14/t1", b["bound"]
mine = [b for b in report["benchmarks"] if b["implementation"] == "f32_only"]
assert mine and all(b["dtype"] == "f32" for b in mine), [b["id"] for b in mine]
bounds = {b["id"]: b for b in report["bounds"]}
assert bounds["copy/bf16/2x256x14x14/t1"]["bytes"] == 2 * 2 * 256 * 196 * 2, bounds
PY

"$bnh" report "$dir/r.json" >/dev/null 2>&1 || fail "bnh report exited $?"
grep -q 'id="speedup-f32-bn-forward-train-nhwc-bf16-bf16-t1"' "$dir/r.html" || fail "no chart of pure bf16 over f32"
grep -q 'id="bandwidth-bn-forward-train-nhwc-f16-t1"' "$dir/r.html" || fail "no bandwidth chart of f16"
grep -q '| bn_forward_train | nhwc | bf16 | 1 |' "$dir/r.md" || fail "no bf16 row in the Markdown summary"

# An older report of f32 alone: the reduced dtypes' benchmarks are only in the new one.
"$bnh" bench "${tiny[@]}" --impls naive --output "$dir/f32.json" >/dev/null 2>&1 || fail "the f32 run exited $?"
"$bnh" compare "$dir/f32.json" "$dir/r.json" --threshold 1e9 >"$dir/compare.txt" 2>&1
status=$?
[ "$status" -eq 0 ] || { cat "$dir/compare.txt"; fail "compare exited $status"; }
grep -q 'bn_forward_train/nhwc/bf16:bf16/2x256x14x14/t1/naive' "$dir/compare.txt" ||
  fail "compare does not list the pure bf16 benchmark"

[ "$failures" -eq 0 ] && echo "bench in bf16 and f16: benchmarks, skips, report and comparison as expected"
exit "$failures"
