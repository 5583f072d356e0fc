// The checks that the property catalogue (properties/properties.cpp) names, one group per file.
// Each takes any implementation and one case, throws PropertyFailure naming what broke and
// returns the worst error its comparisons saw against their bounds (properties/properties.hpp).
// Internal to the property files.
#pragma once

#include "bnh/implementation.hpp"
#include "properties/case.hpp"
#include "properties/gradient_check.hpp"
#include "properties/properties.hpp"

namespace bnh::detail {

// properties/forward_properties.cpp
PropertyCheck normalized_output, shift_invariance, scale_invariance, inference_matches_training,
    running_statistics_update;

// properties/backward_properties.cpp
PropertyCheck gradient_sums_vanish, parameter_gradients, backward_linear_in_dy;
template <GradientMode mode>
BoundFraction gradient_matches_finite_differences(Implementation& impl, const Case& tc);
extern template BoundFraction gradient_matches_finite_differences<GradientMode::bn>(Implementation&, const Case&);
extern template BoundFraction gradient_matches_finite_differences<GradientMode::renorm>(Implementation&, const Case&);

// properties/structure_properties.cpp
PropertyCheck batch_permutation_equivariance, layout_equivalence, four_d_as_two_d;

// properties/renorm_properties.cpp
PropertyCheck renorm_unit_limits_is_batch_norm, renorm_within_limits, renorm_gradient_is_r_times_batch_norm;

// properties/robustness_properties.cpp
PropertyCheck determinism, non_finite_stays_in_channel, finite_output, bad_input_refused;

}  // namespace bnh::detail
