/* A well-formed plugin that provides one operation, batch-norm inference, for f64 in both
   layouts, and leaves the others NULL ("not supported"). It validates its inputs as SPEC
   section 4 asks and explains a refusal through last_error.

   Built again with FAULT_CRASH, FAULT_HANG or FAULT_OVERFLOW, it misbehaves on every valid
   call: the harness must report that as a failed check and carry on. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bnh/plugin.h"

static const char *last_error_message = "";

static const char *last_error(void) { return last_error_message; }

static int supports(const bnh_tensor_desc *desc) { return desc->dtype == BNH_F64; }

static int bn_forward_infer(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  if (desc->dtype != BNH_F64) {
    last_error_message = "minimal plugin supports only f64";
    return 1;
  }
  if (desc->n < 1 || desc->c < 1 || desc->h < 1 || desc->w < 1) {
    last_error_message = "every dimension must be >= 1";
    return 1;
  }
  if (desc->n > INT64_MAX / 8 / desc->c / desc->h / desc->w) {
    last_error_message = "element count overflows int64";
    return 1;
  }
  if (desc->layout != BNH_NCHW && desc->layout != BNH_NHWC) {
    last_error_message = "unknown layout";
    return 1;
  }
  if (!x || !gamma || !beta || !running_mean || !running_var || !y) {
    last_error_message = "a buffer is NULL";
    return 1;
  }
  if (!(params->eps > 0) || !isfinite(params->eps)) {
    last_error_message = "eps must be > 0 and finite";
    return 1;
  }
  const double *in = x, *scale = gamma, *shift = beta, *mean = running_mean, *var = running_var;
  double *out = y;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t n = 0; n < desc->n; ++n) {
    for (int64_t c = 0; c < desc->c; ++c) {
      if (var[c] < 0) {
        last_error_message = "running_var must be >= 0";
        return 1;
      }
      const double invstd = 1 / sqrt(var[c] + params->eps);
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = desc->layout == BNH_NCHW ? (n * desc->c + c) * spatial + s
                                                   : (n * spatial + s) * desc->c + c;
        out[i] = scale[c] * ((in[i] - mean[c]) * invstd) + shift[c];
      }
    }
  }
#if defined(FAULT_CRASH)
  *(volatile double *)NULL = out[0];
#elif defined(FAULT_HANG)
  for (volatile int spin = 1; spin;) {
  }
#elif defined(FAULT_OVERFLOW)
  out[desc->n * desc->c * spatial] = 0; /* one element past the end of y */
#endif
  return 0;
}

#if defined(FAULT_CRASH)
#define PLUGIN_NAME "crashes"
#elif defined(FAULT_HANG)
#define PLUGIN_NAME "hangs"
#elif defined(FAULT_OVERFLOW)
#define PLUGIN_NAME "overflows"
#else
#define PLUGIN_NAME "minimal"
#endif

static const bnh_impl_v1 table = {
    BNH_ABI_VERSION, PLUGIN_NAME, "batch-norm inference only, f64", supports,
    NULL, bn_forward_infer, NULL, NULL, NULL, last_error};

const bnh_impl_v1 *bnh_impl_v1_get(void) { return &table; }
