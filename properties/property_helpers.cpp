#include "properties/property_helpers.hpp"

#include <cmath>
#include <cstring>
#include <sstream>

#include "properties/properties.hpp"
#include "properties/tolerance.hpp"
#include "reference/reference.hpp"

namespace bnh::detail {

[[noreturn]] void fail(const std::string& message) { throw PropertyFailure(message); }

std::vector<double> sum(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> result(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) result[i] = a[i] + b[i];
  return result;
}

std::vector<double> scaled(const std::vector<double>& a, double factor) {
  std::vector<double> result(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) result[i] = a[i] * factor;
  return result;
}

double expect_close(const std::string& what, const std::vector<double>& actual,
                    const std::vector<double>& expected, const std::vector<double>& scale,
                    double bound, DType dtype) {
  const Comparison comparison = compare_vectors(actual, expected, scale, dtype);
  const double fraction = comparison.max_scaled_error / bound;
  if (!comparison.within(bound)) throw PropertyFailure(comparison.describe(what, bound), BoundFraction(fraction));
  return fraction;
}

double expect_close(const std::string& what, const std::vector<double>& actual,
                    const std::vector<double>& expected, const std::vector<double>& scale,
                    const Judgement& j, double sides) {
  return expect_close(what, actual, expected, scale, sides * j.bound, j.dtype);
}

void leave_out_overflows(DType dtype, std::vector<double>& actual, std::vector<double>& expected,
                         const std::vector<const std::vector<double>*>& terms) {
  if (!is_reduced(dtype)) return;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    bool overflowed = std::isinf(actual[i]);
    for (const auto* term : terms) overflowed = overflowed || std::isinf((*term)[i]);
    if (overflowed) actual[i] = expected[i] = 0;
  }
}

void expect_identical(const std::string& what, const std::vector<double>& first,
                      const std::vector<double>& second) {
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (std::memcmp(&first[i], &second[i], sizeof(double)) != 0) {
      std::ostringstream out;
      out.precision(17);
      out << what << " differs at index " << i << ": " << first[i] << " then " << second[i];
      fail(out.str());
    }
  }
}

Operation forward_op(bool renorm) { return renorm ? Operation::renorm_forward_train : Operation::bn_forward_train; }
Operation backward_op(bool renorm) { return renorm ? Operation::renorm_backward : Operation::bn_backward; }
std::string label(bool renorm) { return renorm ? "renorm " : "bn "; }

[[noreturn]] void nothing_to_check() { throw Unsupported("none of the operations it checks is provided"); }

std::vector<bool> provided_normalizations(Implementation& impl, bool with_backward, bool something_else) {
  std::vector<bool> provided;
  for (bool renorm : {false, true}) {
    if (impl.supports(forward_op(renorm)) && (!with_backward || impl.supports(backward_op(renorm)))) {
      provided.push_back(renorm);
    }
  }
  if (provided.empty() && !something_else) nothing_to_check();
  return provided;
}

void reference_statistics(const Case& tc, std::vector<double>& mean, std::vector<double>& var) {
  using reference::Real;
  std::vector<Real> exact_mean, exact_var;
  reference::detail::batch_statistics(tc.desc, reference::to_number<Real>(tc.x), exact_mean, exact_var);
  mean.resize(tc.desc.c);
  var.resize(tc.desc.c);
  for (std::int64_t c = 0; c < tc.desc.c; ++c) {
    mean[c] = reference::round_to<double>(exact_mean[c]);
    var[c] = reference::round_to<double>(exact_var[c]);
  }
}

namespace {

using reference::Real;
std::vector<Real> real(const std::vector<double>& values) { return reference::to_number<Real>(values); }

}  // namespace

ForwardOutputs reference_forward(const Case& tc, bool renorm) {
  const auto exact = renorm ? reference::renorm_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma),
                                                              real(tc.beta), real(tc.running_mean), real(tc.running_var))
                            : reference::bn_forward_train(tc.desc, tc.params, real(tc.x), real(tc.gamma),
                                                          real(tc.beta), real(tc.running_mean), real(tc.running_var));
  const DType data = tc.desc.dtype, stats = tc.desc.stats_dtype();
  using reference::round_to_dtype;
  return {round_to_dtype(exact.y, data),           round_to_dtype(exact.save_mean, stats),
          round_to_dtype(exact.save_invstd, stats), round_to_dtype(exact.r, stats),
          round_to_dtype(exact.d, stats),           round_to_dtype(exact.running_mean, stats),
          round_to_dtype(exact.running_var, stats)};
}

std::vector<double> reference_inference(const Case& tc) {
  return reference::round_to_dtype(reference::bn_forward_infer(tc.desc, tc.params, real(tc.x), real(tc.gamma),
                                                               real(tc.beta), real(tc.running_mean),
                                                               real(tc.running_var)),
                                   tc.desc.dtype);
}

BackwardOutputs reference_backward(const Case& tc, bool renorm, const std::vector<double>& save_mean,
                                   const std::vector<double>& save_invstd, const std::vector<double>& r,
                                   const std::vector<double>& d) {
  const auto exact = renorm ? reference::renorm_backward(tc.desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma),
                                                         real(save_mean), real(save_invstd), real(r), real(d))
                            : reference::bn_backward(tc.desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma),
                                                     real(save_mean), real(save_invstd));
  const DType stats = tc.desc.stats_dtype();
  return {reference::round_to_dtype(exact.dx, tc.desc.dtype), reference::round_to_dtype(exact.dgamma, stats),
          reference::round_to_dtype(exact.dbeta, stats)};
}

std::vector<double> rounded(const std::vector<double>& values, DType dtype) {
  std::vector<double> result(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) result[i] = round_to_dtype(values[i], dtype);
  return result;
}

}  // namespace bnh::detail
