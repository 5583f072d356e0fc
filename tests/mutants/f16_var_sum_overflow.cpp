// The sum of squared deviations is summed in f32 but held in the data dtype, f16, before the
// division by M (pytorch PR 126525, batch norm on CPU in half precision): past 65504 it is
// infinity, the variance infinite, invstd 0, and y collapses onto beta. Below that the one
// rounding is within f16's tolerance; judged in pure f16, only the overflow shows.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct F16VarSumOverflow : Textbook<F16VarSumOverflow> {
  static constexpr const char* name = "f16_var_sum_overflow";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    Textbook::channel_statistics(desc, x, c, mean, var);
    const double count = static_cast<double>(desc.per_channel());
    const T var_sum = static_cast<float>(var * count);
    var = var_sum / count;
  }
};

}  // namespace

BNH_MUTANT_ON(F16VarSumOverflow, "the sum of squares held in f16: infinity past 65504 (pytorch PR 126525)",
              DTypeChoice(DType::f16, DType::f16));

}  // namespace bnh::mutants
