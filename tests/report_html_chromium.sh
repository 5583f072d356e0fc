#!/usr/bin/env bash
# Renders a real report (one small shape, two thread counts, accuracy included) and loads the
# HTML page in headless Chromium: the DOM Chromium builds must hold every kind of chart as an
# <svg class="chart KIND"> with its id. Chromium is required (scripts/setup installs it): its
# absence fails the test.
set -u
bnh=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "FAIL: chromium is not installed (scripts/setup installs the Debian package 'chromium')"
  exit 1
fi

"$bnh" bench --quick --impls naive,openmp --shapes 2x256x14x14 --ops bn_forward_train,bn_backward \
  --threads 1,2 --repetitions 1 --output "$dir/r.json" >"$dir/bench.out" 2>&1 ||
  { echo "FAIL: bnh bench"; cat "$dir/bench.out"; exit 1; }
"$bnh" report "$dir/r.json" || { echo "FAIL: bnh report"; exit 1; }
[ -s "$dir/r.html" ] && [ -s "$dir/r.md" ] || { echo "FAIL: bnh report wrote no r.html / r.md"; exit 1; }

timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$dir/profile" --dump-dom "file://$dir/r.html" >"$dir/dom.html" 2>"$dir/chromium.err"
status=$?
if [ "$status" -ne 0 ] || [ ! -s "$dir/dom.html" ]; then
  echo "FAIL: chromium exited $status"
  tail -5 "$dir/chromium.err"
  exit 1
fi

failures=0
for pattern in \
  '<svg [^>]*id="bandwidth-bn-forward-train-nchw-f32-t1" class="chart bandwidth"' \
  '<svg [^>]*id="bandwidth-bn-backward-nhwc-f32-t2" class="chart bandwidth"' \
  '<svg [^>]*id="bound-bn-forward-train-nchw-f32-t1" class="chart bound"' \
  '<svg [^>]*id="speedup-baseline-bn-forward-train-nchw-f32-t1" class="chart speedup speedup-baseline"' \
  '<svg [^>]*id="scaling-bn-forward-train-nchw-f32" class="chart scaling"' \
  '<svg [^>]*id="accuracy-bn-forward-train-f32" class="chart accuracy"' \
  '<svg [^>]*id="accuracy-bn-backward-f64" class="chart accuracy"' \
  '<rect class="bar"' '<circle class="point"' '<polyline'; do
  if ! grep -qE -- "$pattern" "$dir/dom.html"; then
    echo "FAIL: the DOM Chromium built has no match for: $pattern"
    failures=$((failures + 1))
  fi
done
charts=$(grep -oE 'class="chart [a-z -]+"' "$dir/dom.html" | wc -l)
[ "$failures" -eq 0 ] && echo "chromium rendered $charts charts"
exit "$failures"
