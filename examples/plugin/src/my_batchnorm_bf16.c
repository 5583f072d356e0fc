/* The example's reduced-precision path: batch normalization on bf16 data with f32 statistics
   (gamma, beta, the saved and running statistics, dgamma and dbeta), checked by bnharness
   through version 2 of its plugin C ABI (bnh/plugin_v2.h). NCHW and NHWC; training forward,
   inference and backward (renorm is left out: NULL means "not supported").

   How reduced precision is done here, as the harness expects it:
   - every bf16 element is widened exactly to float (bnh_bf16_to_f32);
   - the per-channel sums are accumulated in double, wider than the data;
   - each output is computed in float and rounded once, to nearest even, as it is stored
     (bnh_f32_to_bf16). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <bnh/plugin_v2.h>

static const char *reason = "";

static int decline(const char *why) {
  reason = why;
  return 1;
}

static const char *why_declined(void) { return reason; }

static int bf16_mixed(const bnh_tensor_desc_v2 *desc) {
  return desc->dtype == BNH_BF16 && desc->stats_dtype == BNH_F32 &&
         (desc->layout == BNH_NCHW || desc->layout == BNH_NHWC);
}

/* One channel of a tensor: where its M elements lie. */
typedef struct {
  int64_t samples, positions, sample_stride, position_stride, start;
} channel_view;

static channel_view channel_of(const bnh_tensor_desc_v2 *d, int64_t c) {
  const int64_t positions = d->h * d->w;
  channel_view view = {d->n, positions, d->c * positions, 1, c * positions};
  if (d->layout == BNH_NHWC) {
    view.sample_stride = positions * d->c;
    view.position_stride = d->c;
    view.start = c;
  }
  return view;
}

static int64_t at(const channel_view *view, int64_t k) {
  return view->start + k / view->positions * view->sample_stride + k % view->positions * view->position_stride;
}

static float get(const void *tensor, int64_t i) { return bnh_bf16_to_f32(((const uint16_t *)tensor)[i]); }
static void put(void *tensor, int64_t i, float value) { ((uint16_t *)tensor)[i] = bnh_f32_to_bf16(value); }

/* What every operation asks of the call (nonzero: declined); `training` also wants M > 1. */
static int declines_shape(const bnh_tensor_desc_v2 *d, int training) {
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1) return decline("every dimension must be >= 1");
  if (d->n > INT64_MAX / 4 / d->c / d->h / d->w) return decline("element count overflows int64");
  if (!bf16_mixed(d)) return decline("my_batchnorm_bf16 takes bf16 data with f32 statistics only");
  if (training && d->n * d->h * d->w < 2) return decline("expected more than 1 value per channel when training");
  return 0;
}

static int declines_eps(const bnh_params *params) {
  return params->eps > 0 && isfinite(params->eps) ? 0 : decline("eps must be > 0 and finite");
}

static int bn_forward_train(const bnh_tensor_desc_v2 *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, void *y, void *save_mean,
                            void *save_invstd, void *running_mean, void *running_var) {
  if (declines_shape(desc, 1) || declines_eps(params)) return 1;
  if (!(params->momentum >= 0 && params->momentum <= 1)) return decline("momentum must be in [0, 1]");
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd) return decline("a required buffer is NULL");
  if ((running_mean == NULL) != (running_var == NULL)) return decline("running_mean and running_var go together");
  float *means = save_mean, *invstds = save_invstd, *tracked_mean = running_mean, *tracked_var = running_var;
  for (int64_t c = 0; running_var && c < desc->c; ++c) {
    if (tracked_var[c] < 0) return decline("running_var must be >= 0");
  }
  for (int64_t c = 0; c < desc->c; ++c) {
    const channel_view view = channel_of(desc, c);
    const int64_t m = view.samples * view.positions;
    double sum = 0, squares = 0;
    for (int64_t k = 0; k < m; ++k) sum += get(x, at(&view, k));
    const double mean = sum / (double)m;
    for (int64_t k = 0; k < m; ++k) squares += (get(x, at(&view, k)) - mean) * (get(x, at(&view, k)) - mean);
    means[c] = (float)mean;
    invstds[c] = (float)(1 / sqrt(squares / (double)m + params->eps));
    const float scale = ((const float *)gamma)[c], shift = ((const float *)beta)[c];
    for (int64_t k = 0; k < m; ++k) {
      const int64_t i = at(&view, k);
      put(y, i, scale * ((get(x, i) - means[c]) * invstds[c]) + shift);
    }
    if (running_mean) { /* the running statistics stay f32: read, update in double, store once */
      const double momentum = params->momentum;
      tracked_mean[c] = (float)((1 - momentum) * tracked_mean[c] + momentum * mean);
      tracked_var[c] = (float)((1 - momentum) * tracked_var[c] + momentum * squares / (double)(m - 1));
    }
  }
  return 0;
}

static int bn_forward_infer(const bnh_tensor_desc_v2 *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  if (declines_shape(desc, 0) || declines_eps(params)) return 1;
  if (!x || !gamma || !beta || !running_mean || !running_var || !y) return decline("a required buffer is NULL");
  const float *mean = running_mean, *var = running_var;
  for (int64_t c = 0; c < desc->c; ++c) {
    if (var[c] < 0) return decline("running_var must be >= 0");
  }
  for (int64_t c = 0; c < desc->c; ++c) {
    const channel_view view = channel_of(desc, c);
    const float invstd = (float)(1 / sqrt(var[c] + params->eps));
    const float scale = ((const float *)gamma)[c], shift = ((const float *)beta)[c];
    for (int64_t k = 0; k < view.samples * view.positions; ++k) {
      const int64_t i = at(&view, k);
      put(y, i, scale * ((get(x, i) - mean[c]) * invstd) + shift);
    }
  }
  return 0;
}

/* dx = gamma invstd / M (M dy - sum dy - xhat sum dy xhat), from the saved statistics. */
static int bn_backward(const bnh_tensor_desc_v2 *desc, const bnh_params *params, const void *dy,
                       const void *x, const void *gamma, const void *save_mean,
                       const void *save_invstd, void *dx, void *dgamma, void *dbeta) {
  (void)params;
  if (declines_shape(desc, 1)) return 1;
  if (!dy || !x || !gamma || !save_mean || !save_invstd || !dx || !dgamma || !dbeta) {
    return decline("a required buffer is NULL");
  }
  for (int64_t c = 0; c < desc->c; ++c) {
    const channel_view view = channel_of(desc, c);
    const int64_t m = view.samples * view.positions;
    const float mean = ((const float *)save_mean)[c], invstd = ((const float *)save_invstd)[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t k = 0; k < m; ++k) {
      const int64_t i = at(&view, k);
      sum_dy += get(dy, i);
      sum_dy_xhat += (double)get(dy, i) * ((get(x, i) - mean) * invstd);
    }
    const float factor = ((const float *)gamma)[c] * invstd / (float)m;
    for (int64_t k = 0; k < m; ++k) {
      const int64_t i = at(&view, k);
      const float xhat = (get(x, i) - mean) * invstd;
      put(dx, i, factor * ((float)m * get(dy, i) - (float)sum_dy - xhat * (float)sum_dy_xhat));
    }
    ((float *)dbeta)[c] = (float)sum_dy;
    ((float *)dgamma)[c] = (float)sum_dy_xhat;
  }
  return 0;
}

static int supports(const bnh_tensor_desc_v2 *desc) { return bf16_mixed(desc); }

static const bnh_impl_v2 table = {
    BNH_ABI_VERSION_2,
    "my_batchnorm_bf16",
    "the example's reduced-precision path: bf16 data, f32 statistics, sums in double",
    supports,
    bn_forward_train,
    bn_forward_infer,
    bn_backward,
    NULL,
    NULL,
    why_declined,
};

const bnh_impl_v2 *bnh_impl_v2_get(void) { return &table; }
