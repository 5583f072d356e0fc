// The choices of a case spec's parameters, shared by the small and the realistic generators.
#pragma once

#include <array>
#include <limits>

namespace bnh::spec_choices {

// The simplest first: shrinking moves towards it.
inline constexpr std::array<double, 4> eps{1e-5, 1e-3, 0.25, 1e-8};
inline constexpr std::array<double, 4> momentum{0.1, 0, 1, 0.5};
inline constexpr std::array<double, 4> rmax{3, 1, 1.5, std::numeric_limits<double>::infinity()};
inline constexpr std::array<double, 4> dmax{5, 0, 0.5, std::numeric_limits<double>::infinity()};

}  // namespace bnh::spec_choices
