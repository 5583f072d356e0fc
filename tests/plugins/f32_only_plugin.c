/* A correct plugin that supports f32 only: textbook batch norm and batch renorm, all five
   operations, in both layouts, with the argument checks of SPEC section 4. Sums run in double
   and every output is rounded to float once. For the commands that must pick the dtypes an
   implementation supports (bnh gradcheck, bnh accuracy) and say which they skipped.

   Built again with CRASH_WHILE_LOADING, bnh_impl_v1_get dereferences NULL: a plugin that
   crashes while loading, which bnh reports as a failed check (status 1). Built with
   REFUSE_SMALL_BATCH, the training forwards decline N < 4, as a library with a kernel for
   large batches only might: a valid call refused, which checks nothing and fails nothing. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bnh/plugin.h"

static const char *last_error_message = "";

static const char *last_error(void) { return last_error_message; }

static int refuse(const char *why) {
  last_error_message = why;
  return 1;
}

static int supports(const bnh_tensor_desc *desc) { return desc->dtype == BNH_F32; }

static int64_t offset(const bnh_tensor_desc *desc, int64_t n, int64_t c, int64_t s) {
  const int64_t spatial = desc->h * desc->w;
  return desc->layout == BNH_NCHW ? (n * desc->c + c) * spatial + s : (n * spatial + s) * desc->c + c;
}

/* The checks every operation makes: the tensor itself. */
static int check_desc(const bnh_tensor_desc *desc) {
  if (desc->n < 1 || desc->c < 1 || desc->h < 1 || desc->w < 1) return refuse("every dimension must be >= 1");
  if (desc->n > INT64_MAX / (int64_t)sizeof(float) / desc->c / desc->h / desc->w) {
    return refuse("element count overflows int64");
  }
  if (desc->dtype != BNH_F32) return refuse("this plugin supports f32 only");
  if (desc->layout != BNH_NCHW && desc->layout != BNH_NHWC) return refuse("unknown layout");
  return 0;
}

static int64_t per_channel(const bnh_tensor_desc *desc) { return desc->n * desc->h * desc->w; }

static int check_training(const bnh_tensor_desc *desc, const bnh_params *params) {
  if (per_channel(desc) < 2) return refuse("expected more than 1 value per channel when training");
#ifdef REFUSE_SMALL_BATCH
  if (desc->n < 4) return refuse("this kernel needs a batch of at least 4");
#endif
  if (!(params->eps > 0) || !isfinite(params->eps)) return refuse("eps must be > 0 and finite");
  if (!(params->momentum >= 0 && params->momentum <= 1)) return refuse("momentum must be in [0, 1]");
  return 0;
}

static int check_running_var(const float *running_var, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    if (running_var[c] < 0) return refuse("running_var must be >= 0");
  }
  return 0;
}

/* mu and the biased variance of channel c, two passes in double. */
static void channel_moments(const bnh_tensor_desc *desc, const float *x, int64_t c, double *mean, double *var) {
  const int64_t spatial = desc->h * desc->w, count = per_channel(desc);
  double sum = 0;
  for (int64_t n = 0; n < desc->n; ++n) {
    for (int64_t s = 0; s < spatial; ++s) sum += x[offset(desc, n, c, s)];
  }
  *mean = sum / (double)count;
  double squares = 0;
  for (int64_t n = 0; n < desc->n; ++n) {
    for (int64_t s = 0; s < spatial; ++s) {
      const double deviation = x[offset(desc, n, c, s)] - *mean;
      squares += deviation * deviation;
    }
  }
  *var = squares / (double)count;
}

/* running = (1 - momentum) running + momentum batch, with the unbiased variance. */
static void update_running(const bnh_tensor_desc *desc, const bnh_params *params, int64_t c, double mean,
                           double var, float *running_mean, float *running_var) {
  const double momentum = params->momentum, count = (double)per_channel(desc);
  running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mean);
  running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * var * count / (count - 1));
}

/* Lets NaN through rather than clipping it to a bound. */
static double clamp(double value, double low, double high) {
  return value < low ? low : (value > high ? high : value);
}

static int bn_forward_train(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, void *y, void *save_mean,
                            void *save_invstd, void *running_mean, void *running_var) {
  if (check_desc(desc) || check_training(desc, params)) return 1;
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd) return refuse("a buffer is NULL");
  if ((running_mean == NULL) != (running_var == NULL)) {
    return refuse("running_mean and running_var must both be given or both be NULL");
  }
  if (running_var && check_running_var(running_var, desc->c)) return 1;
  const float *in = x, *scale = gamma, *shift = beta;
  float *out = y;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    double mean, var;
    channel_moments(desc, in, c, &mean, &var);
    const double invstd = 1 / sqrt(var + params->eps);
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        out[i] = (float)(scale[c] * ((in[i] - mean) * invstd) + shift[c]);
      }
    }
    ((float *)save_mean)[c] = (float)mean;
    ((float *)save_invstd)[c] = (float)invstd;
    if (running_mean) update_running(desc, params, c, mean, var, running_mean, running_var);
  }
  return 0;
}

static int bn_forward_infer(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  if (check_desc(desc)) return 1;
  if (!(params->eps > 0) || !isfinite(params->eps)) return refuse("eps must be > 0 and finite");
  if (!x || !gamma || !beta || !running_mean || !running_var || !y) return refuse("a buffer is NULL");
  if (check_running_var(running_var, desc->c)) return 1;
  const float *in = x, *scale = gamma, *shift = beta, *mean = running_mean, *var = running_var;
  float *out = y;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    const double invstd = 1 / sqrt((double)var[c] + params->eps);
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        out[i] = (float)(scale[c] * ((in[i] - (double)mean[c]) * invstd) + shift[c]);
      }
    }
  }
  return 0;
}

/* The backward of both: with g = dy * gamma * r and xhat = (x - mean) * invstd,
   dbeta = sum dy, dgamma = sum dy * (xhat * r + d), dx = invstd / M * (M g - sum g - xhat sum g xhat).
   Batch norm is r = 1, d = 0. */
static int backward(const bnh_tensor_desc *desc, const void *dy, const void *x, const void *gamma,
                    const void *save_mean, const void *save_invstd, const float *r, const float *d, void *dx,
                    void *dgamma, void *dbeta) {
  if (check_desc(desc)) return 1;
  if (per_channel(desc) < 2) return refuse("expected more than 1 value per channel when training");
  if (!dy || !x || !gamma || !save_mean || !save_invstd || !dx || !dgamma || !dbeta) return refuse("a buffer is NULL");
  const float *grad = dy, *in = x, *scale = gamma, *mean = save_mean, *invstd = save_invstd;
  float *grad_in = dx;
  const int64_t spatial = desc->h * desc->w, count = per_channel(desc);
  for (int64_t c = 0; c < desc->c; ++c) {
    const double rc = r ? r[c] : 1, dc = d ? d[c] : 0;
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        sum_dy += grad[i];
        sum_dy_xhat += grad[i] * ((in[i] - (double)mean[c]) * invstd[c]);
      }
    }
    ((float *)dbeta)[c] = (float)sum_dy;
    ((float *)dgamma)[c] = (float)(sum_dy_xhat * rc + sum_dy * dc);
    const double g_scale = scale[c] * rc, sum_g = g_scale * sum_dy, sum_g_xhat = g_scale * sum_dy_xhat;
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        const double xhat = (in[i] - (double)mean[c]) * invstd[c];
        grad_in[i] = (float)(invstd[c] / (double)count *
                             ((double)count * g_scale * grad[i] - sum_g - xhat * sum_g_xhat));
      }
    }
  }
  return 0;
}

static int bn_backward(const bnh_tensor_desc *desc, const bnh_params *params, const void *dy, const void *x,
                       const void *gamma, const void *save_mean, const void *save_invstd, void *dx, void *dgamma,
                       void *dbeta) {
  (void)params;
  return backward(desc, dy, x, gamma, save_mean, save_invstd, NULL, NULL, dx, dgamma, dbeta);
}

static int renorm_forward_train(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                                const void *gamma, const void *beta, void *y, void *save_mean,
                                void *save_invstd, void *r, void *d, void *running_mean, void *running_var) {
  if (check_desc(desc) || check_training(desc, params)) return 1;
  if (!(params->rmax >= 1)) return refuse("rmax must be >= 1");
  if (!(params->dmax >= 0)) return refuse("dmax must be >= 0");
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd || !r || !d || !running_mean || !running_var) {
    return refuse("a buffer is NULL");
  }
  if (check_running_var(running_var, desc->c)) return 1;
  const float *in = x, *scale = gamma, *shift = beta;
  float *out = y, *run_mean = running_mean, *run_var = running_var;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    double mean, var;
    channel_moments(desc, in, c, &mean, &var);
    const double sigma_batch = sqrt(var + params->eps), sigma = sqrt((double)run_var[c] + params->eps);
    /* r and d from the running statistics before this step's update */
    const double rc = clamp(sigma_batch / sigma, 1 / params->rmax, params->rmax);
    const double dc = clamp((mean - (double)run_mean[c]) / sigma, -params->dmax, params->dmax);
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        out[i] = (float)(scale[c] * ((in[i] - mean) / sigma_batch * rc + dc) + shift[c]);
      }
    }
    ((float *)save_mean)[c] = (float)mean;
    ((float *)save_invstd)[c] = (float)(1 / sigma_batch);
    ((float *)r)[c] = (float)rc;
    ((float *)d)[c] = (float)dc;
    update_running(desc, params, c, mean, var, run_mean, run_var);
  }
  return 0;
}

static int renorm_backward(const bnh_tensor_desc *desc, const bnh_params *params, const void *dy, const void *x,
                           const void *gamma, const void *save_mean, const void *save_invstd, const void *r,
                           const void *d, void *dx, void *dgamma, void *dbeta) {
  (void)params;
  if (!r || !d) return refuse("a buffer is NULL");
  return backward(desc, dy, x, gamma, save_mean, save_invstd, r, d, dx, dgamma, dbeta);
}

static const bnh_impl_v1 table = {
    BNH_ABI_VERSION, "f32_only", "textbook batch norm and renorm, f32 only", supports, bn_forward_train,
    bn_forward_infer, bn_backward, renorm_forward_train, renorm_backward, last_error};

const bnh_impl_v1 *bnh_impl_v1_get(void) {
#ifdef CRASH_WHILE_LOADING
  *(volatile int *)NULL = 1;
#endif
  return &table;
}
