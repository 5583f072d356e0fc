// Renorm updates the running statistics first and computes r and d from the updated values.
#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct RenormUsesUpdatedRunning : Textbook<RenormUsesUpdatedRunning> {
  static constexpr const char* name = "renorm_uses_updated_running";

  template <typename T, typename S>
  static void renorm_forward_train(const TensorDesc& desc, const Params& params, const T* x,
                                   const S* gamma, const S* beta, T* y, S* save_mean,
                                   S* save_invstd, S* r_out, S* d_out, S* running_mean,
                                   S* running_var) {
    for (std::int64_t c = 0; c < desc.c; ++c) {
      double mean, var;
      channel_statistics(desc, x, c, mean, var);
      update_running(desc, params, c, mean, var, running_mean, running_var);  // too early
      const double sigma_batch = std::sqrt(var + params.eps);
      const double sigma_running = std::sqrt(static_cast<double>(running_var[c]) + params.eps);
      const double r = clamp_r(sigma_batch / sigma_running, params.rmax);
      const double d = clamp_d((mean - running_mean[c]) / sigma_running, params.dmax);
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        y[i] = static_cast<T>(gamma[c] * ((x[i] - mean) / sigma_batch * r + d) + beta[c]);
      });
      save_mean[c] = static_cast<S>(mean);
      save_invstd[c] = static_cast<S>(1 / sigma_batch);
      r_out[c] = static_cast<S>(r);
      d_out[c] = static_cast<S>(d);
    }
  }
};

}  // namespace

BNH_MUTANT(RenormUsesUpdatedRunning, "renorm r and d from already-updated running statistics");

}  // namespace bnh::mutants
