#!/usr/bin/env bash
# The example plugin end to end, as a new user meets it: install bnharness, build the example
# against the installed package, check it and see it pass, and its bf16 path in bf16; check its
# synchronized variant on simulated ranks and under mpirun (when there is one); break one line
# of its backward and see bnh check and bnh gradcheck fail, naming the culprit and the command
# that reproduces it.
#   tests/example_plugin.sh BUILD_DIR SOURCE_DIR
set -u
build_dir=$(cd "$1" && pwd) source_dir=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null || { echo "FAIL: install"; exit 1; }
bnh="$work/prefix/bin/bnh"

build_example() {  # build_example SOURCE BUILD
  cmake -S "$1" -B "$2" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >"$2.log" 2>&1 &&
    cmake --build "$2" -j"$(nproc)" >>"$2.log" 2>&1
}

# 1. The example as shipped: builds, passes bnh check and its own GoogleTest suite.
build_example "$source_dir/examples/plugin" "$work/example" || { cat "$work/example.log"; exit 1; }
plugin="$work/example/libmy_batchnorm.so"
output=$("$bnh" check --plugin "$plugin" --cases 40 --seed 5 2>&1) || fail "bnh check of the example: $output"
grep -q "all properties hold" <<<"$output" || fail "bnh check of the example did not say all properties hold"
"$bnh" gradcheck --plugin "$plugin" --shape 3,4,2,2 >/dev/null || fail "bnh gradcheck of the example"
ctest --test-dir "$work/example" --output-on-failure >/dev/null || fail "the example's own conformance test"

# 1b. Its bf16 path (ABI version 2, f32 statistics): passes bnh check in bf16.
bf16_plugin="$work/example/libmy_batchnorm_bf16.so"
output=$("$bnh" check --plugin "$bf16_plugin" --dtype bf16 --cases 40 --seed 5 2>&1) ||
  fail "bnh check --dtype bf16 of the example's bf16 path: $output"
grep -q "all properties hold" <<<"$output" || fail "bnh check --dtype bf16 of the example's bf16 path did not say all properties hold"

# 2. The synchronized variant: on three simulated ranks, then as three MPI processes.
sync_plugin="$work/example/libmy_sync_batchnorm.so"
output=$("$bnh" check --plugin "$sync_plugin" --ranks 3 --cases 40 --seed 5 2>&1) ||
  fail "bnh check --ranks 3 of the synchronized example: $output"
grep -q "all properties hold" <<<"$output" || fail "bnh check --ranks 3 of the synchronized example did not say all properties hold"
if command -v mpirun >/dev/null; then
  # Three ranks on however many cores; as root Open MPI also wants to be told it may run.
  mpirun_flags=(--oversubscribe)
  [ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)
  output=$(mpirun "${mpirun_flags[@]}" -np 3 "$bnh" check --plugin "$sync_plugin" --mpi --cases 20 --seed 5 2>&1) ||
    fail "mpirun -np 3 bnh check --mpi of the synchronized example: $output"
  grep -q "all properties hold" <<<"$output" || fail "mpirun -np 3 bnh check --mpi of the synchronized example did not say all properties hold"
else
  echo "mpirun not found: the synchronized example was not checked under MPI"
fi

# 3. One line of the backward changed: the mean term dropped from dx.
cp -r "$source_dir/examples/plugin" "$work/broken-source"
sed -i 's/(count \* load(desc, dy, i) - \*sum_dy - xhat \* \*sum_dy_xhat)/(count * load(desc, dy, i) - xhat * *sum_dy_xhat)/' \
  "$work/broken-source/src/my_batchnorm.c"
cmp -s "$source_dir/examples/plugin/src/my_batchnorm.c" "$work/broken-source/src/my_batchnorm.c" &&
  fail "the one-line change did not apply"
build_example "$work/broken-source" "$work/broken" || { cat "$work/broken.log"; exit 1; }
broken="$work/broken/libmy_batchnorm.so"
output=$("$bnh" check --plugin "$broken" --cases 40 --seed 5 2>&1)
status=$?
[ "$status" -eq 1 ] || fail "bnh check of the broken plugin exited $status, expected 1"
grep -q "my_batchnorm fails agreement_bn_backward" <<<"$output" || fail "bnh check did not name agreement_bn_backward"
grep -q "reproduce: bnh check --plugin $broken --property agreement_bn_backward --case" <<<"$output" ||
  fail "bnh check printed no reproducing command"
output=$("$bnh" gradcheck --plugin "$broken" --shape 3,4,2,2 2>&1)
status=$?
[ "$status" -eq 1 ] || fail "bnh gradcheck of the broken plugin exited $status, expected 1"
grep -q "^  x FAIL" <<<"$output" || fail "bnh gradcheck did not name x: $output"
grep -q "^  gamma ok" <<<"$output" || fail "bnh gradcheck blamed gamma too"
grep -q "reproduce: bnh gradcheck --plugin $broken --shape 3,4,2,2" <<<"$output" || fail "no reproducing command"

[ "$failures" -eq 0 ] && echo "example plugin: builds, passes, and a one-line bug is caught" || exit 1
