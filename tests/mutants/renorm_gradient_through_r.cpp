// Renorm's backward differentiates through r = sigma_B / sigma, which cancels the batch's
// standard deviation: dx = gamma r invstd (dy - mean(dy)), missing the xhat term that a
// stop-gradient r keeps.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct RenormGradientThroughR : Textbook<RenormGradientThroughR> {
  static constexpr const char* name = "renorm_gradient_through_r";

  template <typename T, typename S>
  static void renorm_backward(const TensorDesc& desc, const Params&, const T* dy, const T* x,
                              const S* gamma, const S* save_mean, const S* save_invstd,
                              const S* r, const S* d, T* dx, S* dgamma, S* dbeta) {
    const double count = static_cast<double>(desc.per_channel());
    for (std::int64_t c = 0; c < desc.c; ++c) {
      double sum_dy = 0, sum_dy_xhat = 0;
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * (x[i] - save_mean[c]) * save_invstd[c];
      });
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        dx[i] = static_cast<T>(gamma[c] * r[c] * save_invstd[c] * (dy[i] - sum_dy / count));
      });
      dbeta[c] = static_cast<S>(sum_dy);
      dgamma[c] = static_cast<S>(sum_dy_xhat * r[c] + sum_dy * d[c]);
    }
  }
};

}  // namespace

BNH_MUTANT(RenormGradientThroughR, "renorm gradient flowing through r");

}  // namespace bnh::mutants
