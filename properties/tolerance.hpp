// The tolerance model (docs/tolerances.md). An output element may differ from the exact value
// by k * u * scale: u the dtype's unit roundoff, scale the size of the terms the element is
// computed from (its conditioning), k an allowance for the roundings and M-term sums a correct
// implementation makes. The scales here are shared by the reference comparison and by every
// property that compares two computations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "properties/case.hpp"

namespace bnh {

// u: 2^-53 (f64), 2^-24 (f32), 2^-11 (f16), 2^-8 (bf16).
double unit_roundoff(DType dtype);
// eta, the underflow term: the dtype's least subnormal (f16 2^-24, bf16 2^-133, f32 2^-149).
double underflow_step(DType dtype);
// The precision a correct implementation computes and accumulates in: f32 (or wider) for bf16
// and f16 data, the data dtype otherwise.
DType working_dtype(DType data);

// k for outputs built from M-term sums: 8 + 2 log2(M) + 4 M u_f64 / u.
double accumulation_bound(DType dtype, std::int64_t per_channel);
// k for outputs with no sum to accumulate (inference; the forward on exact-statistics data).
inline constexpr double rounding_bound = 8;
// Pure mode (statistics in bf16 or f16): an output computed from per-channel values an
// implementation may hold in the statistics dtype (y from the rounded mean and invstd, dx from
// the rounded dgamma and dbeta, ...) errs by at most this many u_S * scale more.
inline constexpr double rounded_statistics_bound = 4;

// The outputs of the operations; y and dx are tensors (data dtype), the rest per channel
// (statistics dtype).
enum class Output { y, save_mean, save_invstd, r, d, running_mean, running_var, dx, dgamma, dbeta };
DType output_dtype(const TensorDesc& desc, Output output);

// Whether an output's exact value is a sum over the channel (training) or a few roundings away
// from its inputs (inference, and the forward on exact-statistics data).
enum class Sums { accumulated, rounding_only };

// How one output of a case is judged (docs/tolerances.md). Before its final store the output
// is off the exact value v by at most
//     e = computation * (u_W * scale + eta_W) + statistics * (u_S * scale + eta_S)
// (W the working precision, S the statistics dtype; the second term only in pure mode). A
// bf16 or f16 output is then one rounding of a value within e of v: it lies in
// [RNE(v - e), RNE(v + e)] (within_rounding). `bound` is the same allowance as a multiple of
// u_O * scale + eta_O (O the output's dtype), for comparing two computations.
struct Judgement {
  DType dtype = DType::f32;     // the output's buffer
  DType working = DType::f32;   // W
  DType stats = DType::f32;     // S
  double computation = 0, statistics = 0;
  double bound = 0;
  double u() const { return unit_roundoff(dtype); }
  double before_rounding(double scale) const;  // e
  // The largest difference from the exact value: bound * (u_O * scale + eta_O).
  double allowance(double scale) const { return bound * (u() * scale + underflow_step(dtype)); }
};
Judgement judge(const Case& test_case, Output output, Sums sums = Sums::accumulated);

// For a bf16 or f16 output: how far the exact value v lies from the values that round to
// `actual` (0 when it rounds to it; else from the midpoint towards it, or from the overflow
// threshold 65520 for an f16 infinity), as a fraction of the computation's error e. At most 1
// exactly when `actual` is a rounding of a value within e of v. NaN matching NaN and the
// correctly rounded value (`correctly_rounded`, from the 50-digit value) are 0; a NaN where a
// number belongs, or a number where the exact value is not finite, is infinite.
double rounding_fraction(double actual, double exact, double correctly_rounded, double allowed_error,
                         DType dtype);

std::int64_t channel_of(const TensorDesc& desc, std::int64_t index);

struct ForwardScales {
  std::vector<double> y, save_mean, save_invstd, r, d, running_mean, running_var;
};
// r and d: renorm's values (empty for batch norm).
ForwardScales forward_scales(const Case& test_case, const std::vector<double>& r = {},
                             const std::vector<double>& d = {});
std::vector<double> inference_scales(const Case& test_case);

struct BackwardScales {
  std::vector<double> dx, dgamma, dbeta;
};
// From the saved statistics the backward received; r and d empty for batch norm.
BackwardScales backward_scales(const Case& test_case, const std::vector<double>& save_mean,
                               const std::vector<double>& save_invstd,
                               const std::vector<double>& r = {}, const std::vector<double>& d = {});

// |actual - expected| / (u * scale + eta), eta the dtype's least subnormal: each rounding
// errs by at most u relative plus eta absolute (the underflow term of the standard model).
// 0 when equal (NaN matching NaN included), infinite when finiteness differs, but for bf16 and
// f16: an infinity there (an overflow, the correct answer from the threshold 65520 on in f16)
// against a finite value is that value's distance short of the threshold.
double scaled_error(double actual, double expected, double scale, DType dtype);

// The worst element of a comparison of two vectors under one bound.
struct Comparison {
  double max_scaled_error = 0;
  std::int64_t worst_index = -1;
  double worst_actual = 0, worst_expected = 0;
  bool within(double bound) const { return max_scaled_error <= bound; }
  std::string describe(const std::string& what, double bound) const;
};
Comparison compare_vectors(const std::vector<double>& actual, const std::vector<double>& expected,
                           const std::vector<double>& scale, DType dtype);

}  // namespace bnh
