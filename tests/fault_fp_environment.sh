#!/usr/bin/env bash
# usage: fault_fp_environment.sh BNH PLUGIN
# PLUGIN turns on flush-to-zero and denormals-are-zero and rounds upward in supports(). That is
# its own business: checked beside it, naive must get exactly the verdicts, case counts and
# worst/bound figures it gets alone, with the same seed.
source "$(dirname "$0")/fault_lib.sh"
bnh=$1
plugin=$2
# The small cases show a changed rounding mode at once; the realistic-size ones add only time.
common=(check --cases 5 --seed 11 --no-realistic)

run "$bnh" "${common[@]}" --impl naive --json "$workdir/alone.json"
[ "$status" -eq 0 ] || fail "naive alone exited $status, expected 0"
run "$bnh" "${common[@]}" --plugin "$plugin" --impl naive --json "$workdir/beside.json"
case $status in
  0 | 1) ;;
  *) fail "naive beside the plugin exited $status, expected 0 or 1 (the plugin's own findings)" ;;
esac
[ "$failures" -ne 0 ] && show_output "$bnh" "${common[@]}" --plugin "$plugin" --impl naive
expect_no_stray "after bnh exited"

# Each of naive's properties: verdict, cases and worst/bound, alone and beside the plugin.
python3 - "$workdir/alone.json" "$workdir/beside.json" <<'PYTHON' || fail "naive's figures changed beside the plugin"
import json, sys

def naive_rows(path):
    with open(path) as file:
        report = json.load(file)
    for implementation in report["implementations"]:
        if implementation["implementation"] == "naive":
            return {row["property"]: (row["status"], row["cases"], row["worst_bound_fraction"])
                    for row in implementation["properties"]}
    sys.exit(f"{path}: no naive entry")

alone, beside = naive_rows(sys.argv[1]), naive_rows(sys.argv[2])
changed = [name for name in alone if alone[name] != beside.get(name)]
failed = [name for name, row in alone.items() if row[0] == "failed"]
for name in changed:
    print(f"  {name}: alone {alone[name]}, beside the plugin {beside.get(name)}")
for name in failed:
    print(f"  {name}: fails even alone")
sys.exit(1 if changed or failed or not alone else 0)
PYTHON
finish
