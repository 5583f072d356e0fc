/* A synchronized batch normalization and batch renormalization (bnh/plugin_sync.h): the batch is
   split along N into shards, one per rank, and the statistics are merged across the ranks through
   the communicator bnharness provides. Plain C, f32 and f64, NCHW and NHWC, every operation,
   and empty shards (a rank with no samples still joins every collective).

   The forward: each rank takes its shard's [count, mean, m2] per channel in two passes, the
   ranks all-gather them, and every rank merges them with Chan's formula in rank order 0, 1, ...,
   so every rank holds bitwise the same statistics. The backward: each rank sums
   [sum dy, sum dy (x - mean)] over its shard, the ranks all-reduce them, and dx divides by the
   whole batch's count; dgamma and dbeta are returned already reduced. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <bnh/plugin_sync.h>

#include "elements.h"

/* Shape checks shared by every operation. A shard may be empty (n = 0); every rank sees the
   same C, H, W, dtype and layout, so every rank refuses bad input alike, before any collective. */
static int check_shard(const bnh_tensor_desc *desc) {
  if (desc->n < 0 || desc->c < 1 || desc->h < 1 || desc->w < 1) return refuse("every dimension must be >= 1");
  /* C H W first: an empty shard of an oversized batch must be refused too. */
  if (desc->c > INT64_MAX / 8 / desc->h / desc->w || desc->n > INT64_MAX / 8 / desc->c / desc->h / desc->w) {
    return refuse("element count overflows int64");
  }
  if (!supports(desc)) return refuse("unknown dtype or layout");
  return 0;
}

/* The whole batch's statistics of one channel. */
typedef struct {
  double count, mean, var; /* var: biased, over the whole batch */
} moments;

/* This shard's [count, mean, m2] of channel c, in two passes; an empty shard gives [0, 0, 0]. */
static void shard_moments(const bnh_tensor_desc *desc, const void *x, int64_t c, double *out) {
  const int64_t spatial = desc->h * desc->w;
  const double count = (double)(desc->n * spatial);
  double sum = 0, m2 = 0;
  for (int64_t n = 0; n < desc->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) sum += load(desc, x, offset(desc, n, c, s));
  const double mean = count > 0 ? sum / count : 0;
  for (int64_t n = 0; n < desc->n; ++n)
    for (int64_t s = 0; s < spatial; ++s) {
      const double centered = load(desc, x, offset(desc, n, c, s)) - mean;
      m2 += centered * centered;
    }
  out[0] = count;
  out[1] = mean;
  out[2] = m2;
}

/* Every channel's statistics over the whole batch: the ranks' [count, mean, m2] gathered and
   merged with Chan's formula in rank order. Nonzero when the gather failed. */
static int global_moments(const bnh_communicator *comm, const bnh_tensor_desc *desc, const void *x,
                          moments *result) {
  const int64_t channels = desc->c;
  double *mine = calloc(3 * (size_t)channels, sizeof(double));
  double *all = malloc(sizeof(double) * 3 * (size_t)channels * (size_t)comm->size);
  if (!mine || !all) {
    free(mine);
    free(all);
    return refuse("out of memory");
  }
  for (int64_t c = 0; c < channels; ++c) shard_moments(desc, x, c, mine + 3 * c);
  const int failed = comm->all_gather(comm, mine, 3 * channels, all);
  for (int64_t c = 0; c < channels && !failed; ++c) {
    double count = 0, mean = 0, m2 = 0;
    for (int k = 0; k < comm->size; ++k) {
      const double *theirs = all + 3 * (k * channels + c);
      if (theirs[0] == 0) continue; /* an empty shard adds nothing */
      const double merged = count + theirs[0], delta = theirs[1] - mean;
      mean += delta * theirs[0] / merged;
      m2 += theirs[2] + delta * delta * count * theirs[0] / merged;
      count = merged;
    }
    result[c].count = count;
    result[c].mean = mean;
    result[c].var = count > 0 ? m2 / count : 0;
  }
  free(mine);
  free(all);
  return failed ? refuse("the all_gather of the statistics failed") : 0;
}

/* The forward's statistics, refused alike on every rank when the whole batch has M <= 1. */
static moments *training_moments(const bnh_communicator *comm, const bnh_tensor_desc *desc, const void *x) {
  moments *result = malloc(sizeof(moments) * (size_t)desc->c);
  if (!result) {
    refuse("out of memory");
    return NULL;
  }
  if (global_moments(comm, desc, x, result)) {
    free(result);
    return NULL;
  }
  if (result[0].count < 2) {
    free(result);
    refuse("expected more than 1 value per channel when training");
    return NULL;
  }
  return result;
}

static void update_running(const bnh_tensor_desc *desc, const bnh_params *params, int64_t c, moments m,
                           void *running_mean, void *running_var) {
  const double keep = 1 - params->momentum;
  store(desc, running_mean, c, keep * load(desc, running_mean, c) + params->momentum * m.mean);
  /* The unbiased variance of the whole batch: its count, not the shard's. */
  store(desc, running_var, c, keep * load(desc, running_var, c) + params->momentum * m.var * m.count / (m.count - 1));
}

static int bn_forward_train(const bnh_communicator *comm, const bnh_tensor_desc *desc, const bnh_params *params,
                            const void *x, const void *gamma, const void *beta, void *y, void *save_mean,
                            void *save_invstd, void *running_mean, void *running_var) {
  if (check_shard(desc) || check_eps(params) || check_momentum(params)) return 1;
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd) return refuse("a required buffer is NULL");
  if ((running_mean == NULL) != (running_var == NULL)) return refuse("running_mean and running_var go together");
  if (running_var && check_running_var(desc, running_var)) return 1;
  moments *stats = training_moments(comm, desc, x);
  if (!stats) return 1;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    const double invstd = 1 / sqrt(stats[c].var + params->eps);
    const double g = load(desc, gamma, c), b = load(desc, beta, c);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        store(desc, y, i, g * (load(desc, x, i) - stats[c].mean) * invstd + b);
      }
    store(desc, save_mean, c, stats[c].mean);
    store(desc, save_invstd, c, invstd);
    if (running_mean) update_running(desc, params, c, stats[c], running_mean, running_var);
  }
  free(stats);
  return 0;
}

/* Inference uses the running statistics: nothing to merge, no collective. */
static int bn_forward_infer(const bnh_communicator *comm, const bnh_tensor_desc *desc, const bnh_params *params,
                            const void *x, const void *gamma, const void *beta, const void *running_mean,
                            const void *running_var, void *y) {
  (void)comm;
  if (check_shard(desc) || check_eps(params)) return 1;
  if (!x || !gamma || !beta || !running_mean || !running_var || !y) return refuse("a required buffer is NULL");
  if (check_running_var(desc, running_var)) return 1;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    const double invstd = 1 / sqrt(load(desc, running_var, c) + params->eps);
    const double mean = load(desc, running_mean, c), g = load(desc, gamma, c), b = load(desc, beta, c);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        store(desc, y, i, g * (load(desc, x, i) - mean) * invstd + b);
      }
  }
  return 0;
}

/* The backward of both: every channel's [sum dy, sum dy xhat] over the whole batch (all-reduced,
   then dbeta and the xhat term of dgamma), and this shard's
   dx = gamma_r invstd / M (M dy - sum dy - xhat sum dy xhat), gamma_r = gamma, or gamma r for
   renorm (r held constant), M the whole batch's count. */
static int backward(const bnh_communicator *comm, const bnh_tensor_desc *desc, const void *dy, const void *x,
                    const void *gamma, const void *save_mean, const void *save_invstd, const void *r, void *dx,
                    double *sums) {
  const int64_t spatial = desc->h * desc->w, channels = desc->c;
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = load(desc, save_mean, c), invstd = load(desc, save_invstd, c);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        sum_dy += load(desc, dy, i);
        sum_dy_xhat += load(desc, dy, i) * (load(desc, x, i) - mean) * invstd;
      }
    sums[c] = sum_dy;
    sums[channels + c] = sum_dy_xhat;
  }
  /* [sum dy | sum dy xhat | count], summed over the ranks in rank order. */
  sums[2 * channels] = (double)(desc->n * spatial);
  if (comm->all_reduce_sum(comm, sums, 2 * channels + 1)) return refuse("the all_reduce_sum of the gradients failed");
  const double count = sums[2 * channels];
  if (count < 2) return refuse("expected more than 1 value per channel when training");
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = load(desc, save_mean, c), invstd = load(desc, save_invstd, c);
    const double gamma_r = load(desc, gamma, c) * (r ? load(desc, r, c) : 1);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        const double xhat = (load(desc, x, i) - mean) * invstd;
        store(desc, dx, i, gamma_r * invstd / count * (count * load(desc, dy, i) - sums[c] - xhat * sums[channels + c]));
      }
  }
  return 0;
}

static int bn_backward(const bnh_communicator *comm, const bnh_tensor_desc *desc, const bnh_params *params,
                       const void *dy, const void *x, const void *gamma, const void *save_mean,
                       const void *save_invstd, void *dx, void *dgamma, void *dbeta) {
  (void)params;
  if (check_shard(desc)) return 1;
  if (!dy || !x || !gamma || !save_mean || !save_invstd || !dx || !dgamma || !dbeta) {
    return refuse("a required buffer is NULL");
  }
  double *sums = malloc(sizeof(double) * (size_t)(2 * desc->c + 1));
  if (!sums) return refuse("out of memory");
  const int failed = backward(comm, desc, dy, x, gamma, save_mean, save_invstd, NULL, dx, sums);
  for (int64_t c = 0; c < desc->c && !failed; ++c) {
    store(desc, dbeta, c, sums[c]);
    store(desc, dgamma, c, sums[desc->c + c]);
  }
  free(sums);
  return failed;
}

static int renorm_forward_train(const bnh_communicator *comm, const bnh_tensor_desc *desc,
                                const bnh_params *params, const void *x, const void *gamma, const void *beta,
                                void *y, void *save_mean, void *save_invstd, void *r_out, void *d_out,
                                void *running_mean, void *running_var) {
  if (check_shard(desc) || check_eps(params) || check_momentum(params)) return 1;
  if (!(params->rmax >= 1)) return refuse("rmax must be >= 1");
  if (!(params->dmax >= 0)) return refuse("dmax must be >= 0");
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd || !r_out || !d_out || !running_mean ||
      !running_var) {
    return refuse("a required buffer is NULL");
  }
  if (check_running_var(desc, running_var)) return 1;
  moments *stats = training_moments(comm, desc, x);
  if (!stats) return 1;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    const double sigma_batch = sqrt(stats[c].var + params->eps);
    const double sigma = sqrt(load(desc, running_var, c) + params->eps);
    /* r and d from the running statistics before this step's update. */
    const double r = clamp(sigma_batch / sigma, 1 / params->rmax, params->rmax);
    const double d = clamp((stats[c].mean - load(desc, running_mean, c)) / sigma, -params->dmax, params->dmax);
    const double g = load(desc, gamma, c), b = load(desc, beta, c);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = offset(desc, n, c, s);
        store(desc, y, i, g * ((load(desc, x, i) - stats[c].mean) / sigma_batch * r + d) + b);
      }
    store(desc, save_mean, c, stats[c].mean);
    store(desc, save_invstd, c, 1 / sigma_batch);
    store(desc, r_out, c, r);
    store(desc, d_out, c, d);
    update_running(desc, params, c, stats[c], running_mean, running_var);
  }
  free(stats);
  return 0;
}

static int renorm_backward(const bnh_communicator *comm, const bnh_tensor_desc *desc, const bnh_params *params,
                           const void *dy, const void *x, const void *gamma, const void *save_mean,
                           const void *save_invstd, const void *r, const void *d, void *dx, void *dgamma,
                           void *dbeta) {
  (void)params;
  if (check_shard(desc)) return 1;
  if (!dy || !x || !gamma || !save_mean || !save_invstd || !r || !d || !dx || !dgamma || !dbeta) {
    return refuse("a required buffer is NULL");
  }
  double *sums = malloc(sizeof(double) * (size_t)(2 * desc->c + 1));
  if (!sums) return refuse("out of memory");
  const int failed = backward(comm, desc, dy, x, gamma, save_mean, save_invstd, r, dx, sums);
  for (int64_t c = 0; c < desc->c && !failed; ++c) {
    const double sum_dy = sums[c], sum_dy_xhat = sums[desc->c + c];
    store(desc, dbeta, c, sum_dy);
    store(desc, dgamma, c, sum_dy_xhat * load(desc, r, c) + sum_dy * load(desc, d, c));
  }
  free(sums);
  return failed;
}

static const bnh_sync_impl_v1 table = {
    BNH_SYNC_ABI_VERSION,
    "my_sync_batchnorm",
    "an example synchronized implementation: plain C loops, each shard's [count, mean, m2] merged with Chan's formula",
    supports,
    bn_forward_train,
    bn_forward_infer,
    bn_backward,
    renorm_forward_train,
    renorm_backward,
    last_error,
};

const bnh_sync_impl_v1 *bnh_sync_impl_v1_get(void) { return &table; }
