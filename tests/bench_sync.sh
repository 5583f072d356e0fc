#!/usr/bin/env bash
# bnh bench --sync: the scaling of the built-in sync over MPI at 1 and 2 ranks on one small
# shape. Checks the plumbing only, never the speed: exit status 0, the table, and the JSON file's
# fields (a single-rank measurement and a weak and a strong one at 2 ranks per operation, with
# medians over three alternating rounds, communication shares and efficiencies); then the
# one-line refusals (no mpirun on PATH, an even round or repetition count, an unknown
# implementation, the worker mode outside mpirun, the command itself under mpirun).
#   tests/bench_sync.sh BNH
set -u
bnh=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/expect.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

tiny=(--suite quick --shapes 2x256x14x14 --ops bn_forward_train,bn_backward --repetitions 3 --min-time 0.001)
"$bnh" bench --sync --ranks 1,2 --rounds 3 "${tiny[@]}" --output "$dir/s.json" >"$dir/out.txt" 2>"$dir/err.txt"
status=$?
if [ "$status" -ne 0 ]; then
  echo "FAIL: bnh bench --sync exited $status"
  cat "$dir/err.txt"
  failures=$((failures + 1))
fi
grep -qE "^\| bn_backward \| 2x256x14x14 \| [0-9.]+ \|" "$dir/out.txt" || {
  echo "FAIL: no table row for bn_backward: $(cat "$dir/out.txt")"
  failures=$((failures + 1))
}
python3 - "$dir/s.json" <<'PY' || failures=$((failures + 1))
import json, sys
scaling = json.load(open(sys.argv[1]))
assert scaling["schema"] == "bnh-sync-scaling" and scaling["implementation"] == "sync", scaling
assert scaling["ranks"] == [1, 2] and scaling["repetitions"] == 3 and scaling["rounds"] == 3, scaling
runs = {(m["operation"], m["ranks"], m["scaling"]): m for m in scaling["measurements"]}
for op in ["bn_forward_train", "bn_backward"]:
    assert set(k for k in runs if k[0] == op) == {(op, 1, "single"), (op, 2, "weak"), (op, 2, "strong")}, runs.keys()
    assert runs[(op, 1, "single")]["efficiency"] == 1
    assert runs[(op, 2, "weak")]["shard_n"] == 2 and runs[(op, 2, "strong")]["shard_n"] == 1
for m in scaling["measurements"]:
    assert m["shape"] == [2, 256, 14, 14], m["shape"]
    # three rounds of three repetitions, pooled
    assert len(m["seconds"]) == 9 and len(m["communication_seconds"]) == 9, m
    assert m["median_s"] == sorted(m["seconds"])[4], m
    assert 0 <= m["communication_share"] <= 1 and m["efficiency"] > 0, m
    # one rank still calls the collectives, but no other rank waits in them
    if m["ranks"] == 2: assert m["communication_share"] > 0, m
PY

# Refusals: one line, status 2, before anything runs.
expect 2 "needs Open MPI's mpirun on PATH" -- env PATH=/nonexistent "$bnh" bench --sync "${tiny[@]}" --output "$dir/x.json"
expect 2 "rounds must be odd" -- "$bnh" bench --sync --suite quick --rounds 2 --output "$dir/x.json"
expect 2 "repetitions must be odd" -- "$bnh" bench --sync --suite quick --repetitions 2 --output "$dir/x.json"
expect 2 "--ranks" -- "$bnh" bench --sync --ranks 0 --output "$dir/x.json"
expect 2 "nosuch" -- "$bnh" bench --sync --impl nosuch --output "$dir/x.json"
expect 2 "only under mpirun" -- "$bnh" bench --sync --sync-worker "$dir/w.json"
expect 2 "starts mpirun itself" -- "$bnh" bench --sync --mpi --output "$dir/x.json"
[ ! -e "$dir/x.json" ] || { echo "FAIL: a refused run wrote its file"; failures=$((failures + 1)); }
finish_expectations
