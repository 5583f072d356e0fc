// The backward by the chain rule, as a widely printed derivation writes it: (xhat - mu) where
// (x - mu) belongs in the gradient of the variance.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct XhatMinusMu : Textbook<XhatMinusMu> {
  static constexpr const char* name = "xhat_minus_mu";

  template <typename T, typename S>
  static void bn_backward(const TensorDesc& desc, const Params&, const T* dy, const T* x,
                          const S* gamma, const S* save_mean, const S* save_invstd, T* dx,
                          S* dgamma, S* dbeta) {
    const double count = static_cast<double>(desc.per_channel());
    for (std::int64_t c = 0; c < desc.c; ++c) {
      const double mu = save_mean[c], invstd = save_invstd[c];
      double dvar = 0, dmu = 0, sum_centered = 0, sum_dy = 0, sum_dy_xhat = 0;
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        const double xhat = (x[i] - mu) * invstd;
        const double dxhat = dy[i] * gamma[c];
        dvar += dxhat * (xhat - mu) * -0.5 * invstd * invstd * invstd;  // the bug: xhat - mu
        dmu += -dxhat * invstd;
        sum_centered += -2 * (x[i] - mu);
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * xhat;
      });
      dmu += dvar * sum_centered / count;
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        dx[i] = static_cast<T>(dy[i] * gamma[c] * invstd + dvar * 2 * (x[i] - mu) / count + dmu / count);
      });
      dbeta[c] = static_cast<S>(sum_dy);
      dgamma[c] = static_cast<S>(sum_dy_xhat);
    }
  }
};

}  // namespace

BNH_MUTANT(XhatMinusMu, "(xhat - mu) in place of (x - mu) in the variance gradient");

}  // namespace bnh::mutants
