// Properties of the backward: the sums its gradients obey, linearity in dy, and agreement with
// finite differences of the implementation's own forward.
#include "properties/property_checks.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
#include "properties/tolerance.hpp"

namespace bnh::detail {

// Per channel, sum dx = 0, and sum dx * xhat = gamma r invstd dgamma_bn (1 - mean(xhat^2)):
// dx is orthogonal to the constant (and, but for eps, to xhat), which normalization removes.
BoundFraction gradient_sums_vanish(Implementation& impl, const Case& tc) {
  for (bool renorm : provided_normalizations(impl, true)) {
    const auto forward = run_forward_train(impl, tc, renorm);
    const auto back = run_backward(impl, tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    const auto scales = backward_scales(tc, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    const Judgement j = judge(tc, Output::dx);
    const double count = static_cast<double>(tc.desc.per_channel());
    const std::int64_t channels = tc.desc.c;
    std::vector<double> total(channels, 0), total_xhat(channels, 0), allowance(channels, 0),
        allowance_xhat(channels, 0), dy_xhat(channels, 0), mean_square_xhat(channels, 0);
    for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
      const auto c = channel_of(tc.desc, i);
      const double xhat = (tc.x[i] - forward.save_mean[c]) * forward.save_invstd[c];
      const double kappa = std::fabs(tc.x[i]) * forward.save_invstd[c] + std::fabs(xhat) + 1;
      total[c] += back.dx[i];
      total_xhat[c] += back.dx[i] * xhat;
      dy_xhat[c] += tc.dy[i] * xhat;
      mean_square_xhat[c] += xhat * xhat / count;
      allowance[c] += j.allowance(scales.dx[i]);
      allowance_xhat[c] += j.allowance(scales.dx[i]) * kappa + j.allowance(std::fabs(back.dx[i])) * kappa;
    }
    for (std::int64_t c = 0; c < channels; ++c) {
      if (!std::isfinite(total[c])) continue;
      const double r = renorm ? forward.r[c] : 1.0;
      const double expected_xhat = tc.gamma[c] * r * forward.save_invstd[c] * dy_xhat[c] *
                                   (1 - mean_square_xhat[c]);
      if (std::fabs(total[c]) > allowance[c] ||
          std::fabs(total_xhat[c] - expected_xhat) > allowance_xhat[c]) {
        std::ostringstream out;
        out << (renorm ? "renorm" : "bn") << " channel " << c << ": sum dx = " << total[c]
            << " (allowed " << allowance[c] << "), sum dx*xhat = " << total_xhat[c]
            << " against " << expected_xhat << " (allowed " << allowance_xhat[c] << ")";
        fail(out.str());
      }
    }
  }
  return {};
}

// dbeta = sum dy and dgamma = sum dy * xhat (renorm: r sum dy * xhat + d sum dy), from the
// inputs the backward received.
BoundFraction parameter_gradients(Implementation& impl, const Case& tc) {
  BoundFraction worst;
  for (bool renorm : provided_normalizations(impl, true)) {
    const auto forward = run_forward_train(impl, tc, renorm, false);
    const auto back = run_backward(impl, tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    std::vector<double> dbeta(tc.desc.c, 0), dy_xhat(tc.desc.c, 0), dgamma(tc.desc.c);
    for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
      const auto c = channel_of(tc.desc, i);
      dbeta[c] += tc.dy[i];
      dy_xhat[c] += tc.dy[i] * (tc.x[i] - forward.save_mean[c]) * forward.save_invstd[c];
    }
    for (std::int64_t c = 0; c < tc.desc.c; ++c) {
      dgamma[c] = renorm ? forward.r[c] * dy_xhat[c] + forward.d[c] * dbeta[c] : dy_xhat[c];
    }
    const auto scales = backward_scales(tc, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    worst.note(expect_close(label(renorm) + "dbeta against sum dy", back.dbeta, dbeta, scales.dbeta,
                            judge(tc, Output::dbeta)));
    const std::string dgamma_sum = renorm ? "r sum dy * xhat + d sum dy" : "sum dy * xhat";
    worst.note(expect_close(label(renorm) + "dgamma against " + dgamma_sum, back.dgamma, dgamma,
                            scales.dgamma, judge(tc, Output::dgamma)));
  }
  return worst;
}

// The backward is linear in dy: backward(2 dy + dy') = 2 backward(dy) + backward(dy') +
// backward(delta), with dy' the same values in reverse order and delta what storing 2 dy + dy'
// in the data dtype rounded off (the rounding error of a sum is itself representable: the
// identity is exact in every dtype, bf16's 8 bits included).
BoundFraction backward_linear_in_dy(Implementation& impl, const Case& tc) {
  BoundFraction worst;
  Case reversed = tc, combined = tc, rounding = tc;
  std::reverse(reversed.dy.begin(), reversed.dy.end());
  for (std::size_t i = 0; i < tc.dy.size(); ++i) {
    const double exact = 2 * tc.dy[i] + reversed.dy[i];
    combined.dy[i] = round_to_dtype(exact, tc.desc.dtype);
    rounding.dy[i] = std::isfinite(exact) ? round_to_dtype(combined.dy[i] - exact, tc.desc.dtype) : 0;
  }
  const Judgement dx = judge(tc, Output::dx), dgamma = judge(tc, Output::dgamma);
  for (bool renorm : provided_normalizations(impl, true)) {
    const auto f = run_forward_train(impl, tc, renorm, false);
    auto backward = [&](const Case& with) { return run_backward(impl, with, renorm, f.save_mean, f.save_invstd, f.r, f.d); };
    auto scales = [&](const Case& with) { return backward_scales(with, f.save_mean, f.save_invstd, f.r, f.d); };
    const auto first = backward(tc), second = backward(reversed), both = backward(combined), off = backward(rounding);
    const auto s1 = scales(tc), s2 = scales(reversed), s3 = scales(combined), s4 = scales(rounding);
    // An element that overflowed its dtype in any of the four (f16 dgamma of a large channel)
    // has no sum to compare: it is left out.
    auto compare = [&](const std::string& what, std::vector<double> actual, std::vector<double> expected,
                       const std::vector<double>& scale, const std::vector<const std::vector<double>*>& terms,
                       const Judgement& j) {
      leave_out_overflows(j.dtype, actual, expected, terms);
      worst.note(expect_close(what, actual, expected, scale, j));
    };
    compare(label(renorm) + "dx of 2 dy + dy'", both.dx, sum(sum(scaled(first.dx, 2), second.dx), off.dx),
            sum(sum(sum(scaled(s1.dx, 2), s2.dx), s3.dx), s4.dx), {&first.dx, &second.dx, &off.dx}, dx);
    compare(label(renorm) + "dgamma of 2 dy + dy'", both.dgamma,
            sum(sum(scaled(first.dgamma, 2), second.dgamma), off.dgamma),
            sum(sum(sum(scaled(s1.dgamma, 2), s2.dgamma), s3.dgamma), s4.dgamma),
            {&first.dgamma, &second.dgamma, &off.dgamma}, dgamma);
  }
  return worst;
}

// The backward is the derivative of the implementation's own forward: finite differences,
// the full Jacobian for small tensors and directional (v^T J u) otherwise. Finite differences
// resolve the derivative only while the data's conditioning allows (docs/gradcheck.md), so
// badly conditioned and subnormal cases do not apply.
template <GradientMode mode>
BoundFraction gradient_matches_finite_differences(Implementation& impl, const Case& tc) {
  // bf16 and f16: the forward's output carries 8 or 11 bits, so a difference quotient resolves
  // the derivative only on well-conditioned data (docs/gradcheck.md).
  const double kappa_limit = tc.desc.dtype == DType::f64 ? 1e3 : tc.desc.dtype == DType::f32 ? 30 : 8;
  std::vector<double> mean, var;
  reference_statistics(tc, mean, var);
  std::vector<double> max_abs_x(tc.desc.c, 0);
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    const auto c = channel_of(tc.desc, i);
    max_abs_x[c] = std::max(max_abs_x[c], std::fabs(tc.x[i]));
  }
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    const double sigma = std::sqrt(var[c] + tc.params.eps);
    // Where eps dominates the variance, xhat is tiny and the saved mean's rounding alone moves
    // it by a large fraction: its derivatives are below what finite differences resolve.
    if (max_abs_x[c] / sigma + 1 > kappa_limit || var[c] < tc.params.eps || max_abs_x[c] > 1e15) {
      throw Unsupported("conditioning beyond what finite differences resolve");
    }
  }
  GradientCheckOptions options;
  options.mode = mode;
  options.method = tc.desc.elements() <= 64 ? GradientMethod::full : GradientMethod::fast;
  const GradientCheckResult result = gradient_check(impl, tc, options);
  if (!result.supported) throw Unsupported("not supported");
  if (!result.passed()) fail(result.describe());
  return {};
}

template BoundFraction gradient_matches_finite_differences<GradientMode::bn>(Implementation&, const Case&);
template BoundFraction gradient_matches_finite_differences<GradientMode::renorm>(Implementation&, const Case&);

}  // namespace bnh::detail
