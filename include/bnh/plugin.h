/* bnharness plugin C ABI, version 1.
 *
 * An implementation under test is a shared library that exports one symbol,
 * bnh_impl_v1_get. A plugin built against this header loads into any version of the harness
 * that still speaks ABI 1, so nothing here may change within version 1: not a name, a type,
 * nor the order of an argument. docs/plugin-abi.md describes the calling contract. */
#ifndef BNH_PLUGIN_H
#define BNH_PLUGIN_H

#include <stdint.h>

#define BNH_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { BNH_F32 = 1, BNH_F64 = 2 } bnh_dtype;
typedef enum { BNH_NCHW = 1, BNH_NHWC = 2 } bnh_layout;

typedef struct {
  int64_t n, c, h, w;        /* a 2-D (N, C) input has h = w = 1 */
  bnh_layout layout;
  bnh_dtype dtype;
} bnh_tensor_desc;

typedef struct {
  double eps;                /* > 0 */
  double momentum;           /* [0, 1] */
  double rmax, dmax;         /* renorm only */
  int32_t threads;           /* 0: the implementation's own default */
} bnh_params;

/* Every function returns 0 on success, nonzero when it rejects the call (then last_error()
   says why). Pointers point to elements of desc->dtype. A NULL function pointer means
   "not supported". */
typedef struct {
  uint32_t abi_version;      /* BNH_ABI_VERSION */
  const char *name;
  const char *description;
  int (*supports)(const bnh_tensor_desc *desc);   /* nonzero if this dtype/layout is supported */

  int (*bn_forward_train)(const bnh_tensor_desc *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        void *y, void *save_mean, void *save_invstd,
        void *running_mean, void *running_var);          /* running_*: NULL = do not track */
  int (*bn_forward_infer)(const bnh_tensor_desc *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        const void *running_mean, const void *running_var, void *y);
  int (*bn_backward)(const bnh_tensor_desc *, const bnh_params *,
        const void *dy, const void *x, const void *gamma,
        const void *save_mean, const void *save_invstd,
        void *dx, void *dgamma, void *dbeta);
  int (*renorm_forward_train)(const bnh_tensor_desc *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        void *y, void *save_mean, void *save_invstd, void *r, void *d,
        void *running_mean, void *running_var);          /* running_*: read, then updated; required */
  int (*renorm_backward)(const bnh_tensor_desc *, const bnh_params *,
        const void *dy, const void *x, const void *gamma,
        const void *save_mean, const void *save_invstd, const void *r, const void *d,
        void *dx, void *dgamma, void *dbeta);
  const char *(*last_error)(void);
} bnh_impl_v1;

/* The one exported symbol. */
const bnh_impl_v1 *bnh_impl_v1_get(void);

#ifdef __cplusplus
}
#endif

#endif /* BNH_PLUGIN_H */
