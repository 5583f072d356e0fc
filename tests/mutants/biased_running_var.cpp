// The running variance tracks the biased batch variance.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct BiasedRunningVar : Textbook<BiasedRunningVar> {
  static constexpr const char* name = "biased_running_var";

  template <typename T>
  static void update_running(const TensorDesc&, const Params& params, std::int64_t c, double mean,
                             double var, T* running_mean, T* running_var) {
    running_mean[c] = static_cast<T>((1 - params.momentum) * running_mean[c] + params.momentum * mean);
    running_var[c] = static_cast<T>((1 - params.momentum) * running_var[c] + params.momentum * var);
  }
};

}  // namespace

BNH_MUTANT(BiasedRunningVar, "biased variance in running_var");

}  // namespace bnh::mutants
