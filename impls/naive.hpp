// naive: the textbook loops, one channel at a time, read straight off SPEC.md sections 2 and 3.
// Statistics take two passes (mean, then squared deviations) accumulated in double, so that
// f32 data loses nothing to the sums and a large mean does not cancel the variance away.
// Slow on purpose: every pass walks the channel with the layout's stride.
//
// Every (data, statistics) dtype pair: the tensors are T, the per-channel buffers S. bf16 and
// f16 values widen to float exactly, so the kernels read every input as a number, compute in
// double, and store each output once: static_cast<T> or <S> of the double result rounds to
// nearest even, once. The running statistics are read from S and stored back in S.
//
// The kernels are written once as Textbook<Self>, whose steps (statistics, invstd, the running
// update, renorm's clamp, the rounding of each output stored) are static functions looked up
// through Self. naive is Textbook with every step as written here; the mutant catalogue
// (tests/mutants/) replaces one step or one operation to make a deliberately wrong
// implementation that differs in one place.
#pragma once

// naive's double arithmetic is evaluated as written, with no fused multiply-add, so that its
// results do not depend on the compiler's contraction choices: each bf16 or f16 output is then
// the f64 run's output rounded once, in every build.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#include <cmath>
#include <cstdint>

#include "bnh/kernels.hpp"

namespace bnh::naive {

template <typename Self>
struct Textbook {
  static constexpr const char* description = "the textbook kernels with one step replaced";
  static bool supports(const TensorDesc&) { return true; }

  // ---- the steps ----------------------------------------------------------------------------

  // Two passes over channel c: the mean, then the biased variance.
  template <typename T>
  static void channel_statistics(const TensorDesc& desc, const T* x, std::int64_t c,
                                 double& mean, double& var) {
    const double count = static_cast<double>(desc.per_channel());
    double sum = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum += x[i]; });
    mean = sum / count;
    double squares = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const double centered = x[i] - mean;
      squares += centered * centered;
    });
    var = squares / count;
  }

  static double invstd_of(double var, double eps) { return 1 / std::sqrt(var + eps); }

  // PyTorch's update: momentum weights the new batch; the running variance is unbiased. The
  // running statistics are S, the statistics dtype: read, updated in double, stored once.
  template <typename S>
  static void update_running(const TensorDesc& desc, const Params& params, std::int64_t c,
                             double mean, double var, S* running_mean, S* running_var) {
    const double count = static_cast<double>(desc.per_channel());
    const double unbiased = var * count / (count - 1);
    running_mean[c] = Self::template stored<S>((1 - params.momentum) * running_mean[c] + params.momentum * mean);
    running_var[c] = Self::template stored<S>((1 - params.momentum) * running_var[c] + params.momentum * unbiased);
  }

  // Each output is stored once: the double result rounded to the output's type E, to nearest
  // even (bf16 and f16 round straight from the double; f16 overflows to infinity).
  template <typename E>
  static E stored(double value) {
    return static_cast<E>(value);
  }

  // NaN passes through so that a non-finite channel stays visibly non-finite.
  static double clamp(double value, double low, double high) {
    return value < low ? low : (high < value ? high : value);
  }
  static double clamp_r(double ratio, double rmax) { return clamp(ratio, 1 / rmax, rmax); }
  static double clamp_d(double shift, double dmax) { return clamp(shift, -dmax, dmax); }

  // dbeta = sum(dy), dgamma = sum(dy xhat) over the channel.
  template <typename T>
  static void gradient_sums(const TensorDesc& desc, const T* dy, const T* x, std::int64_t c, double mean,
                            double invstd, double& sum_dy, double& sum_dy_xhat) {
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      sum_dy += dy[i];
      sum_dy_xhat += dy[i] * ((x[i] - mean) * invstd);
    });
  }

  // dx = gamma invstd / M (M dy - dbeta - xhat dgamma); renorm passes gamma r for gamma.
  static double input_gradient(double gamma, double invstd, double count, double dy,
                               double dbeta, double xhat, double dgamma) {
    return gamma * invstd / count * (count * dy - dbeta - xhat * dgamma);
  }

  // ---- the operations -------------------------------------------------------------------------

  template <typename T, typename S>
  static void bn_forward_train(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, T* y, S* save_mean, S* save_invstd,
                               S* running_mean, S* running_var) {
    for (std::int64_t c = 0; c < desc.c; ++c) {
      double mean, var;
      Self::channel_statistics(desc, x, c, mean, var);
      const double invstd = Self::invstd_of(var, params.eps);
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        const double xhat = (x[i] - mean) * invstd;
        y[i] = Self::template stored<T>(gamma[c] * xhat + beta[c]);
      });
      save_mean[c] = Self::template stored<S>(mean);
      save_invstd[c] = Self::template stored<S>(invstd);
      if (running_mean != nullptr) Self::update_running(desc, params, c, mean, var, running_mean, running_var);
    }
  }

  template <typename T, typename S>
  static void bn_forward_infer(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, const S* running_mean,
                               const S* running_var, T* y) {
    for (std::int64_t c = 0; c < desc.c; ++c) {
      const double invstd = Self::invstd_of(running_var[c], params.eps);
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        const double xhat = (x[i] - static_cast<double>(running_mean[c])) * invstd;
        y[i] = Self::template stored<T>(gamma[c] * xhat + beta[c]);
      });
    }
  }

  template <typename T, typename S>
  static void bn_backward(const TensorDesc& desc, const Params&, const T* dy, const T* x,
                          const S* gamma, const S* save_mean, const S* save_invstd, T* dx,
                          S* dgamma, S* dbeta) {
    const double count = static_cast<double>(desc.per_channel());
    for (std::int64_t c = 0; c < desc.c; ++c) {
      const double mean = save_mean[c], invstd = save_invstd[c];
      double sum_dy = 0, sum_dy_xhat = 0;
      Self::gradient_sums(desc, dy, x, c, mean, invstd, sum_dy, sum_dy_xhat);
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        const double xhat = (x[i] - mean) * invstd;
        dx[i] = Self::template stored<T>(
            Self::input_gradient(gamma[c], invstd, count, dy[i], sum_dy, xhat, sum_dy_xhat));
      });
      dbeta[c] = Self::template stored<S>(sum_dy);
      dgamma[c] = Self::template stored<S>(sum_dy_xhat);
    }
  }

  template <typename T, typename S>
  static void renorm_forward_train(const TensorDesc& desc, const Params& params, const T* x,
                                   const S* gamma, const S* beta, T* y, S* save_mean,
                                   S* save_invstd, S* r_out, S* d_out, S* running_mean,
                                   S* running_var) {
    for (std::int64_t c = 0; c < desc.c; ++c) {
      double mean, var;
      Self::channel_statistics(desc, x, c, mean, var);
      const double sigma_batch = 1 / Self::invstd_of(var, params.eps);
      const double sigma_running = 1 / Self::invstd_of(running_var[c], params.eps);
      // r and d come from the running statistics before this step updates them.
      const double r = Self::clamp_r(sigma_batch / sigma_running, params.rmax);
      const double d = Self::clamp_d((mean - running_mean[c]) / sigma_running, params.dmax);
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        const double xhat = (x[i] - mean) / sigma_batch;
        y[i] = Self::template stored<T>(gamma[c] * (xhat * r + d) + beta[c]);
      });
      save_mean[c] = Self::template stored<S>(mean);
      save_invstd[c] = Self::template stored<S>(1 / sigma_batch);
      r_out[c] = Self::template stored<S>(r);
      d_out[c] = Self::template stored<S>(d);
      Self::update_running(desc, params, c, mean, var, running_mean, running_var);
    }
  }

  template <typename T, typename S>
  static void renorm_backward(const TensorDesc& desc, const Params&, const T* dy, const T* x,
                              const S* gamma, const S* save_mean, const S* save_invstd,
                              const S* r, const S* d, T* dx, S* dgamma, S* dbeta) {
    const double count = static_cast<double>(desc.per_channel());
    for (std::int64_t c = 0; c < desc.c; ++c) {
      const double mean = save_mean[c], invstd = save_invstd[c];
      double sum_dy = 0, sum_dy_xhat = 0;
      Self::gradient_sums(desc, dy, x, c, mean, invstd, sum_dy, sum_dy_xhat);
      // With g = dy gamma r (r, d held constant), the sums over g are gamma r times those over
      // dy: renorm's dx is batch norm's with gamma r in place of gamma.
      const double gamma_r = static_cast<double>(gamma[c]) * r[c];
      desc.for_each_in_channel(c, [&](std::int64_t i) {
        const double xhat = (x[i] - mean) * invstd;
        dx[i] = Self::template stored<T>(
            Self::input_gradient(gamma_r, invstd, count, dy[i], sum_dy, xhat, sum_dy_xhat));
      });
      dbeta[c] = Self::template stored<S>(sum_dy);
      dgamma[c] = Self::template stored<S>(sum_dy_xhat * r[c] + sum_dy * d[c]);
    }
  }
};

struct Naive : Textbook<Naive> {
  static constexpr const char* name = "naive";
  static constexpr const char* description =
      "textbook per-channel loops; two-pass statistics accumulated in double";
};

}  // namespace bnh::naive

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
