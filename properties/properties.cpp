#include "properties/properties.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "properties/bad_input.hpp"
#include "properties/execution.hpp"
#include "properties/gradient_check.hpp"
#include "properties/reference_agreement.hpp"
#include "properties/tolerance.hpp"
#include "reference/reference.hpp"

namespace bnh {

namespace {

// ---- helpers ---------------------------------------------------------------------------------

thread_local double worst_bound_fraction = 0;

[[noreturn]] void fail(const std::string& message) { throw PropertyFailure(message); }

double representable(double value, DType dtype) {
  return dtype == DType::f32 ? static_cast<double>(static_cast<float>(value)) : value;
}

std::vector<double> sum(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> result(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) result[i] = a[i] + b[i];
  return result;
}

std::vector<double> scaled(const std::vector<double>& a, double factor) {
  std::vector<double> result(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) result[i] = a[i] * factor;
  return result;
}

// Two computations of the same exact values, each within `bound` of it, differ by at most twice
// the bound over the sum of their scales.
void expect_close(const std::string& what, const std::vector<double>& actual,
                  const std::vector<double>& expected, const std::vector<double>& scale,
                  double bound, DType dtype) {
  const Comparison comparison = compare_vectors(actual, expected, scale, dtype);
  note_bound_fraction(comparison.max_scaled_error / bound);
  if (!comparison.within(bound)) fail(comparison.describe(what, bound));
}

void expect_identical(const std::string& what, const std::vector<double>& first,
                      const std::vector<double>& second) {
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (std::memcmp(&first[i], &second[i], sizeof(double)) != 0) {
      std::ostringstream out;
      out.precision(17);
      out << what << " differs at index " << i << ": " << first[i] << " then " << second[i];
      fail(out.str());
    }
  }
}

double bound_for(const Case& tc) { return accumulation_bound(tc.desc.dtype, tc.desc.per_channel()); }

// The reference's batch mean and biased variance, rounded to the case's dtype.
void reference_statistics(const Case& tc, std::vector<double>& mean, std::vector<double>& var) {
  using reference::Real;
  std::vector<Real> exact_mean, exact_var;
  reference::detail::batch_statistics(tc.desc, reference::to_number<Real>(tc.x), exact_mean, exact_var);
  mean.resize(tc.desc.c);
  var.resize(tc.desc.c);
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    mean[c] = representable(reference::round_to<double>(exact_mean[c]), tc.desc.dtype);
    var[c] = representable(reference::round_to<double>(exact_var[c]), tc.desc.dtype);
  }
}

// A copy of the case with its tensor rearranged by `target_of(source index)`.
template <typename Target>
Case rearranged(const Case& tc, const TensorDesc& desc, Target&& target_of) {
  Case result = tc;
  result.desc = desc;
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    result.x[target_of(i)] = tc.x[i];
    result.dy[target_of(i)] = tc.dy[i];
  }
  return result;
}

template <typename Target>
std::vector<double> moved(const std::vector<double>& values, Target&& target_of) {
  std::vector<double> result(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) result[target_of(static_cast<std::int64_t>(i))] = values[i];
  return result;
}

// Index maps between layouts and sample orders of one logical tensor.
struct Coordinates {
  std::int64_t n, c, s;
};
Coordinates coordinates(const TensorDesc& desc, std::int64_t i) {
  const std::int64_t spatial = desc.spatial();
  if (desc.layout == Layout::nchw) return {i / (desc.c * spatial), (i / spatial) % desc.c, i % spatial};
  return {i / (spatial * desc.c), i % desc.c, (i / desc.c) % spatial};
}

// ---- agreement with the reference --------------------------------------------------------

template <Operation op>
void agrees_with_reference(Implementation& impl, const Case& tc) {
  const AgreementResult result = check_reference_agreement(impl, tc, op);
  if (!result.supported) throw Unsupported("not supported");
  for (const auto& output : result.outputs) note_bound_fraction(output.max_scaled_error / output.bound);
  if (!result.passed()) fail(result.describe());
}

// ---- forward ------------------------------------------------------------------------------

// gamma = 1, beta = 0: every channel of y has mean 0 and variance var / (var + eps).
void normalized_output(Implementation& impl, const Case& original) {
  Case tc = original;
  std::fill(tc.gamma.begin(), tc.gamma.end(), 1.0);
  std::fill(tc.beta.begin(), tc.beta.end(), 0.0);
  const auto y = run_forward_train(impl, tc, false, false).y;
  std::vector<double> mean, var;
  reference_statistics(tc, mean, var);
  const auto scales = forward_scales(tc).y;
  const double k = bound_for(tc), u = unit_roundoff(tc.desc.dtype);
  const double count = static_cast<double>(tc.desc.per_channel());
  std::vector<double> y_mean(tc.desc.c, 0), y_square(tc.desc.c, 0), allowance_mean(tc.desc.c, 0),
      allowance_square(tc.desc.c, 0);
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    const auto c = channel_of(tc.desc, i);
    y_mean[c] += y[i] / count;
    y_square[c] += y[i] * y[i] / count;
    allowance_mean[c] += k * u * scales[i] / count;
    allowance_square[c] += 2 * std::fabs(y[i]) * k * u * scales[i] / count;
  }
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    if (!std::isfinite(y_mean[c])) continue;  // non-finite data is its own property
    const double expected_var = var[c] / (var[c] + tc.params.eps);
    const double y_var = y_square[c] - y_mean[c] * y_mean[c];
    // The expected variance itself carries the rounding of var: a relative u * kappa.
    const double var_allowance = allowance_square[c] + k * u * expected_var * scales[0] + 1e-300;
    if (std::fabs(y_mean[c]) > allowance_mean[c]) {
      std::ostringstream out;
      out << "channel " << c << ": mean of y is " << y_mean[c] << ", expected 0 within "
          << allowance_mean[c];
      fail(out.str());
    }
    if (std::fabs(y_var - expected_var) > var_allowance) {
      std::ostringstream out;
      out.precision(10);
      out << "channel " << c << ": variance of y is " << y_var << ", expected var/(var+eps) = "
          << expected_var << " within " << var_allowance;
      fail(out.str());
    }
  }
}

// Adding a constant to a channel changes neither y nor dx, dgamma, dbeta.
void shift_invariance(Implementation& impl, const Case& tc) {
  Case shifted = tc;
  std::vector<double> mean, var;
  reference_statistics(tc, mean, var);
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    const auto c = channel_of(tc.desc, i);
    const double shift = std::ldexp(3.0, std::ilogb(std::sqrt(var[c] + tc.params.eps)) + 1);
    shifted.x[i] = representable(tc.x[i] + shift, tc.desc.dtype);
  }
  const double k = bound_for(tc);
  const auto before = run_forward_train(impl, tc, false, false);
  const auto after = run_forward_train(impl, shifted, false, false);
  expect_close("y after a shift", after.y, before.y,
               sum(forward_scales(tc).y, forward_scales(shifted).y), k, tc.desc.dtype);
  const auto back_before = run_backward(impl, tc, false, before.save_mean, before.save_invstd);
  const auto back_after = run_backward(impl, shifted, false, after.save_mean, after.save_invstd);
  const auto scales_before = backward_scales(tc, before.save_mean, before.save_invstd);
  const auto scales_after = backward_scales(shifted, after.save_mean, after.save_invstd);
  expect_close("dx after a shift", back_after.dx, back_before.dx, sum(scales_before.dx, scales_after.dx), k, tc.desc.dtype);
  expect_close("dgamma after a shift", back_after.dgamma, back_before.dgamma,
               sum(scales_before.dgamma, scales_after.dgamma), k, tc.desc.dtype);
}

// Scaling x by a > 0 and eps by a^2 leaves y unchanged and scales dx by 1/a. a = 4 keeps every
// scaled input exact.
void scale_invariance(Implementation& impl, const Case& tc) {
  const double a = 4;
  Case big = tc;
  for (auto& v : big.x) v *= a;
  for (auto& v : big.running_mean) v *= a;
  for (auto& v : big.running_var) v *= a * a;
  big.params.eps = tc.params.eps * a * a;
  for (double v : big.x) {
    if (!std::isfinite(v)) throw Unsupported("scaling overflows");
  }
  const double k = bound_for(tc);
  const auto before = run_forward_train(impl, tc, false, false);
  const auto after = run_forward_train(impl, big, false, false);
  const auto y_scales = forward_scales(tc).y;
  expect_close("y after scaling x by 4 and eps by 16", after.y, before.y, y_scales, 2 * k, tc.desc.dtype);
  const auto back_before = run_backward(impl, tc, false, before.save_mean, before.save_invstd);
  const auto back_after = run_backward(impl, big, false, after.save_mean, after.save_invstd);
  const auto scales = backward_scales(tc, before.save_mean, before.save_invstd);
  expect_close("4 dx after scaling x by 4", scaled(back_after.dx, a), back_before.dx, scales.dx, 2 * k, tc.desc.dtype);
  expect_close("dgamma after scaling x by 4", back_after.dgamma, back_before.dgamma, scales.dgamma, 2 * k, tc.desc.dtype);
  expect_close("dbeta after scaling x by 4", back_after.dbeta, back_before.dbeta, scales.dbeta, 2 * k, tc.desc.dtype);
}

// Inference with the batch's own statistics as running statistics (biased variance) is the
// training forward.
void inference_matches_training(Implementation& impl, const Case& original) {
  Case tc = original;
  reference_statistics(original, tc.running_mean, tc.running_var);
  const auto train = run_forward_train(impl, tc, false, false).y;
  const auto infer = run_forward_infer(impl, tc);
  expect_close("inference y against training y", infer, train,
               sum(forward_scales(tc).y, inference_scales(tc)), bound_for(tc), tc.desc.dtype);
}

// momentum = 0 leaves the running statistics untouched; momentum = 1 replaces them by the batch
// mean and the unbiased batch variance.
void running_statistics_update(Implementation& impl, const Case& original) {
  for (bool renorm : {false, true}) {
    if (!impl.supports(renorm ? Operation::renorm_forward_train : Operation::bn_forward_train)) continue;
    Case tc = original;
    tc.params.momentum = 0;
    const auto kept = run_forward_train(impl, tc, renorm);
    expect_identical(std::string(renorm ? "renorm" : "bn") + " running_mean with momentum 0", kept.running_mean, tc.running_mean);
    expect_identical(std::string(renorm ? "renorm" : "bn") + " running_var with momentum 0", kept.running_var, tc.running_var);

    tc.params.momentum = 1;
    const auto replaced = run_forward_train(impl, tc, renorm);
    std::vector<double> mean, var;
    reference_statistics(tc, mean, var);
    const double count = static_cast<double>(tc.desc.per_channel());
    std::vector<double> unbiased(var.size());
    for (std::size_t c = 0; c < var.size(); ++c) unbiased[c] = var[c] * count / (count - 1);
    const auto scales = forward_scales(tc);
    const double k = bound_for(tc);
    expect_close(std::string(renorm ? "renorm" : "bn") + " running_mean with momentum 1 against the batch mean",
                 replaced.running_mean, mean, scales.running_mean, k, tc.desc.dtype);
    expect_close(std::string(renorm ? "renorm" : "bn") + " running_var with momentum 1 against the unbiased batch variance",
                 replaced.running_var, unbiased, scales.running_var, k, tc.desc.dtype);
  }
}

// ---- backward ------------------------------------------------------------------------------

// Per channel, sum dx = 0, and sum dx * xhat = gamma r invstd dgamma_bn (1 - mean(xhat^2)):
// dx is orthogonal to the constant (and, but for eps, to xhat), which normalization removes.
void gradient_sums_vanish(Implementation& impl, const Case& tc) {
  for (bool renorm : {false, true}) {
    if (!impl.supports(renorm ? Operation::renorm_backward : Operation::bn_backward)) continue;
    const auto forward = run_forward_train(impl, tc, renorm);
    const auto back = run_backward(impl, tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    const auto scales = backward_scales(tc, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    const double k = bound_for(tc), u = unit_roundoff(tc.desc.dtype);
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
      allowance[c] += k * u * scales.dx[i];
      allowance_xhat[c] += k * u * scales.dx[i] * kappa + std::fabs(back.dx[i]) * k * u * kappa;
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
}

// dbeta = sum dy and dgamma = sum dy * xhat, from the inputs the backward received.
void parameter_gradients(Implementation& impl, const Case& tc) {
  const auto forward = run_forward_train(impl, tc, false, false);
  const auto back = run_backward(impl, tc, false, forward.save_mean, forward.save_invstd);
  std::vector<double> dbeta(tc.desc.c, 0), dgamma(tc.desc.c, 0);
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    const auto c = channel_of(tc.desc, i);
    dbeta[c] += tc.dy[i];
    dgamma[c] += tc.dy[i] * (tc.x[i] - forward.save_mean[c]) * forward.save_invstd[c];
  }
  const auto scales = backward_scales(tc, forward.save_mean, forward.save_invstd);
  const double k = bound_for(tc);
  expect_close("dbeta against sum dy", back.dbeta, dbeta, scales.dbeta, k, tc.desc.dtype);
  expect_close("dgamma against sum dy * xhat", back.dgamma, dgamma, scales.dgamma, k, tc.desc.dtype);
}

// The backward is linear in dy: backward(2 dy + dy') = 2 backward(dy) + backward(dy'), with dy'
// the same values in reverse order.
void backward_linear_in_dy(Implementation& impl, const Case& tc) {
  const auto forward = run_forward_train(impl, tc, false, false);
  Case reversed = tc, combined = tc;
  std::reverse(reversed.dy.begin(), reversed.dy.end());
  for (std::size_t i = 0; i < tc.dy.size(); ++i) {
    combined.dy[i] = representable(2 * tc.dy[i] + reversed.dy[i], tc.desc.dtype);
  }
  const auto first = run_backward(impl, tc, false, forward.save_mean, forward.save_invstd);
  const auto second = run_backward(impl, reversed, false, forward.save_mean, forward.save_invstd);
  const auto both = run_backward(impl, combined, false, forward.save_mean, forward.save_invstd);
  const auto s1 = backward_scales(tc, forward.save_mean, forward.save_invstd);
  const auto s2 = backward_scales(reversed, forward.save_mean, forward.save_invstd);
  const auto s3 = backward_scales(combined, forward.save_mean, forward.save_invstd);
  const double k = bound_for(tc);
  expect_close("dx of 2 dy + dy'", both.dx, sum(scaled(first.dx, 2), second.dx),
               sum(sum(scaled(s1.dx, 2), s2.dx), s3.dx), k, tc.desc.dtype);
  expect_close("dgamma of 2 dy + dy'", both.dgamma, sum(scaled(first.dgamma, 2), second.dgamma),
               sum(sum(scaled(s1.dgamma, 2), s2.dgamma), s3.dgamma), k, tc.desc.dtype);
}

// The backward is the derivative of the implementation's own forward: finite differences,
// the full Jacobian for small tensors and directional (v^T J u) otherwise. Finite differences
// resolve the derivative only while the data's conditioning allows (docs/gradcheck.md), so
// badly conditioned and subnormal cases do not apply.
template <GradientMode mode>
void gradient_matches_finite_differences(Implementation& impl, const Case& tc) {
  const double kappa_limit = tc.desc.dtype == DType::f32 ? 30 : 1e3;
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
}

// ---- structure -------------------------------------------------------------------------------

// Compares every output of every supported operation on two arrangements of one logical tensor.
template <typename Target>
void same_results(Implementation& impl, const Case& tc, const Case& other, Target&& target_of,
                  const std::string& how) {
  const double k = 2 * bound_for(tc);
  const DType dtype = tc.desc.dtype;
  for (bool renorm : {false, true}) {
    if (!impl.supports(renorm ? Operation::renorm_forward_train : Operation::bn_forward_train)) continue;
    const std::string op = renorm ? "renorm " : "bn ";
    const auto a = run_forward_train(impl, tc, renorm);
    const auto b = run_forward_train(impl, other, renorm);
    const auto scales = forward_scales(tc, a.r, a.d);
    expect_close(op + "y " + how, b.y, moved(a.y, target_of), moved(scales.y, target_of), k, dtype);
    expect_close(op + "save_mean " + how, b.save_mean, a.save_mean, scales.save_mean, k, dtype);
    expect_close(op + "save_invstd " + how, b.save_invstd, a.save_invstd, scales.save_invstd, k, dtype);
    expect_close(op + "running_var " + how, b.running_var, a.running_var, scales.running_var, k, dtype);
    if (!impl.supports(renorm ? Operation::renorm_backward : Operation::bn_backward)) continue;
    const auto back_a = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_b = run_backward(impl, other, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_scales = backward_scales(tc, a.save_mean, a.save_invstd, a.r, a.d);
    expect_close(op + "dx " + how, back_b.dx, moved(back_a.dx, target_of), moved(back_scales.dx, target_of), k, dtype);
    expect_close(op + "dgamma " + how, back_b.dgamma, back_a.dgamma, back_scales.dgamma, k, dtype);
    expect_close(op + "dbeta " + how, back_b.dbeta, back_a.dbeta, back_scales.dbeta, k, dtype);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    const auto a = run_forward_infer(impl, tc);
    const auto b = run_forward_infer(impl, other);
    expect_close("inference y " + how, b, moved(a, target_of), moved(inference_scales(tc), target_of),
                 2 * rounding_bound, dtype);
  }
}

// Reversing the order of the samples permutes y and dx the same way and changes nothing else.
void batch_permutation_equivariance(Implementation& impl, const Case& tc) {
  const TensorDesc& desc = tc.desc;
  auto target_of = [&](std::int64_t i) {
    const Coordinates at = coordinates(desc, i);
    return desc.offset(desc.n - 1 - at.n, at.c, at.s);
  };
  same_results(impl, tc, rearranged(tc, desc, target_of), target_of, "after reversing the batch");
}

// NCHW and NHWC hold the same tensor: the results are the same, rearranged.
void layout_equivalence(Implementation& impl, const Case& tc) {
  TensorDesc other = tc.desc;
  other.layout = tc.desc.layout == Layout::nchw ? Layout::nhwc : Layout::nchw;
  if (!impl.supports(other)) throw Unsupported("other layout unsupported");
  auto target_of = [&](std::int64_t i) {
    const Coordinates at = coordinates(tc.desc, i);
    return other.offset(at.n, at.c, at.s);
  };
  same_results(impl, tc, rearranged(tc, other, target_of), target_of,
               std::string("in ") + to_string(other.layout) + " against " + to_string(tc.desc.layout));
}

// An NHWC (N, C, H, W) tensor is the 2-D (N*H*W, C) tensor: same bytes, same results.
void four_d_as_two_d(Implementation& impl, const Case& original) {
  TensorDesc nhwc = original.desc;
  nhwc.layout = Layout::nhwc;
  if (!impl.supports(nhwc)) throw Unsupported("nhwc unsupported");
  auto to_nhwc = [&](std::int64_t i) {
    const Coordinates at = coordinates(original.desc, i);
    return nhwc.offset(at.n, at.c, at.s);
  };
  const Case tc = rearranged(original, nhwc, to_nhwc);
  TensorDesc flat{nhwc.n * nhwc.h * nhwc.w, nhwc.c, 1, 1, Layout::nhwc, nhwc.dtype};
  Case two_d = tc;
  two_d.desc = flat;
  same_results(impl, tc, two_d, [](std::int64_t i) { return i; }, "as a 2-D (N*H*W, C) tensor");
}

// ---- batch renormalization ---------------------------------------------------------------

// rmax = 1, dmax = 0 is batch norm: r = 1, d = 0 exactly, and every output matches.
void renorm_unit_limits_is_batch_norm(Implementation& impl, const Case& original) {
  Case tc = original;
  tc.params.rmax = 1;
  tc.params.dmax = 0;
  const auto bn = run_forward_train(impl, tc, false);
  const auto renorm = run_forward_train(impl, tc, true);
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    if (!std::isfinite(renorm.r[c])) continue;
    if (renorm.r[c] != 1 || renorm.d[c] != 0) {
      fail("rmax = 1, dmax = 0 gave r = " + std::to_string(renorm.r[c]) + ", d = " +
           std::to_string(renorm.d[c]) + " in channel " + std::to_string(c));
    }
  }
  const auto scales = forward_scales(tc);
  const double k = 2 * bound_for(tc);
  expect_close("renorm y against bn y", renorm.y, bn.y, scales.y, k, tc.desc.dtype);
  expect_close("renorm save_invstd against bn", renorm.save_invstd, bn.save_invstd, scales.save_invstd, k, tc.desc.dtype);
  expect_close("renorm running_mean against bn", renorm.running_mean, bn.running_mean, scales.running_mean, k, tc.desc.dtype);
  expect_close("renorm running_var against bn", renorm.running_var, bn.running_var, scales.running_var, k, tc.desc.dtype);
  const auto bn_back = run_backward(impl, tc, false, bn.save_mean, bn.save_invstd);
  const auto renorm_back = run_backward(impl, tc, true, bn.save_mean, bn.save_invstd, renorm.r, renorm.d);
  const auto back_scales = backward_scales(tc, bn.save_mean, bn.save_invstd);
  expect_close("renorm dx against bn dx", renorm_back.dx, bn_back.dx, back_scales.dx, k, tc.desc.dtype);
  expect_close("renorm dgamma against bn dgamma", renorm_back.dgamma, bn_back.dgamma, back_scales.dgamma, k, tc.desc.dtype);
}

// 1/rmax <= r <= rmax and |d| <= dmax, up to the rounding of the limits to the dtype.
void renorm_within_limits(Implementation& impl, const Case& tc) {
  const auto forward = run_forward_train(impl, tc, true);
  const double slack = 1 + 4 * unit_roundoff(tc.desc.dtype);
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    const double r = forward.r[c], d = forward.d[c];
    if (std::isnan(r) || std::isnan(d)) continue;
    if (r * slack < 1 / tc.params.rmax || r > tc.params.rmax * slack || std::fabs(d) > tc.params.dmax * slack) {
      std::ostringstream out;
      out.precision(10);
      out << "channel " << c << ": r = " << r << " outside [1/rmax, rmax] = [" << 1 / tc.params.rmax
          << ", " << tc.params.rmax << "] or d = " << d << " outside [-dmax, dmax], dmax = " << tc.params.dmax;
      fail(out.str());
    }
  }
}

// Renorm's dx is r times batch norm's for the same dy and saved statistics; dbeta is the same
// and dgamma = r dgamma_bn + d dbeta.
void renorm_gradient_is_r_times_batch_norm(Implementation& impl, const Case& tc) {
  const auto forward = run_forward_train(impl, tc, true);
  const auto bn_back = run_backward(impl, tc, false, forward.save_mean, forward.save_invstd);
  const auto renorm_back = run_backward(impl, tc, true, forward.save_mean, forward.save_invstd, forward.r, forward.d);
  std::vector<double> expected_dx(bn_back.dx.size()), expected_dgamma(tc.desc.c);
  for (std::size_t i = 0; i < expected_dx.size(); ++i) {
    expected_dx[i] = bn_back.dx[i] * forward.r[channel_of(tc.desc, static_cast<std::int64_t>(i))];
  }
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    expected_dgamma[c] = forward.r[c] * bn_back.dgamma[c] + forward.d[c] * bn_back.dbeta[c];
  }
  const auto scales = backward_scales(tc, forward.save_mean, forward.save_invstd, forward.r, forward.d);
  const double k = 2 * bound_for(tc);
  expect_close("renorm dx against r * bn dx", renorm_back.dx, expected_dx, scales.dx, k, tc.desc.dtype);
  expect_close("renorm dbeta against bn dbeta", renorm_back.dbeta, bn_back.dbeta, scales.dbeta, k, tc.desc.dtype);
  expect_close("renorm dgamma against r dgamma_bn + d dbeta", renorm_back.dgamma, expected_dgamma,
               scales.dgamma, k, tc.desc.dtype);
}

// ---- robustness ----------------------------------------------------------------------------

// The same call twice gives bitwise the same outputs.
void determinism(Implementation& impl, const Case& tc) {
  for (bool renorm : {false, true}) {
    if (!impl.supports(renorm ? Operation::renorm_forward_train : Operation::bn_forward_train)) continue;
    const std::string op = renorm ? "renorm " : "bn ";
    const auto a = run_forward_train(impl, tc, renorm), b = run_forward_train(impl, tc, renorm);
    expect_identical(op + "y", a.y, b.y);
    expect_identical(op + "save_mean", a.save_mean, b.save_mean);
    expect_identical(op + "save_invstd", a.save_invstd, b.save_invstd);
    expect_identical(op + "running_var", a.running_var, b.running_var);
    if (!impl.supports(renorm ? Operation::renorm_backward : Operation::bn_backward)) continue;
    const auto back_a = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_b = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    expect_identical(op + "dx", back_a.dx, back_b.dx);
    expect_identical(op + "dgamma", back_a.dgamma, back_b.dgamma);
  }
}

// A NaN or infinity in one channel leaves every other channel's outputs as they were.
void non_finite_stays_in_channel(Implementation& impl, const Case& tc) {
  if (tc.desc.c < 2) throw Unsupported("needs two channels");
  const std::int64_t poisoned = static_cast<std::int64_t>(tc.x.size() * 7 % tc.desc.c);
  Case bad = tc;
  const double poison = (tc.x.size() % 2 == 0) ? std::nan("") : INFINITY;
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    if (channel_of(tc.desc, i) == poisoned && i % 3 == 0) {
      bad.x[i] = poison;
      bad.dy[i] = poison;
    }
  }
  bad.running_var[poisoned] = std::nan("");
  auto expect_channels_kept = [&](const std::string& what, const std::vector<double>& clean,
                                  const std::vector<double>& dirty, bool per_element) {
    for (std::size_t i = 0; i < clean.size(); ++i) {
      const auto c = per_element ? channel_of(tc.desc, static_cast<std::int64_t>(i)) : static_cast<std::int64_t>(i);
      if (c == poisoned) continue;
      const bool same = std::memcmp(&clean[i], &dirty[i], sizeof(double)) == 0 ||
                        (std::isfinite(dirty[i]) && std::fabs(clean[i] - dirty[i]) <=
                                                        1e3 * unit_roundoff(tc.desc.dtype) * std::fabs(clean[i]));
      if (!same) {
        std::ostringstream out;
        out << what << " of channel " << c << " changed from " << clean[i] << " to " << dirty[i]
            << " when channel " << poisoned << " held " << poison;
        fail(out.str());
      }
    }
  };
  for (bool renorm : {false, true}) {
    if (!impl.supports(renorm ? Operation::renorm_forward_train : Operation::bn_forward_train)) continue;
    const std::string op = renorm ? "renorm " : "bn ";
    const auto clean = run_forward_train(impl, tc, renorm), dirty = run_forward_train(impl, bad, renorm);
    expect_channels_kept(op + "y", clean.y, dirty.y, true);
    expect_channels_kept(op + "save_mean", clean.save_mean, dirty.save_mean, false);
    expect_channels_kept(op + "save_invstd", clean.save_invstd, dirty.save_invstd, false);
    expect_channels_kept(op + "running_mean", clean.running_mean, dirty.running_mean, false);
    expect_channels_kept(op + "running_var", clean.running_var, dirty.running_var, false);
    if (!impl.supports(renorm ? Operation::renorm_backward : Operation::bn_backward)) continue;
    const auto back_clean = run_backward(impl, tc, renorm, clean.save_mean, clean.save_invstd, clean.r, clean.d);
    const auto back_dirty = run_backward(impl, bad, renorm, dirty.save_mean, dirty.save_invstd, dirty.r, dirty.d);
    expect_channels_kept(op + "dx", back_clean.dx, back_dirty.dx, true);
    expect_channels_kept(op + "dgamma", back_clean.dgamma, back_dirty.dgamma, false);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    Case bad_infer = bad;
    bad_infer.running_var = tc.running_var;
    bad_infer.running_var[poisoned] = std::nan("");
    expect_channels_kept("inference y", run_forward_infer(impl, tc), run_forward_infer(impl, bad_infer), true);
  }
}

// Finite input gives finite output, on every regime the generators make (huge values included).
void finite_output(Implementation& impl, const Case& tc) {
  auto expect_finite = [&](const std::string& what, const std::vector<double>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        fail(what + "[" + std::to_string(i) + "] = " + std::to_string(values[i]) + " from finite input");
      }
    }
  };
  for (bool renorm : {false, true}) {
    if (!impl.supports(renorm ? Operation::renorm_forward_train : Operation::bn_forward_train)) continue;
    const std::string op = renorm ? "renorm " : "bn ";
    const auto forward = run_forward_train(impl, tc, renorm);
    for (const auto& [name, values] : {std::pair{"y", &forward.y}, {"save_mean", &forward.save_mean},
                                       {"save_invstd", &forward.save_invstd}, {"running_mean", &forward.running_mean},
                                       {"running_var", &forward.running_var}, {"r", &forward.r}, {"d", &forward.d}}) {
      expect_finite(op + name, *values);
    }
    if (!impl.supports(renorm ? Operation::renorm_backward : Operation::bn_backward)) continue;
    const auto back = run_backward(impl, tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    expect_finite(op + "dx", back.dx);
    expect_finite(op + "dgamma", back.dgamma);
    expect_finite(op + "dbeta", back.dbeta);
  }
  if (impl.supports(Operation::bn_forward_infer)) expect_finite("inference y", run_forward_infer(impl, tc));
}

// Every bad input of SPEC section 4 is refused (with bnh::Error; the built-ins' wording is
// checked by the unit tests, a plugin words its own). This is the strict form; the runner
// reports a plugin's silent acceptance separately unless asked to be strict.
void bad_input_refused(Implementation& impl, const Case&) {
  const std::string failure = input_validation_failure(check_input_validation(impl), true);
  if (!failure.empty()) fail(failure);
}

const std::vector<Operation> forward_ops{Operation::bn_forward_train};
const std::vector<Operation> bn_ops{Operation::bn_forward_train, Operation::bn_backward};
const std::vector<Operation> renorm_ops{Operation::renorm_forward_train, Operation::renorm_backward,
                                        Operation::bn_backward};

}  // namespace

void note_bound_fraction(double fraction) {
  if (!(fraction <= worst_bound_fraction)) worst_bound_fraction = fraction;  // NaN wins too
}

double take_worst_bound_fraction() {
  const double worst = worst_bound_fraction;
  worst_bound_fraction = 0;
  return worst;
}

const std::vector<Property>& property_catalogue() {
  static const std::vector<Property> catalogue{
      {"agreement_bn_forward_train", "wrong statistics, normalization or running update in training",
       {Operation::bn_forward_train}, agrees_with_reference<Operation::bn_forward_train>},
      {"agreement_bn_forward_infer", "wrong inference formula",
       {Operation::bn_forward_infer}, agrees_with_reference<Operation::bn_forward_infer>},
      {"agreement_bn_backward", "wrong gradient formula",
       {Operation::bn_backward}, agrees_with_reference<Operation::bn_backward>},
      {"agreement_renorm_forward_train", "wrong r, d, clipping or running statistics in renorm",
       {Operation::renorm_forward_train}, agrees_with_reference<Operation::renorm_forward_train>},
      {"agreement_renorm_backward", "gradient through r or d, missing r",
       {Operation::renorm_backward}, agrees_with_reference<Operation::renorm_backward>},
      {"normalized_output", "wrong variance (unbiased, eps misplaced), missing centring",
       forward_ops, normalized_output},
      {"shift_invariance", "mean used where a centred value belongs", bn_ops, shift_invariance},
      {"scale_invariance", "eps outside the square root, unnormalized terms", bn_ops, scale_invariance},
      {"gradient_sums_vanish", "dx missing its mean or its xhat term", bn_ops, gradient_sums_vanish},
      {"parameter_gradients", "dgamma or dbeta not the sums they are", bn_ops, parameter_gradients},
      {"backward_linear_in_dy", "state or nonlinearity in the backward", bn_ops, backward_linear_in_dy},
      {"gradient_matches_finite_differences", "a backward that is not the forward's derivative",
       bn_ops, gradient_matches_finite_differences<GradientMode::bn>},
      {"renorm_gradient_matches_finite_differences", "a renorm backward that is not the derivative with r, d held",
       {Operation::renorm_forward_train, Operation::bn_forward_train, Operation::renorm_backward},
       gradient_matches_finite_differences<GradientMode::renorm>},
      {"batch_permutation_equivariance", "samples treated unequally, batch stride bugs",
       forward_ops, batch_permutation_equivariance},
      {"layout_equivalence", "stride bugs in one layout", forward_ops, layout_equivalence},
      {"four_d_as_two_d", "spatial dimensions handled unlike the batch", forward_ops, four_d_as_two_d},
      {"inference_matches_training", "inference and training disagree on the formula",
       {Operation::bn_forward_train, Operation::bn_forward_infer}, inference_matches_training},
      {"running_statistics_update", "momentum reversed, biased running variance",
       forward_ops, running_statistics_update},
      {"renorm_unit_limits_is_batch_norm", "renorm not reducing to batch norm",
       {Operation::renorm_forward_train, Operation::bn_forward_train, Operation::renorm_backward,
        Operation::bn_backward}, renorm_unit_limits_is_batch_norm},
      {"renorm_within_limits", "a missing or one-sided clamp", {Operation::renorm_forward_train},
       renorm_within_limits},
      {"renorm_gradient_is_r_times_batch_norm", "gradient flowing through r, r missing",
       renorm_ops, renorm_gradient_is_r_times_batch_norm},
      {"determinism", "race conditions, order-dependent merges, hidden state", forward_ops, determinism},
      {"non_finite_stays_in_channel", "a NaN or Inf leaking into other channels", forward_ops,
       non_finite_stays_in_channel},
      {"finite_output", "overflow in sums of squares, division by zero", forward_ops, finite_output},
      {"bad_input_refused", "bad input accepted silently", {}, bad_input_refused, false},
  };
  return catalogue;
}

const Property& find_property(const std::string& name) {
  for (const auto& property : property_catalogue()) {
    if (name == property.name) return property;
  }
  std::string known;
  for (const auto& property : property_catalogue()) known += (known.empty() ? "" : ", ") + std::string(property.name);
  throw Error("unknown property '" + name + "' (known: " + known + ")");
}

}  // namespace bnh
