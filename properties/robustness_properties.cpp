// Properties of robustness: determinism, non-finite data kept to its channel, finite output
// from finite input, bad input refused.
#include "properties/property_checks.hpp"

#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "properties/bad_input.hpp"
#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
#include "properties/tolerance.hpp"

namespace bnh::detail {

// The same call twice gives bitwise the same outputs.
BoundFraction determinism(Implementation& impl, const Case& tc) {
  for (bool renorm : provided_normalizations(impl, false, impl.supports(Operation::bn_forward_infer))) {
    const std::string op = label(renorm);
    const auto a = run_forward_train(impl, tc, renorm), b = run_forward_train(impl, tc, renorm);
    expect_identical(op + "y", a.y, b.y);
    expect_identical(op + "save_mean", a.save_mean, b.save_mean);
    expect_identical(op + "save_invstd", a.save_invstd, b.save_invstd);
    expect_identical(op + "running_mean", a.running_mean, b.running_mean);
    expect_identical(op + "running_var", a.running_var, b.running_var);
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_a = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_b = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    expect_identical(op + "dx", back_a.dx, back_b.dx);
    expect_identical(op + "dgamma", back_a.dgamma, back_b.dgamma);
    expect_identical(op + "dbeta", back_a.dbeta, back_b.dbeta);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    expect_identical("inference y", run_forward_infer(impl, tc), run_forward_infer(impl, tc));
  }
  return {};
}

// A NaN or infinity in one channel leaves every other channel's outputs as they were.
BoundFraction non_finite_stays_in_channel(Implementation& impl, const Case& tc) {
  if (tc.desc.c < 2) throw Unsupported("needs two channels");
  const std::int64_t poisoned = static_cast<std::int64_t>(tc.x.size() * 7 % tc.desc.c);
  Case bad = tc;
  const double poison = (tc.x.size() % 2 == 0) ? std::nan("") : INFINITY;
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    if (channel_of(tc.desc, i) == poisoned && i % 3 == 0) {
      bad.x[i] = poison;
      bad.dy[i] = poison;
    }
  }
  bad.running_var[poisoned] = std::nan("");
  // Another channel's values may move by a rounding or two of the working precision (a
  // vectorized sum that takes the channels in another grouping), and a bf16 or f16 output then
  // by the one unit in its last place that such a move can flip when it stores.
  const double working_u = unit_roundoff(working_dtype(tc.desc.dtype));
  auto expect_channels_kept = [&](const std::string& what, const std::vector<double>& clean,
                                  const std::vector<double>& dirty, bool per_element) {
    const DType dtype = per_element ? tc.desc.dtype : tc.desc.stats_dtype();
    const double relative = 1e3 * working_u + (is_reduced(dtype) ? 2 * unit_roundoff(dtype) : 0);
    for (std::size_t i = 0; i < clean.size(); ++i) {
      const auto c = per_element ? channel_of(tc.desc, static_cast<std::int64_t>(i)) : static_cast<std::int64_t>(i);
      if (c == poisoned) continue;
      const bool same = std::memcmp(&clean[i], &dirty[i], sizeof(double)) == 0 ||
                        (std::isfinite(dirty[i]) && std::fabs(clean[i] - dirty[i]) <= relative * std::fabs(clean[i]));
      if (!same) {
        std::ostringstream out;
        out << what << " of channel " << c << " changed from " << clean[i] << " to " << dirty[i]
            << " when channel " << poisoned << " held " << poison;
        fail(out.str());
      }
    }
  };
  for (bool renorm : provided_normalizations(impl, false, impl.supports(Operation::bn_forward_infer))) {
    const std::string op = label(renorm);
    const auto clean = run_forward_train(impl, tc, renorm), dirty = run_forward_train(impl, bad, renorm);
    expect_channels_kept(op + "y", clean.y, dirty.y, true);
    expect_channels_kept(op + "save_mean", clean.save_mean, dirty.save_mean, false);
    expect_channels_kept(op + "save_invstd", clean.save_invstd, dirty.save_invstd, false);
    expect_channels_kept(op + "running_mean", clean.running_mean, dirty.running_mean, false);
    expect_channels_kept(op + "running_var", clean.running_var, dirty.running_var, false);
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_clean = run_backward(impl, tc, renorm, clean.save_mean, clean.save_invstd, clean.r, clean.d);
    const auto back_dirty = run_backward(impl, bad, renorm, dirty.save_mean, dirty.save_invstd, dirty.r, dirty.d);
    expect_channels_kept(op + "dx", back_clean.dx, back_dirty.dx, true);
    expect_channels_kept(op + "dgamma", back_clean.dgamma, back_dirty.dgamma, false);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    expect_channels_kept("inference y", run_forward_infer(impl, tc), run_forward_infer(impl, bad), true);
  }
  return {};
}

// Finite input gives finite output, on every regime the generators make (huge values included).
// The output named tells the cause: running_var, save_invstd or r infinite or zero where a sum
// of squares overflowed; y or dx NaN where an infinity met a zero. The one exception is an
// output whose exact value overflows its dtype (f16 from 65520: the running variance of data
// near f16's range in pure mode, say): infinity of the exact value's sign is then the correct
// answer, which the reference decides.
BoundFraction finite_output(Implementation& impl, const Case& tc) {
  auto expect_finite = [&](const std::string& what, const std::vector<double>& values, auto&& exact_values) {
    std::optional<std::vector<double>> exact;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (std::isfinite(values[i])) continue;
      if (std::isinf(values[i])) {
        if (!exact) exact = exact_values();
        if ((*exact)[i] == values[i]) continue;
      }
      fail(what + "[" + std::to_string(i) + "] = " + std::to_string(values[i]) + " from finite input");
    }
  };
  for (bool renorm : provided_normalizations(impl, false, impl.supports(Operation::bn_forward_infer))) {
    const std::string op = label(renorm);
    const auto forward = run_forward_train(impl, tc, renorm);
    std::optional<ForwardOutputs> reference;
    for (const auto& [name, member] :
         {std::pair{"y", &ForwardOutputs::y}, {"save_mean", &ForwardOutputs::save_mean},
          {"save_invstd", &ForwardOutputs::save_invstd}, {"running_mean", &ForwardOutputs::running_mean},
          {"running_var", &ForwardOutputs::running_var}, {"r", &ForwardOutputs::r}, {"d", &ForwardOutputs::d}}) {
      expect_finite(op + name, forward.*member, [&, member = member] {
        if (!reference) reference = reference_forward(tc, renorm);
        return (*reference).*member;
      });
    }
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back = run_backward(impl, tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    std::optional<BackwardOutputs> back_reference;
    for (const auto& [name, member] : {std::pair{"dx", &BackwardOutputs::dx}, {"dgamma", &BackwardOutputs::dgamma},
                                       {"dbeta", &BackwardOutputs::dbeta}}) {
      expect_finite(op + name, back.*member, [&, member = member] {
        if (!back_reference) {
          back_reference = reference_backward(tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
        }
        return (*back_reference).*member;
      });
    }
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    expect_finite("inference y", run_forward_infer(impl, tc), [&] { return reference_inference(tc); });
  }
  return {};
}

// Every bad input of SPEC section 4 is refused (with bnh::Error; the built-ins' wording is
// checked by the unit tests, a plugin words its own). This is the strict form; the runner
// reports a plugin's silent acceptance separately unless asked to be strict.
BoundFraction bad_input_refused(Implementation& impl, const Case&) {
  const std::string failure = input_validation_failure(check_input_validation(impl), true);
  if (!failure.empty()) fail(failure);
  return {};
}

}  // namespace bnh::detail
