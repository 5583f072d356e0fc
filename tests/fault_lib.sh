# Sourced by the fault-catalogue tests (tests/fault_*.sh): run bnh on a misbehaving plugin, check
# its status and output, and check that no process it started is left behind.
#
# Each test gets a process name no other test uses (at most 15 bytes, the kernel's limit), passed
# to the plugin in BNH_TEST_CHILD_NAME: the process that loads the plugin and every child the
# plugin forks take that name (tests/plugins/fault_plugin.c), so `pgrep -x` finds survivors even
# when tests run in parallel.
failures=0
marker="bnhf$$"
export BNH_TEST_CHILD_NAME=$marker
workdir=$(mktemp -d)

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The processes named $marker, and those among the pids given, that are alive (a zombie has
# ended; only its entry in the process table is left).
alive_marked() {
  ps -e -o pid=,stat=,comm= | awk -v name="$marker" -v pids=" $* " '
    $2 !~ /^Z/ && ($3 == name || index(pids, " " $1 " ")) { print $1 }'
}

# Whether process $1 is alive (not a zombie).
alive() {
  local state
  state=$(ps -o stat= -p "$1") && [[ $state != Z* ]]
}

# Every descendant of process $1, from the process table as it is now.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      for (pid in parent) {
        depth = 0
        for (p = parent[pid]; p > 1 && ++depth < 64; p = parent[p]) if (p == root) { print pid; break }
      }
    }'
}

# Fails if processes named $marker (or among the pids given) are alive after a grace period of
# 2 s, and then ends them, again until none is left (one may still be forking). $bnh and
# $plugin, when the test sets them, are the command and plugin it runs.
expect_no_stray() {
  local what=$1 survivors pid
  shift
  for _ in $(seq 20); do
    survivors=$(alive_marked "$@")
    [ -z "$survivors" ] && return 0
    sleep 0.1
  done
  fail "$what: $(echo "$survivors" | wc -l) processes left behind, for instance:"
  ps -o pid=,ppid=,stat=,comm=,args= -p "$(echo "$survivors" | head -3 | paste -sd,)" | cut -c1-160
  # Only what is surely ours: named $marker, or still running this test's bnh or plugin.
  for _ in $(seq 50); do
    survivors=$(alive_marked "$@")
    [ -z "$survivors" ] && return 0
    for pid in $survivors; do
      if [ "$(ps -o comm= -p "$pid")" = "$marker" ] ||
        ps -o args= -p "$pid" | grep -qF -e "${bnh:?}" -e "${plugin:-$bnh}"; then
        kill -KILL "$pid" 2>/dev/null
      fi
    done
    sleep 0.1
  done
}

# Runs COMMAND... with stdout in $workdir/stdout and stderr in $workdir/stderr (files, not a
# pipe: a child the harness failed to end would hold a pipe open), bounded in time; sets $status.
run() {
  timeout -k 5 120 "$@" >"$workdir/stdout" 2>"$workdir/stderr" </dev/null
  status=$?
  cat "$workdir/stdout" "$workdir/stderr" >"$workdir/output"
}

show_output() {
  echo "--- output of: $*"
  head -c 6000 "$workdir/output" | cat -v
  echo "---"
}

finish() {
  expect_no_stray "at the end"
  rm -rf "$workdir"
  if [ "$failures" -ne 0 ]; then
    echo "$failures checks failed"
    exit 1
  fi
  echo "all checks passed"
}
