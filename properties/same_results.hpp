// One logical computation done twice must give the same results: the structure properties
// (another sample order, layout or shape) and the synchronized ones (another split of the batch)
// compare every output this way. Internal to the property files.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
#include "properties/properties.hpp"
#include "properties/tolerance.hpp"

namespace bnh::detail {

// `values` with element i moved to target_of(i).
template <typename Target>
std::vector<double> moved(const std::vector<double>& values, Target&& target_of) {
  std::vector<double> result(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) result[target_of(static_cast<std::int64_t>(i))] = values[i];
  return result;
}

// Calls run() and returns what it returns: a computation done with nothing around it.
inline constexpr auto as_is = [](auto&& run) { return run(); };

// Compares every output of every operation the implementation provides, computed on `tc` (each
// call made inside `first`) and on `other` (inside `second`): one logical tensor, the second
// arrangement's element target_of(i) the first's i. Each is within the bound of a correct
// computation, so the two agree within twice it. With `with_r_d`, renorm's r and d as well.
template <typename Target, typename First = std::decay_t<decltype(as_is)>,
          typename Second = std::decay_t<decltype(as_is)>>
BoundFraction same_results(Implementation& impl, const Case& tc, const Case& other, Target&& target_of,
                           const std::string& how, First first = as_is, Second second = as_is,
                           bool with_r_d = false) {
  BoundFraction worst;
  // Each of the two within its own bound: twice it, in the output's dtype.
  auto agree = [&](const std::string& what, const std::vector<double>& b, const std::vector<double>& a,
                   const std::vector<double>& scale, Output output, Sums sums = Sums::accumulated) {
    worst.note(expect_close(what, b, a, scale, judge(tc, output, sums), 2));
  };
  for (bool renorm : provided_normalizations(impl, false, impl.supports(Operation::bn_forward_infer))) {
    const std::string op = label(renorm);
    const auto a = first([&] { return run_forward_train(impl, tc, renorm); });
    const auto b = second([&] { return run_forward_train(impl, other, renorm); });
    const auto scales = forward_scales(tc, a.r, a.d);
    agree(op + "y " + how, b.y, moved(a.y, target_of), moved(scales.y, target_of), Output::y);
    agree(op + "save_mean " + how, b.save_mean, a.save_mean, scales.save_mean, Output::save_mean);
    agree(op + "save_invstd " + how, b.save_invstd, a.save_invstd, scales.save_invstd, Output::save_invstd);
    agree(op + "running_mean " + how, b.running_mean, a.running_mean, scales.running_mean, Output::running_mean);
    agree(op + "running_var " + how, b.running_var, a.running_var, scales.running_var, Output::running_var);
    if (renorm && with_r_d) {
      agree(op + "r " + how, b.r, a.r, scales.r, Output::r);
      agree(op + "d " + how, b.d, a.d, scales.d, Output::d);
    }
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_a = first([&] { return run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d); });
    const auto back_b = second([&] { return run_backward(impl, other, renorm, a.save_mean, a.save_invstd, a.r, a.d); });
    const auto back_scales = backward_scales(tc, a.save_mean, a.save_invstd, a.r, a.d);
    agree(op + "dx " + how, back_b.dx, moved(back_a.dx, target_of), moved(back_scales.dx, target_of), Output::dx);
    agree(op + "dgamma " + how, back_b.dgamma, back_a.dgamma, back_scales.dgamma, Output::dgamma);
    agree(op + "dbeta " + how, back_b.dbeta, back_a.dbeta, back_scales.dbeta, Output::dbeta);
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    const auto a = first([&] { return run_forward_infer(impl, tc); });
    const auto b = second([&] { return run_forward_infer(impl, other); });
    agree("inference y " + how, b, moved(a, target_of), moved(inference_scales(tc), target_of), Output::y,
          Sums::rounding_only);
  }
  return worst;
}

}  // namespace bnh::detail
