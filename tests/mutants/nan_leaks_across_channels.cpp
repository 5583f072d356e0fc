// The accumulator is "reset" between channels by multiplying it by zero, which keeps a NaN or an
// infinity: one bad channel poisons every later one.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct NanLeaksAcrossChannels : Textbook<NanLeaksAcrossChannels> {
  static constexpr const char* name = "nan_leaks_across_channels";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    static thread_local double carried = 0;
    if (c == 0) carried = 0;
    const double count = static_cast<double>(desc.per_channel());
    double sum = carried * 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum += x[i]; });
    mean = sum / count;
    double squares = carried * 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { squares += (x[i] - mean) * (x[i] - mean); });
    var = squares / count;
    carried = sum;
  }
};

}  // namespace

BNH_MUTANT(NanLeaksAcrossChannels, "a NaN leaking into the next channel");

}  // namespace bnh::mutants
