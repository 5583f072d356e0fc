# Sourced by the command-line tests: expect STATUS PATTERN -- COMMAND... runs COMMAND and counts
# a failure unless it exits with STATUS and its output (stdout and stderr) matches the extended
# regular expression PATTERN. A refusal (status 2) must be one line, unless what is expected is
# the usage text. finish_expectations reports and sets the script's exit status.
failures=0

expect() {
  local status=$1 pattern=$2
  shift 3
  local output
  output=$("$@" 2>&1)
  local actual=$?
  if [ "$actual" -ne "$status" ] || ! grep -qE -- "$pattern" <<<"$output"; then
    echo "FAIL: '$*' exited $actual (expected $status), output did not match '$pattern':"
    echo "$output" | head -5
    failures=$((failures + 1))
  elif [ "$status" -eq 2 ] && [[ "$pattern" != usage:* ]] && [ "$(wc -l <<<"$output")" -ne 1 ]; then
    echo "FAIL: '$*' printed more than one line:"
    echo "$output" | head -5
    failures=$((failures + 1))
  fi
}

finish_expectations() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures checks failed"
    exit 1
  fi
  echo "all checks passed"
}
