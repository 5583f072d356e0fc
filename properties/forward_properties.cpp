// Properties of the training and inference forward: what normalization makes true of y and of
// the running statistics.
#include "properties/property_checks.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
#include "properties/tolerance.hpp"

namespace bnh::detail {

// gamma = 1, beta = 0: every channel of y has mean 0 and variance var / (var + eps). Renorm runs
// with rmax = 1, dmax = 0, where r = 1 and d = 0 make it batch norm.
BoundFraction normalized_output(Implementation& impl, const Case& original) {
  Case tc = original;
  std::fill(tc.gamma.begin(), tc.gamma.end(), 1.0);
  std::fill(tc.beta.begin(), tc.beta.end(), 0.0);
  tc.params.rmax = 1;
  tc.params.dmax = 0;
  std::vector<double> mean, var;
  reference_statistics(tc, mean, var);
  const auto scales = forward_scales(tc).y;
  const Judgement j = judge(tc, Output::y);  // in pure mode, y may come from rounded statistics
  const double count = static_cast<double>(tc.desc.per_channel());
  for (bool renorm : provided_normalizations(impl, false)) {
    const auto y = run_forward_train(impl, tc, renorm, false).y;
    std::vector<double> y_mean(tc.desc.c, 0), y_square(tc.desc.c, 0), allowance_mean(tc.desc.c, 0),
        allowance_square(tc.desc.c, 0);
    for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
      const auto c = channel_of(tc.desc, i);
      y_mean[c] += y[i] / count;
      y_square[c] += y[i] * y[i] / count;
      allowance_mean[c] += j.allowance(scales[i]) / count;
      allowance_square[c] += 2 * std::fabs(y[i]) * j.allowance(scales[i]) / count;
    }
    for (std::int64_t c = 0; c < tc.desc.c; ++c) {
      if (!std::isfinite(y_mean[c])) continue;  // non-finite data is its own property
      const double expected_var = var[c] / (var[c] + tc.params.eps);
      const double y_var = y_square[c] - y_mean[c] * y_mean[c];
      // The expected variance itself carries the rounding of var: a relative u * kappa.
      const double var_allowance = allowance_square[c] + j.allowance(expected_var * scales[0]) + 1e-300;
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
  return {};
}

// `value` and `value + shift` both held exactly by `dtype`: value itself, or the rounding of
// value + shift moved back (a few units of its last place away). None when neither is.
std::optional<double> exactly_shiftable(double value, double shift, DType dtype) {
  auto exact = [&](double v) { return round_to_dtype(v, dtype) == v && round_to_dtype(v + shift, dtype) == v + shift; };
  if (!std::isfinite(value) || exact(value)) return value;
  const double moved = round_to_dtype(value + shift, dtype) - shift;
  if (exact(moved)) return moved;
  return std::nullopt;
}

// Adding a constant to a channel (and to its running mean, which renorm's d is taken from)
// changes neither y nor dx, dgamma. The shift is exact: where x + shift does not fit the dtype
// (bf16's 8 bits), x is first moved by the rounding, and both sides run on the moved data.
BoundFraction shift_invariance(Implementation& impl, const Case& original) {
  BoundFraction worst;
  Case tc = original;
  std::vector<double> mean, var;
  reference_statistics(tc, mean, var);
  std::vector<double> shift(tc.desc.c);
  const DType data = tc.desc.dtype, stats = tc.desc.stats_dtype();
  auto shiftable = [&](double value, double by, DType dtype) {
    const auto moved = exactly_shiftable(value, by, dtype);
    if (!moved) throw Unsupported("no exact shift of " + std::to_string(value) + " in " + to_string(dtype));
    return *moved;
  };
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    shift[c] = std::ldexp(3.0, std::ilogb(std::sqrt(var[c] + tc.params.eps)) + 1);
    tc.running_mean[c] = shiftable(tc.running_mean[c], shift[c], stats);
  }
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) tc.x[i] = shiftable(tc.x[i], shift[channel_of(tc.desc, i)], data);
  Case shifted = tc;
  for (std::int64_t c = 0; c < tc.desc.c; ++c) shifted.running_mean[c] += shift[c];
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) shifted.x[i] += shift[channel_of(tc.desc, i)];
  for (bool renorm : provided_normalizations(impl, false)) {
    const auto before = run_forward_train(impl, tc, renorm, false);
    const auto after = run_forward_train(impl, shifted, renorm, false);
    worst.note(expect_close(label(renorm) + "y after a shift", after.y, before.y,
                            sum(forward_scales(tc, before.r, before.d).y,
                                forward_scales(shifted, after.r, after.d).y), judge(tc, Output::y)));
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_before = run_backward(impl, tc, renorm, before.save_mean, before.save_invstd, before.r, before.d);
    const auto back_after = run_backward(impl, shifted, renorm, after.save_mean, after.save_invstd, after.r, after.d);
    const auto scales_before = backward_scales(tc, before.save_mean, before.save_invstd, before.r, before.d);
    const auto scales_after = backward_scales(shifted, after.save_mean, after.save_invstd, after.r, after.d);
    worst.note(expect_close(label(renorm) + "dx after a shift", back_after.dx, back_before.dx,
                            sum(scales_before.dx, scales_after.dx), judge(tc, Output::dx)));
    worst.note(expect_close(label(renorm) + "dgamma after a shift", back_after.dgamma, back_before.dgamma,
                            sum(scales_before.dgamma, scales_after.dgamma), judge(tc, Output::dgamma)));
  }
  return worst;
}

// Scaling x by a > 0 and eps by a^2 (and the running statistics alike, for renorm's r and d)
// leaves y unchanged and scales dx by 1/a. a = 4 keeps every scaled input exact. The scaled
// squares are 16 times larger: a sum of squares near overflow overflows, and the message says
// so, since its y (= beta) could otherwise pass for a misplaced eps.
BoundFraction scale_invariance(Implementation& impl, const Case& tc) {
  BoundFraction worst;
  const double a = 4;
  Case big = tc;
  for (auto& v : big.x) v *= a;
  for (auto& v : big.running_mean) v *= a;
  for (auto& v : big.running_var) v *= a * a;
  big.params.eps = tc.params.eps * a * a;
  auto representable_all = [&](const std::vector<double>& values, DType dtype) {
    return std::all_of(values.begin(), values.end(), [&](double v) { return std::isfinite(round_to_dtype(v, dtype)); });
  };
  if (!representable_all(big.x, tc.desc.dtype)) throw Unsupported("scaling x by 4 overflows its dtype");
  // Renorm reads the running statistics, whose scaled variance may overflow where x does not.
  const DType stats = tc.desc.stats_dtype();
  const bool running_representable =
      representable_all(big.running_mean, stats) && representable_all(big.running_var, stats);
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
    worst.note(expect_close(label(renorm) + "y after scaling x by 4 and eps by 16", after.y, before.y,
                            forward_scales(tc, before.r, before.d).y, judge(tc, Output::y), 2));
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_before = run_backward(impl, tc, renorm, before.save_mean, before.save_invstd, before.r, before.d);
    const auto back_after = run_backward(impl, big, renorm, after.save_mean, after.save_invstd, after.r, after.d);
    const auto scales = backward_scales(tc, before.save_mean, before.save_invstd, before.r, before.d);
    worst.note(expect_close(label(renorm) + "4 dx after scaling x by 4", scaled(back_after.dx, a),
                            back_before.dx, scales.dx, judge(tc, Output::dx), 2));
    worst.note(expect_close(label(renorm) + "dgamma after scaling x by 4", back_after.dgamma,
                            back_before.dgamma, scales.dgamma, judge(tc, Output::dgamma), 2));
    worst.note(expect_close(label(renorm) + "dbeta after scaling x by 4", back_after.dbeta,
                            back_before.dbeta, scales.dbeta, judge(tc, Output::dbeta), 2));
  }
  if (!checked) nothing_to_check();
  return worst;
}

// Inference with the batch's own statistics as running statistics (biased variance, rounded to
// the statistics dtype as its buffers hold them) is the training forward. In pure mode the
// rounding of those statistics moves inference's y as much as a training forward that uses its
// rounded statistics: the judgement of y allows it.
BoundFraction inference_matches_training(Implementation& impl, const Case& original) {
  BoundFraction worst;
  Case tc = original;
  reference_statistics(original, tc.running_mean, tc.running_var);
  tc.running_mean = rounded(tc.running_mean, tc.desc.stats_dtype());
  tc.running_var = rounded(tc.running_var, tc.desc.stats_dtype());
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    if (std::isinf(tc.running_var[c])) {  // f16 statistics of data near f16's range
      throw Unsupported(std::string("the batch variance overflows the statistics dtype ") +
                        to_string(tc.desc.stats_dtype()));
    }
  }
  const auto train = run_forward_train(impl, tc, false, false).y;
  const auto infer = run_forward_infer(impl, tc);
  worst.note(expect_close("inference y against training y", infer, train,
                          sum(forward_scales(tc).y, inference_scales(tc)), judge(tc, Output::y)));
  return worst;
}

// momentum = 0 leaves the running statistics untouched; momentum = 1 replaces them by the batch
// mean and the unbiased batch variance.
BoundFraction running_statistics_update(Implementation& impl, const Case& original) {
  BoundFraction worst;
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
    // As the buffers of the statistics dtype hold them.
    const DType stats = tc.desc.stats_dtype();
    expect_identical(label(renorm) + "running_mean with momentum 0", kept.running_mean, rounded(tc.running_mean, stats));
    expect_identical(label(renorm) + "running_var with momentum 0", kept.running_var, rounded(tc.running_var, stats));

    tc.params.momentum = 1;
    const auto replaced = run_forward_train(impl, tc, renorm);
    const auto scales = forward_scales(tc);
    worst.note(expect_close(label(renorm) + "running_mean with momentum 1 against the batch mean",
                            replaced.running_mean, mean, scales.running_mean, judge(tc, Output::running_mean)));
    worst.note(expect_close(label(renorm) + "running_var with momentum 1 against the unbiased batch variance",
                            replaced.running_var, unbiased, scales.running_var, judge(tc, Output::running_var)));
  }
  return worst;
}

}  // namespace bnh::detail
