/* A small synchronized plugin (bnh/plugin_sync.h): batch-norm training, inference and backward
   in f64, both layouts, in textbook loops with double sums. Each rank sums its shard; the ranks
   gather every channel's [count, sum, sum of squared deviations from the shard's mean] and merge
   them; the backward all-reduces [sum dy, sum dy (x - mean)] and divides by the whole count.

   Built again with SYNC_CRASH (rank 1 crashes before the gather), SYNC_SKIP (rank 1 returns
   before the gather: it never joins), SYNC_HANG (rank 1 never returns) or SYNC_WRONG_ABI
   (a table of another ABI version), to test the loader and the sandbox. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bnh/plugin_sync.h"

static const char *last_error_message = "";

static const char *last_error(void) { return last_error_message; }

static int refuse(const char *why) {
  last_error_message = why;
  return 1;
}

static int supports(const bnh_tensor_desc *desc) { return desc->dtype == BNH_F64; }

static int64_t at(const bnh_tensor_desc *desc, int64_t n, int64_t c, int64_t s) {
  const int64_t spatial = desc->h * desc->w;
  return desc->layout == BNH_NCHW ? (n * desc->c + c) * spatial + s : (n * spatial + s) * desc->c + c;
}

static int check_shard(const bnh_tensor_desc *desc) {
  if (desc->dtype != BNH_F64) return refuse("f64 only");
  if (desc->n < 0 || desc->c < 1 || desc->h < 1 || desc->w < 1) return refuse("bad shape");
  return 0;
}

static void misbehave_on_rank_1(const bnh_communicator *comm) {
  if (comm->rank != 1) return;
#if defined(SYNC_CRASH)
  *(volatile int *)NULL = 1;
#elif defined(SYNC_HANG)
  for (volatile int spin = 1; spin;) {
  }
#endif
}

/* The whole batch's mean and biased variance of every channel, and its count. */
static int global_statistics(const bnh_communicator *comm, const bnh_tensor_desc *desc, const double *x,
                             double *mean, double *var, double *total) {
  const int64_t spatial = desc->h * desc->w, channels = desc->c;
  double *mine = malloc(sizeof(double) * 3 * channels);
  double *all = malloc(sizeof(double) * 3 * channels * comm->size);
  if (!mine || !all) {
    free(mine);
    free(all);
    return refuse("out of memory");
  }
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0, deviations = 0;
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) sum += x[at(desc, n, c, s)];
    const double count = (double)(desc->n * spatial);
    const double local_mean = count > 0 ? sum / count : 0;
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const double d = x[at(desc, n, c, s)] - local_mean;
        deviations += d * d;
      }
    mine[3 * c] = count;
    mine[3 * c + 1] = sum;
    mine[3 * c + 2] = deviations;
  }
  const int failed = comm->all_gather(comm, mine, 3 * channels, all);
  if (!failed) {
    for (int64_t c = 0; c < channels; ++c) {
      double count = 0, sum = 0, deviations = 0;
      for (int k = 0; k < comm->size; ++k) {
        count += all[3 * channels * k + 3 * c];
        sum += all[3 * channels * k + 3 * c + 1];
      }
      mean[c] = sum / count;
      for (int k = 0; k < comm->size; ++k) {
        const double *theirs = all + 3 * channels * k + 3 * c;
        if (theirs[0] == 0) continue; /* an empty shard has no mean of its own */
        const double shift = theirs[1] / theirs[0] - mean[c];
        deviations += theirs[2] + theirs[0] * shift * shift;
      }
      var[c] = deviations / count;
      *total = count;
    }
  }
  free(mine);
  free(all);
  return failed ? refuse("the gather failed") : 0;
}

static int bn_forward_train(const bnh_communicator *comm, const bnh_tensor_desc *desc, const bnh_params *params,
                            const void *x_, const void *gamma_, const void *beta_, void *y_, void *save_mean_,
                            void *save_invstd_, void *running_mean_, void *running_var_) {
  if (check_shard(desc)) return 1;
  misbehave_on_rank_1(comm);
#if defined(SYNC_SKIP)
  if (comm->rank == 1) return 0;
#endif
  const double *x = x_, *gamma = gamma_, *beta = beta_;
  double *y = y_, *save_mean = save_mean_, *save_invstd = save_invstd_;
  double *running_mean = running_mean_, *running_var = running_var_;
  double total = 0;
  /* save_invstd holds the variance until the invstd replaces it. */
  if (global_statistics(comm, desc, x, save_mean, save_invstd, &total)) return 1;
  if (total < 2) return refuse("expected more than 1 value per channel when training");
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c) {
    const double var = save_invstd[c], invstd = 1 / sqrt(var + params->eps);
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = at(desc, n, c, s);
        y[i] = gamma[c] * (x[i] - save_mean[c]) * invstd + beta[c];
      }
    save_invstd[c] = invstd;
    if (running_mean) {
      running_mean[c] = (1 - params->momentum) * running_mean[c] + params->momentum * save_mean[c];
      running_var[c] = (1 - params->momentum) * running_var[c] + params->momentum * var * total / (total - 1);
    }
  }
  return 0;
}

/* Inference needs nothing from the other ranks. */
static int bn_forward_infer(const bnh_communicator *comm, const bnh_tensor_desc *desc, const bnh_params *params,
                            const void *x_, const void *gamma_, const void *beta_, const void *running_mean_,
                            const void *running_var_, void *y_) {
  (void)comm;
  if (check_shard(desc)) return 1;
  const double *x = x_, *gamma = gamma_, *beta = beta_, *mean = running_mean_, *var = running_var_;
  double *y = y_;
  const int64_t spatial = desc->h * desc->w;
  for (int64_t c = 0; c < desc->c; ++c)
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = at(desc, n, c, s);
        y[i] = gamma[c] * (x[i] - mean[c]) / sqrt(var[c] + params->eps) + beta[c];
      }
  return 0;
}

static int bn_backward(const bnh_communicator *comm, const bnh_tensor_desc *desc, const bnh_params *params,
                       const void *dy_, const void *x_, const void *gamma_, const void *save_mean_,
                       const void *save_invstd_, void *dx_, void *dgamma_, void *dbeta_) {
  (void)params;
  if (check_shard(desc)) return 1;
  const double *dy = dy_, *x = x_, *gamma = gamma_, *mean = save_mean_, *invstd = save_invstd_;
  double *dx = dx_, *dgamma = dgamma_, *dbeta = dbeta_;
  const int64_t spatial = desc->h * desc->w, channels = desc->c;
  /* [sum dy | sum dy (x - mean) | count], reduced in place. */
  double *sums = calloc((size_t)(2 * channels + 1), sizeof(double));
  if (!sums) return refuse("out of memory");
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = at(desc, n, c, s);
        sums[c] += dy[i];
        sums[channels + c] += dy[i] * (x[i] - mean[c]);
      }
  sums[2 * channels] = (double)(desc->n * spatial);
  if (comm->all_reduce_sum(comm, sums, 2 * channels + 1)) {
    free(sums);
    return refuse("the all-reduce failed");
  }
  const double total = sums[2 * channels];
  for (int64_t c = 0; c < channels; ++c) {
    const double sum_dy = sums[c], sum_dy_xhat = sums[channels + c] * invstd[c];
    for (int64_t n = 0; n < desc->n; ++n)
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t i = at(desc, n, c, s);
        const double xhat = (x[i] - mean[c]) * invstd[c];
        dx[i] = gamma[c] * invstd[c] / total * (total * dy[i] - sum_dy - xhat * sum_dy_xhat);
      }
    dbeta[c] = sum_dy;
    dgamma[c] = sum_dy_xhat;
  }
  free(sums);
  return 0;
}

#if defined(SYNC_WRONG_ABI)
#define TABLE_ABI_VERSION (BNH_SYNC_ABI_VERSION + 1)
#else
#define TABLE_ABI_VERSION BNH_SYNC_ABI_VERSION
#endif

static const bnh_sync_impl_v1 table = {
    TABLE_ABI_VERSION, "sync_test", "a textbook synchronized batch norm in f64 (tests)",
    supports, bn_forward_train, bn_forward_infer, bn_backward, NULL, NULL, last_error,
};

const bnh_sync_impl_v1 *bnh_sync_impl_v1_get(void) { return &table; }
