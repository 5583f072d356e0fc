// One test case: a problem (shape, layout, dtype, parameters) and its data. Data is held in
// double; for f32 cases every value is already an f32 value, so conversion is exact both ways.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bnh/types.hpp"

namespace bnh {

struct Case {
  TensorDesc desc;
  Params params;
  std::vector<double> x, dy;                            // desc.elements() each
  std::vector<double> gamma, beta, running_mean, running_var;  // desc.c each
  // Statistics are exact in any summation order (few-bit data): only a few roundings remain.
  bool exact_statistics = false;
  std::string origin;  // how the case was made, e.g. a generator spec; empty if by hand

  std::string summary() const;  // shape, dtype, layout, parameters: one line
};

// Standard-normal x and dy, gamma and beta around 1 and 0 (some negative), running statistics
// near the batch's, all rounded to desc.dtype. Deterministic in `seed`.
Case random_case(const TensorDesc& desc, std::uint64_t seed, const Params& params = {});

}  // namespace bnh
