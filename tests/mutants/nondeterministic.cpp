// The sum starts at a different element on every call, as a racy parallel reduction would, and
// accumulates in the element type: results differ in their last bits from call to call.
#include <atomic>

#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

std::atomic<std::int64_t> calls{0};

struct Nondeterministic : Textbook<Nondeterministic> {
  static constexpr const char* name = "nondeterministic";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    const std::int64_t count = desc.per_channel();
    const std::int64_t start = calls++ % count;
    auto at = [&](std::int64_t k) {
      k = (k + start) % count;
      return x[desc.offset(k / desc.spatial(), c, k % desc.spatial())];
    };
    T sum = 0;
    for (std::int64_t k = 0; k < count; ++k) sum = sum + at(k);
    mean = static_cast<double>(sum) / static_cast<double>(count);
    T squares = 0;
    for (std::int64_t k = 0; k < count; ++k) {
      const T centered = at(k) - static_cast<T>(mean);
      squares = squares + centered * centered;
    }
    var = static_cast<double>(squares) / static_cast<double>(count);
  }
};

}  // namespace

BNH_MUTANT(Nondeterministic, "nondeterministic summation order");

}  // namespace bnh::mutants
