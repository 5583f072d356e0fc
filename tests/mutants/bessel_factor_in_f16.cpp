// The Bessel factor M / (M - 1) of the running variance is computed in the data dtype, f16
// (tensorflow PR 30230): M itself rounds to f16, which is infinity once M passes 65504, and
// inf / inf is NaN; below that, M / (M - 1) rounds to 1 from M = 2048 on.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct BesselFactorInF16 : Textbook<BesselFactorInF16> {
  static constexpr const char* name = "bessel_factor_in_f16";

  template <typename S>
  static void update_running(const TensorDesc& desc, const Params& params, std::int64_t c, double mean,
                             double var, S* running_mean, S* running_var) {
    const float16 count = desc.per_channel();
    const float16 bessel = count / static_cast<float16>(count - 1.0f);
    const double unbiased = var * bessel;
    running_mean[c] = stored<S>((1 - params.momentum) * running_mean[c] + params.momentum * mean);
    running_var[c] = stored<S>((1 - params.momentum) * running_var[c] + params.momentum * unbiased);
  }
};

}  // namespace

BNH_MUTANT_ON(BesselFactorInF16, "the Bessel factor M/(M-1) computed in f16: NaN past M = 65504 (tensorflow PR 30230)",
              DTypeChoice(DType::f16, DType::f16), DType::f16);

}  // namespace bnh::mutants
