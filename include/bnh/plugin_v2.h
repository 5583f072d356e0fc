/* bnharness plugin C ABI, version 2: reduced-precision data with a statistics dtype.
 *
 * Version 2 adds what version 1 cannot express: data (x, y, dy, dx) in bf16 or f16, and a
 * second dtype for the per-channel buffers (gamma, beta, save_mean, save_invstd, the running
 * statistics, r, d, dgamma, dbeta). A plugin exports bnh_impl_v2_get; one built against
 * version 1 (bnh/plugin.h, bnh_impl_v1_get) keeps loading and working unchanged. Nothing here
 * may change within version 2. docs/plugin-abi.md describes the calling contract. */
#ifndef BNH_PLUGIN_V2_H
#define BNH_PLUGIN_V2_H

#include "bnh/plugin.h"

#define BNH_ABI_VERSION_2 2

#ifdef __cplusplus
extern "C" {
#endif

/* More values of bnh_dtype. bf16: 1 sign, 8 exponent, 7 fraction bits (the upper half of an
   IEEE binary32). f16: IEEE binary16. Both are stored as 16-bit words in native byte order. */
enum { BNH_BF16 = 3, BNH_F16 = 4 };

typedef struct {
  int64_t n, c, h, w;        /* a 2-D (N, C) input has h = w = 1 */
  bnh_layout layout;
  int32_t dtype;             /* x, y, dy, dx: BNH_F32, BNH_F64, BNH_BF16 or BNH_F16 */
  int32_t stats_dtype;       /* the per-channel buffers: the data dtype, or BNH_F32 with
                                bf16 or f16 data */
} bnh_tensor_desc_v2;

/* As bnh_impl_v1, with the version-2 descriptor. Pointers to the tensors point to elements of
   desc->dtype; pointers to the per-channel buffers, to elements of desc->stats_dtype. */
typedef struct {
  uint32_t abi_version;      /* BNH_ABI_VERSION_2 */
  const char *name;
  const char *description;
  int (*supports)(const bnh_tensor_desc_v2 *desc);   /* nonzero if these dtypes and layout are supported */

  int (*bn_forward_train)(const bnh_tensor_desc_v2 *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        void *y, void *save_mean, void *save_invstd,
        void *running_mean, void *running_var);          /* running_*: NULL = do not track */
  int (*bn_forward_infer)(const bnh_tensor_desc_v2 *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        const void *running_mean, const void *running_var, void *y);
  int (*bn_backward)(const bnh_tensor_desc_v2 *, const bnh_params *,
        const void *dy, const void *x, const void *gamma,
        const void *save_mean, const void *save_invstd,
        void *dx, void *dgamma, void *dbeta);
  int (*renorm_forward_train)(const bnh_tensor_desc_v2 *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        void *y, void *save_mean, void *save_invstd, void *r, void *d,
        void *running_mean, void *running_var);          /* running_*: read, then updated; required */
  int (*renorm_backward)(const bnh_tensor_desc_v2 *, const bnh_params *,
        const void *dy, const void *x, const void *gamma,
        const void *save_mean, const void *save_invstd, const void *r, const void *d,
        void *dx, void *dgamma, void *dbeta);
  const char *(*last_error)(void);
} bnh_impl_v2;

/* The one exported symbol of a version-2 plugin. */
const bnh_impl_v2 *bnh_impl_v2_get(void);

#ifdef __cplusplus
}
#endif

#endif /* BNH_PLUGIN_V2_H */
