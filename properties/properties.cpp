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

// Properties that check batch norm and renorm alike take the operations one at a time.
Operation forward_op(bool renorm) { return renorm ? Operation::renorm_forward_train : Operation::bn_forward_train; }
Operation backward_op(bool renorm) { return renorm ? Operation::renorm_backward : Operation::bn_backward; }
std::string label(bool renorm) { return renorm ? "renorm " : "bn "; }

// A property that runs on any of its operations and found none of them to check.
[[noreturn]] void nothing_to_check() { throw Unsupported("none of the operations it checks is provided"); }

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

// gamma = 1, beta = 0: every channel of y has mean 0 and variance var / (var + eps). Renorm runs
// with rmax = 1, dmax = 0, where r = 1 and d = 0 make it batch norm.
void normalized_output(Implementation& impl, const Case& original) {
  Case tc = original;
  std::fill(tc.gamma.begin(), tc.gamma.end(), 1.0);
  std::fill(tc.beta.begin(), tc.beta.end(), 0.0);
  tc.params.rmax = 1;
  tc.params.dmax = 0;
  std::vector<double> mean, var;
  reference_statistics(tc, mean, var);
  const auto scales = forward_scales(tc).y;
  const double k = bound_for(tc), u = unit_roundoff(tc.desc.dtype);
  const double count = static_cast<double>(tc.desc.per_channel());
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm))) continue;
    checked = true;
    const auto y = run_forward_train(impl, tc, renorm, false).y;
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
        out << label(renorm) << "channel " << c << ": mean of y is " << y_mean[c]
            << ", expected 0 within " << allowance_mean[c];
        fail(out.str());
      }
      if (std::fabs(y_var - expected_var) > var_allowance) {
        std::ostringstream out;
        out.precision(10);
        out << label(renorm) << "channel " << c << ": variance of y is " << y_var
            << ", expected var/(var+eps) = " << expected_var << " within " << var_allowance;
        fail(out.str());
      }
    }
  }
  if (!checked) nothing_to_check();
}

// Adding a constant to a channel (and to its running mean, which renorm's d is taken from)
// changes neither y nor dx, dgamma.
void shift_invariance(Implementation& impl, const Case& tc) {
  Case shifted = tc;
  std::vector<double> mean, var;
  reference_statistics(tc, mean, var);
  std::vector<double> shift(tc.desc.c);
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    shift[c] = std::ldexp(3.0, std::ilogb(std::sqrt(var[c] + tc.params.eps)) + 1);
    shifted.running_mean[c] = representable(tc.running_mean[c] + shift[c], tc.desc.dtype);
  }
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    shifted.x[i] = representable(tc.x[i] + shift[channel_of(tc.desc, i)], tc.desc.dtype);
  }
  const double k = bound_for(tc);
  const DType dtype = tc.desc.dtype;
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm))) continue;
    checked = true;
    const auto before = run_forward_train(impl, tc, renorm, false);
    const auto after = run_forward_train(impl, shifted, renorm, false);
    expect_close(label(renorm) + "y after a shift", after.y, before.y,
                 sum(forward_scales(tc, before.r, before.d).y, forward_scales(shifted, after.r, after.d).y), k, dtype);
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_before = run_backward(impl, tc, renorm, before.save_mean, before.save_invstd, before.r, before.d);
    const auto back_after = run_backward(impl, shifted, renorm, after.save_mean, after.save_invstd, after.r, after.d);
    const auto scales_before = backward_scales(tc, before.save_mean, before.save_invstd, before.r, before.d);
    const auto scales_after = backward_scales(shifted, after.save_mean, after.save_invstd, after.r, after.d);
    expect_close(label(renorm) + "dx after a shift", back_after.dx, back_before.dx,
                 sum(scales_before.dx, scales_after.dx), k, dtype);
    expect_close(label(renorm) + "dgamma after a shift", back_after.dgamma, back_before.dgamma,
                 sum(scales_before.dgamma, scales_after.dgamma), k, dtype);
  }
  if (!checked) nothing_to_check();
}

// Scaling x by a > 0 and eps by a^2 (and the running statistics alike, for renorm's r and d)
// leaves y unchanged and scales dx by 1/a. a = 4 keeps every scaled input exact. The scaled
// squares are 16 times larger: a sum of squares near overflow overflows, and the message says
// so, since its y (= beta) could otherwise pass for a misplaced eps.
void scale_invariance(Implementation& impl, const Case& tc) {
  const double a = 4;
  Case big = tc;
  for (auto& v : big.x) v *= a;
  for (auto& v : big.running_mean) v *= a;
  for (auto& v : big.running_var) v *= a * a;
  big.params.eps = tc.params.eps * a * a;
  const DType dtype = tc.desc.dtype;
  auto representable_all = [&](const std::vector<double>& values) {
    return std::all_of(values.begin(), values.end(), [&](double v) { return std::isfinite(representable(v, dtype)); });
  };
  if (!representable_all(big.x)) throw Unsupported("scaling overflows");
  // Renorm reads the running statistics, whose scaled variance may overflow where x does not.
  const bool running_representable = representable_all(big.running_mean) && representable_all(big.running_var);
  const double k = bound_for(tc);
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm)) || (renorm && !running_representable)) continue;
    checked = true;
    const auto before = run_forward_train(impl, tc, renorm, false);
    const auto after = run_forward_train(impl, big, renorm, false);
    for (std::int64_t c = 0; c < tc.desc.c; ++c) {
      const bool was_finite = std::isfinite(before.save_invstd[c]) && before.save_invstd[c] != 0;
      if (was_finite && (after.save_invstd[c] == 0 || !std::isfinite(after.save_invstd[c]))) {
        std::ostringstream out;
        out << label(renorm) << "channel " << c << ": save_invstd " << before.save_invstd[c]
            << " became " << after.save_invstd[c]
            << " when x was scaled by 4: the sum of squares overflowed (y = beta)";
        fail(out.str());
      }
    }
    expect_close(label(renorm) + "y after scaling x by 4 and eps by 16", after.y, before.y,
                 forward_scales(tc, before.r, before.d).y, 2 * k, dtype);
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_before = run_backward(impl, tc, renorm, before.save_mean, before.save_invstd, before.r, before.d);
    const auto back_after = run_backward(impl, big, renorm, after.save_mean, after.save_invstd, after.r, after.d);
    const auto scales = backward_scales(tc, before.save_mean, before.save_invstd, before.r, before.d);
    expect_close(label(renorm) + "4 dx after scaling x by 4", scaled(back_after.dx, a), back_before.dx, scales.dx, 2 * k, dtype);
    expect_close(label(renorm) + "dgamma after scaling x by 4", back_after.dgamma, back_before.dgamma, scales.dgamma, 2 * k, dtype);
    expect_close(label(renorm) + "dbeta after scaling x by 4", back_after.dbeta, back_before.dbeta, scales.dbeta, 2 * k, dtype);
  }
  if (!checked) nothing_to_check();
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
  if (!impl.supports(Operation::bn_forward_train) && !impl.supports(Operation::renorm_forward_train)) {
    nothing_to_check();
  }
  std::vector<double> mean, var;
  reference_statistics(original, mean, var);
  const double count = static_cast<double>(original.desc.per_channel());
  std::vector<double> unbiased(var.size());
  for (std::size_t c = 0; c < var.size(); ++c) unbiased[c] = var[c] * count / (count - 1);
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm))) continue;
    Case tc = original;
    tc.params.momentum = 0;
    const auto kept = run_forward_train(impl, tc, renorm);
    expect_identical(label(renorm) + "running_mean with momentum 0", kept.running_mean, tc.running_mean);
    expect_identical(label(renorm) + "running_var with momentum 0", kept.running_var, tc.running_var);

    tc.params.momentum = 1;
    const auto replaced = run_forward_train(impl, tc, renorm);
    const auto scales = forward_scales(tc);
    const double k = bound_for(tc);
    expect_close(label(renorm) + "running_mean with momentum 1 against the batch mean",
                 replaced.running_mean, mean, scales.running_mean, k, tc.desc.dtype);
    expect_close(label(renorm) + "running_var with momentum 1 against the unbiased batch variance",
                 replaced.running_var, unbiased, scales.running_var, k, tc.desc.dtype);
  }
}

// ---- backward ------------------------------------------------------------------------------

// Per channel, sum dx = 0, and sum dx * xhat = gamma r invstd dgamma_bn (1 - mean(xhat^2)):
// dx is orthogonal to the constant (and, but for eps, to xhat), which normalization removes.
void gradient_sums_vanish(Implementation& impl, const Case& tc) {
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm)) || !impl.supports(backward_op(renorm))) continue;
    checked = true;
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
  if (!checked) nothing_to_check();
}

// dbeta = sum dy and dgamma = sum dy * xhat (renorm: r sum dy * xhat + d sum dy), from the
// inputs the backward received.
void parameter_gradients(Implementation& impl, const Case& tc) {
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm)) || !impl.supports(backward_op(renorm))) continue;
    checked = true;
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
    const double k = bound_for(tc);
    expect_close(label(renorm) + "dbeta against sum dy", back.dbeta, dbeta, scales.dbeta, k, tc.desc.dtype);
    expect_close(label(renorm) + (renorm ? "dgamma against r sum dy * xhat + d sum dy" : "dgamma against sum dy * xhat"),
                 back.dgamma, dgamma, scales.dgamma, k, tc.desc.dtype);
  }
  if (!checked) nothing_to_check();
}

// The backward is linear in dy: backward(2 dy + dy') = 2 backward(dy) + backward(dy'), with dy'
// the same values in reverse order.
void backward_linear_in_dy(Implementation& impl, const Case& tc) {
  Case reversed = tc, combined = tc;
  std::reverse(reversed.dy.begin(), reversed.dy.end());
  for (std::size_t i = 0; i < tc.dy.size(); ++i) {
    combined.dy[i] = representable(2 * tc.dy[i] + reversed.dy[i], tc.desc.dtype);
  }
  const double k = bound_for(tc);
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm)) || !impl.supports(backward_op(renorm))) continue;
    checked = true;
    const auto f = run_forward_train(impl, tc, renorm, false);
    const auto first = run_backward(impl, tc, renorm, f.save_mean, f.save_invstd, f.r, f.d);
    const auto second = run_backward(impl, reversed, renorm, f.save_mean, f.save_invstd, f.r, f.d);
    const auto both = run_backward(impl, combined, renorm, f.save_mean, f.save_invstd, f.r, f.d);
    const auto s1 = backward_scales(tc, f.save_mean, f.save_invstd, f.r, f.d);
    const auto s2 = backward_scales(reversed, f.save_mean, f.save_invstd, f.r, f.d);
    const auto s3 = backward_scales(combined, f.save_mean, f.save_invstd, f.r, f.d);
    expect_close(label(renorm) + "dx of 2 dy + dy'", both.dx, sum(scaled(first.dx, 2), second.dx),
                 sum(sum(scaled(s1.dx, 2), s2.dx), s3.dx), k, tc.desc.dtype);
    expect_close(label(renorm) + "dgamma of 2 dy + dy'", both.dgamma, sum(scaled(first.dgamma, 2), second.dgamma),
                 sum(sum(scaled(s1.dgamma, 2), s2.dgamma), s3.dgamma), k, tc.desc.dtype);
  }
  if (!checked) nothing_to_check();
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
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm))) continue;
    checked = true;
    const std::string op = label(renorm);
    const auto a = run_forward_train(impl, tc, renorm);
    const auto b = run_forward_train(impl, other, renorm);
    const auto scales = forward_scales(tc, a.r, a.d);
    expect_close(op + "y " + how, b.y, moved(a.y, target_of), moved(scales.y, target_of), k, dtype);
    expect_close(op + "save_mean " + how, b.save_mean, a.save_mean, scales.save_mean, k, dtype);
    expect_close(op + "save_invstd " + how, b.save_invstd, a.save_invstd, scales.save_invstd, k, dtype);
    expect_close(op + "running_mean " + how, b.running_mean, a.running_mean, scales.running_mean, k, dtype);
    expect_close(op + "running_var " + how, b.running_var, a.running_var, scales.running_var, k, dtype);
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_a = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_b = run_backward(impl, other, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_scales = backward_scales(tc, a.save_mean, a.save_invstd, a.r, a.d);
    expect_close(op + "dx " + how, back_b.dx, moved(back_a.dx, target_of), moved(back_scales.dx, target_of), k, dtype);
    expect_close(op + "dgamma " + how, back_b.dgamma, back_a.dgamma, back_scales.dgamma, k, dtype);
    expect_close(op + "dbeta " + how, back_b.dbeta, back_a.dbeta, back_scales.dbeta, k, dtype);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    checked = true;
    const auto a = run_forward_infer(impl, tc);
    const auto b = run_forward_infer(impl, other);
    expect_close("inference y " + how, b, moved(a, target_of), moved(inference_scales(tc), target_of),
                 2 * rounding_bound, dtype);
  }
  if (!checked) nothing_to_check();
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
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm))) continue;
    checked = true;
    const std::string op = label(renorm);
    const auto a = run_forward_train(impl, tc, renorm), b = run_forward_train(impl, tc, renorm);
    expect_identical(op + "y", a.y, b.y);
    expect_identical(op + "save_mean", a.save_mean, b.save_mean);
    expect_identical(op + "save_invstd", a.save_invstd, b.save_invstd);
    expect_identical(op + "running_mean", a.running_mean, b.running_mean);
    expect_identical(op + "running_var", a.running_var, b.running_var);
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_a = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_b = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    expect_identical(op + "dx", back_a.dx, back_b.dx);
    expect_identical(op + "dgamma", back_a.dgamma, back_b.dgamma);
    expect_identical(op + "dbeta", back_a.dbeta, back_b.dbeta);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    checked = true;
    expect_identical("inference y", run_forward_infer(impl, tc), run_forward_infer(impl, tc));
  }
  if (!checked) nothing_to_check();
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
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm))) continue;
    checked = true;
    const std::string op = label(renorm);
    const auto clean = run_forward_train(impl, tc, renorm), dirty = run_forward_train(impl, bad, renorm);
    expect_channels_kept(op + "y", clean.y, dirty.y, true);
    expect_channels_kept(op + "save_mean", clean.save_mean, dirty.save_mean, false);
    expect_channels_kept(op + "save_invstd", clean.save_invstd, dirty.save_invstd, false);
    expect_channels_kept(op + "running_mean", clean.running_mean, dirty.running_mean, false);
    expect_channels_kept(op + "running_var", clean.running_var, dirty.running_var, false);
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_clean = run_backward(impl, tc, renorm, clean.save_mean, clean.save_invstd, clean.r, clean.d);
    const auto back_dirty = run_backward(impl, bad, renorm, dirty.save_mean, dirty.save_invstd, dirty.r, dirty.d);
    expect_channels_kept(op + "dx", back_clean.dx, back_dirty.dx, true);
    expect_channels_kept(op + "dgamma", back_clean.dgamma, back_dirty.dgamma, false);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    checked = true;
    expect_channels_kept("inference y", run_forward_infer(impl, tc), run_forward_infer(impl, bad), true);
  }
  if (!checked) nothing_to_check();
}

// Finite input gives finite output, on every regime the generators make (huge values included).
// The output named tells the cause: running_var, save_invstd or r infinite or zero where a sum
// of squares overflowed; y or dx NaN where an infinity met a zero.
void finite_output(Implementation& impl, const Case& tc) {
  auto expect_finite = [&](const std::string& what, const std::vector<double>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        fail(what + "[" + std::to_string(i) + "] = " + std::to_string(values[i]) + " from finite input");
      }
    }
  };
  bool checked = false;
  for (bool renorm : {false, true}) {
    if (!impl.supports(forward_op(renorm))) continue;
    checked = true;
    const std::string op = label(renorm);
    const auto forward = run_forward_train(impl, tc, renorm);
    for (const auto& [name, values] : {std::pair{"y", &forward.y}, {"save_mean", &forward.save_mean},
                                       {"save_invstd", &forward.save_invstd}, {"running_mean", &forward.running_mean},
                                       {"running_var", &forward.running_var}, {"r", &forward.r}, {"d", &forward.d}}) {
      expect_finite(op + name, *values);
    }
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back = run_backward(impl, tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    expect_finite(op + "dx", back.dx);
    expect_finite(op + "dgamma", back.dgamma);
    expect_finite(op + "dbeta", back.dbeta);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    checked = true;
    expect_finite("inference y", run_forward_infer(impl, tc));
  }
  if (!checked) nothing_to_check();
}

// Every bad input of SPEC section 4 is refused (with bnh::Error; the built-ins' wording is
// checked by the unit tests, a plugin words its own). This is the strict form; the runner
// reports a plugin's silent acceptance separately unless asked to be strict.
void bad_input_refused(Implementation& impl, const Case&) {
  const std::string failure = input_validation_failure(check_input_validation(impl), true);
  if (!failure.empty()) fail(failure);
}

const std::vector<Operation> bn_ops{Operation::bn_forward_train, Operation::bn_backward};
const std::vector<Operation> renorm_ops{Operation::renorm_forward_train, Operation::renorm_backward,
                                        Operation::bn_backward};
// For the properties that check whichever of these the implementation has.
const std::vector<Operation> training_forwards{Operation::bn_forward_train, Operation::renorm_forward_train};
const std::vector<Operation> forwards{Operation::bn_forward_train, Operation::renorm_forward_train,
                                      Operation::bn_forward_infer};
const std::vector<Operation> backwards{Operation::bn_backward, Operation::renorm_backward};  // each with its forward

// A catalogue entry's fields after its check, spelled out.
constexpr bool generated = true;
constexpr bool needs_all = false, needs_any = true;    // of its operations
constexpr int realistic = 1, realistic_twice = 2, small_only = 0;  // per dtype and layout

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
      // Twice: the cheapest check against the reference, where statistics that lose accuracy at
      // large M show (the same cases are drawn for every property).
      {"agreement_bn_forward_train",
       "wrong statistics, normalization or running update in training; sums that lose accuracy "
       "as M grows (f32 accumulators, one-pass variance) or overflow (f32 squares): the output "
       "named says which sum",
       {Operation::bn_forward_train}, agrees_with_reference<Operation::bn_forward_train>,
       generated, needs_all, realistic_twice},
      {"agreement_bn_forward_infer",
       "wrong inference formula (batch statistics, eps misplaced); precision lost in (x - mean) * invstd",
       {Operation::bn_forward_infer}, agrees_with_reference<Operation::bn_forward_infer>,
       generated, needs_all, realistic},
      {"agreement_bn_backward",
       "wrong gradient formula (a missing term, gamma, M - 1 for M); gradient sums that lose "
       "accuracy as M grows or overflow",
       {Operation::bn_backward}, agrees_with_reference<Operation::bn_backward>, generated, needs_all, realistic},
      {"agreement_renorm_forward_train",
       "wrong r, d, clipping, or running update (or its order) in renorm; statistics that lose "
       "accuracy as M grows or overflow",
       {Operation::renorm_forward_train}, agrees_with_reference<Operation::renorm_forward_train>,
       generated, needs_all, realistic},
      {"agreement_renorm_backward",
       "gradient through r or d, r missing; gradient sums that lose accuracy as M grows or overflow",
       {Operation::renorm_backward}, agrees_with_reference<Operation::renorm_backward>,
       generated, needs_all, realistic},
      {"normalized_output",
       "wrong variance (unbiased, eps misplaced), missing centring, in batch norm or renorm; "
       "statistics that lose accuracy as M grows",
       training_forwards, normalized_output, generated, needs_any, small_only},
      {"shift_invariance",
       "the mean used where a centred value belongs ((xhat - mu) formulas); statistics that lose "
       "accuracy under a large mean (one-pass variance, f32 sums)",
       training_forwards, shift_invariance, generated, needs_any, small_only},
      {"scale_invariance",
       "eps outside the square root, terms left unnormalized; a sum of squares that overflows at "
       "16 times the squares (the message then says it overflowed)",
       training_forwards, scale_invariance, generated, needs_any, small_only},
      {"gradient_sums_vanish", "dx missing its mean or its xhat term, in batch norm or renorm",
       backwards, gradient_sums_vanish, generated, needs_any, small_only},
      {"parameter_gradients",
       "dgamma or dbeta not the sums they are (renorm: the r and d terms); those sums losing "
       "accuracy as M grows",
       backwards, parameter_gradients, generated, needs_any, small_only},
      {"backward_linear_in_dy", "state, caching or a nonlinearity in the backward", backwards,
       backward_linear_in_dy, generated, needs_any, small_only},
      {"gradient_matches_finite_differences", "a backward that is not the forward's derivative",
       bn_ops, gradient_matches_finite_differences<GradientMode::bn>},
      {"renorm_gradient_matches_finite_differences", "a renorm backward that is not the derivative with r, d held",
       {Operation::renorm_forward_train, Operation::bn_forward_train, Operation::renorm_backward},
       gradient_matches_finite_differences<GradientMode::renorm>},
      {"batch_permutation_equivariance", "samples treated unequally, batch stride bugs", forwards,
       batch_permutation_equivariance, generated, needs_any, small_only},
      {"layout_equivalence", "stride or channel-blocking bugs in one layout", forwards,
       layout_equivalence, generated, needs_any, realistic},
      {"four_d_as_two_d", "spatial dimensions handled unlike the batch", forwards, four_d_as_two_d,
       generated, needs_any, small_only},
      {"inference_matches_training",
       "inference and training disagree on the formula; a training sum of squares that overflows "
       "(training y = beta where inference is finite)",
       {Operation::bn_forward_train, Operation::bn_forward_infer}, inference_matches_training,
       generated, needs_all, small_only},
      {"running_statistics_update",
       "momentum reversed, biased running variance, running statistics changed at momentum 0, in "
       "batch norm or renorm",
       training_forwards, running_statistics_update, generated, needs_any, small_only},
      {"renorm_unit_limits_is_batch_norm", "renorm not reducing to batch norm",
       {Operation::renorm_forward_train, Operation::bn_forward_train, Operation::renorm_backward,
        Operation::bn_backward}, renorm_unit_limits_is_batch_norm, generated, needs_all, small_only},
      {"renorm_within_limits", "a missing or one-sided clamp of r or d", {Operation::renorm_forward_train},
       renorm_within_limits, generated, needs_all, small_only},
      {"renorm_gradient_is_r_times_batch_norm", "gradient flowing through r, r missing",
       renorm_ops, renorm_gradient_is_r_times_batch_norm, generated, needs_all, small_only},
      {"determinism", "race conditions, order-dependent merges, hidden state", forwards, determinism,
       generated, needs_any, realistic},
      {"non_finite_stays_in_channel",
       "a NaN or Inf leaking into other channels (an accumulator shared across channels, a reset "
       "by multiplying by 0)",
       forwards, non_finite_stays_in_channel, generated, needs_any, realistic},
      {"finite_output",
       "overflow in a sum of squares (running_var or r infinite) or of x (save_mean), division by "
       "zero, an infinity times 0 (y or dx NaN)",
       forwards, finite_output, generated, needs_any, small_only},
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
