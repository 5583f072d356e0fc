// The ranks send their sums of x and x^2 and the merge takes E[x^2] - E[x]^2 of the whole
// batch (Horovod's TensorFlow SyncBatchNormalization): in double still, but a large mean
// cancels the variance away. This mutant's m2 slot carries the shard's sum of squares.
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct OnePassMerge : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  Moments local_moments(const TensorDesc& shard, const double* x, std::int64_t c) const override {
    Moments local;
    local.count = static_cast<double>(shard.per_channel());
    double sum = 0;
    shard.for_each_in_channel(c, [&](std::int64_t i) {
      sum += x[i];
      local.m2 += x[i] * x[i];  // sum of squares, not of squared deviations
    });
    local.mean = local.count == 0 ? 0 : sum / local.count;
    return local;
  }

  Moments merge(const Gathered& gathered, std::int64_t c) const override {
    double sum = 0, squares = 0;
    for (int rank = 0; rank < gathered.ranks; ++rank) {
      const Moments next = gathered.of(rank, c);
      sum += next.count * next.mean;
      squares += next.m2;
    }
    Moments batch;
    batch.count = gathered.total_count();
    batch.mean = sum / batch.count;
    batch.m2 = (squares / batch.count - batch.mean * batch.mean) * batch.count;  // the bug
    return batch;
  }
};

}  // namespace

BNH_SYNC_MUTANT(OnePassMerge, "sync_one_pass_merge",
                "E[x^2] - E[x]^2 merged across ranks (Horovod)");

}  // namespace bnh::mutants
