#!/usr/bin/env bash
# usage: bench/plugin_overhead.sh BUILD_DIR [CASES] [SEED] [RUNS]
#
# The cost of checking an implementation as a plugin rather than in-process: times
# `bnh check --impl naive` and `bnh check --plugin libbnh_plugin_naive.so` (the same kernels
# exported through the C ABI, impls/export/) with the same seed and cases, alternately, RUNS
# times each (odd, default 3), and prints every wall time, the medians and the ratio
# plugin / in-process. A benchmark, not a test: it passes or fails nothing.
# `cmake --build BUILD_DIR --target plugin_overhead` runs it with the defaults.
set -u
build=${1:?usage: bench/plugin_overhead.sh BUILD_DIR [CASES] [SEED] [RUNS]}
cases=${2:-100}
seed=${3:-1}
runs=${4:-3}
bnh=$build/bnh
plugin=$build/impls/export/libbnh_plugin_naive.so
for file in "$bnh" "$plugin"; do
  if [ ! -e "$file" ]; then
    echo "plugin_overhead.sh: $file not found (build the targets bnh and bnh_plugin_naive)" >&2
    exit 2
  fi
done
if [ $((runs % 2)) -ne 1 ]; then
  echo "plugin_overhead.sh: RUNS must be odd (the median is one of the runs), got $runs" >&2
  exit 2
fi

# Wall seconds of one check; its output is kept only to say why it failed.
time_check() {
  local start end log status
  log=$(mktemp)
  start=$(date +%s.%N)
  "$bnh" check "$@" --cases "$cases" --seed "$seed" >"$log" 2>&1
  status=$?
  end=$(date +%s.%N)
  if [ "$status" -ne 0 ]; then
    echo "plugin_overhead.sh: bnh check $* exited $status:" >&2
    tail -5 "$log" >&2
  fi
  rm -f "$log"
  awk -v start="$start" -v end="$end" 'BEGIN { print end - start }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "bnh check --cases $cases --seed $seed, $runs runs each, alternating"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
  "avx512f: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)"
in_process=()
as_plugin=()
for run in $(seq "$runs"); do
  in_process+=("$(time_check --impl naive)")
  as_plugin+=("$(time_check --plugin "$plugin")")
  printf 'run %d: --impl naive %8.2f s   --plugin %8.2f s\n' "$run" "${in_process[-1]}" "${as_plugin[-1]}"
done
in_process_median=$(median "${in_process[@]}")
as_plugin_median=$(median "${as_plugin[@]}")
printf 'median: --impl naive %8.2f s   --plugin %8.2f s\n' "$in_process_median" "$as_plugin_median"
awk -v plugin="$as_plugin_median" -v in_process="$in_process_median" \
  'BEGIN { printf "ratio plugin / in-process: %.2f\n", plugin / in_process }'
