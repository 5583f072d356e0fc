// d is never clipped to [-dmax, dmax].
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct DUnclipped : Textbook<DUnclipped> {
  static constexpr const char* name = "d_unclipped";
  static double clamp_d(double shift, double) { return shift; }
};

}  // namespace

BNH_MUTANT(DUnclipped, "d not clipped to dmax");

}  // namespace bnh::mutants
