// dx loses the -dbeta term: the gradient of the mean is forgotten.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct DxWithoutMeanTerm : Textbook<DxWithoutMeanTerm> {
  static constexpr const char* name = "dx_without_mean_term";
  static double input_gradient(double gamma, double invstd, double count, double dy, double,
                               double xhat, double dgamma) {
    return gamma * invstd / count * (count * dy - xhat * dgamma);
  }
};

}  // namespace

BNH_MUTANT(DxWithoutMeanTerm, "the mean term dropped from dx");

}  // namespace bnh::mutants
