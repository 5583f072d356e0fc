// dx forgets that y was scaled by gamma.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct DxWithoutGamma : Textbook<DxWithoutGamma> {
  static constexpr const char* name = "dx_without_gamma";
  static double input_gradient(double, double invstd, double count, double dy, double dbeta,
                               double xhat, double dgamma) {
    return invstd / count * (count * dy - dbeta - xhat * dgamma);
  }
};

}  // namespace

BNH_MUTANT(DxWithoutGamma, "gamma missing from dx");

}  // namespace bnh::mutants
