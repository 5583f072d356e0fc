#!/usr/bin/env bash
# usage: fault_strings.sh BNH PLUGIN
# PLUGIN's name, and the reason it gives for refusing some valid calls, hold invalid UTF-8, a
# newline and terminal escapes. bnh must finish normally (0 or 1 as the numbers dictate), write
# valid JSON, and print every string escaped: no raw escape byte, no line break inside the name,
# nothing but valid UTF-8.
source "$(dirname "$0")/fault_lib.sh"
bnh=$1
plugin=$2
command=("$bnh" check --plugin "$plugin" --cases 5 --seed 3 --json "$workdir/report.json")

run "${command[@]}"
case $status in
  0 | 1) ;;
  *) fail "exited $status, expected 0 or 1" ;;
esac
python3 -m json.tool "$workdir/report.json" >/dev/null || fail "report.json is not valid JSON"
for stream in stdout stderr; do
  ! grep -q $'\033' "$workdir/$stream" || fail "$stream holds a raw escape byte"
  python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$workdir/$stream" 2>/dev/null ||
    fail "$stream is not valid UTF-8"
done
# The name and the reason each begin with a head word and end with a tail word: both on one line.
for string in evil refused; do
  grep -q "${string}head" "$workdir/stdout" || fail "stdout does not show the ${string}head...${string}tail string"
  if grep -a "${string}head\|${string}tail" "$workdir/stdout" | grep -aqv "${string}head.*${string}tail"; then
    fail "the ${string}head...${string}tail string is split across lines"
  fi
done
# Escaped once: the escape shows as \x1B, not \\x1B.
grep -aqF 'evilhead' "$workdir/stdout" && ! grep -aqF '\\x1B' "$workdir/stdout" ||
  fail "the plugin's strings are escaped twice on the terminal"
# JSON keeps the text itself, as valid UTF-8: the newline and the escape, not their escaped forms.
python3 - "$workdir/report.json" <<'PYTHON' || fail "report.json does not hold the plugin's name as it is"
import json, sys
names = [entry["implementation"] for entry in json.load(open(sys.argv[1]))["implementations"]]
assert any("\n\x1b[2J" in name and "\ufffd" in name for name in names), names
PYTHON
[ "$failures" -ne 0 ] && show_output "${command[@]}"
expect_no_stray "after bnh exited"
finish
