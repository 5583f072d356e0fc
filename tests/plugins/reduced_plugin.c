/* A version-2 plugin (bnh/plugin_v2.h): batch norm's training forward, inference and backward
   on bf16 and f16 data, with f32 statistics ("mixed") or statistics in the data dtype ("pure").
   A textbook in C: every element widened to float, per-channel sums accumulated in double over
   two passes (f32 sums lose too much at large M, and f32 squares overflow), every other step
   in float, each output rounded once, to nearest even, when it is stored.

   Built again with REDUCED_OVERFLOW (inference writes one element past the end of y),
   REDUCED_WRONG_ABI (its table says version 1), REDUCED_NULL_NAME, REDUCED_CRASH_GET
   (bnh_impl_v2_get crashes), REDUCED_BOTH (it also exports a version-1 table, which the
   harness must pass over) and REDUCED_V1_ONLY (it exports only that version-1 table). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bnh/plugin_v2.h"

static const char *last_error_message = "";

static int refuse(const char *why) {
  last_error_message = why;
  return 1;
}

static const char *last_error(void) { return last_error_message; }

static int reduced(int32_t dtype) { return dtype == BNH_BF16 || dtype == BNH_F16; }

static int supports(const bnh_tensor_desc_v2 *desc) {
  return reduced(desc->dtype) && (desc->stats_dtype == BNH_F32 || desc->stats_dtype == desc->dtype) &&
         (desc->layout == BNH_NCHW || desc->layout == BNH_NHWC);
}

/* Element i of a buffer of `dtype` (bf16, f16 or f32), as float, and back. */
static float load(int32_t dtype, const void *buffer, int64_t i) {
  if (dtype == BNH_F32) return ((const float *)buffer)[i];
  const uint16_t element = ((const uint16_t *)buffer)[i];
  return dtype == BNH_BF16 ? bnh_bf16_to_f32(element) : bnh_f16_to_f32(element);
}

static void store(int32_t dtype, void *buffer, int64_t i, float value) {
  if (dtype == BNH_F32) {
    ((float *)buffer)[i] = value;
  } else {
    ((uint16_t *)buffer)[i] = dtype == BNH_BF16 ? bnh_f32_to_bf16(value) : bnh_f32_to_f16(value);
  }
}

static int64_t offset(const bnh_tensor_desc_v2 *desc, int64_t n, int64_t c, int64_t s) {
  const int64_t spatial = desc->h * desc->w;
  return desc->layout == BNH_NCHW ? (n * desc->c + c) * spatial + s : (n * spatial + s) * desc->c + c;
}

/* The checks every operation makes; `training`: M must exceed 1. */
static int check_desc(const bnh_tensor_desc_v2 *desc, int training) {
  if (desc->n < 1 || desc->c < 1 || desc->h < 1 || desc->w < 1) return refuse("every dimension must be >= 1");
  if (desc->n > INT64_MAX / 8 / desc->c / desc->h / desc->w) return refuse("element count overflows int64");
  if (!supports(desc)) return refuse("reduced plugin: unsupported dtype, statistics dtype or layout");
  if (training && desc->n * desc->h * desc->w < 2) return refuse("expected more than 1 value per channel when training");
  return 0;
}

static int check_eps(const bnh_params *params) {
  return !(params->eps > 0) || !isfinite(params->eps) ? refuse("eps must be > 0 and finite") : 0;
}

static int bn_forward_train(const bnh_tensor_desc_v2 *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, void *y, void *save_mean,
                            void *save_invstd, void *running_mean, void *running_var) {
  if (check_desc(desc, 1) != 0 || check_eps(params) != 0) return 1;
  if (!(params->momentum >= 0 && params->momentum <= 1)) return refuse("momentum must be in [0, 1]");
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd) return refuse("a buffer is NULL");
  if (!running_mean != !running_var) return refuse("running_mean and running_var must both be given or both be NULL");
  const int32_t t = desc->dtype, s = desc->stats_dtype;
  const int64_t spatial = desc->h * desc->w, count = desc->n * spatial;
  if (running_var) {
    for (int64_t c = 0; c < desc->c; ++c) {
      if (load(s, running_var, c) < 0) return refuse("running_var must be >= 0");
    }
  }
  for (int64_t c = 0; c < desc->c; ++c) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t i = 0; i < spatial; ++i) sum += load(t, x, offset(desc, n, c, i));
    }
    const double exact_mean = sum / (double)count;
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t i = 0; i < spatial; ++i) {
        const double centred = load(t, x, offset(desc, n, c, i)) - exact_mean;
        squares += centred * centred;
      }
    }
    const float mean = (float)exact_mean;
    const float invstd = (float)(1 / sqrt(squares / (double)count + params->eps));
    const float scale = load(s, gamma, c), shift = load(s, beta, c);
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t i = 0; i < spatial; ++i) {
        const int64_t at = offset(desc, n, c, i);
        store(t, y, at, scale * ((load(t, x, at) - mean) * invstd) + shift);
      }
    }
    store(s, save_mean, c, mean);
    store(s, save_invstd, c, invstd);
    if (running_mean) {
      const double momentum = params->momentum, unbiased = squares / (double)(count - 1);
      store(s, running_mean, c, (float)((1 - momentum) * load(s, running_mean, c) + momentum * exact_mean));
      store(s, running_var, c, (float)((1 - momentum) * load(s, running_var, c) + momentum * unbiased));
    }
  }
  return 0;
}

static int bn_forward_infer(const bnh_tensor_desc_v2 *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  if (check_desc(desc, 0) != 0 || check_eps(params) != 0) return 1;
  if (!x || !gamma || !beta || !running_mean || !running_var || !y) return refuse("a buffer is NULL");
  const int32_t t = desc->dtype, s = desc->stats_dtype;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    if (load(s, running_var, c) < 0) return refuse("running_var must be >= 0");
  }
  for (int64_t c = 0; c < desc->c; ++c) {
    const float mean = load(s, running_mean, c);
    const float invstd = 1 / sqrtf(load(s, running_var, c) + (float)params->eps);
    const float scale = load(s, gamma, c), shift = load(s, beta, c);
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t i = 0; i < spatial; ++i) {
        const int64_t at = offset(desc, n, c, i);
        store(t, y, at, scale * ((load(t, x, at) - mean) * invstd) + shift);
      }
    }
  }
#ifdef REDUCED_OVERFLOW
  ((uint16_t *)y)[desc->n * desc->c * spatial] = 0; /* one 2-byte element past the end of y */
#endif
  return 0;
}

static int bn_backward(const bnh_tensor_desc_v2 *desc, const bnh_params *params, const void *dy,
                       const void *x, const void *gamma, const void *save_mean, const void *save_invstd,
                       void *dx, void *dgamma, void *dbeta) {
  (void)params;
  if (check_desc(desc, 1) != 0) return 1;
  if (!dy || !x || !gamma || !save_mean || !save_invstd || !dx || !dgamma || !dbeta) return refuse("a buffer is NULL");
  const int32_t t = desc->dtype, s = desc->stats_dtype;
  const int64_t spatial = desc->h * desc->w, count = desc->n * spatial;
  for (int64_t c = 0; c < desc->c; ++c) {
    const float mean = load(s, save_mean, c), invstd = load(s, save_invstd, c), scale = load(s, gamma, c);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t i = 0; i < spatial; ++i) {
        const int64_t at = offset(desc, n, c, i);
        const float gradient = load(t, dy, at);
        sum_dy += gradient;
        sum_dy_xhat += gradient * ((load(t, x, at) - mean) * invstd);
      }
    }
    /* dx = gamma invstd / M (M dy - sum(dy) - xhat sum(dy xhat)) */
    for (int64_t n = 0; n < desc->n; ++n) {
      for (int64_t i = 0; i < spatial; ++i) {
        const int64_t at = offset(desc, n, c, i);
        const float xhat = (load(t, x, at) - mean) * invstd;
        const float inner = (float)count * load(t, dy, at) - (float)sum_dy - xhat * (float)sum_dy_xhat;
        store(t, dx, at, scale * invstd / (float)count * inner);
      }
    }
    store(s, dgamma, c, (float)sum_dy_xhat);
    store(s, dbeta, c, (float)sum_dy);
  }
  return 0;
}

#if defined(REDUCED_NULL_NAME)
#define PLUGIN_NAME NULL
#else
#define PLUGIN_NAME "reduced"
#endif
#if defined(REDUCED_WRONG_ABI)
#define TABLE_ABI_VERSION 1
#else
#define TABLE_ABI_VERSION BNH_ABI_VERSION_2
#endif

static const bnh_impl_v2 table = {
    TABLE_ABI_VERSION, PLUGIN_NAME, "batch norm on bf16 and f16 data, f32 or pure statistics", supports,
    bn_forward_train, bn_forward_infer, bn_backward, NULL, NULL, last_error};

#ifdef REDUCED_V1_ONLY
#define V2_GETTER bnh_impl_v2_get_not_exported /* a near miss: only version 1 is found */
#else
#define V2_GETTER bnh_impl_v2_get
#endif

const bnh_impl_v2 *V2_GETTER(void) {
#ifdef REDUCED_CRASH_GET
  *(volatile int *)NULL = 1;
#endif
  return &table;
}

#if defined(REDUCED_BOTH) || defined(REDUCED_V1_ONLY)
/* A version-1 table beside it, for harnesses that know only version 1; it has no supports(),
   so it would say yes to anything it were asked. */
static const bnh_impl_v1 old_table = {BNH_ABI_VERSION, "reduced as version 1", "nothing", NULL,
                                      NULL, NULL, NULL, NULL, NULL, NULL};
const bnh_impl_v1 *bnh_impl_v1_get(void) { return &old_table; }
#endif
