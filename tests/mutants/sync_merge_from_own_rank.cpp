// Each rank merges starting from its own statistics, then the next ranks round the ring (the
// order a ring all-reduce delivers them in), instead of in rank order 0, 1, ...: the ranks add
// in different orders and their statistics differ in the last bits.
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct MergeFromOwnRank : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  Moments merge(const Gathered& gathered, std::int64_t c) const override {
    Moments batch;
    for (int step = 0; step < gathered.ranks; ++step) {
      add_rank(batch, gathered.of((gathered.own_rank + step) % gathered.ranks, c));  // the bug
    }
    return batch;
  }
};

}  // namespace

BNH_SYNC_MUTANT(MergeFromOwnRank, "sync_merge_from_own_rank",
                "each rank merges from its own statistics round the ring: ranks differ in the last bits");

}  // namespace bnh::mutants
