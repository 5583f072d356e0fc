/* What both example plugins need around their arithmetic: refusals and last_error(), the dtypes
   and layouts they support, the parameter checks, and element access in either dtype and
   layout. Each plugin includes it once. */
#ifndef MY_BATCHNORM_ELEMENTS_H
#define MY_BATCHNORM_ELEMENTS_H

#include <math.h>
#include <stdint.h>

#include <bnh/plugin.h>

static const char *last_error_message = "";

static int refuse(const char *why) {
  last_error_message = why;
  return 1;
}

static const char *last_error(void) { return last_error_message; }

static int supports(const bnh_tensor_desc *desc) {
  return (desc->dtype == BNH_F32 || desc->dtype == BNH_F64) &&
         (desc->layout == BNH_NCHW || desc->layout == BNH_NHWC);
}

static int check_eps(const bnh_params *params) {
  if (!(params->eps > 0) || !isfinite(params->eps)) return refuse("eps must be > 0 and finite");
  return 0;
}

static int check_momentum(const bnh_params *params) {
  if (!(params->momentum >= 0 && params->momentum <= 1)) return refuse("momentum must be in [0, 1]");
  return 0;
}

/* Element i of a buffer of the descriptor's dtype, as double, and back. */
static double load(const bnh_tensor_desc *desc, const void *buffer, int64_t i) {
  return desc->dtype == BNH_F32 ? (double)((const float *)buffer)[i] : ((const double *)buffer)[i];
}

static void store(const bnh_tensor_desc *desc, void *buffer, int64_t i, double value) {
  if (desc->dtype == BNH_F32) {
    ((float *)buffer)[i] = (float)value;
  } else {
    ((double *)buffer)[i] = value;
  }
}

static int64_t offset(const bnh_tensor_desc *desc, int64_t n, int64_t c, int64_t s) {
  const int64_t spatial = desc->h * desc->w;
  return desc->layout == BNH_NCHW ? (n * desc->c + c) * spatial + s : (n * spatial + s) * desc->c + c;
}

static int check_running_var(const bnh_tensor_desc *desc, const void *running_var) {
  for (int64_t c = 0; c < desc->c; ++c) {
    if (load(desc, running_var, c) < 0) return refuse("running_var must be >= 0");
  }
  return 0;
}

static double clamp(double value, double low, double high) {
  return value < low ? low : (high < value ? high : value);
}

#endif /* MY_BATCHNORM_ELEMENTS_H */
