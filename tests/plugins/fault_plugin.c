/* The fault catalogue: a correct plugin (batch-norm inference, f64, both layouts, refusing bad
   input as SPEC section 4 asks) built once per way of misbehaving, each selected by one
   FAULT_... definition (tests/fault_catalogue.cmake). The harness must report every fault as a
   failure naming it, carry on, and leave no process behind.

   In a call:         FAULT_CRASH, FAULT_ABORT, FAULT_EXIT (status 3), FAULT_HANG,
                      FAULT_OVERRUN_PAGE (8 bytes written 4088 bytes past the end of y),
                      FAULT_OVERRUN_BYTES (3 bytes just past the end of y),
                      FAULT_UNDERRUN (8 bytes just before the start of y),
                      FAULT_WRITE_INPUT (x changed), FAULT_FORKS (a child per call that sleeps 300 s).
   On bad input only: FAULT_CRASH_ON_BAD_INPUT (crashes where it should refuse).
   While loading:     FAULT_CRASH_CONSTRUCTOR, FAULT_HANG_CONSTRUCTOR, FAULT_CRASH_GET,
                      FAULT_CRASH_SUPPORTS.
   The environment:   FAULT_FP_ENVIRONMENT (supports() turns on flush-to-zero and
                      denormals-are-zero and rounds upward, for whoever runs it).
   Its strings:       FAULT_HOSTILE_STRINGS (invalid UTF-8, a newline and a terminal escape in
                      its name and in the reason it gives for refusing the calls with odd C).

   When BNH_TEST_CHILD_NAME is set, the process that loads the library, and every child it
   forks, takes that name, so that a test can look for survivors with `pgrep -x NAME`. */
#define _GNU_SOURCE
#include <fenv.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "bnh/plugin.h"

#define STRAY_NAME_VARIABLE "BNH_TEST_CHILD_NAME"

static const char *last_error_message = "";

static const char *last_error(void) { return last_error_message; }

__attribute__((unused)) static void crash(void) { *(volatile int *)NULL = 1; }

__attribute__((unused)) static void hang_busy(void) {
  for (volatile int spin = 1; spin;) {
  }
}

__attribute__((unused)) static void hang_asleep(void) {
  for (;;) pause();
}

/* Takes the marker name, if the test gave one. */
static void take_marker_name(const char *fallback) {
  const char *name = getenv(STRAY_NAME_VARIABLE);
  if (name == NULL || name[0] == '\0') name = fallback;
  if (name != NULL) prctl(PR_SET_NAME, name, 0, 0, 0);
}

__attribute__((constructor)) static void on_load(void) {
  take_marker_name(NULL);
#if defined(FAULT_CRASH_CONSTRUCTOR)
  crash();
#elif defined(FAULT_HANG_CONSTRUCTOR)
  hang_asleep();
#endif
}

/* A bad input is refused with a reason; this build crashes instead. */
static int refuse(const char *reason) {
#if defined(FAULT_CRASH_ON_BAD_INPUT)
  crash();
#endif
  last_error_message = reason;
  return 1;
}

static int supports(const bnh_tensor_desc *desc) {
#if defined(FAULT_CRASH_SUPPORTS)
  crash();
#elif defined(FAULT_FP_ENVIRONMENT)
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) and DAZ (bit 6) */
#endif
  fesetround(FE_UPWARD);
#endif
  return desc->dtype == BNH_F64;
}

/* Misbehaviour after a correct result: y holds `count` doubles. */
static void misbehave_in_call(const void *x, double *y, int64_t count) {
  unsigned char *end = (unsigned char *)(y + count);
  (void)x;
  (void)end;
#if defined(FAULT_CRASH)
  crash();
#elif defined(FAULT_ABORT)
  abort();
#elif defined(FAULT_EXIT)
  exit(3);
#elif defined(FAULT_HANG)
  hang_busy();
#elif defined(FAULT_OVERRUN_PAGE)
  *(volatile double *)(end + 4088) = 0; /* past any sub-page slack, inside the next page */
#elif defined(FAULT_OVERRUN_BYTES)
  for (int i = 0; i < 3; ++i) ((volatile unsigned char *)end)[i] = 0x5A;
#elif defined(FAULT_UNDERRUN)
  ((volatile double *)y)[-1] = 0;
#elif defined(FAULT_WRITE_INPUT)
  ((volatile double *)x)[0] += 1;
#elif defined(FAULT_FORKS)
  /* A child that outlives the call unless the harness ends it; at most 256 from one process,
     so that a harness that never ends them cannot fill the process table. */
  static int children = 0;
  if (children++ < 256 && fork() == 0) {
    take_marker_name("bnh_fault_fork");
    sleep(300);
    _exit(0);
  }
#endif
}

static int bn_forward_infer(const bnh_tensor_desc *desc, const bnh_params *params, const void *x,
                            const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  if (desc->n < 1 || desc->c < 1 || desc->h < 1 || desc->w < 1) {
    return refuse("every dimension must be >= 1");
  }
  if (desc->n > INT64_MAX / 8 / desc->c / desc->h / desc->w) {
    return refuse("element count overflows int64");
  }
  if (desc->dtype != BNH_F32 && desc->dtype != BNH_F64) return refuse("unknown dtype");
  if (desc->layout != BNH_NCHW && desc->layout != BNH_NHWC) return refuse("unknown layout");
  if (!x || !gamma || !beta || !running_mean || !running_var || !y) {
    return refuse("a buffer is NULL");
  }
  if (!(params->eps > 0) || !isfinite(params->eps)) return refuse("eps must be > 0 and finite");
  if (desc->dtype != BNH_F64) {
    last_error_message = "only f64 is supported"; /* a valid call this plugin declines */
    return 1;
  }
  const double *in = x, *scale = gamma, *shift = beta, *mean = running_mean, *var = running_var;
  for (int64_t c = 0; c < desc->c; ++c) {
    if (var[c] < 0) return refuse("running_var must be >= 0");
  }
#if defined(FAULT_HOSTILE_STRINGS)
  if (desc->c % 2 == 1) {
    last_error_message = "refusedhead \xff\xfe odd C\n\033[2J\033]0;title\007 refusedtail";
    return 1;
  }
#endif
  double *out = y;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t n = 0; n < desc->n; ++n) {
    for (int64_t c = 0; c < desc->c; ++c) {
      const double invstd = 1 / sqrt(var[c] + params->eps);
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = desc->layout == BNH_NCHW ? (n * desc->c + c) * spatial + s
                                                   : (n * spatial + s) * desc->c + c;
        out[i] = scale[c] * ((in[i] - mean[c]) * invstd) + shift[c];
      }
    }
  }
  misbehave_in_call(x, out, desc->n * desc->c * spatial);
  return 0;
}

#if defined(FAULT_HOSTILE_STRINGS)
#define PLUGIN_NAME "evilhead \xff\xfe\n\033[2J\033[31m eviltail"
#else
#define PLUGIN_NAME "fault"
#endif

static const bnh_impl_v1 table = {
    BNH_ABI_VERSION, PLUGIN_NAME, "batch-norm inference only, f64, with one fault built in",
    supports, NULL, bn_forward_infer, NULL, NULL, NULL, last_error};

const bnh_impl_v1 *bnh_impl_v1_get(void) {
#if defined(FAULT_CRASH_GET)
  crash();
#endif
  return &table;
}
