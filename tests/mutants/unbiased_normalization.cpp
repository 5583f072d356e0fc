// Normalizes with the unbiased variance (the running estimate's) instead of the biased one.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct UnbiasedNormalization : Textbook<UnbiasedNormalization> {
  static constexpr const char* name = "unbiased_normalization";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    Textbook::channel_statistics(desc, x, c, mean, var);
    const double count = static_cast<double>(desc.per_channel());
    var *= count / (count - 1);
  }
};

}  // namespace

BNH_MUTANT(UnbiasedNormalization, "unbiased variance used to normalize");

}  // namespace bnh::mutants
