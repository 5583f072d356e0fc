/* A correct plugin of the textbook algorithm (SPEC sections 2 and 3: two-pass statistics
   accumulated in double, f32 and f64, both layouts, all five operations), built once per
   verdict that `bnh check` must give:

     VERDICT_REFUSE_N1         refuses every valid call with N = 1 (a coverage gap): passes,
                               with the refusals listed
     VERDICT_REFUSE_ALL        refuses every call: nothing is checked
     VERDICT_LAX               leaves argument checks to its caller (eps, momentum, rmax, dmax,
                               running_var < 0, M = 1), as framework kernels do: passes by
                               default with the input-validation heading, fails with --strict
     VERDICT_CRASH_ON_BAD_EPS  lax, and crashes when eps <= 0: always a failure
     VERDICT_F32_ONLY          supports f32 only: nothing is checked with --dtype f64
     VERDICT_NO_OPERATIONS     provides no operation: nothing is checked */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bnh/plugin.h"

#if defined(VERDICT_NO_OPERATIONS)
#pragma GCC diagnostic ignored "-Wunused-function" /* the operations, left out of its table */
#endif

static const char *last_error_message = "";
static const char *last_error(void) { return last_error_message; }

static int refuse(const char *why) {
  last_error_message = why;
  return 1;
}

static int supports(const bnh_tensor_desc *desc) {
#if defined(VERDICT_F32_ONLY)
  if (desc->dtype != BNH_F32) return 0;
#endif
  return (desc->dtype == BNH_F32 || desc->dtype == BNH_F64) &&
         (desc->layout == BNH_NCHW || desc->layout == BNH_NHWC);
}

/* ---- elements of either dtype, read and written as double ---------------------------------- */

static double load(const void *p, int64_t i, bnh_dtype dtype) {
  return dtype == BNH_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static void store(void *p, int64_t i, double v, bnh_dtype dtype) {
  if (dtype == BNH_F32) {
    ((float *)p)[i] = (float)v;
  } else {
    ((double *)p)[i] = v;
  }
}

static int64_t offset(const bnh_tensor_desc *d, int64_t n, int64_t c, int64_t s) {
  const int64_t spatial = d->h * d->w;
  return d->layout == BNH_NCHW ? (n * d->c + c) * spatial + s : (n * spatial + s) * d->c + c;
}

/* ---- argument checks (SPEC section 4) --------------------------------------------------------- */

/* What every kernel checks, because getting them wrong means touching memory it was not given. */
static int check_shape(const bnh_tensor_desc *d, const void *x) {
  if (!supports(d)) return refuse("unsupported dtype or layout");
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1) return refuse("every dimension must be >= 1");
  if (d->n > INT64_MAX / 8 / d->c / d->h / d->w) return refuse("element count overflows int64");
  if (x == NULL) return refuse("x must not be NULL");
#if defined(VERDICT_REFUSE_ALL)
  return refuse("this kernel refuses every call");
#elif defined(VERDICT_REFUSE_N1)
  if (d->n == 1) return refuse("N = 1 is not supported by this kernel");
#endif
  return 0;
}

#if defined(VERDICT_LAX) || defined(VERDICT_CRASH_ON_BAD_EPS)
#define CHECK_ARGUMENTS 0
#else
#define CHECK_ARGUMENTS 1
#endif

/* What a framework usually checks before it calls the kernel. A backward (forward = 0) uses
   the saved invstd, not eps or momentum. */
static int check_arguments(const bnh_tensor_desc *d, const bnh_params *p, int training, int forward,
                           const void *running_var) {
#if defined(VERDICT_CRASH_ON_BAD_EPS)
  if (forward && !(p->eps > 0)) *(volatile int *)NULL = 1;
#endif
  if (!CHECK_ARGUMENTS) return 0;
  if (training && d->n * d->h * d->w < 2) return refuse("expected more than 1 value per channel when training");
  if (!forward) return 0;
  if (!(p->eps > 0) || !isfinite(p->eps)) return refuse("eps must be > 0 and finite");
  if (training && !(p->momentum >= 0 && p->momentum <= 1)) return refuse("momentum must be in [0, 1]");
  if (running_var != NULL) {
    for (int64_t c = 0; c < d->c; ++c) {
      if (load(running_var, c, d->dtype) < 0) return refuse("running_var must be >= 0");
    }
  }
  return 0;
}

/* ---- the operations --------------------------------------------------------------------------- */

static void statistics(const bnh_tensor_desc *d, const void *x, int64_t c, double *mean, double *var) {
  const int64_t spatial = d->h * d->w;
  const double count = (double)(d->n * spatial);
  double sum = 0, squares = 0;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) sum += load(x, offset(d, n, c, s), d->dtype);
  *mean = sum / count;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) {
      const double centred = load(x, offset(d, n, c, s), d->dtype) - *mean;
      squares += centred * centred;
    }
  *var = squares / count;
}

/* running = (1 - momentum) running + momentum batch, with the unbiased batch variance. */
static void update_running(const bnh_tensor_desc *d, const bnh_params *p, int64_t c, double mean,
                           double var, void *running_mean, void *running_var) {
  const double count = (double)(d->n * d->h * d->w);
  const double m = p->momentum;
  store(running_mean, c, (1 - m) * load(running_mean, c, d->dtype) + m * mean, d->dtype);
  store(running_var, c, (1 - m) * load(running_var, c, d->dtype) + m * var * count / (count - 1), d->dtype);
}

/* NaN passes through: a broken channel stays visibly broken. */
static double clamp(double v, double low, double high) { return v < low ? low : (high < v ? high : v); }

static int forward_train(const bnh_tensor_desc *d, const bnh_params *p, const void *x,
                         const void *gamma, const void *beta, void *y, void *save_mean,
                         void *save_invstd, void *r_out, void *d_out, void *running_mean,
                         void *running_var, int renorm) {
  if (check_shape(d, x) || check_arguments(d, p, 1, 1, running_var)) return 1;
  if (CHECK_ARGUMENTS && renorm && !(p->rmax >= 1)) return refuse("rmax must be >= 1");
  if (CHECK_ARGUMENTS && renorm && !(p->dmax >= 0)) return refuse("dmax must be >= 0");
  const int64_t spatial = d->h * d->w;
  for (int64_t c = 0; c < d->c; ++c) {
    double mean, var;
    statistics(d, x, c, &mean, &var);
    const double sigma_batch = sqrt(var + p->eps);
    double r = 1, shift = 0;
    if (renorm) {
      /* from the running statistics before this step updates them */
      const double sigma = sqrt(load(running_var, c, d->dtype) + p->eps);
      r = clamp(sigma_batch / sigma, 1 / p->rmax, p->rmax);
      shift = clamp((mean - load(running_mean, c, d->dtype)) / sigma, -p->dmax, p->dmax);
      store(r_out, c, r, d->dtype);
      store(d_out, c, shift, d->dtype);
    }
    const double g = load(gamma, c, d->dtype), b = load(beta, c, d->dtype);
    for (int64_t n = 0; n < d->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(d, n, c, s);
        const double xhat = (load(x, i, d->dtype) - mean) / sigma_batch;
        store(y, i, g * (xhat * r + shift) + b, d->dtype);
      }
    store(save_mean, c, mean, d->dtype);
    store(save_invstd, c, 1 / sigma_batch, d->dtype);
    if (running_mean != NULL) update_running(d, p, c, mean, var, running_mean, running_var);
  }
  return 0;
}

static int bn_forward_train(const bnh_tensor_desc *d, const bnh_params *p, const void *x,
                            const void *gamma, const void *beta, void *y, void *save_mean,
                            void *save_invstd, void *running_mean, void *running_var) {
  return forward_train(d, p, x, gamma, beta, y, save_mean, save_invstd, NULL, NULL, running_mean,
                       running_var, 0);
}

static int renorm_forward_train(const bnh_tensor_desc *d, const bnh_params *p, const void *x,
                                const void *gamma, const void *beta, void *y, void *save_mean,
                                void *save_invstd, void *r, void *shift, void *running_mean,
                                void *running_var) {
  return forward_train(d, p, x, gamma, beta, y, save_mean, save_invstd, r, shift, running_mean,
                       running_var, 1);
}

static int bn_forward_infer(const bnh_tensor_desc *d, const bnh_params *p, const void *x,
                            const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  if (check_shape(d, x) || check_arguments(d, p, 0, 1, running_var)) return 1;
  const int64_t spatial = d->h * d->w;
  for (int64_t c = 0; c < d->c; ++c) {
    const double invstd = 1 / sqrt(load(running_var, c, d->dtype) + p->eps);
    const double mean = load(running_mean, c, d->dtype);
    const double g = load(gamma, c, d->dtype), b = load(beta, c, d->dtype);
    for (int64_t n = 0; n < d->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(d, n, c, s);
        store(y, i, g * ((load(x, i, d->dtype) - mean) * invstd) + b, d->dtype);
      }
  }
  return 0;
}

/* dx = gamma r invstd / M (M dy - sum dy - xhat sum dy xhat); r = 1, d = 0 for batch norm. */
static int backward(const bnh_tensor_desc *d, const bnh_params *p, const void *dy, const void *x,
                    const void *gamma, const void *save_mean, const void *save_invstd,
                    const void *r, const void *shift, void *dx, void *dgamma, void *dbeta) {
  if (check_shape(d, x) || check_arguments(d, p, 1, 0, NULL)) return 1;
  const int64_t spatial = d->h * d->w;
  const double count = (double)(d->n * spatial);
  for (int64_t c = 0; c < d->c; ++c) {
    const double mean = load(save_mean, c, d->dtype), invstd = load(save_invstd, c, d->dtype);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < d->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(d, n, c, s);
        sum_dy += load(dy, i, d->dtype);
        sum_dy_xhat += load(dy, i, d->dtype) * ((load(x, i, d->dtype) - mean) * invstd);
      }
    const double rc = r != NULL ? load(r, c, d->dtype) : 1, dc = shift != NULL ? load(shift, c, d->dtype) : 0;
    const double scale = load(gamma, c, d->dtype) * rc * invstd / count;
    for (int64_t n = 0; n < d->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(d, n, c, s);
        const double xhat = (load(x, i, d->dtype) - mean) * invstd;
        store(dx, i, scale * (count * load(dy, i, d->dtype) - sum_dy - xhat * sum_dy_xhat), d->dtype);
      }
    store(dbeta, c, sum_dy, d->dtype);
    store(dgamma, c, sum_dy_xhat * rc + sum_dy * dc, d->dtype);
  }
  return 0;
}

static int bn_backward(const bnh_tensor_desc *d, const bnh_params *p, const void *dy, const void *x,
                       const void *gamma, const void *save_mean, const void *save_invstd, void *dx,
                       void *dgamma, void *dbeta) {
  return backward(d, p, dy, x, gamma, save_mean, save_invstd, NULL, NULL, dx, dgamma, dbeta);
}

static int renorm_backward(const bnh_tensor_desc *d, const bnh_params *p, const void *dy,
                           const void *x, const void *gamma, const void *save_mean,
                           const void *save_invstd, const void *r, const void *shift, void *dx,
                           void *dgamma, void *dbeta) {
  return backward(d, p, dy, x, gamma, save_mean, save_invstd, r, shift, dx, dgamma, dbeta);
}

#if defined(VERDICT_REFUSE_N1)
#define PLUGIN_NAME "refuses_n1"
#elif defined(VERDICT_REFUSE_ALL)
#define PLUGIN_NAME "refuses_all"
#elif defined(VERDICT_LAX)
#define PLUGIN_NAME "lax"
#elif defined(VERDICT_CRASH_ON_BAD_EPS)
#define PLUGIN_NAME "crashes_on_bad_eps"
#elif defined(VERDICT_F32_ONLY)
#define PLUGIN_NAME "f32_only"
#else
#define PLUGIN_NAME "textbook"
#endif

#if defined(VERDICT_NO_OPERATIONS)
static const bnh_impl_v1 table = {BNH_ABI_VERSION, "no_operations", "provides no operation",
                                  supports, NULL, NULL, NULL, NULL, NULL, last_error};
#else
static const bnh_impl_v1 table = {BNH_ABI_VERSION, PLUGIN_NAME, "textbook batch norm and renorm",
                                  supports, bn_forward_train, bn_forward_infer, bn_backward,
                                  renorm_forward_train, renorm_backward, last_error};
#endif

const bnh_impl_v1 *bnh_impl_v1_get(void) { return &table; }
