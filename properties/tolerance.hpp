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

double unit_roundoff(DType dtype);
// k for outputs built from M-term sums: 8 + 2 log2(M) + 4 M u_f64 / u.
double accumulation_bound(DType dtype, std::int64_t per_channel);
// k for outputs with no sum to accumulate (inference; the forward on exact-statistics data).
inline constexpr double rounding_bound = 8;

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

// |actual - expected| / (u * scale + eta), eta the dtype's smallest subnormal: each rounding
// errs by at most u relative plus eta absolute (the underflow term of the standard model).
// 0 when equal (NaN matching NaN included), infinite when finiteness differs.
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
