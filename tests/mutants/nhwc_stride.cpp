// In NHWC the statistics walk H positions per sample instead of H*W: a stride bug that only
// shows when W > 1.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct NhwcStride : Textbook<NhwcStride> {
  static constexpr const char* name = "nhwc_stride";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    if (desc.layout != Layout::nhwc) return Textbook::channel_statistics(desc, x, c, mean, var);
    const double count = static_cast<double>(desc.per_channel());
    double sum = 0, squares = 0;
    for (std::int64_t n = 0; n < desc.n; ++n) {
      for (std::int64_t s = 0; s < desc.h; ++s) sum += x[desc.offset(n, c, s)];
    }
    mean = sum / count;
    for (std::int64_t n = 0; n < desc.n; ++n) {
      for (std::int64_t s = 0; s < desc.h; ++s) {
        const double centered = x[desc.offset(n, c, s)] - mean;
        squares += centered * centered;
      }
    }
    var = squares / count;
  }
};

}  // namespace

BNH_MUTANT(NhwcStride, "an NHWC stride bug (H where H*W belongs)");

}  // namespace bnh::mutants
