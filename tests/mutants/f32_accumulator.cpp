// The statistics are summed in the element type, in one plain running sum per pass. In f64 that
// is within the tolerance model; in f32 the sum's rounding error grows like M u (relative to the
// sum), far past the O(log2 M) u of pairwise or blocked sums. Right at the small sizes, wrong at
// the M of real layers (2^16 and more): the bug only realistic shapes find.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct F32Accumulator : Textbook<F32Accumulator> {
  static constexpr const char* name = "f32_accumulator";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    const T count = static_cast<T>(desc.per_channel());
    T sum = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum = sum + x[i]; });
    const T batch_mean = sum / count;
    T squares = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const T centered = x[i] - batch_mean;
      squares = squares + centered * centered;
    });
    mean = batch_mean;
    var = squares / count;
  }
};

}  // namespace

BNH_MUTANT(F32Accumulator, "statistics summed in a plain running sum of the element type (f32)");

}  // namespace bnh::mutants
