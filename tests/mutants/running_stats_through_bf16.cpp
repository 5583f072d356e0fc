// The running statistics are kept in bf16: f32 statistics were asked for, but the update is
// rounded through bf16 before it is stored (a kernel that reuses its bf16 store path for the
// running buffers). The running estimate keeps 8 bits; momentum's small steps vanish under
// bf16's spacing, so the estimate stalls.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct RunningStatsThroughBf16 : Textbook<RunningStatsThroughBf16> {
  static constexpr const char* name = "running_stats_through_bf16";

  template <typename S>
  static void update_running(const TensorDesc& desc, const Params& params, std::int64_t c, double mean,
                             double var, S* running_mean, S* running_var) {
    const double count = static_cast<double>(desc.per_channel());
    const double unbiased = var * count / (count - 1);
    const bfloat16 new_mean = (1 - params.momentum) * running_mean[c] + params.momentum * mean;
    const bfloat16 new_var = (1 - params.momentum) * running_var[c] + params.momentum * unbiased;
    running_mean[c] = stored<S>(new_mean);
    running_var[c] = stored<S>(new_var);
  }
};

}  // namespace

BNH_MUTANT_ON(RunningStatsThroughBf16, "running statistics rounded through bf16 (f32 asked for)", DType::bf16,
              DType::f16);

}  // namespace bnh::mutants
