// One-pass moments of bf16 data: sum x and sum x^2 in f32, but E[x] and E[x^2] held in the data
// dtype and the variance taken as E[x^2] - E[x]^2. At mean 5 and std 0.1, E[x^2] = 25.01 rounds
// to 25 in bf16 (spacing 0.125): the variance comes out 0 or negative, invstd huge or NaN.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct OnePassMomentsInBf16 : Textbook<OnePassMomentsInBf16> {
  static constexpr const char* name = "one_pass_moments_in_bf16";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    const float count = static_cast<float>(desc.per_channel());
    float sum = 0, squares = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      sum += x[i];
      squares += static_cast<float>(x[i]) * x[i];
    });
    const T mean_of_x = sum / count, mean_of_squares = squares / count;
    mean = mean_of_x;
    var = mean_of_squares - static_cast<float>(mean_of_x) * mean_of_x;
  }
};

}  // namespace

BNH_MUTANT_ON(OnePassMomentsInBf16, "one-pass E[x^2] - E[x]^2 with the moments in bf16", DType::bf16);

}  // namespace bnh::mutants
