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

template <typename T>
double ulp_distance(T actual, T expected) {
  if (std::isnan(actual) && std::isnan(expected)) return 0;
  if (!std::isfinite(actual) || !std::isfinite(expected)) {
    return actual == expected ? 0 : std::numeric_limits<double>::infinity();
  }
  const T magnitude = std::fabs(expected);
  const T ulp = std::nextafter(magnitude, std::numeric_limits<T>::infinity()) - magnitude;
  return std::fabs(static_cast<double>(actual) - static_cast<double>(expected)) / ulp;
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

// Compares an output computed in T (held in double) with the reference's exact values.
template <typename T>
OutputError compare(const char* output, const std::vector<double>& actual,
                    const std::vector<Real>& expected, const std::vector<double>& scale,
                    double bound) {
  const DType dtype = std::is_same_v<T, float> ? DType::f32 : DType::f64;
  OutputError result;
  result.output = output;
  result.bound = bound;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const T rounded = ref::round_to<T>(expected[i]);
    const double exact = ref::round_to<double>(expected[i]);
    const double ulps = ulp_distance(static_cast<T>(actual[i]), rounded);
    // Equal to the correctly rounded value is no error, whatever the scale.
    const double scaled = ulps == 0 ? 0 : scaled_error(actual[i], exact, scale[i], dtype);
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

template <typename T>
std::vector<double> rounded(const std::vector<Real>& values) {
  const auto narrow = ref::round_to<T>(values);
  return std::vector<double>(narrow.begin(), narrow.end());
}

template <typename T>
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
  const double k = tc.exact_statistics ? rounding_bound
                                       : accumulation_bound(tc.desc.dtype, tc.desc.per_channel());
  out.outputs.push_back(compare<T>("y", actual.y, expected.y, scales.y, k));
  out.outputs.push_back(compare<T>("save_mean", actual.save_mean, expected.save_mean, scales.save_mean, k));
  out.outputs.push_back(compare<T>("save_invstd", actual.save_invstd, expected.save_invstd, scales.save_invstd, k));
  if (renorm) {
    out.outputs.push_back(compare<T>("r", actual.r, expected.r, scales.r, k));
    out.outputs.push_back(compare<T>("d", actual.d, expected.d, scales.d, k));
  }
  out.outputs.push_back(compare<T>("running_mean", actual.running_mean, expected.running_mean, scales.running_mean, k));
  out.outputs.push_back(compare<T>("running_var", actual.running_var, expected.running_var, scales.running_var, k));
}

template <typename T>
void check_forward_infer(Implementation& impl, const Case& tc, AgreementResult& out) {
  const auto actual = run_forward_infer(impl, tc);
  const auto expected = ref::bn_forward_infer(tc.desc, tc.params, real(tc.x), real(tc.gamma),
                                              real(tc.beta), real(tc.running_mean),
                                              real(tc.running_var));
  out.outputs.push_back(compare<T>("y", actual, expected, inference_scales(tc), rounding_bound));
}

template <typename T>
void check_backward(Implementation& impl, const Case& tc, bool renorm, AgreementResult& out) {
  // The backward pass is judged on its own: it receives the correctly rounded saved values.
  const auto forward =
      renorm ? ref::renorm_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta),
                                         real(tc.running_mean), real(tc.running_var))
             : ref::bn_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta));
  const auto save_mean = rounded<T>(forward.save_mean), save_invstd = rounded<T>(forward.save_invstd);
  const auto r = renorm ? rounded<T>(forward.r) : std::vector<double>{};
  const auto d = renorm ? rounded<T>(forward.d) : std::vector<double>{};
  const BackwardOutputs actual = run_backward(impl, tc, renorm, save_mean, save_invstd, r, d);
  const auto expected =
      renorm ? ref::renorm_backward(tc.desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma),
                                    real(save_mean), real(save_invstd), real(r), real(d))
             : ref::bn_backward(tc.desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma),
                                real(save_mean), real(save_invstd));
  const BackwardScales scales = backward_scales(tc, save_mean, save_invstd, r, d);
  const double k = accumulation_bound(tc.desc.dtype, tc.desc.per_channel());
  out.outputs.push_back(compare<T>("dx", actual.dx, expected.dx, scales.dx, k));
  out.outputs.push_back(compare<T>("dgamma", actual.dgamma, expected.dgamma, scales.dgamma, k));
  out.outputs.push_back(compare<T>("dbeta", actual.dbeta, expected.dbeta, scales.dbeta, k));
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
    dispatch_dtype(test_case.desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      switch (operation) {
        case Operation::bn_forward_train: check_forward_train<T>(implementation, test_case, false, result); break;
        case Operation::renorm_forward_train: check_forward_train<T>(implementation, test_case, true, result); break;
        case Operation::bn_forward_infer: check_forward_infer<T>(implementation, test_case, result); break;
        case Operation::bn_backward: check_backward<T>(implementation, test_case, false, result); break;
        case Operation::renorm_backward: check_backward<T>(implementation, test_case, true, result); break;
      }
    });
  } catch (const Unsupported&) {
    result.supported = false;
  } catch (const std::exception& error) {
    result.error = error.what();
  }
  return result;
}

}  // namespace bnh
