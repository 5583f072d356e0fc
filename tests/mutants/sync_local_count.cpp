// The merge weighs every rank's moments by this rank's own count, as if the shards were even
// (PyTorch's SyncBatchNorm gathered the local count for every rank: pytorch/pytorch#22192).
// Right when the shards are even; wrong, and different from rank to rank, when they are not.
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct LocalCount : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  Moments merge(const Gathered& gathered, std::int64_t c) const override {
    const double own_count = gathered.of(gathered.own_rank, c).count;
    Moments batch;
    for (int rank = 0; rank < gathered.ranks; ++rank) {
      Moments next = gathered.of(rank, c);
      next.count = own_count;  // the bug: every rank counted as this one
      add_rank(batch, next);
    }
    return batch;
  }
};

}  // namespace

BNH_SYNC_MUTANT(LocalCount, "sync_local_count",
                "every rank weighted by the local count in the merge (pytorch 22192)");

}  // namespace bnh::mutants
