// Gradient check: an implementation's own backward against central finite differences of its
// own forward. Unlike reference agreement, no reference is involved: the check asks whether
// the backward is the derivative of the forward the same implementation computes. See
// docs/gradcheck.md for the derivation of the steps and tolerances.
//
// The function differentiated, with inputs p = (x, gamma, beta) and output y:
//
//   bn      y = bn_forward_train(x, gamma, beta), running statistics NULL; the backward is
//           bn_backward(dy, x, gamma, save_mean, save_invstd) with the saved statistics of the
//           forward at the unperturbed point.
//   renorm  r and d are stop-gradient constants (SPEC.md section 3): renorm_backward does not
//           differentiate through them. A finite difference of renorm_forward_train would, since
//           r and d move with the batch statistics, so the two sides would disagree for a correct
//           implementation. They are therefore frozen: renorm_forward_train runs once at the
//           unperturbed point (with the case's running statistics, or 0 and 1 if it has none)
//           to give r0, d0, save_mean and save_invstd, and the function differentiated is
//               y(x, gamma, beta) = gamma * (xhat(x) * r0 + d0) + beta,
//           with xhat(x) the implementation's own bn_forward_train at gamma = 1, beta = 0 (same
//           eps), the composition evaluated in double. The backward is renorm_backward(dy, x,
//           gamma, save_mean, save_invstd, r0, d0).
//
// Methods:
//   full  the whole Jacobian J (rows: elements of y; columns: elements of x, then gamma, then
//         beta). Row i is the backward with dy = e_i; column j is the central difference
//         (f(p + h_j e_j) - f(p - h_j e_j)) / (actual distance between the two points). Every
//         entry is compared. Costs one backward per output and two forwards per input, and
//         O(outputs * inputs) memory: for small shapes (refused above 2^24 entries).
//   fast  `directions` random pairs (u, v), deterministic in `seed` (as PyTorch's gradcheck
//         fast mode): u a unit vector over all the inputs, v a unit vector over the outputs.
//         With w_j = s_j sqrt(inputs) u_j (s_j: the step scales below; the sqrt makes every
//         element move by about h s_j, as in the full method, so the outputs' rounding weighs
//         the same) the scalar v^T J w is computed two ways: v . (f(p + h w) - f(p - h w)) / 2h,
//         and (the backward with dy = v) . w. One forward pair and one backward per direction.
//
// Steps. The step for input element j is h * s_j with h = options.step (default 1e-6 for f64,
// 1e-2 for f32) and s_j the input's scale: for x, the channel's batch standard deviation
// sqrt(var + eps) (the unit xhat measures x in); for gamma, max_c |gamma_c|; for beta,
// max(max_c |beta_c|, max_c |gamma_c|); a zero scale becomes 1. Perturbed inputs are rounded to
// the dtype, and the difference quotient divides by the distance actually travelled (the fast
// method dots the backward with the rounded direction), so rounding the input costs nothing.
//
// Tolerance. An entry (full) or a direction (fast) passes when
//     |numeric - analytic| <= atol * scale + rtol * |analytic|,
// where `scale` is the size of the Jacobian, computed from the data (never from the backward
// under test, so a backward that is wrong by a large factor cannot widen its own tolerance):
//   x      max_c |gamma_c| * |r_c| / sigma_c (r = 1 for bn): the size of the direct term of
//          dy_i/dx_i, and a bound on the norm of each channel's block. Not the largest entry,
//          which the centering can make arbitrarily small (M = 2: xhat = +-1 whatever x is).
//   gamma  max_i |xhat_i * r_c + d_c| (r = 1, d = 0 for bn): the largest entry exactly.
//   beta   1: every nonzero entry is 1.
//   fast   ||v|| * ||J w|| / sqrt(outputs), with J w from SPEC.md's formulas and the data: the
//          root mean square of |v^T J w| over unit vectors v, i.e. the size the compared
//          scalar has for a typical v. (A bound on |v^T J w| would be ~sqrt(outputs) times
//          larger and hide bugs.)
// Defaults: f64 step 1e-6, atol 1e-5, rtol 1e-4; f32 step 1e-2, atol 1e-2, rtol 1e-2. The
// numeric derivative errs by truncation ~h^2 and by the forward's rounding ~u kappa / h
// (kappa = max|x| / sigma + 1, u the unit roundoff). Measured, relative to the scale: f64
// ~3e-10 kappa; f32 ~3e-5 (truncation) + up to 3e-5 kappa (a forward that computes in f32).
// Correct implementations pass with a wide margin while kappa stays below ~1e4 (f64) or ~1e2
// (f32); beyond that finite differences of the forward cannot resolve the derivative and the
// check is not meaningful (use f64, or the reference agreement check). The f32 tolerance resolves
// gradient errors of about 1%. Differences are accumulated in double whatever the dtype.
//
// bf16 and f16 data. By default the differences are those of the implementation's f32 forward
// on the same data (exact in f32), against its 16-bit backward: tolerance 2 u of the data
// (2^-7 bf16, 2^-10 f16), 4 u in the pure mode. Differences of the 16-bit forward itself (Differences::data) see only
// errors of ~10% or more: step 1/4 (bf16) or 1/8 (f16), tolerance 0.1 or 0.03. Every input and
// perturbation is held in its buffer's dtype (data or statistics). A given step below the
// data's resolution (the spacing of an input's numbers over its scale s_j) is refused, a default
// one raised to two spacings. Derivations: docs/gradcheck.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/case.hpp"

namespace bnh {

enum class GradientMode { bn, renorm };
enum class GradientMethod { full, fast };
// The dtype the finite differences are taken in, for bf16 and f16 data: f32 (the same data
// through the implementation's f32 forward, against its 16-bit backward), or the data dtype
// (its own 16-bit forward: a coarse check, docs/gradcheck.md). automatic: f32 when the
// implementation has it. f32 and f64 data are always differenced in their own dtype.
enum class Differences { automatic, f32, data };

// A given step the dtype differenced in cannot resolve on the case's data (the next number is
// farther than the step): what() says the least step that can be used.
class StepBelowResolution : public Error {
 public:
  using Error::Error;
};

struct GradientCheckOptions {
  GradientMode mode = GradientMode::bn;
  GradientMethod method = GradientMethod::full;
  double step = 0;              // 0: the default for the dtype (relative to each input's scale),
                                // raised to two numbers of the dtype where it is finer
  Differences differences = Differences::automatic;
  double atol = -1, rtol = -1;  // negative: the defaults for the dtype
  std::uint64_t seed = 1;       // directions of the fast method
  int directions = 3;
};

// One per input: "x", "gamma", "beta" (fast method: one entry named "direction"). The worst
// entry is the one with the largest |numeric - analytic| / (atol * scale + rtol * |analytic|).
struct InputDiscrepancy {
  std::string input;
  double max_abs_error = 0;     // |numeric - analytic| at the worst entry
  double max_rel_error = 0;     // max_abs_error / (|analytic| + tiny) at that entry
  std::int64_t worst_output = -1, worst_input = -1;  // Jacobian entry (row = output element,
                                                     // column = input element); -1 for fast
  double numeric = 0, analytic = 0;  // the two values at the worst entry
  bool passed = true;           // |numeric - analytic| <= atol * scale + rtol * |analytic|
                                // everywhere
  double scale = 0;             // the Jacobian scale the tolerance is relative to (above)
  double tolerance = 0;         // atol * scale + rtol * |analytic| at the worst entry, so that
                                // max_abs_error / tolerance is the margin (<= 1: passed)
};

struct GradientCheckResult {
  bool supported = true;   // false when the implementation lacks an operation / dtype / layout
  std::string error;       // non-empty if the implementation threw
  bool refused = false;    // it threw bnh::PluginRefusal: a plugin declined this valid call
                           // (error says why), so nothing was checked; still not passed()
  double step = 0, atol = 0, rtol = 0;  // what was used
  DType dtype = DType::f32;        // the case's data dtype, which the backward ran in
  DType differences = DType::f32;  // the dtype the forward was differenced in
  double resolution = 0;           // the least step that moves every input (relative units)
  bool step_raised = false;        // the default step was below two numbers of the data
  std::vector<InputDiscrepancy> inputs;
  // An unsupported check passes (callers skip it, as with reference agreement); one that threw
  // fails.
  bool passed() const;
  std::string describe() const;  // multi-line report naming the worst element of each input
};

// Throws bnh::Error for invalid options (a negative or non-finite step, a non-finite tolerance,
// fewer than one direction) and, for the full method, a Jacobian of more than 2^24 entries;
// StepBelowResolution for a given step below the data's resolution.
GradientCheckResult gradient_check(Implementation& implementation, const Case& test_case,
                                   const GradientCheckOptions& options = {});

}  // namespace bnh
