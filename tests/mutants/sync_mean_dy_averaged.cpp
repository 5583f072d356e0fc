// The backward's means taken per rank and averaged over the ranks, instead of the sums reduced
// and divided by the total count (pytorch/pytorch#36382). Right when the shards are even.
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct MeanDyAveraged : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  GradientSums reduce_gradient_sums(Communicator& communicator, const GradientSums& shard) const override {
    const std::size_t channels = shard.dy.size();
    std::vector<double> message{shard.count};  // [count, mean dy, mean dy xhat] of this shard
    for (const double sum : shard.dy) message.push_back(sum / shard.count);
    for (const double sum : shard.dy_xhat) message.push_back(sum / shard.count);
    communicator.all_reduce_sum(message.data(), static_cast<std::int64_t>(message.size()));
    GradientSums batch;
    batch.count = message[0];
    const double ranks = communicator.size();
    for (std::size_t k = 0; k < channels; ++k) {  // the bug: the average of the ranks' means
      batch.dy.push_back(message[1 + k] / ranks * batch.count);
      batch.dy_xhat.push_back(message[1 + channels + k] / ranks * batch.count);
    }
    return batch;
  }
};

}  // namespace

BNH_SYNC_MUTANT(MeanDyAveraged, "sync_mean_dy_averaged",
                "the backward's mean_dy averaged across ranks, not divided by the total count (pytorch 36382)");

}  // namespace bnh::mutants
