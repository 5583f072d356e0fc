// Test helpers of the gradient check: backwards with one realistic mistake each (naive's
// forward, a backward written out in double for every pair of data and statistics dtypes), and
// the margin of a result.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bnh/operations.hpp"
#include "bnh/registry.hpp"
#include "properties/case.hpp"
#include "properties/gradient_check.hpp"

namespace bnh::testing_gradients {

// The largest |numeric - analytic| / tolerance over the inputs: <= 1 passes.
inline double margin(const GradientCheckResult& result) {
  double worst = 0;
  for (const auto& input : result.inputs) {
    const double ratio = input.tolerance > 0 ? input.max_abs_error / input.tolerance
                                             : (input.max_abs_error == 0 ? 0 : INFINITY);
    worst = std::max(worst, ratio);
  }
  return worst;
}

inline const InputDiscrepancy* find_input(const GradientCheckResult& result, const std::string& name) {
  for (const auto& input : result.inputs) {
    if (input.input == name) return &input;
  }
  return nullptr;
}

// Backwards with one realistic mistake each. The forward is naive's.
enum class Bug {
  none,                     // the correct formula, written out here: the baseline
  dx_without_mean_term,     // dx = gamma invstd / M (M dy - xhat dgamma): the -dbeta dropped
  dx_without_gamma,         // dx = invstd / M (M dy - dbeta - xhat dgamma)
  variance_term_with_xhat,  // the printed derivation: dvar sums dy gamma (xhat - mu)
  dgamma_unbiased,          // dgamma from xhat with the unbiased deviation: sqrt((M-1)/M) too small
  dbeta_averaged,           // dbeta = mean of dy instead of its sum
  renorm_dx_without_r,      // renorm dx as if r were not applied: batch norm's dx
  renorm_dgamma_without_d,  // renorm dgamma = r sum dy xhat: the d sum dy term dropped
};

struct BugInfo {
  Bug bug;
  const char* name;
  GradientMode mode;
  const char* wrong_input;
  // Whether the fast method in f32 must catch it on every case. The f32 tolerance resolves
  // gradient errors of about 1% of the Jacobian's scale, and a random projection v^T J w sees
  // a fraction of that error, so a bug that moves the gradient by a few percent (dgamma scaled
  // by sqrt((M-1)/M) = 0.957 at M = 12) is caught by the full method in f32, by either method
  // in f64, but by the fast method in f32 only for some directions.
  bool f32_fast;
};

const std::vector<BugInfo> bugs{
    {Bug::dx_without_mean_term, "dx_without_mean_term", GradientMode::bn, "x", true},
    {Bug::dx_without_gamma, "dx_without_gamma", GradientMode::bn, "x", true},
    {Bug::variance_term_with_xhat, "variance_term_with_xhat", GradientMode::bn, "x", false},
    {Bug::dgamma_unbiased, "dgamma_unbiased", GradientMode::bn, "gamma", false},
    {Bug::dbeta_averaged, "dbeta_averaged", GradientMode::bn, "beta", true},
    {Bug::renorm_dx_without_r, "renorm_dx_without_r", GradientMode::renorm, "x", true},
    {Bug::renorm_dgamma_without_d, "renorm_dgamma_without_d", GradientMode::renorm, "gamma", true},
};

class WrongBackward final : public UniformImplementation {
 public:
  explicit WrongBackward(Bug bug) : bug_(bug) {}
  std::string name() const override { return "wrong-backward"; }
  std::string description() const override { return ""; }
  bool supports(const TensorDesc& desc) const override { return inner_->supports(desc); }
  bool supports(Operation operation) const override { return inner_->supports(operation); }

  // The forwards are naive's; the backwards (buffers in operation_spec's order) have the bug.
  void run(Operation operation, const TensorDesc& desc, const Params& params, const OperationBuffers& b) override {
    if (operation == Operation::bn_backward) {
      backward(desc, b[0], b[1], b[2], b[3], b[4], nullptr, nullptr, b[5], b[6], b[7]);
    } else if (operation == Operation::renorm_backward) {
      backward(desc, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]);
    } else {
      call(*inner_, operation, desc, params, b);
    }
  }

 private:
  // SPEC.md sections 2 and 3 in double, per channel, with the one mistake, for every pair of
  // data and statistics dtypes. r == nullptr: bn.
  void backward(const TensorDesc& desc, const void* dy_, const void* x_, const void* gamma_,
                const void* mean_, const void* invstd_, const void* r_, const void* d_, void* dx_,
                void* dgamma_, void* dbeta_) const {
    dispatch_dtypes(desc, [&](auto data, auto stats) {
      using T = decltype(data);
      using S = decltype(stats);
      auto in = [](const void* p) { return static_cast<const T*>(p); };
      auto out = [](void* p) { return static_cast<T*>(p); };
      auto in_channel = [](const void* p) { return static_cast<const S*>(p); };
      auto out_channel = [](void* p) { return static_cast<S*>(p); };
      const T *dy = in(dy_), *x = in(x_);
      const S* gamma = in_channel(gamma_);
      const double count = static_cast<double>(desc.per_channel());
      for (std::int64_t c = 0; c < desc.c; ++c) {
        const double mean = in_channel(mean_)[c], invstd = in_channel(invstd_)[c];
        const double r = r_ ? double(in_channel(r_)[c]) : 1.0, d = d_ ? double(in_channel(d_)[c]) : 0.0;
        std::vector<std::int64_t> index;
        for (std::int64_t n = 0; n < desc.n; ++n) {
          for (std::int64_t s = 0; s < desc.spatial(); ++s) index.push_back(desc.offset(n, c, s));
        }
        double sum_dy = 0, sum_dy_xhat = 0, sum_dy_wrong = 0;
        for (auto i : index) {
          sum_dy += dy[i];
          sum_dy_xhat += dy[i] * (x[i] - mean) * invstd;
          sum_dy_wrong += dy[i] * ((x[i] - mean) * invstd - mean);
        }
        const double g = bug_ == Bug::dx_without_gamma ? 1.0 : double(gamma[c]);
        const double dx_r = (r_ && bug_ == Bug::renorm_dx_without_r) ? 1.0 : r;
        for (auto i : index) {
          const double xhat = (x[i] - mean) * invstd;
          double value;
          if (bug_ == Bug::variance_term_with_xhat) {
            // The staged derivation: dxhat, dvar, dmu, then dx.
            const double dvar = -0.5 * invstd * invstd * invstd * g * sum_dy_wrong;
            const double dmu = -invstd * g * sum_dy;  // sum (x - mu) = 0 drops dvar's share
            value = dy[i] * g * invstd + dvar * 2 * (x[i] - mean) / count + dmu / count;
          } else {
            const double mean_term = bug_ == Bug::dx_without_mean_term ? 0.0 : sum_dy;
            value = g * invstd / count * (count * dy[i] - mean_term - xhat * sum_dy_xhat);
          }
          out(dx_)[i] = static_cast<T>(dx_r * value);
        }
        double dgamma = sum_dy_xhat * r + (bug_ == Bug::renorm_dgamma_without_d ? 0.0 : sum_dy * d);
        if (bug_ == Bug::dgamma_unbiased) dgamma *= std::sqrt((count - 1) / count);
        out_channel(dgamma_)[c] = static_cast<S>(dgamma);
        out_channel(dbeta_)[c] = static_cast<S>(bug_ == Bug::dbeta_averaged ? sum_dy / count : sum_dy);
      }
    });
  }

  Bug bug_;
  std::unique_ptr<Implementation> inner_ = make_implementation("naive");
};

// Activations as they come: off-centre and not of unit spread.
inline Case shifted_case(const TensorDesc& desc, std::uint64_t seed) {
  Case test_case = random_case(desc, seed);
  for (auto& value : test_case.x) {
    value = round_to_dtype(1.5 + 2 * value, desc.dtype);
  }
  return test_case;
}

}  // namespace bnh::testing_gradients
