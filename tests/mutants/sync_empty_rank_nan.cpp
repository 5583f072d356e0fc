// A rank with an empty shard takes its mean as 0 / 0 and sends NaN; the merge weighs it by its
// count 0, and 0 * NaN is NaN: every channel of the batch is NaN once an empty rank follows a
// non-empty one (empty shards crashed or hung SyncBatchNorm: pytorch 36530, 74944).
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct EmptyRankNan : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  Moments local_moments(const TensorDesc& shard, const double* x, std::int64_t c) const override {
    Moments local;
    local.count = static_cast<double>(shard.per_channel());
    double sum = 0;
    shard.for_each_in_channel(c, [&](std::int64_t i) { sum += x[i]; });
    local.mean = sum / local.count;  // the bug: 0 / 0 on an empty shard
    shard.for_each_in_channel(c, [&](std::int64_t i) { local.m2 += (x[i] - local.mean) * (x[i] - local.mean); });
    return local;
  }
};

}  // namespace

BNH_SYNC_MUTANT(EmptyRankNan, "sync_empty_rank_nan",
                "an empty rank's mean 0/0 = NaN entering the merge (pytorch 36530, 74944)");

}  // namespace bnh::mutants
