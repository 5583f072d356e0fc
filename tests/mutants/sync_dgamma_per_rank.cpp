// dgamma and dbeta returned as this rank's own sums, PyTorch's convention, where the ABI
// promises them already reduced over the whole batch (bnh/plugin_sync.h). dx is right.
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct DgammaPerRank : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  const GradientSums& parameter_gradient_sums(const GradientSums& shard, const GradientSums&) const override {
    return shard;  // the bug
  }
};

}  // namespace

BNH_SYNC_MUTANT(DgammaPerRank, "sync_dgamma_per_rank",
                "dgamma and dbeta returned per rank, not reduced as the ABI promises");

}  // namespace bnh::mutants
