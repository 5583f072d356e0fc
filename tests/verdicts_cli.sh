#!/usr/bin/env bash
# The verdicts of bnh check and their exit statuses (docs/verdicts.md): 0 every property held,
# 1 a failure, 3 nothing was checked. The plugins are plugins/verdict_plugin.c, one per verdict.
set -u
bnh=$1 plugins=$2
source "$(dirname "$0")/expect.sh"
plugin() { echo "$plugins/libbnh_verdict_$1.so"; }
few=(--cases 20 --seed 11 --no-realistic)

# A plugin that refuses one kind of valid shape: its cases are set aside and listed, the rest
# are checked in full, and nothing fails.
expect 0 'refused valid calls \(cases set aside, not failures\)' -- "$bnh" check --plugin "$(plugin refuse_n1)" "${few[@]}"
expect 0 'agreement_bn_forward_train +20 .*pass \([0-9]+ refused\)' -- "$bnh" check --plugin "$(plugin refuse_n1)" "${few[@]}"
expect 0 'first: (f32|f64) (nchw|nhwc) 1x' -- "$bnh" check --plugin "$(plugin refuse_n1)" "${few[@]}"
expect 0 'rejected bn_forward_train: N = 1 is not supported by this kernel' -- "$bnh" check --plugin "$(plugin refuse_n1)" "${few[@]}" --property agreement_bn_forward_train
expect 0 'all properties hold' -- "$bnh" check --plugin "$(plugin refuse_n1)" "${few[@]}"

# A plugin that refuses everything, one with no operation, and one whose only dtype was not
# asked for: nothing was checked, never "all properties hold".
expect 3 'nothing was checked: refuses_all: every property was skipped \(every case refused\)' -- "$bnh" check --plugin "$(plugin refuse_all)" "${few[@]}"
expect 3 'agreement_bn_backward +0 .*skipped \(every case refused\)' -- "$bnh" check --plugin "$(plugin refuse_all)" "${few[@]}"
expect 3 'nothing was checked: no_operations: every property was skipped \(the implementation does not provide the operations it needs' -- "$bnh" check --plugin "$(plugin no_operations)" "${few[@]}"
expect 3 'nothing was checked: f32_only: every property was skipped \(no requested dtype and layout is supported\)' -- "$bnh" check --plugin "$(plugin f32_only)" "${few[@]}" --dtype f64
expect 0 'all properties hold' -- "$bnh" check --plugin "$(plugin f32_only)" "${few[@]}" --dtype f32 --property agreement_bn_forward_train
# Several targets: nothing checked on one of them is status 3, even when the others pass.
expect 3 'nothing was checked: refuses_all' -- "$bnh" check --plugin "$(plugin refuse_all)" --impl naive "${few[@]}"
if "$bnh" check --plugin "$(plugin refuse_all)" "${few[@]}" 2>&1 | grep -q 'all properties hold'; then
  echo "FAIL: a plugin that refuses everything was said to hold every property"
  failures=$((failures + 1))
fi

# Bad input accepted silently (running_var < 0 in training among it): reported under its own
# heading, a failure only with --strict; the built-ins are strict.
expect 0 'input validation: accepted [0-9]+ bad inputs: bn_forward_train: .*running_var < 0' -- "$bnh" check --plugin "$(plugin lax)" "${few[@]}"
expect 0 'bad_input_refused .*accepts bad input \(see below\)' -- "$bnh" check --plugin "$(plugin lax)" "${few[@]}"
expect 0 'all properties hold; bad input accepted silently is reported above' -- "$bnh" check --plugin "$(plugin lax)" "${few[@]}"
expect 1 'lax fails bad_input_refused' -- "$bnh" check --plugin "$(plugin lax)" "${few[@]}" --strict
expect 1 '^  accepted bad input: bn_forward_train: .*running_var < 0' -- "$bnh" check --plugin "$(plugin lax)" "${few[@]}" --strict --property bad_input_refused
expect 0 'input validation: every bad input refused' -- "$bnh" check --impl naive "${few[@]}" --property bad_input_refused
expect 0 'input validation: every bad input refused' -- "$bnh" check --plugin "$(plugin refuse_n1)" "${few[@]}" --property bad_input_refused --strict
# A crash on bad input is a failure with or without --strict.
expect 1 'misbehaved on bad input: .*eps = 0.*crashed with SIGSEGV' -- "$bnh" check --plugin "$(plugin crash_on_bad_eps)" "${few[@]}" --property bad_input_refused
expect 1 'input validation: misbehaved on bad input: bn_forward_train: eps = 0' -- "$bnh" check --plugin "$(plugin crash_on_bad_eps)" "${few[@]}" --property bad_input_refused

# The same verdicts in JSON, and the replay of one case.
json=$(mktemp -d)
expect 3 'nothing was checked' -- "$bnh" check --plugin "$(plugin refuse_all)" "${few[@]}" --json "$json/out.json"
for pattern in '"outcome": "nothing_checked"' '"exit_status": 3' '"nothing_checked": "every property was skipped' \
               '"first_case": "' '"reason": "refuses_all rejected'; do
  grep -qF "$pattern" "$json/out.json" || { echo "FAIL: $pattern not in the JSON"; failures=$((failures + 1)); }
done
expect 0 'all properties hold' -- "$bnh" check --plugin "$(plugin lax)" "${few[@]}" --json "$json/lax.json"
for pattern in '"accepted": [' '"input": "running_var < 0"' '"strict": false' '"outcome": "passed"'; do
  grep -qF "$pattern" "$json/lax.json" || { echo "FAIL: $pattern not in the JSON"; failures=$((failures + 1)); }
done
expect 2 'cannot write .*: it is a folder' -- "$bnh" check --impl naive "${few[@]}" --json "$json"
expect 2 'cannot write .*: no folder' -- "$bnh" check --impl naive "${few[@]}" --json "$json/missing/out.json"
if [ "$(id -u)" -ne 0 ]; then  # root writes anywhere
  mkdir "$json/read-only" && chmod a-w "$json/read-only"
  expect 2 'cannot write .*read-only/out.json' -- "$bnh" check --impl naive "${few[@]}" --json "$json/read-only/out.json"
fi
leftover=$(find "$json" -name '*.partial*')
[ -z "$leftover" ] || { echo "FAIL: left behind: $leftover"; failures=$((failures + 1)); }
rm -rf "$json"
expect 3 'refused by the implementation \(not a failure\): refuses_n1 rejected' -- "$bnh" check --plugin "$(plugin refuse_n1)" --case "f64 nchw 1x2x3x1 regime=normal seed=3"
expect 3 'nothing was checked' -- "$bnh" check --plugin "$(plugin refuse_all)" --case "f64 nchw 2x2x3x1 regime=normal seed=3" --property agreement_bn_forward_train

# The help: the default under --impl, the new switches, every exit status.
help=$("$bnh" check --help)
grep -A1 -- '--impl NAMES' <<<"$help" | grep -q '(default: every built-in)' || { echo "FAIL: the default is not under --impl"; failures=$((failures + 1)); }
for pattern in '--strict' '--no-realistic' '3 nothing was checked' '--max-size N +largest tensor of the small cases'; do
  grep -qE -- "$pattern" <<<"$help" || { echo "FAIL: help lacks $pattern"; failures=$((failures + 1)); }
done

finish_expectations
