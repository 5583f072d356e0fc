// The statistics loop runs in steps of 8 and forgets the tail when M is not a multiple of 8.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct VectorTailSkipped : Textbook<VectorTailSkipped> {
  static constexpr const char* name = "vector_tail_skipped";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    const std::int64_t count = desc.per_channel();
    const std::int64_t covered = count / 8 * 8;
    auto at = [&](std::int64_t k) { return static_cast<double>(x[desc.offset(k / desc.spatial(), c, k % desc.spatial())]); };
    double sum = 0, squares = 0;
    for (std::int64_t k = 0; k < covered; ++k) sum += at(k);
    mean = sum / static_cast<double>(count);
    for (std::int64_t k = 0; k < covered; ++k) squares += (at(k) - mean) * (at(k) - mean);
    var = squares / static_cast<double>(count);
  }
};

}  // namespace

BNH_MUTANT(VectorTailSkipped, "tail elements skipped when M is not a multiple of the vector width");

}  // namespace bnh::mutants
