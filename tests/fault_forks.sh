#!/usr/bin/env bash
# usage: fault_forks.sh BNH PLUGIN
# PLUGIN forks a child in every call, which sleeps for 300 s. After bnh exits, none of them may
# be alive; and when bnh is killed with SIGTERM or SIGINT in the middle of a run, neither its
# worker nor any child the plugin started may be alive.
source "$(dirname "$0")/fault_lib.sh"
bnh=$1
plugin=$2
check=(check --plugin "$plugin" --property agreement_bn_forward_infer --dtype f64)

run "$bnh" "${check[@]}" --cases 5
[ "$status" -eq 0 ] || fail "exited $status, expected 0 (the plugin is otherwise correct)"
grep -q "all properties hold" "$workdir/output" || fail "does not say 'all properties hold'"
[ "$failures" -ne 0 ] && show_output "$bnh" "${check[@]}" --cases 5
expect_no_stray "after bnh exited"

# Job control: a background job of a script otherwise starts with SIGINT ignored.
set -m
for signal in TERM INT; do
  "$bnh" "${check[@]}" --cases 1000000 >"$workdir/killed.out" 2>&1 </dev/null &
  pid=$!
  # Wait for the plugin's first child: two processes with the marker name (the worker and a
  # child, or bnh itself and a child when the plugin is loaded in-process).
  for _ in $(seq 200); do
    [ "$(alive_marked | wc -l)" -ge 2 ] && break
    sleep 0.05
  done
  [ "$(alive_marked | wc -l)" -ge 2 ] || fail "SIG$signal: the plugin had not forked after 10 s"
  started=$(descendants "$pid")
  kill -"$signal" "$pid"
  for _ in $(seq 100); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    fail "SIG$signal: bnh still running 10 s after the signal"
    kill -KILL "$pid"
  fi
  wait "$pid" 2>/dev/null
  expect_no_stray "after SIG$signal" $started
done
finish
