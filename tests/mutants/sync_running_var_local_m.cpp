// The running variance made unbiased with this rank's M_k / (M_k - 1) instead of the whole
// batch's M / (M - 1): too large, different on every rank with a different shard, infinite on
// a rank of one sample.
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct RunningVarLocalM : SyncTextbook {
  using SyncTextbook::SyncTextbook;

  void update_running(const TensorDesc& shard, const Params& params, const Moments& batch,
                      double& running_mean, double& running_var) const override {
    const double local_count = static_cast<double>(shard.per_channel());
    const double unbiased = batch.m2 / batch.count * local_count / (local_count - 1);  // the bug
    running_mean = (1 - params.momentum) * running_mean + params.momentum * batch.mean;
    running_var = (1 - params.momentum) * running_var + params.momentum * unbiased;
  }
};

}  // namespace

BNH_SYNC_MUTANT(RunningVarLocalM, "sync_running_var_local_m",
                "the unbiased running variance computed with the local M");

}  // namespace bnh::mutants
