// Bad-input checks of SPEC.md section 4, shared by the reference, every built-in implementation
// and the command. Each throws bnh::Error with a message that names the problem.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "bnh/operations.hpp"
#include "bnh/types.hpp"

namespace bnh {

// Dimensions >= 1, element count within int64, layout and dtypes among the known ones, and a
// statistics dtype that goes with the data (validate_dtypes).
void validate_desc(const TensorDesc& desc);
// eps > 0 and finite.
void validate_eps(double eps);
// momentum in [0, 1].
void validate_momentum(double momentum);
// rmax >= 1 and dmax >= 0 (infinity allowed: no clipping).
void validate_renorm_limits(double rmax, double dmax);
// Training needs more than one value per channel (PyTorch's message).
void validate_training_batch(const TensorDesc& desc);
// Every check that applies to `operation`, except the data-dependent running_var check.
void validate_call(Operation operation, const TensorDesc& desc, const Params& params);
// Every buffer the operation needs (bnh/operations.hpp) is given, and its optional ones are all
// given or all NULL. Throws bnh::Error: "bn_forward_train: y must not be NULL".
void validate_buffers(Operation operation, const OperationBuffers& buffers);

// running_var < 0 is bad input; NaN is non-finite data and allowed.
template <typename T>
void validate_running_var(const T* running_var, std::int64_t channels) {
  for (std::int64_t c = 0; c < channels; ++c) {
    if (running_var[c] < 0) {
      throw Error("running_var must be >= 0 (channel " + std::to_string(c) + " has " +
                  std::to_string(static_cast<double>(running_var[c])) + ")");
    }
  }
}

}  // namespace bnh
