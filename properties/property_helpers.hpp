// What the property checks (properties/*_properties.cpp) share: comparing outputs, naming the
// operation checked, the reference's statistics. Internal to the property files.
#pragma once

#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "bnh/types.hpp"
#include "properties/case.hpp"
#include "properties/execution.hpp"
#include "properties/tolerance.hpp"

namespace bnh::detail {

// Throws PropertyFailure.
[[noreturn]] void fail(const std::string& message);

std::vector<double> sum(const std::vector<double>& a, const std::vector<double>& b);
std::vector<double> scaled(const std::vector<double>& a, double factor);

// Two computations of the same exact values, each within `bound` of it, differ by at most twice
// the bound over the sum of their scales. Returns the largest error as a fraction of the bound.
double expect_close(const std::string& what, const std::vector<double>& actual,
                  const std::vector<double>& expected, const std::vector<double>& scale,
                  double bound, DType dtype);
// The same, judged as `j` says, the bound taken `sides` times (2: the errors of two
// computations, each against its own scale).
double expect_close(const std::string& what, const std::vector<double>& actual,
                    const std::vector<double>& expected, const std::vector<double>& scale,
                    const Judgement& j, double sides = 1);
// bf16 and f16: where `actual` or one of the `terms` `expected` is made of is infinite (an
// overflow, correct where the exact value reaches the threshold), the element has nothing to
// compare and both are set to 0. Nothing changes for f32 and f64.
void leave_out_overflows(DType dtype, std::vector<double>& actual, std::vector<double>& expected,
                         const std::vector<const std::vector<double>*>& terms);
// Bitwise, NaN included.
void expect_identical(const std::string& what, const std::vector<double>& first,
                      const std::vector<double>& second);


// Properties that check batch norm and renorm alike take the operations one at a time.
Operation forward_op(bool renorm);
Operation backward_op(bool renorm);
std::string label(bool renorm);

// A property that runs on any of its operations and found none of them to check.
[[noreturn]] void nothing_to_check();

// Batch norm (false) and renorm (true), each when the implementation provides its training
// forward (and its backward, with `with_backward`); nothing_to_check() when neither is and the
// check has nothing else to run (`something_else`, e.g. an inference forward it also checks).
std::vector<bool> provided_normalizations(Implementation& impl, bool with_backward, bool something_else = false);

// The reference's batch mean and biased variance, correctly rounded to double (round_to_dtype
// them for a buffer of the statistics dtype).
void reference_statistics(const Case& tc, std::vector<double>& mean, std::vector<double>& var);

// The reference's outputs on the case, each correctly rounded to its buffer's dtype: the
// training forward (tracking the case's running statistics), inference, and the backward
// with the saved values given.
ForwardOutputs reference_forward(const Case& tc, bool renorm);
std::vector<double> reference_inference(const Case& tc);
BackwardOutputs reference_backward(const Case& tc, bool renorm, const std::vector<double>& save_mean,
                                   const std::vector<double>& save_invstd, const std::vector<double>& r,
                                   const std::vector<double>& d);

// Each value rounded to `dtype`, as a buffer of that dtype holds it.
std::vector<double> rounded(const std::vector<double>& values, DType dtype);

}  // namespace bnh::detail
