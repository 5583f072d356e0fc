/* bnharness plugin C ABI, version 2: reduced-precision data with a statistics dtype.
 *
 * Version 2 adds what version 1 cannot express: data (x, y, dy, dx) in bf16 or f16, and a
 * second dtype for the per-channel buffers (gamma, beta, save_mean, save_invstd, the running
 * statistics, r, d, dgamma, dbeta). A plugin exports bnh_impl_v2_get; one built against
 * version 1 (bnh/plugin.h, bnh_impl_v1_get) keeps loading and working unchanged. Nothing here
 * may change within version 2. docs/plugin-abi.md describes the calling contract. */
#ifndef BNH_PLUGIN_V2_H
#define BNH_PLUGIN_V2_H

#include <string.h>

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

/* The one exported symbol of a version-2 plugin. When a library exports both bnh_impl_v2_get
   and bnh_impl_v1_get, the harness takes version 2. */
const bnh_impl_v2 *bnh_impl_v2_get(void);

/* Conveniences, not part of the binary interface: exact widening of a bf16 or f16 element to
   float, and rounding of a float to the nearest bf16 or f16, ties to even (the rounding the
   harness expects of every stored output). f16 keeps its subnormals and overflows to infinity
   from 65520 (65504 + half a unit) up; NaN stays NaN. */
static inline float bnh_f32_from_bits(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static inline uint32_t bnh_f32_bits(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  return bits;
}

static inline float bnh_bf16_to_f32(uint16_t element) { return bnh_f32_from_bits((uint32_t)element << 16); }

static inline uint16_t bnh_f32_to_bf16(float value) {
  const uint32_t bits = bnh_f32_bits(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x0040u); /* quiet NaN */
  /* Adding 0x7FFF, plus the lowest kept bit, carries into the kept bits exactly when the
     dropped half is above a tie, or a tie with an odd kept part. */
  return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

static inline float bnh_f16_to_f32(uint16_t element) {
  const uint32_t sign = (uint32_t)(element & 0x8000u) << 16;
  const uint32_t exponent = (element >> 10) & 0x1Fu;
  uint32_t fraction = element & 0x3FFu, bits;
  if (exponent == 0x1Fu) {
    bits = sign | 0x7F800000u | (fraction << 13); /* infinity or NaN */
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112u) << 23) | (fraction << 13); /* rebias: 15 -> 127 */
  } else if (fraction == 0) {
    bits = sign;
  } else { /* a subnormal, fraction * 2^-24: normalised, it is a float of exponent 113 - shifts */
    uint32_t biased = 113u;
    while ((fraction & 0x400u) == 0) {
      fraction <<= 1;
      --biased;
    }
    bits = sign | (biased << 23) | ((fraction & 0x3FFu) << 13);
  }
  return bnh_f32_from_bits(bits);
}

static inline uint16_t bnh_f32_to_f16(float value) {
  uint32_t bits = bnh_f32_bits(value);
  const uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
  bits &= 0x7FFFFFFFu;
  if (bits > 0x7F800000u) return (uint16_t)(sign | 0x7E00u); /* NaN */
  if (bits >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* 65520 and up: infinity */
  if (bits >= 0x38800000u) { /* 2^-14 and up: a normal f16; rebias 127 -> 15, keep 10 bits */
    bits -= 0x38000000u;
    return (uint16_t)(sign | ((bits + 0x0FFFu + ((bits >> 13) & 1u)) >> 13));
  }
  if (bits < 0x33000000u) return sign; /* below 2^-25, half the least subnormal: zero */
  { /* a subnormal: the value in units of 2^-24 is the significand shifted right */
    const uint32_t significand = (bits & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - (bits >> 23);
    const uint32_t half = 1u << (shift - 1), rest = significand & ((1u << shift) - 1);
    uint32_t units = significand >> shift;
    if (rest > half || (rest == half && (units & 1u) != 0)) ++units; /* may reach 2^-14: 0x400 */
    return (uint16_t)(sign | units);
  }
}

#ifdef __cplusplus
}
#endif

#endif /* BNH_PLUGIN_V2_H */
