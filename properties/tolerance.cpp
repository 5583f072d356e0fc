#include "properties/tolerance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace bnh {

double unit_roundoff(DType dtype) { return std::ldexp(1.0, -format_of(dtype).digits); }

double underflow_step(DType dtype) {
  const FloatFormat format = format_of(dtype);
  return std::ldexp(1.0, format.min_exponent - format.digits);
}

DType working_dtype(DType data) { return is_reduced(data) ? DType::f32 : data; }

double accumulation_bound(DType dtype, std::int64_t per_channel) {
  const double m = static_cast<double>(per_channel);
  return rounding_bound + 2 * std::log2(m) + 4 * m * 0x1p-53 / unit_roundoff(dtype);
}

DType output_dtype(const TensorDesc& desc, Output output) {
  return output == Output::y || output == Output::dx ? desc.dtype : desc.stats_dtype();
}

namespace {

// Outputs computed from other per-channel values, which a pure-mode implementation may hold in
// the statistics dtype: y (mean, invstd, r, d), r and d (invstd), the running statistics (the
// mean), dx (dgamma, dbeta). The rest are the sums themselves.
bool from_rounded_statistics(Output output) {
  return output != Output::save_mean && output != Output::save_invstd && output != Output::dgamma &&
         output != Output::dbeta;
}

}  // namespace

double Judgement::before_rounding(double scale) const {
  return computation * (unit_roundoff(working) * scale + underflow_step(working)) +
         statistics * (unit_roundoff(stats) * scale + underflow_step(stats));
}

Judgement judge(const Case& tc, Output output, Sums sums) {
  Judgement j;
  j.dtype = output_dtype(tc.desc, output);
  j.working = working_dtype(tc.desc.dtype);
  j.stats = tc.desc.stats_dtype();
  j.computation = sums == Sums::accumulated ? accumulation_bound(j.working, tc.desc.per_channel()) : rounding_bound;
  j.statistics = is_reduced(j.stats) && from_rounded_statistics(output) ? rounded_statistics_bound : 0;
  if (!is_reduced(j.dtype)) {
    // f32 or f64: computed in that precision (or wider) with the roundings k counts.
    j.bound = j.computation;
    return j;
  }
  // One rounding to the output's dtype (u_O |value| <= u_O scale), after the error e.
  j.bound = 1 + (j.computation * unit_roundoff(j.working) + j.statistics * unit_roundoff(j.stats)) / j.u();
  return j;
}

namespace {

// Where a bf16 or f16 value becomes infinite: the largest finite number plus half its unit
// (f16: 65520). An infinity of the format stands for every value from there on.
double overflow_threshold(DType dtype) {
  const FloatFormat format = format_of(dtype);
  return format.largest + std::ldexp(1.0, std::ilogb(format.largest) - format.digits);
}

// How far `exact` lies from the values that round to `value` (a number of the format): 0 when
// it rounds to it; otherwise its distance from the midpoint between `value` and the next
// number towards it, or from the overflow threshold for an infinity.
double distance_from_rounding_to(double value, double exact, DType dtype) {
  if (std::isinf(value)) {
    return std::max(overflow_threshold(dtype) - std::copysign(1.0, value) * exact, 0.0);
  }
  const FloatFormat format = format_of(dtype);
  int exponent = format.min_exponent;
  if (value != 0) std::frexp(value, &exponent);  // |value| in [2^(exponent - 1), 2^exponent)
  const double spacing = std::ldexp(1.0, std::max(exponent, format.min_exponent) - format.digits);
  const bool towards_zero = value != 0 && (exact < value) == (value > 0);
  // Below a power of two the spacing halves (the binade below), down to the subnormals.
  const bool power_of_two = std::fabs(value) == std::ldexp(1.0, exponent - 1) && exponent > format.min_exponent;
  const double half_step = (towards_zero && power_of_two ? spacing / 2 : spacing) / 2;
  return std::max(std::fabs(exact - value) - half_step, 0.0);
}

}  // namespace

double rounding_fraction(double actual, double exact, double correctly_rounded, double allowed_error,
                         DType dtype) {
  if (actual == correctly_rounded || (std::isnan(actual) && std::isnan(correctly_rounded))) return 0;
  if (!std::isfinite(exact) || std::isnan(actual)) return std::numeric_limits<double>::infinity();
  return distance_from_rounding_to(actual, exact, dtype) / allowed_error;
}

std::int64_t channel_of(const TensorDesc& desc, std::int64_t index) {
  return desc.layout == Layout::nchw ? (index / desc.spatial()) % desc.c : index % desc.c;
}

namespace {

// Per-channel magnitudes the scales are built from: max |x|, the batch mean and
// sigma = sqrt(biased var + eps), computed in double in two passes.
struct ChannelSizes {
  std::vector<double> max_abs_x, mean, sigma;
  double kappa(std::int64_t c) const { return max_abs_x[c] / sigma[c] + 1; }
};

ChannelSizes channel_sizes(const Case& tc) {
  const TensorDesc& desc = tc.desc;
  ChannelSizes sizes{std::vector<double>(desc.c, 0), std::vector<double>(desc.c, 0),
                     std::vector<double>(desc.c, 0)};
  std::vector<double> squares(desc.c, 0);
  const double count = static_cast<double>(desc.per_channel());
  for (std::int64_t i = 0; i < desc.elements(); ++i) {
    const auto c = channel_of(desc, i);
    sizes.mean[c] += tc.x[i] / count;
    sizes.max_abs_x[c] = std::max(sizes.max_abs_x[c], std::fabs(tc.x[i]));
  }
  for (std::int64_t i = 0; i < desc.elements(); ++i) {
    const auto c = channel_of(desc, i);
    squares[c] += (tc.x[i] - sizes.mean[c]) * (tc.x[i] - sizes.mean[c]);
  }
  for (std::int64_t c = 0; c < desc.c; ++c) {
    sizes.sigma[c] = std::sqrt(squares[c] / count + tc.params.eps);
  }
  return sizes;
}

// Pure mode: a per-channel value v held in the statistics dtype S errs by u_S max(|v|, least
// normal of S), not u_S |v| (below the least normal its rounding is absolute: half a subnormal
// step). The scale of an output computed from v then gains |d output / d v| times that least
// normal; 0 where S is f32 or f64 (the least normal term is the output's eta there).
double held_statistics_floor(const TensorDesc& desc) {
  const DType stats = desc.stats_dtype();
  return is_reduced(stats) ? std::ldexp(1.0, format_of(stats).min_exponent - 1) : 0;
}

// y = gamma (r (x - mean) invstd + d) + beta from a mean, a variance (or invstd = 1 / sigma), r
// and d each held in S: the sensitivities gamma r / sigma, gamma r xhat / (2 sigma^2),
// gamma r xhat sigma, gamma xhat and gamma (the last two for renorm), times the floor.
double y_floor_term(double floor, double gamma, double r, double xhat, double sigma, bool renorm) {
  if (floor == 0) return 0;
  const double normalization = r * (1 / sigma + xhat / (sigma * sigma) + xhat * sigma);
  return std::fabs(gamma) * floor * (normalization + (renorm ? xhat + 1 : 0));
}

template <typename Scale>
std::vector<double> per_element(const TensorDesc& desc, Scale&& scale_of) {
  std::vector<double> scales(desc.elements());
  for (std::int64_t i = 0; i < desc.elements(); ++i) scales[i] = scale_of(i, channel_of(desc, i));
  return scales;
}

template <typename Scale>
std::vector<double> per_channel(const TensorDesc& desc, Scale&& scale_of) {
  std::vector<double> scales(desc.c);
  for (std::int64_t c = 0; c < desc.c; ++c) scales[c] = scale_of(c);
  return scales;
}

}  // namespace

ForwardScales forward_scales(const Case& tc, const std::vector<double>& r, const std::vector<double>& d) {
  const TensorDesc& desc = tc.desc;
  const ChannelSizes sizes = channel_sizes(tc);
  const bool renorm = !r.empty();
  const double m = tc.params.momentum;
  const double count = static_cast<double>(desc.per_channel());
  auto r_of = [&](std::int64_t c) { return renorm ? std::fabs(r[c]) : 1.0; };
  // Terms of y beyond gamma r xhat: renorm's d, made from the mean and the running mean.
  auto shift_of = [&](std::int64_t c) {
    if (!renorm) return 0.0;
    const double sigma_running = std::sqrt(tc.running_var[c] + tc.params.eps);
    return std::fabs(d[c]) + (sizes.max_abs_x[c] + std::fabs(tc.running_mean[c])) / sigma_running;
  };
  const double floor = held_statistics_floor(desc);
  ForwardScales scales;
  // The mean's error moves y by kappa; invstd's, whose allowance is relative kappa (a merged or
  // updated variance errs by u kappa: docs/tolerances.md), by |xhat| kappa.
  scales.y = per_element(desc, [&](std::int64_t i, std::int64_t c) {
    const double xhat = std::fabs(tc.x[i] - sizes.mean[c]) / sizes.sigma[c];
    const double kappa = sizes.kappa(c);
    return std::fabs(tc.gamma[c]) * (r_of(c) * ((xhat + 1) * kappa + xhat) + shift_of(c)) +
           std::fabs(tc.beta[c]) + y_floor_term(floor, tc.gamma[c], r_of(c), xhat, sizes.sigma[c], renorm);
  });
  scales.save_mean = per_channel(desc, [&](std::int64_t c) { return sizes.max_abs_x[c]; });
  scales.save_invstd = per_channel(desc, [&](std::int64_t c) { return sizes.kappa(c) / sizes.sigma[c]; });
  if (renorm) {
    scales.r = per_channel(desc, [&](std::int64_t c) { return r_of(c) * sizes.kappa(c); });
    scales.d = per_channel(desc, shift_of);
  }
  scales.running_mean = per_channel(desc, [&](std::int64_t c) {
    return (1 - m) * std::fabs(tc.running_mean[c]) + m * sizes.max_abs_x[c];
  });
  scales.running_var = per_channel(desc, [&](std::int64_t c) {
    return (1 - m) * tc.running_var[c] +
           m * sizes.sigma[c] * sizes.sigma[c] * count / (count - 1) * sizes.kappa(c);
  });
  return scales;
}

std::vector<double> inference_scales(const Case& tc) {
  const double floor = held_statistics_floor(tc.desc);
  return per_element(tc.desc, [&](std::int64_t i, std::int64_t c) {
    const double sigma = std::sqrt(tc.running_var[c] + tc.params.eps);
    const double terms = (std::fabs(tc.x[i]) + std::fabs(tc.running_mean[c])) / sigma;
    return std::fabs(tc.gamma[c]) * terms + std::fabs(tc.beta[c]) +
           y_floor_term(floor, tc.gamma[c], 1, terms, sigma, false);
  });
}

BackwardScales backward_scales(const Case& tc, const std::vector<double>& save_mean,
                               const std::vector<double>& save_invstd, const std::vector<double>& r,
                               const std::vector<double>& d) {
  const TensorDesc& desc = tc.desc;
  const double count = static_cast<double>(desc.per_channel());
  // Per channel: kappa, mean |dy| and mean |dy| (|xhat| + kappa).
  std::vector<double> max_abs_x(desc.c, 0), kappa(desc.c), mean_abs_dy(desc.c, 0),
      mean_abs_dy_xhat(desc.c, 0);
  for (std::int64_t i = 0; i < desc.elements(); ++i) {
    const auto c = channel_of(desc, i);
    max_abs_x[c] = std::max(max_abs_x[c], std::fabs(tc.x[i]));
  }
  for (std::int64_t c = 0; c < desc.c; ++c) {
    kappa[c] = std::max(max_abs_x[c], std::fabs(save_mean[c])) * save_invstd[c] + 1;
  }
  auto xhat_of = [&](std::int64_t i, std::int64_t c) {
    return std::fabs((tc.x[i] - save_mean[c]) * save_invstd[c]);
  };
  for (std::int64_t i = 0; i < desc.elements(); ++i) {
    const auto c = channel_of(desc, i);
    mean_abs_dy[c] += std::fabs(tc.dy[i]) / count;
    mean_abs_dy_xhat[c] += std::fabs(tc.dy[i]) * (xhat_of(i, c) + kappa[c]) / count;
  }
  auto r_of = [&](std::int64_t c) { return r.empty() ? 1.0 : std::fabs(r[c]); };
  auto d_of = [&](std::int64_t c) { return d.empty() ? 0.0 : std::fabs(d[c]); };
  BackwardScales scales;
  scales.dx = per_element(desc, [&](std::int64_t i, std::int64_t c) {
    return std::fabs(tc.gamma[c]) * r_of(c) * save_invstd[c] *
           (std::fabs(tc.dy[i]) + mean_abs_dy[c] + (xhat_of(i, c) + kappa[c]) * mean_abs_dy_xhat[c]);
  });
  scales.dgamma = per_channel(desc, [&](std::int64_t c) {
    return count * (r_of(c) * mean_abs_dy_xhat[c] + d_of(c) * mean_abs_dy[c]);
  });
  scales.dbeta = per_channel(desc, [&](std::int64_t c) { return count * mean_abs_dy[c]; });
  return scales;
}

double scaled_error(double actual, double expected, double scale, DType dtype) {
  if (actual == expected || (std::isnan(actual) && std::isnan(expected))) return 0;
  if (is_reduced(dtype) && std::isinf(actual) != std::isinf(expected) && !std::isnan(actual) &&
      !std::isnan(expected)) {
    // One side overflowed: its exact value is at least the threshold, of the infinity's sign;
    // the error is the other side's distance from there.
    const double infinite = std::isinf(actual) ? actual : expected, finite = std::isinf(actual) ? expected : actual;
    const double short_of = overflow_threshold(dtype) - std::copysign(1.0, infinite) * finite;
    return std::max(short_of, 0.0) / (unit_roundoff(dtype) * scale + underflow_step(dtype));
  }
  if (!std::isfinite(actual) || !std::isfinite(expected)) return std::numeric_limits<double>::infinity();
  const double scaled = std::fabs(actual - expected) / (unit_roundoff(dtype) * scale + underflow_step(dtype));
  return std::isnan(scaled) ? std::numeric_limits<double>::infinity() : scaled;
}

Comparison compare_vectors(const std::vector<double>& actual, const std::vector<double>& expected,
                           const std::vector<double>& scale, DType dtype) {
  Comparison result;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double error = scaled_error(actual[i], expected[i], scale[i], dtype);
    if (result.worst_index < 0 || error > result.max_scaled_error) {
      result.max_scaled_error = error;
      result.worst_index = static_cast<std::int64_t>(i);
      result.worst_actual = actual[i];
      result.worst_expected = expected[i];
    }
  }
  return result;
}

std::string Comparison::describe(const std::string& what, double bound) const {
  std::ostringstream out;
  out.precision(10);
  out << what << ": scaled error " << max_scaled_error << " > bound " << bound << " at index "
      << worst_index << " (got " << worst_actual << ", expected " << worst_expected << ")";
  return out.str();
}

}  // namespace bnh
