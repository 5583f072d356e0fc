/* A plugin with a classic accuracy bug: batch-norm training forward, f32, whose variance is
   E[x^2] - E[x]^2 accumulated in one pass in float. It agrees with the reference on centred
   data and loses every digit of the variance once a channel's mean is a few thousand standard
   deviations from zero: what `bnh accuracy` is for. The other operations are left NULL. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bnh/plugin.h"

static const char *last_error(void) { return "one-pass plugin: f32 only"; }

static int supports(const bnh_tensor_desc *desc) { return desc->dtype == BNH_F32; }

static int64_t offset(const bnh_tensor_desc *desc, int64_t n, int64_t c, int64_t s) {
  const int64_t spatial = desc->h * desc->w;
  return desc->layout == BNH_NCHW ? (n * desc->c + c) * spatial + s : (n * spatial + s) * desc->c + c;
}

static int bn_forward_train(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, void *y, void *save_mean,
                            void *save_invstd, void *running_mean, void *running_var) {
  if (desc->dtype != BNH_F32) return 1;
  const float *in = x, *scale = gamma, *shift = beta;
  float *out = y, *mean_out = save_mean, *invstd_out = save_invstd;
  float *run_mean = running_mean, *run_var = running_var;
  const int64_t spatial = desc->h * desc->w, count = desc->n * spatial;
  for (int64_t c = 0; c < desc->c; ++c) {
    float sum = 0, squares = 0;
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t s = 0; s < spatial; ++s) {
        const float value = in[offset(desc, n, c, s)];
        sum += value;
        squares += value * value;
      }
    }
    const float mean = sum / (float)count;
    float var = squares / (float)count - mean * mean; /* the bug: cancellation */
    if (var < 0) var = 0;
    const float invstd = 1.0f / sqrtf(var + (float)params->eps);
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        out[i] = scale[c] * ((in[i] - mean) * invstd) + shift[c];
      }
    }
    mean_out[c] = mean;
    invstd_out[c] = invstd;
    if (run_mean && run_var) {
      const float momentum = (float)params->momentum;
      run_mean[c] = (1 - momentum) * run_mean[c] + momentum * mean;
      run_var[c] = (1 - momentum) * run_var[c] + momentum * var * (float)count / (float)(count - 1);
    }
  }
  return 0;
}

static const bnh_impl_v1 table = {
    BNH_ABI_VERSION, "one_pass", "batch-norm training forward, f32, one-pass variance", supports,
    bn_forward_train, NULL, NULL, NULL, NULL, last_error};

const bnh_impl_v1 *bnh_impl_v1_get(void) { return &table; }
