// Agreement of an implementation with the high-precision reference: runs one operation of an
// implementation and of the reference on the same case, and measures every output's error.
//
// The bound is the tolerance model of properties/tolerance.hpp and docs/tolerances.md: an f32
// or f64 output element may differ from the exact value by k * u * scale; a bf16 or f16 one
// must be a rounding of a value within the computation's error of the exact one. Each output
// is judged in its own buffer's dtype (the data dtype for y and dx, the statistics dtype for
// the rest).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/case.hpp"

namespace bnh {

struct OutputError {
  std::string output;               // "y", "dx", "running_var", ...
  double max_ulp_error = 0;         // against the correctly rounded reference
  double max_relative_error = 0;    // |error| / |exact|, over elements whose exact value is not 0
  // f32/f64: |error| / (u * scale + eta), the bound's units. bf16/f16: the computation error
  // the answer needs (the exact value's distance from what rounds to it) as a fraction of the
  // error allowed (tolerance.hpp, rounding_fraction), bound 1.
  double max_scaled_error = 0;
  double bound = 0;                 // the largest allowed scaled error: k, or 1 for bf16/f16
  std::int64_t worst_index = -1;    // where max_scaled_error occurs
  double worst_actual = 0, worst_expected = 0;
  bool passed() const { return max_scaled_error <= bound; }
};

struct AgreementResult {
  Operation operation = Operation::bn_forward_train;
  bool supported = true;            // false: the implementation does not provide it
  std::string error;                // non-empty: the implementation refused or failed a valid call
  std::vector<OutputError> outputs;
  bool passed() const;
  std::string describe() const;     // one line per failing output
};

AgreementResult check_reference_agreement(Implementation& implementation, const Case& test_case,
                                          Operation operation);

// Distance in units in the last place of `expected` (a value of the dtype): the dtype's spacing
// just above |expected|. NaN against NaN is 0; any other disagreement in finiteness is infinite.
double ulp_distance(double actual, double expected, DType dtype);
template <typename T>
double ulp_distance(T actual, T expected);  // float or double

}  // namespace bnh
