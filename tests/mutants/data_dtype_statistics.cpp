// The statistics are accumulated in the data dtype: the sums of a bf16 or f16 channel are held
// in bf16 or f16, every add rounded back to it (an accumulator typed like the input instead of
// PyTorch's acc_type, f32). A bf16 sum of 100 values near 1 keeps 8 bits: the mean is off by
// a whole bf16 step, which the f32 save_mean shows at once.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct DataDtypeStatistics : Textbook<DataDtypeStatistics> {
  static constexpr const char* name = "data_dtype_statistics";

  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c, double& mean,
                                 double& var) {
    const float count = static_cast<float>(desc.per_channel());
    T sum = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum = static_cast<T>(sum + x[i]); });
    const float batch_mean = sum / count;
    T squares = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const float centered = x[i] - batch_mean;
      squares = static_cast<T>(squares + centered * centered);
    });
    mean = batch_mean;
    var = squares / count;
  }
};

}  // namespace

BNH_MUTANT_ON(DataDtypeStatistics, "statistics accumulated in the data dtype (bf16, f16 sums)", DType::bf16,
              DType::f16);

}  // namespace bnh::mutants
