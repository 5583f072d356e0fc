// The checks that the property catalogue (properties/properties.cpp) names, one group per file.
// Each takes any implementation and one case and throws PropertyFailure naming what broke
// (properties/properties.hpp). Internal to the property files.
#pragma once

#include "bnh/implementation.hpp"
#include "properties/case.hpp"
#include "properties/gradient_check.hpp"

namespace bnh::detail {

// properties/forward_properties.cpp
void normalized_output(Implementation& impl, const Case& original);
void shift_invariance(Implementation& impl, const Case& tc);
void scale_invariance(Implementation& impl, const Case& tc);
void inference_matches_training(Implementation& impl, const Case& original);
void running_statistics_update(Implementation& impl, const Case& original);

// properties/backward_properties.cpp
void gradient_sums_vanish(Implementation& impl, const Case& tc);
void parameter_gradients(Implementation& impl, const Case& tc);
void backward_linear_in_dy(Implementation& impl, const Case& tc);
template <GradientMode mode>
void gradient_matches_finite_differences(Implementation& impl, const Case& tc);
extern template void gradient_matches_finite_differences<GradientMode::bn>(Implementation&, const Case&);
extern template void gradient_matches_finite_differences<GradientMode::renorm>(Implementation&, const Case&);

// properties/structure_properties.cpp
void batch_permutation_equivariance(Implementation& impl, const Case& tc);
void layout_equivalence(Implementation& impl, const Case& tc);
void four_d_as_two_d(Implementation& impl, const Case& original);

// properties/renorm_properties.cpp
void renorm_unit_limits_is_batch_norm(Implementation& impl, const Case& original);
void renorm_within_limits(Implementation& impl, const Case& tc);
void renorm_gradient_is_r_times_batch_norm(Implementation& impl, const Case& tc);

// properties/robustness_properties.cpp
void determinism(Implementation& impl, const Case& tc);
void non_finite_stays_in_channel(Implementation& impl, const Case& tc);
void finite_output(Implementation& impl, const Case& tc);
void bad_input_refused(Implementation& impl, const Case& tc);

}  // namespace bnh::detail
