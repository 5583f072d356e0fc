#include "properties/reference_agreement.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "properties/execution.hpp"
#include "properties/tolerance.hpp"
#include "reference/reference.hpp"

namespace bnh {

namespace ref = reference;
using ref::Real;

double ulp_distance(double actual, double expected, DType dtype) {
  if (std::isnan(actual) && std::isnan(expected)) return 0;
  if (!std::isfinite(actual) || !std::isfinite(expected)) {
    return actual == expected ? 0 : std::numeric_limits<double>::infinity();
  }
  // The spacing of the dtype just above |expected|: 2^(exponent - digits), subnormals and zero
  // at the least normal binade's spacing.
  const FloatFormat format = format_of(dtype);
  int exponent = format.min_exponent;
  if (expected != 0) std::frexp(expected, &exponent);
  const double ulp = std::ldexp(1.0, std::max(exponent, format.min_exponent) - format.digits);
  return std::fabs(actual - expected) / ulp;
}

template <typename T>
double ulp_distance(T actual, T expected) {
  return ulp_distance(actual, expected, std::is_same_v<T, float> ? DType::f32 : DType::f64);
}
template double ulp_distance<float>(float, float);
template double ulp_distance<double>(double, double);

bool AgreementResult::passed() const {
  if (!supported) return true;
  if (!error.empty()) return false;
  return std::all_of(outputs.begin(), outputs.end(), [](const auto& o) { return o.passed(); });
}

std::string AgreementResult::describe() const {
  std::ostringstream out;
  out.precision(9);
  out << to_string(operation) << ":";
  if (!supported) out << " not supported";
  if (!error.empty()) out << " failed on a valid call: " << error;
  for (const auto& o : outputs) {
    out << "\n  " << o.output << (o.passed() ? " ok" : " FAIL") << ": scaled error "
        << o.max_scaled_error << " (bound " << o.bound << "), " << o.max_ulp_error << " ulp";
    if (!o.passed()) {
      out << ", at index " << o.worst_index << " got " << o.worst_actual << " expected "
          << o.worst_expected;
    }
  }
  return out.str();
}

namespace {

// Compares an output (held in double) with the reference's exact values, judged as `j` says:
// an f32 or f64 output by its scaled error against k; a bf16 or f16 output by whether it is a
// rounding of a value within the computation's error of the exact one (docs/tolerances.md).
OutputError compare(const char* output, const std::vector<double>& actual, const std::vector<Real>& expected,
                    const std::vector<double>& scale, const Judgement& j) {
  const bool reduced = is_reduced(j.dtype);
  OutputError result;
  result.output = output;
  result.bound = reduced ? 1 : j.bound;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double rounded = ref::round_to_dtype(expected[i], j.dtype);
    const double exact = ref::round_to<double>(expected[i]);
    const double ulps = ulp_distance(actual[i], rounded, j.dtype);
    // Equal to the correctly rounded value is no error, whatever the scale.
    const double scaled = ulps == 0 ? 0
                          : reduced ? rounding_fraction(actual[i], exact, rounded, j.before_rounding(scale[i]), j.dtype)
                                    : scaled_error(actual[i], exact, scale[i], j.dtype);
    result.max_ulp_error = std::max(result.max_ulp_error, ulps);
    if (exact != 0 && std::isfinite(exact)) {
      result.max_relative_error =
          std::max(result.max_relative_error, std::fabs(actual[i] - exact) / std::fabs(exact));
    }
    if (result.worst_index < 0 || scaled > result.max_scaled_error) {
      result.max_scaled_error = scaled;
      result.worst_index = static_cast<std::int64_t>(i);
      result.worst_actual = actual[i];
      result.worst_expected = rounded;
    }
  }
  return result;
}

std::vector<Real> real(const std::vector<double>& values) { return ref::to_number<Real>(values); }

void check_forward_train(Implementation& impl, const Case& tc, bool renorm, AgreementResult& out) {
  const ForwardOutputs actual = run_forward_train(impl, tc, renorm);
  const auto expected =
      renorm ? ref::renorm_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta),
                                         real(tc.running_mean), real(tc.running_var))
             : ref::bn_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta),
                                     real(tc.running_mean), real(tc.running_var));
  const ForwardScales scales = renorm ? forward_scales(tc, ref::round_to<double>(expected.r),
                                                       ref::round_to<double>(expected.d))
                                      : forward_scales(tc);
  // On exact-statistics data the sums are exact: only the final roundings remain.
  const Sums sums = tc.exact_statistics ? Sums::rounding_only : Sums::accumulated;
  auto add = [&](const char* name, Output output, const std::vector<double>& values,
                 const std::vector<Real>& exact, const std::vector<double>& scale) {
    out.outputs.push_back(compare(name, values, exact, scale, judge(tc, output, sums)));
  };
  add("y", Output::y, actual.y, expected.y, scales.y);
  add("save_mean", Output::save_mean, actual.save_mean, expected.save_mean, scales.save_mean);
  add("save_invstd", Output::save_invstd, actual.save_invstd, expected.save_invstd, scales.save_invstd);
  if (renorm) {
    add("r", Output::r, actual.r, expected.r, scales.r);
    add("d", Output::d, actual.d, expected.d, scales.d);
  }
  add("running_mean", Output::running_mean, actual.running_mean, expected.running_mean, scales.running_mean);
  add("running_var", Output::running_var, actual.running_var, expected.running_var, scales.running_var);
}

void check_forward_infer(Implementation& impl, const Case& tc, AgreementResult& out) {
  const auto actual = run_forward_infer(impl, tc);
  const auto expected = ref::bn_forward_infer(tc.desc, tc.params, real(tc.x), real(tc.gamma),
                                              real(tc.beta), real(tc.running_mean),
                                              real(tc.running_var));
  out.outputs.push_back(compare("y", actual, expected, inference_scales(tc), judge(tc, Output::y, Sums::rounding_only)));
}

void check_backward(Implementation& impl, const Case& tc, bool renorm, AgreementResult& out) {
  // The backward pass is judged on its own: it receives the saved values correctly rounded to
  // the statistics dtype.
  const auto forward =
      renorm ? ref::renorm_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta),
                                         real(tc.running_mean), real(tc.running_var))
             : ref::bn_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta));
  const DType stats = tc.desc.stats_dtype();
  const auto save_mean = ref::round_to_dtype(forward.save_mean, stats);
  const auto save_invstd = ref::round_to_dtype(forward.save_invstd, stats);
  const auto r = renorm ? ref::round_to_dtype(forward.r, stats) : std::vector<double>{};
  const auto d = renorm ? ref::round_to_dtype(forward.d, stats) : std::vector<double>{};
  const BackwardOutputs actual = run_backward(impl, tc, renorm, save_mean, save_invstd, r, d);
  const auto expected =
      renorm ? ref::renorm_backward(tc.desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma),
                                    real(save_mean), real(save_invstd), real(r), real(d))
             : ref::bn_backward(tc.desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma),
                                real(save_mean), real(save_invstd));
  const BackwardScales scales = backward_scales(tc, save_mean, save_invstd, r, d);
  out.outputs.push_back(compare("dx", actual.dx, expected.dx, scales.dx, judge(tc, Output::dx)));
  out.outputs.push_back(compare("dgamma", actual.dgamma, expected.dgamma, scales.dgamma, judge(tc, Output::dgamma)));
  out.outputs.push_back(compare("dbeta", actual.dbeta, expected.dbeta, scales.dbeta, judge(tc, Output::dbeta)));
}

}  // namespace

AgreementResult check_reference_agreement(Implementation& implementation, const Case& test_case,
                                          Operation operation) {
  AgreementResult result;
  result.operation = operation;
  if (!implementation.supports(operation) || !implementation.supports(test_case.desc)) {
    result.supported = false;
    return result;
  }
  try {
    switch (operation) {
      case Operation::bn_forward_train: check_forward_train(implementation, test_case, false, result); break;
      case Operation::renorm_forward_train: check_forward_train(implementation, test_case, true, result); break;
      case Operation::bn_forward_infer: check_forward_infer(implementation, test_case, result); break;
      case Operation::bn_backward: check_backward(implementation, test_case, false, result); break;
      case Operation::renorm_backward: check_backward(implementation, test_case, true, result); break;
    }
  } catch (const Unsupported&) {
    result.supported = false;
  } catch (const std::exception& error) {
    result.error = error.what();
  }
  return result;
}

}  // namespace bnh
