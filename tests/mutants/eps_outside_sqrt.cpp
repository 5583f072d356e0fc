// eps added to the standard deviation instead of the variance.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct EpsOutsideSqrt : Textbook<EpsOutsideSqrt> {
  static constexpr const char* name = "eps_outside_sqrt";
  static double invstd_of(double var, double eps) { return 1 / (std::sqrt(var) + eps); }
};

}  // namespace

BNH_MUTANT(EpsOutsideSqrt, "eps outside the square root");

}  // namespace bnh::mutants
