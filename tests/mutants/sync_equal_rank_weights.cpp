// Every rank weighted equally in the merge, whatever its count: the batch mean is the mean of
// the ranks' means, the variance the mean of their variances about it (Horovod's TensorFlow
// SyncBatchNormalization averaged the workers' moments). Empty ranks are left out.
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct EqualRankWeights : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  Moments merge(const Gathered& gathered, std::int64_t c) const override {
    double ranks = 0, sum_of_means = 0;
    for (int rank = 0; rank < gathered.ranks; ++rank) {
      const Moments next = gathered.of(rank, c);
      if (next.count == 0) continue;
      ranks += 1;
      sum_of_means += next.mean;
    }
    Moments batch;
    batch.count = gathered.total_count();
    batch.mean = sum_of_means / ranks;
    double sum_of_variances = 0;
    for (int rank = 0; rank < gathered.ranks; ++rank) {
      const Moments next = gathered.of(rank, c);
      if (next.count == 0) continue;
      const double delta = next.mean - batch.mean;
      sum_of_variances += next.m2 / next.count + delta * delta;
    }
    batch.m2 = sum_of_variances / ranks * batch.count;
    return batch;
  }
};

}  // namespace

BNH_SYNC_MUTANT(EqualRankWeights, "sync_equal_rank_weights",
                "every rank weighted equally in the merge, whatever its count (Horovod)");

}  // namespace bnh::mutants
