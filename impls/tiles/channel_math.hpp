// The per-channel math of the tiled kernels (blocked, openmp), as docs/conventions.md states it,
// and the five operations assembled from three passes. Read this file against the conventions;
// the passes (team_passes.hpp) only gather each channel's sums over a tensor cut into cache-sized
// pieces (runs.hpp for NCHW, rows.hpp for NHWC) and apply the coefficients computed here.
//
// Every per-channel scalar is computed in double; only the last per-element step,
// y = x * scale + shift or dx = dy * dy_scale + x * x_scale + offset, runs in the element type
// (in f32 for bf16 and f16 data, each output rounded once as it is stored). The tensors are of
// the data type T, the per-channel buffers of the statistics type S: each read once as a
// number, each written once, rounded from the double result.
#pragma once

#include <cmath>
#include <cstdint>

#include "bnh/types.hpp"
#include "impls/tiles/geometry.hpp"
#include "impls/tiles/moments.hpp"
#include "impls/tiles/outputs.hpp"

namespace bnh::tiles {

// NaN passes through, so that a non-finite channel stays visibly non-finite.
inline double clamp_keep_nan(double value, double low, double high) {
  return value < low ? low : (high < value ? high : value);
}

// The per-channel tensors of a training forward. r and d are NULL for batch norm; the running
// statistics are NULL when batch norm does not track them.
template <typename S>
struct TrainingTensors {
  const S* gamma;
  const S* beta;
  S* save_mean;
  S* save_invstd;
  S* r;
  S* d;
  S* running_mean;
  S* running_var;
};

// y = x * scale + shift for one channel.
struct ChannelAffine {
  double scale, shift;
};

// Finishes channel c of a training forward from its batch moments: writes save_mean,
// save_invstd, r, d and the running update, and returns the channel's y = x * scale + shift.
template <typename S>
ChannelAffine finish_training_channel(const TrainingTensors<S>& t, const Params& params, std::int64_t c,
                                      const Moments& batch) {
  const double mean = batch.mean;                           // mu = mean(x)
  const double var = batch.m2 / batch.count;                // var = mean((x - mu)^2), biased
  const double sigma_batch = std::sqrt(var + params.eps);   // sigma_B = sqrt(var + eps)
  const double invstd = 1 / sigma_batch;                    // invstd = 1 / sigma_B
  const double gamma = static_cast<double>(t.gamma[c]), beta = static_cast<double>(t.beta[c]);
  ChannelAffine affine;
  if (t.r != nullptr) {
    // r and d come from the running statistics before this step updates them.
    const double sigma_running = std::sqrt(static_cast<double>(t.running_var[c]) + params.eps);
    // r = clamp(sigma_B / sigma, 1/rmax, rmax)
    const double r = clamp_keep_nan(sigma_batch / sigma_running, 1 / params.rmax, params.rmax);
    // d = clamp((mu_B - running_mean) / sigma, -dmax, dmax)
    const double d = clamp_keep_nan((mean - static_cast<double>(t.running_mean[c])) / sigma_running, -params.dmax,
                                    params.dmax);
    t.r[c] = static_cast<S>(r);
    t.d[c] = static_cast<S>(d);
    // y = gamma (xhat r + d) + beta = x (gamma r invstd) + (beta + gamma d - mu gamma r invstd)
    affine.scale = gamma * r * invstd;
    affine.shift = beta + gamma * d - mean * affine.scale;
  } else {
    // y = gamma (x - mu) invstd + beta = x (gamma invstd) + (beta - mu gamma invstd)
    affine.scale = gamma * invstd;
    affine.shift = beta - mean * affine.scale;
  }
  t.save_mean[c] = static_cast<S>(mean);
  t.save_invstd[c] = static_cast<S>(invstd);
  if (t.running_mean != nullptr) {
    // running_mean = (1 - momentum) running_mean + momentum mu
    // running_var  = (1 - momentum) running_var  + momentum var M / (M - 1)
    const double unbiased = var * batch.count / (batch.count - 1);
    const double running_mean = static_cast<double>(t.running_mean[c]);
    const double running_var = static_cast<double>(t.running_var[c]);
    t.running_mean[c] = static_cast<S>((1 - params.momentum) * running_mean + params.momentum * mean);
    t.running_var[c] = static_cast<S>((1 - params.momentum) * running_var + params.momentum * unbiased);
  }
  return affine;
}

// Inference: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
inline ChannelAffine inference_affine(double gamma, double beta, double running_mean, double running_var,
                                      double eps) {
  const double scale = gamma / std::sqrt(running_var + eps);
  return ChannelAffine{scale, beta - running_mean * scale};
}

// Every channel's inference coefficients for data T, laid out for the geometry.
template <typename T, typename S>
AffineCoefficients<T> inference_coefficients(const Geometry& g, const Params& params, const S* gamma, const S* beta,
                                             const S* running_mean, const S* running_var) {
  AffineCoefficients<T> coefficients(g);
  for (std::int64_t c = 0; c < g.channels; ++c) {
    coefficients.set(g, c, inference_affine(static_cast<double>(gamma[c]), static_cast<double>(beta[c]),
                                            static_cast<double>(running_mean[c]), static_cast<double>(running_var[c]),
                                            params.eps));
  }
  return coefficients;
}

// The per-channel tensors of a backward pass. r and d are NULL for batch norm.
template <typename S>
struct GradientTensors {
  const S* gamma;
  const S* save_mean;
  const S* save_invstd;
  const S* r;
  const S* d;
  S* dgamma;
  S* dbeta;
};

// dx = dy * dy_scale + x * x_scale + offset for one channel.
struct ChannelGradient {
  double dy_scale, x_scale, offset;
};

// Finishes channel c of a backward pass from its gradient sums over the M = `count` elements:
// writes dgamma and dbeta and returns dx's coefficients. With r = 1 for batch norm (renorm's dx
// is r times batch norm's; r and d are constants for differentiation):
//   dx = gamma r invstd / M (M dy - sum dy - xhat sum(dy xhat)),   xhat = (x - mu) invstd
// which is linear in dy and x:
//   dy_scale = gamma r invstd
//   x_scale  = -dy_scale invstd sum(dy xhat) / M
//   offset   = -dy_scale sum(dy) / M - x_scale mu
template <typename S>
ChannelGradient finish_gradient_channel(const GradientTensors<S>& t, std::int64_t c, double count,
                                        const GradientSums& sums) {
  const double mean = static_cast<double>(t.save_mean[c]), invstd = static_cast<double>(t.save_invstd[c]);
  const double r = t.r != nullptr ? static_cast<double>(t.r[c]) : 1.0;
  const double sum_dy_xhat = sums.dy_centered * invstd;  // sum dy xhat = invstd sum dy (x - mu)
  t.dbeta[c] = static_cast<S>(sums.dy);                   // dbeta = sum dy
  // dgamma = sum dy xhat (batch norm); sum dy (xhat r + d) = r sum dy xhat + d sum dy (renorm)
  t.dgamma[c] = static_cast<S>(t.r != nullptr ? sum_dy_xhat * r + sums.dy * static_cast<double>(t.d[c]) : sum_dy_xhat);
  ChannelGradient gradient;
  gradient.dy_scale = static_cast<double>(t.gamma[c]) * r * invstd;
  gradient.x_scale = -gradient.dy_scale * invstd * sum_dy_xhat / count;
  gradient.offset = -gradient.dy_scale * sums.dy / count - gradient.x_scale * mean;
  return gradient;
}

// How many threads an implementation's passes run on: as many as params.threads asks for, or
// one whatever it asks.
enum class Threads { as_asked, one };

// The five operations for an implementation made of three passes, static members of Passes:
// forward_train(desc, params, x, y, TrainingTensors<S>), forward_infer(desc, params, x, gamma,
// beta, running_mean, running_var, y) and backward(desc, params, dy, x, dx, GradientTensors<S>),
// for data T and statistics S (every pair of dispatch_dtypes). Batch norm and renorm differ only
// in the per-channel tensors they hand over: renorm's r and d, NULL for batch norm.
template <typename Passes, Threads threads = Threads::as_asked>
struct TiledOperations {
  static bool supports(const TensorDesc&) { return true; }

  template <typename T, typename S>
  static void bn_forward_train(const TensorDesc& desc, const Params& params, const T* x, const S* gamma,
                               const S* beta, T* y, S* save_mean, S* save_invstd, S* running_mean,
                               S* running_var) {
    Passes::forward_train(desc, on_threads(params), x, y,
                          TrainingTensors<S>{gamma, beta, save_mean, save_invstd, nullptr, nullptr, running_mean,
                                             running_var});
  }

  template <typename T, typename S>
  static void bn_forward_infer(const TensorDesc& desc, const Params& params, const T* x, const S* gamma,
                               const S* beta, const S* running_mean, const S* running_var, T* y) {
    Passes::forward_infer(desc, on_threads(params), x, gamma, beta, running_mean, running_var, y);
  }

  template <typename T, typename S>
  static void bn_backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x, const S* gamma,
                          const S* save_mean, const S* save_invstd, T* dx, S* dgamma, S* dbeta) {
    Passes::backward(desc, on_threads(params), dy, x, dx,
                     GradientTensors<S>{gamma, save_mean, save_invstd, nullptr, nullptr, dgamma, dbeta});
  }

  template <typename T, typename S>
  static void renorm_forward_train(const TensorDesc& desc, const Params& params, const T* x, const S* gamma,
                                   const S* beta, T* y, S* save_mean, S* save_invstd, S* r, S* d,
                                   S* running_mean, S* running_var) {
    Passes::forward_train(desc, on_threads(params), x, y,
                          TrainingTensors<S>{gamma, beta, save_mean, save_invstd, r, d, running_mean, running_var});
  }

  template <typename T, typename S>
  static void renorm_backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x,
                              const S* gamma, const S* save_mean, const S* save_invstd, const S* r, const S* d,
                              T* dx, S* dgamma, S* dbeta) {
    Passes::backward(desc, on_threads(params), dy, x, dx,
                     GradientTensors<S>{gamma, save_mean, save_invstd, r, d, dgamma, dbeta});
  }

 private:
  static Params on_threads(Params params) {
    if (threads == Threads::one) params.threads = 1;
    return params;
  }
};

}  // namespace bnh::tiles
