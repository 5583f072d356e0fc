/* bnharness synchronized plugin C ABI, version 1: batch norm whose batch is split across ranks.
 *
 * A plugin may export, beside (or instead of) bnh_impl_v1_get, one more symbol,
 * bnh_sync_impl_v1_get. Each rank's call receives its shard of the batch (desc->n = N_k samples,
 * possibly 0), the whole per-channel tensors, and a communicator the harness provides: the
 * plugin links no MPI of its own. A plugin with only bnh_impl_v1_get is unaffected.
 * docs/plugin-abi.md, "Synchronized batch norm", states the contract. */
#ifndef BNH_PLUGIN_SYNC_H
#define BNH_PLUGIN_SYNC_H

#include <stdint.h>

#include "bnh/plugin.h"

#define BNH_SYNC_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* The ranks of one synchronized call, as the harness provides them. Every rank must make the same
   collective calls, in the same order, with the same count. Each returns 0 on success and nonzero
   when the collective failed (another rank failed or never joined): the plugin should then
   return nonzero itself. */
typedef struct bnh_communicator bnh_communicator;
struct bnh_communicator {
  void *context;             /* the harness's; the plugin passes `self` back untouched */
  int32_t rank, size;        /* 0 <= rank < size */
  /* gathered[k * count + j] = rank k's values[j], the same on every rank; gathered holds
     size * count doubles. */
  int (*all_gather)(const bnh_communicator *self, const double *values, int64_t count,
                    double *gathered);
  /* values[j] becomes the sum over the ranks of their values[j], added in rank order 0, 1, ...:
     bitwise the same on every rank and from run to run. */
  int (*all_reduce_sum)(const bnh_communicator *self, double *values, int64_t count);
};

/* The five operations of bnh_impl_v1 with the communicator first. `desc` describes this rank's
   shard: desc->n is its number of samples (0 for an empty shard), the other extents are the
   whole batch's. x, y, dy, dx hold the shard; every per-channel buffer holds desc->c elements.
   On return, on every rank:
     y, dx                                the shard's own;
     save_mean, save_invstd, r, d,
     running_mean, running_var            of the whole batch (M = the sum of the ranks' N_k H W),
                                          bitwise identical on every rank;
     dgamma, dbeta                        already reduced: the sums over the whole batch,
                                          bitwise identical on every rank.
   A NULL function pointer means "not supported". */
typedef struct {
  uint32_t abi_version;      /* BNH_SYNC_ABI_VERSION */
  const char *name;
  const char *description;
  int (*supports)(const bnh_tensor_desc *desc);

  int (*bn_forward_train)(const bnh_communicator *, const bnh_tensor_desc *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        void *y, void *save_mean, void *save_invstd,
        void *running_mean, void *running_var);
  int (*bn_forward_infer)(const bnh_communicator *, const bnh_tensor_desc *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        const void *running_mean, const void *running_var, void *y);
  int (*bn_backward)(const bnh_communicator *, const bnh_tensor_desc *, const bnh_params *,
        const void *dy, const void *x, const void *gamma,
        const void *save_mean, const void *save_invstd,
        void *dx, void *dgamma, void *dbeta);
  int (*renorm_forward_train)(const bnh_communicator *, const bnh_tensor_desc *, const bnh_params *,
        const void *x, const void *gamma, const void *beta,
        void *y, void *save_mean, void *save_invstd, void *r, void *d,
        void *running_mean, void *running_var);
  int (*renorm_backward)(const bnh_communicator *, const bnh_tensor_desc *, const bnh_params *,
        const void *dy, const void *x, const void *gamma,
        const void *save_mean, const void *save_invstd, const void *r, const void *d,
        void *dx, void *dgamma, void *dbeta);
  const char *(*last_error)(void);
} bnh_sync_impl_v1;

/* The exported symbol of a synchronized plugin. */
const bnh_sync_impl_v1 *bnh_sync_impl_v1_get(void);

#ifdef __cplusplus
}
#endif

#endif /* BNH_PLUGIN_SYNC_H */
