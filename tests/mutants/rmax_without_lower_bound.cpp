// r is clipped at rmax but not at 1/rmax.
#include <algorithm>

#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct RmaxWithoutLowerBound : Textbook<RmaxWithoutLowerBound> {
  static constexpr const char* name = "rmax_without_lower_bound";
  static double clamp_r(double ratio, double rmax) { return ratio > rmax ? rmax : ratio; }
};

}  // namespace

BNH_MUTANT(RmaxWithoutLowerBound, "rmax clamp without the 1/rmax lower bound");

}  // namespace bnh::mutants
