#include "properties/properties.hpp"

#include <string>
#include <vector>

#include "properties/gradient_check.hpp"
#include "properties/property_checks.hpp"
#include "properties/property_helpers.hpp"
#include "properties/reference_agreement.hpp"

namespace bnh {

// The checks of properties/*_properties.cpp, which the catalogue names.
using namespace detail;

namespace {

// Agreement with the reference, one operation at a time.
template <Operation op>
BoundFraction agrees_with_reference(Implementation& impl, const Case& tc) {
  const AgreementResult result = check_reference_agreement(impl, tc, op);
  if (!result.supported) throw Unsupported("not supported");
  BoundFraction worst;
  for (const auto& output : result.outputs) worst.note(output.max_scaled_error / output.bound);
  if (!result.passed()) throw PropertyFailure(result.describe(), worst);
  return worst;
}

const std::vector<Operation> bn_ops{Operation::bn_forward_train, Operation::bn_backward};
const std::vector<Operation> renorm_ops{Operation::renorm_forward_train, Operation::renorm_backward,
                                        Operation::bn_backward};
// For the properties that check whichever of these the implementation has.
const std::vector<Operation> training_forwards{Operation::bn_forward_train, Operation::renorm_forward_train};
const std::vector<Operation> forwards{Operation::bn_forward_train, Operation::renorm_forward_train,
                                      Operation::bn_forward_infer};
const std::vector<Operation> backwards{Operation::bn_backward, Operation::renorm_backward};  // each with its forward

// A catalogue entry's fields after its check, spelled out.
constexpr bool generated = true;
constexpr bool needs_all = false, needs_any = true;    // of its operations
constexpr int realistic = 1, realistic_twice = 2, small_only = 0;  // per dtype and layout

// The property "agreement_<op>": agreement with the reference on that one operation.
template <Operation op>
Property agreement(const char* targets, int realistic_cases) {
  static const std::string name = std::string("agreement_") + to_string(op);
  return {name.c_str(), targets, {op}, agrees_with_reference<op>, generated, needs_all, realistic_cases};
}

}  // namespace

const std::vector<Property>& property_catalogue() {
  static const std::vector<Property> catalogue{
      // Twice: the cheapest check against the reference, where statistics that lose accuracy at
      // large M show (the same cases are drawn for every property).
      agreement<Operation::bn_forward_train>(
          "wrong statistics, normalization or running update in training; sums that lose accuracy "
          "as M grows (f32 accumulators, one-pass variance) or overflow (f32 squares): the output "
          "named says which sum",
          realistic_twice),
      agreement<Operation::bn_forward_infer>(
          "wrong inference formula (batch statistics, eps misplaced); precision lost in (x - mean) * invstd",
          realistic),
      agreement<Operation::bn_backward>(
          "wrong gradient formula (a missing term, gamma, M - 1 for M); gradient sums that lose "
          "accuracy as M grows or overflow",
          realistic),
      agreement<Operation::renorm_forward_train>(
          "wrong r, d, clipping, or running update (or its order) in renorm; statistics that lose "
          "accuracy as M grows or overflow",
          realistic),
      agreement<Operation::renorm_backward>(
          "gradient through r or d, r missing; gradient sums that lose accuracy as M grows or overflow",
          realistic),
      {"normalized_output",
       "wrong variance (unbiased, eps misplaced), missing centring, in batch norm or renorm; "
       "statistics that lose accuracy as M grows",
       training_forwards, normalized_output, generated, needs_any, small_only},
      {"shift_invariance",
       "the mean used where a centred value belongs ((xhat - mu) formulas); statistics that lose "
       "accuracy under a large mean (one-pass variance, f32 sums)",
       training_forwards, shift_invariance, generated, needs_any, small_only},
      {"scale_invariance",
       "eps outside the square root, terms left unnormalized; a sum of squares that overflows at "
       "16 times the squares (the message then says it overflowed)",
       training_forwards, scale_invariance, generated, needs_any, small_only},
      {"gradient_sums_vanish", "dx missing its mean or its xhat term, in batch norm or renorm",
       backwards, gradient_sums_vanish, generated, needs_any, small_only},
      {"parameter_gradients",
       "dgamma or dbeta not the sums they are (renorm: the r and d terms); those sums losing "
       "accuracy as M grows",
       backwards, parameter_gradients, generated, needs_any, small_only},
      {"backward_linear_in_dy", "state, caching or a nonlinearity in the backward", backwards,
       backward_linear_in_dy, generated, needs_any, small_only},
      {"gradient_matches_finite_differences", "a backward that is not the forward's derivative",
       bn_ops, gradient_matches_finite_differences<GradientMode::bn>},
      {"renorm_gradient_matches_finite_differences", "a renorm backward that is not the derivative with r, d held",
       {Operation::renorm_forward_train, Operation::bn_forward_train, Operation::renorm_backward},
       gradient_matches_finite_differences<GradientMode::renorm>},
      {"batch_permutation_equivariance", "samples treated unequally, batch stride bugs", forwards,
       batch_permutation_equivariance, generated, needs_any, small_only},
      {"layout_equivalence", "stride or channel-blocking bugs in one layout", forwards,
       layout_equivalence, generated, needs_any, realistic},
      {"four_d_as_two_d", "spatial dimensions handled unlike the batch", forwards, four_d_as_two_d,
       generated, needs_any, small_only},
      {"inference_matches_training",
       "inference and training disagree on the formula; a training sum of squares that overflows "
       "(training y = beta where inference is finite)",
       {Operation::bn_forward_train, Operation::bn_forward_infer}, inference_matches_training,
       generated, needs_all, small_only},
      {"running_statistics_update",
       "momentum reversed, biased running variance, running statistics changed at momentum 0, in "
       "batch norm or renorm",
       training_forwards, running_statistics_update, generated, needs_any, small_only},
      {"renorm_unit_limits_is_batch_norm", "renorm not reducing to batch norm",
       {Operation::renorm_forward_train, Operation::bn_forward_train, Operation::renorm_backward,
        Operation::bn_backward}, renorm_unit_limits_is_batch_norm, generated, needs_all, small_only},
      {"renorm_within_limits", "a missing or one-sided clamp of r or d", {Operation::renorm_forward_train},
       renorm_within_limits, generated, needs_all, small_only},
      {"renorm_gradient_is_r_times_batch_norm", "gradient flowing through r, r missing",
       renorm_ops, renorm_gradient_is_r_times_batch_norm, generated, needs_all, small_only},
      {"determinism", "race conditions, order-dependent merges, hidden state", forwards, determinism,
       generated, needs_any, realistic},
      {"non_finite_stays_in_channel",
       "a NaN or Inf leaking into other channels (an accumulator shared across channels, a reset "
       "by multiplying by 0)",
       forwards, non_finite_stays_in_channel, generated, needs_any, realistic},
      {"finite_output",
       "overflow in a sum of squares (running_var or r infinite) or of x (save_mean), division by "
       "zero, an infinity times 0 (y or dx NaN)",
       forwards, finite_output, generated, needs_any, small_only},
      {"bad_input_refused", "bad input accepted silently", {}, bad_input_refused, false},
  };
  return catalogue;
}

const Property& find_property(const std::string& name) {
  for (const auto& property : property_catalogue()) {
    if (name == property.name) return property;
  }
  std::string known;
  for (const auto& property : property_catalogue()) known += (known.empty() ? "" : ", ") + std::string(property.name);
  throw Error("unknown property '" + name + "' (known: " + known + ")");
}

}  // namespace bnh
