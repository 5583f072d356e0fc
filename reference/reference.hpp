// The high-precision reference: batch normalization and batch renormalization exactly as
// SPEC.md sections 2 and 3 define them, every operation and every output, written once and
// generic over the number type. The default type carries 50 decimal digits (MPFR), so its
// results rounded to f64, f32, bf16 or f16 (round_to_dtype) are the correctly rounded answers
// for every input the harness generates. Inputs are taken at face value: every dtype's values
// convert exactly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/multiprecision/mpfr.hpp>

#include "bnh/reduced_float.hpp"
#include "bnh/types.hpp"
#include "bnh/validate.hpp"

namespace bnh::reference {

namespace mp = boost::multiprecision;

// Stack-allocated limbs: no heap traffic per temporary; expression templates off so that
// generic code sees one plain number type.
template <unsigned Digits>
using MpfrReal = mp::number<mp::mpfr_float_backend<Digits, mp::allocate_stack>, mp::et_off>;
using Real = MpfrReal<50>;

template <typename Number>
struct ForwardTrainResult {
  std::vector<Number> y, save_mean, save_invstd;
  std::vector<Number> r, d;                        // renorm only
  std::vector<Number> running_mean, running_var;   // empty when not tracked
};

template <typename Number>
struct BackwardResult {
  std::vector<Number> dx, dgamma, dbeta;
};

// ---- conversions -----------------------------------------------------------------------------

template <typename Number, typename From>
std::vector<Number> to_number(const std::vector<From>& values) {
  return std::vector<Number>(values.begin(), values.end());
}

// Correct rounding to the target type (round to nearest even), straight from the full value:
// going through double first could round twice. float and double by MPFR; bfloat16 and
// float16 by round_to_format below.
template <unsigned Digits, mp::mpfr_allocation_type Allocation>
double round_to_format(const mp::number<mp::mpfr_float_backend<Digits, Allocation>, mp::et_off>& value,
                       const FloatFormat& format);

template <typename T, unsigned Digits, mp::mpfr_allocation_type Allocation>
T round_to(const mp::number<mp::mpfr_float_backend<Digits, Allocation>, mp::et_off>& value) {
  if constexpr (std::is_same_v<T, float>) {
    return mpfr_get_flt(value.backend().data(), MPFR_RNDN);
  } else if constexpr (std::is_same_v<T, double>) {
    return mpfr_get_d(value.backend().data(), MPFR_RNDN);
  } else {
    static_assert(std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>);
    // The rounded value is a double exactly, which T then holds without rounding again.
    return T(round_to_format(value, std::is_same_v<T, bfloat16> ? bfloat16_format : float16_format));
  }
}
template <typename T, typename Number>
T round_to(const Number& value) {
  return static_cast<T>(value);
}
template <typename T, typename Number>
std::vector<T> round_to(const std::vector<Number>& values) {
  std::vector<T> rounded(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) rounded[i] = round_to<T>(values[i]);
  return rounded;
}

// `value` rounded to nearest, ties to even, to a binary format of `format.digits` bits with
// gradual underflow below 2^(min_exponent - 1), and to infinity of its sign beyond the largest
// finite number after rounding (f16: from 65520 = 65504 + half its unit). The quantum (the
// spacing of the format at the value) is fixed by the value's binade; scaling by it is exact,
// so the one rounding is MPFR's round to an integer, ties to even.
template <unsigned Digits, mp::mpfr_allocation_type Allocation>
double round_to_format(const mp::number<mp::mpfr_float_backend<Digits, Allocation>, mp::et_off>& value,
                       const FloatFormat& format) {
  const mpfr_srcptr exact = value.backend().data();
  if (!mpfr_number_p(exact) || mpfr_zero_p(exact)) return mpfr_get_d(exact, MPFR_RNDN);
  const long exponent = mpfr_get_exp(exact);  // |value| in [2^(exponent - 1), 2^exponent)
  const long quantum = std::max<long>(exponent, format.min_exponent) - format.digits;
  mpfr_t units;
  mpfr_init2(units, mpfr_get_prec(exact));
  mpfr_mul_2si(units, exact, -quantum, MPFR_RNDN);  // exact: a power of two
  mpfr_rint(units, units, MPFR_RNDN);                // the one rounding, ties to even
  const double whole = mpfr_get_d(units, MPFR_RNDN);  // at most 2^digits: exact
  mpfr_clear(units);
  const double rounded = std::ldexp(whole, static_cast<int>(quantum));
  if (std::fabs(rounded) > format.largest) return std::copysign(HUGE_VAL, rounded);
  return rounded;
}

// The correctly rounded value of `value` in `dtype`, as a double (which holds every dtype's
// values exactly).
template <typename Number>
double round_to_dtype(const Number& value, DType dtype) {
  switch (dtype) {
    case DType::f32: return round_to<float>(value);
    case DType::f64: return round_to<double>(value);
    case DType::bf16: return round_to<bfloat16>(value);
    case DType::f16: return round_to<float16>(value);
  }
  return round_to<double>(value);
}
template <typename Number>
std::vector<double> round_to_dtype(const std::vector<Number>& values, DType dtype) {
  std::vector<double> rounded(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) rounded[i] = round_to_dtype(values[i], dtype);
  return rounded;
}

// ---- helpers -------------------------------------------------------------------------------

namespace detail {

inline void require_size(const char* what, std::size_t actual, std::int64_t expected) {
  if (static_cast<std::int64_t>(actual) != expected) {
    throw Error(std::string("reference: ") + what + " has " + std::to_string(actual) +
                " elements, expected " + std::to_string(expected));
  }
}

// NaN-transparent clamp: a non-finite channel stays non-finite rather than being clipped.
template <typename Number>
Number clamp(const Number& value, const Number& low, const Number& high) {
  if (value < low) return low;
  if (high < value) return high;
  return value;
}

template <typename Number>
void require_forward_sizes(const TensorDesc& desc, const std::vector<Number>& x, const std::vector<Number>& gamma,
                           const std::vector<Number>& beta) {
  require_size("x", x.size(), desc.elements());
  require_size("gamma", gamma.size(), desc.c);
  require_size("beta", beta.size(), desc.c);
}

// Running statistics of C channels, their variance never negative.
template <typename Number>
void require_running(const TensorDesc& desc, const std::vector<Number>& running_mean,
                     const std::vector<Number>& running_var) {
  require_size("running_mean", running_mean.size(), desc.c);
  require_size("running_var", running_var.size(), desc.c);
  for (std::size_t c = 0; c < running_var.size(); ++c) {
    if (running_var[c] < 0) {
      throw Error("running_var must be >= 0 (channel " + std::to_string(c) + " is negative)");
    }
  }
}

// Batch mean and biased variance of every channel, in two passes.
template <typename Number>
void batch_statistics(const TensorDesc& desc, const std::vector<Number>& x,
                      std::vector<Number>& mean, std::vector<Number>& var) {
  const Number count(desc.per_channel());
  mean.assign(desc.c, Number(0));
  var.assign(desc.c, Number(0));
  for (std::int64_t c = 0; c < desc.c; ++c) {
    Number sum(0);
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum += x[i]; });
    mean[c] = sum / count;
    Number squares(0);
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const Number centered = x[i] - mean[c];
      squares += centered * centered;
    });
    var[c] = squares / count;
  }
}

// running = (1 - momentum) running + momentum batch, with the unbiased variance.
template <typename Number>
void update_running_statistics(const TensorDesc& desc, const Params& params,
                               const std::vector<Number>& mean, const std::vector<Number>& var,
                               std::vector<Number>& running_mean, std::vector<Number>& running_var) {
  const Number momentum(params.momentum);
  const Number keep = Number(1) - momentum;
  const Number count(desc.per_channel());
  const Number bessel = count / (count - 1);
  for (std::int64_t c = 0; c < desc.c; ++c) {
    running_mean[c] = keep * running_mean[c] + momentum * mean[c];
    running_var[c] = keep * running_var[c] + momentum * var[c] * bessel;
  }
}

}  // namespace detail

// ---- batch normalization ---------------------------------------------------------------------

namespace detail {

// The training forward, y = gamma (xhat r + d) + beta: batch norm with r = 1 and d = 0, renorm
// with r and d from the running statistics before their update. The running statistics are
// updated when given.
template <typename Number>
ForwardTrainResult<Number> forward_train(const TensorDesc& desc, const Params& params, const std::vector<Number>& x,
                                         const std::vector<Number>& gamma, const std::vector<Number>& beta,
                                         const std::vector<Number>& running_mean,
                                         const std::vector<Number>& running_var, bool renorm) {
  ForwardTrainResult<Number> result;
  std::vector<Number> var;
  batch_statistics(desc, x, result.save_mean, var);
  const Number eps(params.eps), rmax(params.rmax), dmax(params.dmax);
  result.save_invstd.resize(desc.c);
  result.y.resize(x.size());
  if (renorm) {
    result.r.resize(desc.c);
    result.d.resize(desc.c);
  }
  for (std::int64_t c = 0; c < desc.c; ++c) {
    const Number sigma_batch = sqrt(var[c] + eps);
    const Number invstd = Number(1) / sigma_batch;
    result.save_invstd[c] = invstd;
    Number r(1), d(0);
    if (renorm) {
      const Number sigma_running = sqrt(running_var[c] + eps);
      r = clamp(sigma_batch / sigma_running, Number(1) / rmax, rmax);
      d = clamp((result.save_mean[c] - running_mean[c]) / sigma_running, Number(-dmax), dmax);
      result.r[c] = r;
      result.d[c] = d;
    }
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const Number xhat = (x[i] - result.save_mean[c]) * invstd;
      result.y[i] = gamma[c] * (xhat * r + d) + beta[c];
    });
  }
  if (!running_mean.empty()) {
    result.running_mean = running_mean;
    result.running_var = running_var;
    update_running_statistics(desc, params, result.save_mean, var, result.running_mean, result.running_var);
  }
  return result;
}

}  // namespace detail

// running_mean / running_var empty: not tracked.
template <typename Number>
ForwardTrainResult<Number> bn_forward_train(const TensorDesc& desc, const Params& params,
                                            const std::vector<Number>& x,
                                            const std::vector<Number>& gamma,
                                            const std::vector<Number>& beta,
                                            const std::vector<Number>& running_mean = {},
                                            const std::vector<Number>& running_var = {}) {
  validate_call(Operation::bn_forward_train, desc, params);
  detail::require_forward_sizes(desc, x, gamma, beta);
  const bool tracking = !running_mean.empty() || !running_var.empty();
  if (tracking) detail::require_running(desc, running_mean, running_var);
  return detail::forward_train(desc, params, x, gamma, beta, running_mean, running_var, false);
}

template <typename Number>
std::vector<Number> bn_forward_infer(const TensorDesc& desc, const Params& params,
                                     const std::vector<Number>& x,
                                     const std::vector<Number>& gamma,
                                     const std::vector<Number>& beta,
                                     const std::vector<Number>& running_mean,
                                     const std::vector<Number>& running_var) {
  validate_call(Operation::bn_forward_infer, desc, params);
  detail::require_forward_sizes(desc, x, gamma, beta);
  detail::require_running(desc, running_mean, running_var);

  const Number eps(params.eps);
  std::vector<Number> y(x.size());
  for (std::int64_t c = 0; c < desc.c; ++c) {
    const Number invstd = Number(1) / sqrt(running_var[c] + eps);
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      y[i] = gamma[c] * ((x[i] - running_mean[c]) * invstd) + beta[c];
    });
  }
  return y;
}

namespace detail {

template <typename Number>
void require_backward_sizes(const TensorDesc& desc, const std::vector<Number>& dy, const std::vector<Number>& x,
                            const std::vector<Number>& gamma, const std::vector<Number>& save_mean,
                            const std::vector<Number>& save_invstd) {
  require_size("dy", dy.size(), desc.elements());
  require_size("x", x.size(), desc.elements());
  require_size("gamma", gamma.size(), desc.c);
  require_size("save_mean", save_mean.size(), desc.c);
  require_size("save_invstd", save_invstd.size(), desc.c);
}

// The backward of y = gamma (xhat r + d) + beta with r and d held constant.
template <typename Number>
BackwardResult<Number> backward(const TensorDesc& desc, const std::vector<Number>& dy, const std::vector<Number>& x,
                                const std::vector<Number>& gamma, const std::vector<Number>& save_mean,
                                const std::vector<Number>& save_invstd, const std::vector<Number>& r,
                                const std::vector<Number>& d) {
  const Number count(desc.per_channel());
  BackwardResult<Number> result{std::vector<Number>(x.size()), std::vector<Number>(desc.c),
                                std::vector<Number>(desc.c)};
  for (std::int64_t c = 0; c < desc.c; ++c) {
    const Number g_scale = gamma[c] * r[c];  // g_i = dy_i * gamma * r
    Number dbeta(0), dgamma(0), sum_g(0), sum_g_xhat(0);
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const Number xhat = (x[i] - save_mean[c]) * save_invstd[c];
      const Number g = dy[i] * g_scale;
      dbeta += dy[i];
      dgamma += dy[i] * (xhat * r[c] + d[c]);
      sum_g += g;
      sum_g_xhat += g * xhat;
    });
    result.dbeta[c] = dbeta;
    result.dgamma[c] = dgamma;
    const Number scale = save_invstd[c] / count;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const Number xhat = (x[i] - save_mean[c]) * save_invstd[c];
      result.dx[i] = scale * (count * dy[i] * g_scale - sum_g - xhat * sum_g_xhat);
    });
  }
  return result;
}

}  // namespace detail

// Uses the saved statistics as given, so that it answers for exactly the inputs an
// implementation's backward receives.
template <typename Number>
BackwardResult<Number> bn_backward(const TensorDesc& desc, const Params& params,
                                   const std::vector<Number>& dy, const std::vector<Number>& x,
                                   const std::vector<Number>& gamma,
                                   const std::vector<Number>& save_mean,
                                   const std::vector<Number>& save_invstd) {
  validate_call(Operation::bn_backward, desc, params);
  detail::require_backward_sizes(desc, dy, x, gamma, save_mean, save_invstd);
  // Batch norm's backward is renorm's with r = 1 and d = 0.
  return detail::backward(desc, dy, x, gamma, save_mean, save_invstd, std::vector<Number>(desc.c, Number(1)),
                          std::vector<Number>(desc.c, Number(0)));
}

// ---- batch renormalization (Ioffe, 2017) -----------------------------------------------------

// running_mean / running_var are this step's inputs; r and d are computed from them before the
// update, which the result carries.
template <typename Number>
ForwardTrainResult<Number> renorm_forward_train(const TensorDesc& desc, const Params& params,
                                                const std::vector<Number>& x,
                                                const std::vector<Number>& gamma,
                                                const std::vector<Number>& beta,
                                                const std::vector<Number>& running_mean,
                                                const std::vector<Number>& running_var) {
  validate_call(Operation::renorm_forward_train, desc, params);
  detail::require_forward_sizes(desc, x, gamma, beta);
  detail::require_running(desc, running_mean, running_var);
  return detail::forward_train(desc, params, x, gamma, beta, running_mean, running_var, true);
}

// r and d are constants for differentiation (stop-gradient).
template <typename Number>
BackwardResult<Number> renorm_backward(const TensorDesc& desc, const Params& params,
                                       const std::vector<Number>& dy,
                                       const std::vector<Number>& x,
                                       const std::vector<Number>& gamma,
                                       const std::vector<Number>& save_mean,
                                       const std::vector<Number>& save_invstd,
                                       const std::vector<Number>& r,
                                       const std::vector<Number>& d) {
  validate_call(Operation::renorm_backward, desc, params);
  detail::require_backward_sizes(desc, dy, x, gamma, save_mean, save_invstd);
  detail::require_size("r", r.size(), desc.c);
  detail::require_size("d", d.size(), desc.c);
  return detail::backward(desc, dy, x, gamma, save_mean, save_invstd, r, d);
}

}  // namespace bnh::reference
