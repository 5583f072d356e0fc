// Channels are summed in blocks of 32, one lane of partial sums per channel of the block (as a
// vectorized channels-last kernel keeps them in registers), and the lanes are zeroed once,
// before the first block, instead of before every block: channel c >= 32 starts from the totals
// of channel c - 32. Right for up to 32 channels, wrong past them; a kernel right only for its
// first 64 channels once shipped in a major framework.
#include <algorithm>

#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct WrongPastChannel32 : Textbook<WrongPastChannel32> {
  static constexpr const char* name = "wrong_past_channel_32";
  static constexpr std::int64_t block = 32;

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    static thread_local double lane_sum[block], lane_squares[block];
    if (c == 0) {  // the bug: only before the first block
      std::fill(std::begin(lane_sum), std::end(lane_sum), 0.0);
      std::fill(std::begin(lane_squares), std::end(lane_squares), 0.0);
    }
    const std::int64_t lane = c % block;
    const double count = static_cast<double>(desc.per_channel());
    desc.for_each_in_channel(c, [&](std::int64_t i) { lane_sum[lane] += x[i]; });
    mean = lane_sum[lane] / count;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const double centered = x[i] - mean;
      lane_squares[lane] += centered * centered;
    });
    var = lane_squares[lane] / count;
  }
};

}  // namespace

BNH_MUTANT(WrongPastChannel32, "channel blocks of 32 whose partial sums are not reset: wrong past channel 32");

}  // namespace bnh::mutants
