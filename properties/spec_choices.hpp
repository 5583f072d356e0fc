// The choices of a case spec's parameters, shared by the small and the realistic generators.
#pragma once

#include <limits>

namespace bnh::spec_choices {

// The simplest first: shrinking moves towards it.
inline constexpr double eps[] = {1e-5, 1e-3, 0.25, 1e-8};
inline constexpr double momentum[] = {0.1, 0, 1, 0.5};
inline constexpr double rmax[] = {3, 1, 1.5, std::numeric_limits<double>::infinity()};
inline constexpr double dmax[] = {5, 0, 0.5, std::numeric_limits<double>::infinity()};

}  // namespace bnh::spec_choices
