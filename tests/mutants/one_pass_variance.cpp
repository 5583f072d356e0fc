// Variance as E[x^2] - E[x]^2 in one pass, accumulated in the element type.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct OnePassVariance : Textbook<OnePassVariance> {
  static constexpr const char* name = "one_pass_variance";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    T sum = 0, squares = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      sum = sum + x[i];
      squares = squares + x[i] * x[i];
    });
    const T count = static_cast<T>(desc.per_channel());
    mean = sum / count;
    var = squares / count - static_cast<T>(mean) * static_cast<T>(mean);
  }
};

}  // namespace

BNH_MUTANT(OnePassVariance, "one-pass E[x^2] - E[x]^2 variance in the element type");

}  // namespace bnh::mutants
