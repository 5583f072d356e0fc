// Inference normalizes with the batch's statistics instead of the running ones.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct InferenceUsesBatchStatistics : Textbook<InferenceUsesBatchStatistics> {
  static constexpr const char* name = "inference_uses_batch_statistics";

  template <typename T, typename S>
  static void bn_forward_infer(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, const S*, const S*, T* y) {
    for (std::int64_t c = 0; c < desc.c; ++c) {
      double mean, var;
      channel_statistics(desc, x, c, mean, var);
      const double invstd = invstd_of(var, params.eps);
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        y[i] = static_cast<T>(gamma[c] * (x[i] - mean) * invstd + beta[c]);
      });
    }
  }
};

}  // namespace

BNH_MUTANT(InferenceUsesBatchStatistics, "inference with batch statistics instead of running ones");

}  // namespace bnh::mutants
