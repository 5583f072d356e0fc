#!/usr/bin/env bash
# bnh check and bnh gradcheck on the built-in synchronized implementation: simulated ranks,
# forced uneven and empty shards, a replayed split, the refusals of bad ranks flags, and (when
# an mpirun is given) the MPI back end, which must print one verdict for the whole job, and
# synchronized plugins under it: one whose ranks refuse bad input unlike each other, and one
# whose rank 1 crashes.
# Usage: sync_cli.sh BNH [MPIRUN [SYNC_PLUGIN [CRASHING_SYNC_PLUGIN]]]
bnh=$1
mpirun=${2:-}
sync_plugin=${3:-}
crashing_plugin=${4:-}
source "$(dirname "$0")/expect.sh"

few="--cases 15 --no-realistic"

expect 0 "^sync on 3 simulated ranks$" -- "$bnh" check --impl sync --ranks 3 $few
expect 0 "partition_invariance +[0-9]+ .*pass" -- "$bnh" check --impl sync --ranks 3 $few --seed 11
expect 0 "all properties hold" -- "$bnh" check --impl sync --shards 0,3,1 $few
expect 0 "all properties hold" -- "$bnh" check --impl sync --shards 2,0 $few
expect 0 "all properties hold" -- "$bnh" check --impl sync --ranks 1 --cases 5 --no-realistic
# A split printed in a case spec replays, and sets the number of ranks.
expect 0 "partition_invariance +holds" -- "$bnh" check --impl sync \
  --case "f64 nhwc 4x3x2x2 regime=normal seed=3 shards=0,1,0,3" --property agreement_bn_backward,partition_invariance
expect 0 "^case: .* shards=1,2 \|" -- "$bnh" check --impl sync --shards 1,2 \
  --case "f32 nchw 3x2x1x1 regime=exact seed=1" --property identical_on_every_rank

# Status 0 is checked with the heading; every run that passes prints "all properties hold".
expect 0 "^all properties hold$" -- "$bnh" check --impl sync $few --seed 12

# Bad ranks flags: one line, status 2.
expect 2 "bnh check: --shards: bad shard size 'x'" -- "$bnh" check --impl sync --shards 0,x
expect 2 "bnh check: --shards: bad shard size '-1'" -- "$bnh" check --impl sync --shards 1,-1
expect 2 "bnh check: --shards: bad shard size ''" -- "$bnh" check --impl sync --shards 1,,2
expect 2 "gives the batch no sample" -- "$bnh" check --impl sync --shards 0,0
expect 2 "has 3 shards but --ranks is 2" -- "$bnh" check --impl sync --shards 0,3,1 --ranks 2
expect 2 "--ranks must be" -- "$bnh" check --impl sync --ranks 0
expect 2 "--ranks must be" -- "$bnh" check --impl sync --ranks 65
expect 2 "naive is not one" -- "$bnh" check --impl naive --ranks 3
expect 2 "are for 3 ranks, but --ranks is 2" -- "$bnh" check --impl sync --ranks 2 \
  --case "f32 nchw 4x1x1x1 regime=normal seed=1 shards=1,2,1"
expect 2 "add up to 3, not N = 4" -- "$bnh" check --impl sync --case "f32 nchw 4x1x1x1 regime=normal seed=1 shards=1,2"
expect 2 "--ranks is for simulated ranks" -- "$bnh" check --impl sync --mpi --ranks 3
expect 2 "does not add up to N = 5" -- "$bnh" gradcheck --impl sync --shards 0,3,1 --shape 5,3

# gradcheck on the whole batch split across the ranks.
expect 0 "^sync on 3 simulated ranks, shards [0-9,]+: bn gradient check" -- "$bnh" gradcheck --impl sync --ranks 3 --shape 5,3,2,2
expect 0 "shards 0,3,1: renorm gradient check" -- "$bnh" gradcheck --impl sync --shards 0,3,1 --shape 4,3 --mode renorm

if [ -n "$mpirun" ]; then
  run_mpi=("$mpirun" --allow-run-as-root --oversubscribe -np 3)
  expect 0 "^sync on 3 MPI ranks$" -- "${run_mpi[@]}" "$bnh" check --impl sync --mpi $few
  expect 0 "all properties hold" -- "${run_mpi[@]}" "$bnh" check --impl sync --mpi --shards 0,3,1 $few
  expect 0 "^sync on 3 MPI ranks, shards 2,2,2: bn gradient check" -- "${run_mpi[@]}" "$bnh" gradcheck --impl sync --mpi --shape 6,2,2,2
  # Rank 0 alone prints: one verdict for the job.
  verdicts=$("${run_mpi[@]}" "$bnh" check --impl sync --mpi --cases 5 --no-realistic 2>/dev/null | grep -c "all properties hold")
  if [ "$verdicts" != 1 ]; then
    echo "FAIL: mpirun -np 3 bnh check --mpi printed $verdicts verdicts (expected 1)"
    failures=$((failures + 1))
  fi
  # With an empty shard, rank 0 refuses some bad input before the others do (or while they are
  # in a collective): every rank must still agree on the refusal and stay in step. The timeout
  # is well under the MPI one, so that ranks out of step fail here rather than wait for it.
  if [ -n "$sync_plugin" ]; then
    expect 0 "all properties hold" -- timeout 50 "${run_mpi[@]}" "$bnh" check --plugin "$sync_plugin" --mpi --shards 0,3,1 $few
  fi
  # Rank 1's worker crashes while the others wait in the plugin's gather: a fault naming the rank.
  if [ -n "$crashing_plugin" ]; then
    expect 1 "on rank 1" -- timeout 50 "${run_mpi[@]}" "$bnh" check --plugin "$crashing_plugin" --mpi $few
  fi
fi

finish_expectations
