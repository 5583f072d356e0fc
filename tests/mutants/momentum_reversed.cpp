// momentum weights the old running value instead of the new batch (Keras' convention mixed with
// PyTorch's buffers).
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct MomentumReversed : Textbook<MomentumReversed> {
  static constexpr const char* name = "momentum_reversed";

  template <typename T>
  static void update_running(const TensorDesc& desc, const Params& params, std::int64_t c,
                             double mean, double var, T* running_mean, T* running_var) {
    const double count = static_cast<double>(desc.per_channel());
    const double unbiased = var * count / (count - 1);
    running_mean[c] = static_cast<T>(params.momentum * running_mean[c] + (1 - params.momentum) * mean);
    running_var[c] = static_cast<T>(params.momentum * running_var[c] + (1 - params.momentum) * unbiased);
  }
};

}  // namespace

BNH_MUTANT(MomentumReversed, "momentum applied the other way round");

}  // namespace bnh::mutants
