// The backward's reductions, sum dy and sum dy xhat, are accumulated in the data dtype (bf16 or
// f16), every add rounded back to it, while the forward statistics are right: dbeta and dgamma,
// f32 outputs, keep 8 or 11 bits, and dx's mean terms inherit the error.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct BackwardSumsInDataDtype : Textbook<BackwardSumsInDataDtype> {
  static constexpr const char* name = "backward_sums_in_data_dtype";

  template <typename T>
  static void gradient_sums(const TensorDesc& desc, const T* dy, const T* x, std::int64_t c, double mean,
                            double invstd, double& sum_dy, double& sum_dy_xhat) {
    T dy_total = 0, dy_xhat_total = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      dy_total = static_cast<T>(dy_total + dy[i]);
      dy_xhat_total = static_cast<T>(dy_xhat_total + dy[i] * ((x[i] - mean) * invstd));
    });
    sum_dy = dy_total;
    sum_dy_xhat = dy_xhat_total;
  }
};

}  // namespace

BNH_MUTANT_ON(BackwardSumsInDataDtype, "backward sums (dbeta, dgamma) accumulated in the data dtype", DType::bf16,
              DType::f16);

}  // namespace bnh::mutants
