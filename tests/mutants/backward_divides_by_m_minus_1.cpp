// The backward divides by M - 1, as if the unbiased variance had been used in the forward.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct BackwardDividesByMMinus1 : Textbook<BackwardDividesByMMinus1> {
  static constexpr const char* name = "backward_divides_by_m_minus_1";
  static double input_gradient(double gamma, double invstd, double count, double dy, double dbeta,
                               double xhat, double dgamma) {
    return gamma * invstd / (count - 1) * ((count - 1) * dy - dbeta - xhat * dgamma);
  }
};

}  // namespace

BNH_MUTANT(BackwardDividesByMMinus1, "M - 1 in place of M in dx");

}  // namespace bnh::mutants
