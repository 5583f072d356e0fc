/* An outside batch normalization and batch renormalization implementation, checked by
   bnharness through its plugin C ABI (bnh/plugin.h). Plain C, f32 and f64, NCHW and NHWC,
   every operation. It validates its input as the contract asks and explains refusals through
   last_error(). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <bnh/plugin.h>

#include "elements.h"

/* Shape checks shared by every operation; `training` also asks for more than one value per
   channel. */
static int check_desc(const bnh_tensor_desc *desc, int training) {
  if (desc->n < 1 || desc->c < 1 || desc->h < 1 || desc->w < 1) return refuse("every dimension must be >= 1");
  if (desc->n > INT64_MAX / 8 / desc->c / desc->h / desc->w) return refuse("element count overflows int64");
  if (!supports(desc)) return refuse("unknown dtype or layout");
  if (training && desc->n * desc->h * desc->w < 2) {
    return refuse("expected more than 1 value per channel when training");
  }
  return 0;
}

/* Mean and biased variance of channel c, in two passes. */
static void statistics(const bnh_tensor_desc *desc, const void *x, int64_t c, double *mean, double *var) {
  const int64_t spatial = desc->h * desc->w;
  const double count = (double)(desc->n * spatial);
  double sum = 0, squares = 0;
  for (int64_t n = 0; n < desc->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) sum += load(desc, x, offset(desc, n, c, s));
  *mean = sum / count;
  for (int64_t n = 0; n < desc->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) {
      const double centered = load(desc, x, offset(desc, n, c, s)) - *mean;
      squares += centered * centered;
    }
  *var = squares / count;
}

static void update_running(const bnh_tensor_desc *desc, const bnh_params *params, int64_t c, double mean,
                           double var, void *running_mean, void *running_var) {
  const double count = (double)(desc->n * desc->h * desc->w);
  const double keep = 1 - params->momentum;
  store(desc, running_mean, c, keep * load(desc, running_mean, c) + params->momentum * mean);
  store(desc, running_var, c, keep * load(desc, running_var, c) + params->momentum * var * count / (count - 1));
}

static int bn_forward_train(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, void *y, void *save_mean,
                            void *save_invstd, void *running_mean, void *running_var) {
  if (check_desc(desc, 1) || check_eps(params) || check_momentum(params)) return 1;
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd) return refuse("a required buffer is NULL");
  if ((running_mean == NULL) != (running_var == NULL)) return refuse("running_mean and running_var go together");
  if (running_var && check_running_var(desc, running_var)) return 1;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    double mean, var;
    statistics(desc, x, c, &mean, &var);
    const double invstd = 1 / sqrt(var + params->eps);
    const double g = load(desc, gamma, c), b = load(desc, beta, c);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        store(desc, y, i, g * (load(desc, x, i) - mean) * invstd + b);
      }
    store(desc, save_mean, c, mean);
    store(desc, save_invstd, c, invstd);
    if (running_mean) update_running(desc, params, c, mean, var, running_mean, running_var);
  }
  return 0;
}

static int bn_forward_infer(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  if (check_desc(desc, 0) || check_eps(params)) return 1;
  if (!x || !gamma || !beta || !running_mean || !running_var || !y) return refuse("a required buffer is NULL");
  if (check_running_var(desc, running_var)) return 1;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    const double invstd = 1 / sqrt(load(desc, running_var, c) + params->eps);
    const double mean = load(desc, running_mean, c), g = load(desc, gamma, c), b = load(desc, beta, c);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        store(desc, y, i, g * (load(desc, x, i) - mean) * invstd + b);
      }
  }
  return 0;
}

/* dx = gamma_r invstd / M (M dy - sum dy - xhat sum dy xhat), with gamma_r = gamma for batch
   norm and gamma r for renorm (r held constant). */
static void input_gradient(const bnh_tensor_desc *desc, const void *dy, const void *x, int64_t c,
                           double mean, double invstd, double gamma_r, void *dx, double *sum_dy,
                           double *sum_dy_xhat) {
  const int64_t spatial = desc->h * desc->w;
  const double count = (double)(desc->n * spatial);
  *sum_dy = 0;
  *sum_dy_xhat = 0;
  for (int64_t n = 0; n < desc->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) {
      const int64_t i = offset(desc, n, c, s);
      *sum_dy += load(desc, dy, i);
      *sum_dy_xhat += load(desc, dy, i) * (load(desc, x, i) - mean) * invstd;
    }
  for (int64_t n = 0; n < desc->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) {
      const int64_t i = offset(desc, n, c, s);
      const double xhat = (load(desc, x, i) - mean) * invstd;
      store(desc, dx, i, gamma_r * invstd / count * (count * load(desc, dy, i) - *sum_dy - xhat * *sum_dy_xhat));
    }
}

static int bn_backward(const bnh_tensor_desc *desc, const bnh_params *params, const void *dy,
                       const void *x, const void *gamma, const void *save_mean,
                       const void *save_invstd, void *dx, void *dgamma, void *dbeta) {
  (void)params;
  if (check_desc(desc, 1)) return 1;
  if (!dy || !x || !gamma || !save_mean || !save_invstd || !dx || !dgamma || !dbeta) {
    return refuse("a required buffer is NULL");
  }
  for (int64_t c = 0; c < desc->c; ++c) {
    double sum_dy, sum_dy_xhat;
    input_gradient(desc, dy, x, c, load(desc, save_mean, c), load(desc, save_invstd, c),
                   load(desc, gamma, c), dx, &sum_dy, &sum_dy_xhat);
    store(desc, dbeta, c, sum_dy);
    store(desc, dgamma, c, sum_dy_xhat);
  }
  return 0;
}

static int renorm_forward_train(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                                const void *gamma, const void *beta, void *y, void *save_mean,
                                void *save_invstd, void *r_out, void *d_out, void *running_mean,
                                void *running_var) {
  if (check_desc(desc, 1) || check_eps(params) || check_momentum(params)) return 1;
  if (!(params->rmax >= 1)) return refuse("rmax must be >= 1");
  if (!(params->dmax >= 0)) return refuse("dmax must be >= 0");
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd || !r_out || !d_out || !running_mean ||
      !running_var) {
    return refuse("a required buffer is NULL");
  }
  if (check_running_var(desc, running_var)) return 1;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    double mean, var;
    statistics(desc, x, c, &mean, &var);
    const double sigma_batch = sqrt(var + params->eps);
    const double sigma = sqrt(load(desc, running_var, c) + params->eps);
    /* r and d from the running statistics before this step's update. */
    const double r = clamp(sigma_batch / sigma, 1 / params->rmax, params->rmax);
    const double d = clamp((mean - load(desc, running_mean, c)) / sigma, -params->dmax, params->dmax);
    const double g = load(desc, gamma, c), b = load(desc, beta, c);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        store(desc, y, i, g * ((load(desc, x, i) - mean) / sigma_batch * r + d) + b);
      }
    store(desc, save_mean, c, mean);
    store(desc, save_invstd, c, 1 / sigma_batch);
    store(desc, r_out, c, r);
    store(desc, d_out, c, d);
    update_running(desc, params, c, mean, var, running_mean, running_var);
  }
  return 0;
}

static int renorm_backward(const bnh_tensor_desc *desc, const bnh_params *params, const void *dy,
                           const void *x, const void *gamma, const void *save_mean,
                           const void *save_invstd, const void *r, const void *d, void *dx,
                           void *dgamma, void *dbeta) {
  (void)params;
  if (check_desc(desc, 1)) return 1;
  if (!dy || !x || !gamma || !save_mean || !save_invstd || !r || !d || !dx || !dgamma || !dbeta) {
    return refuse("a required buffer is NULL");
  }
  for (int64_t c = 0; c < desc->c; ++c) {
    const double r_c = load(desc, r, c), d_c = load(desc, d, c);
    double sum_dy, sum_dy_xhat;
    input_gradient(desc, dy, x, c, load(desc, save_mean, c), load(desc, save_invstd, c),
                   load(desc, gamma, c) * r_c, dx, &sum_dy, &sum_dy_xhat);
    store(desc, dbeta, c, sum_dy);
    store(desc, dgamma, c, sum_dy_xhat * r_c + sum_dy * d_c);
  }
  return 0;
}

static const bnh_impl_v1 table = {
    BNH_ABI_VERSION,
    "my_batchnorm",
    "an example outside implementation: plain C loops, two-pass statistics in double",
    supports,
    bn_forward_train,
    bn_forward_infer,
    bn_backward,
    renorm_forward_train,
    renorm_backward,
    last_error,
};

const bnh_impl_v1 *bnh_impl_v1_get(void) { return &table; }
