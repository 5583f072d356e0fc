// The three passes of the tiled kernels (channel_math.hpp assembles the operations from them),
// spread over an OpenMP team of params.threads threads (0: OpenMP's default). At one thread they
// are the single-threaded, cache-aware walk of the tensor (the `blocked` implementation).
//
// Who does what:
//   - run view (NCHW) with enough channels: each thread takes a contiguous share of whole
//     channels and runs them group by group (runs.hpp).
//   - run view with fewer channels than threads (or too few to share out evenly): the threads
//     split every channel's blocks, the batch and spatial dimensions, between them.
//   - row view (NHWC, 2-D): each thread takes a contiguous band of rows for both passes, so its
//     normalize pass finds its rows in its own cache; the channels are the vector dimension.
// Outputs larger than the last-level cache are written with streaming stores.
//
// Determinism: the split depends only on the shape, the caches and the team size, each thread
// reduces its share in a fixed order, and a single thread merges each channel's per-thread
// partial results in thread order (no reduction clauses, no dynamic schedules). At a given
// thread count the results are bitwise identical from run to run.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/machine.hpp"
#include "impls/tiles/channel_math.hpp"
#include "impls/tiles/rows.hpp"
#include "impls/tiles/runs.hpp"

namespace bnh::tiles {

// Below this many elements, starting a team costs more than the team saves.
inline constexpr std::int64_t parallel_threshold = std::int64_t{1} << 15;

inline int team_size(const Params& params, const Geometry& g) {
  if (g.elements < parallel_threshold) return 1;
  return params.threads > 0 ? params.threads : omp_get_max_threads();
}

struct Share {
  std::int64_t begin, end;
};

// The part-th of `parts` contiguous, nearly equal shares of [0, count), with inner boundaries
// on multiples of `granularity` (a cache line's worth of elements, so that threads seldom write
// the same line).
inline Share share(std::int64_t count, int part, int parts, std::int64_t granularity = 1) {
  auto boundary = [&](int index) {
    if (index >= parts) return count;
    const std::int64_t exact = count / parts * index + count % parts * index / parts;
    return std::min(count, exact / granularity * granularity);
  };
  return Share{boundary(part), boundary(part + 1)};
}

// Whole channels per thread, unless there are fewer channels than threads, or sharing them out
// would leave threads idle while the channels are big enough to split instead.
inline bool whole_channels_per_thread(const Geometry& g, int threads) {
  constexpr std::int64_t small_channel = 1 << 14;  // elements; not worth two barriers
  if (g.channels < threads) return false;
  return g.channels % threads == 0 || g.channels >= 4 * threads || g.per_channel < small_channel;
}

// Channel by channel, each channel's blocks shared out between the team: each thread sums the
// blocks of its share (sum(block) -> Part, merged in block order), one thread merges the
// threads' parts in thread order and finishes the channel (finish(channel, Part)), and each
// thread then writes the blocks it summed, which are in its cache (write(block)).
template <typename Part, typename Sum, typename Finish, typename Write>
void share_out_channels(const Geometry& g, const RunBlocks& blocks, int team, bool stream, Sum&& sum,
                        Finish&& finish, Write&& write) {
  std::vector<Part> partial(team);
#pragma omp parallel num_threads(team)
  {
    const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
    const Share mine = share(blocks.blocks_per_group, thread, threads);
    for (std::int64_t channel = 0; channel < g.channels; ++channel) {
      Part own;
      for (std::int64_t index = mine.begin; index < mine.end; ++index) {
        merge(own, sum(blocks.block(channel, channel + 1, index)));
      }
      partial[thread] = own;
#pragma omp barrier
#pragma omp single
      {
        Part total;
        for (int part = 0; part < threads; ++part) merge(total, partial[part]);
        finish(channel, total);
      }
      for (std::int64_t index = mine.begin; index < mine.end; ++index) write(blocks.block(channel, channel + 1, index));
    }
    if (stream) finish_streaming();
  }
}

// y = x * scale + shift over the whole tensor, channel by channel, the elements shared out
// between the team in stretches of whole cache lines.
template <typename T>
void normalize_tensor(const TensorDesc& desc, const Params& params, const T* x, T* y,
                      const AffineCoefficients<T>& affine) {
  const Geometry g = geometry_of(desc);
  const bool stream = should_stream(g, sizeof(T), 2, machine().caches);
#pragma omp parallel num_threads(team_size(params, g))
  {
    const Share mine = share(g.elements, omp_get_thread_num(), omp_get_num_threads(), line_elements<T>);
    normalize_elements(g, x, y, mine.begin, mine.end, affine, stream);
    if (stream) finish_streaming();
  }
}

struct TeamPasses {
  template <typename T, typename S>
  static void forward_train(const TensorDesc& desc, const Params& params, const T* x, T* y,
                            const TrainingTensors<S>& tensors) {
    const CacheSizes& caches = machine().caches;
    const Geometry g = geometry_of(desc);
    const bool stream = should_stream(g, sizeof(T), 2, caches);
    const int team = team_size(params, g);
    AffineCoefficients<T> affine(g);
    auto finish = [&](std::int64_t c, const Moments& moments) {
      return finish_training_channel(tensors, params, c, moments);
    };

    if (g.by_rows) {
      const RowTiles row_tiles(g, sizeof(T), caches);
      std::vector<ColumnMoments> partial(team, ColumnMoments(g.channels));
#pragma omp parallel num_threads(team)
      {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        const Share band = share(row_tiles.count, thread, threads);
        row_moments(x, g.channels, row_tiles, band.begin, band.end, partial[thread]);
#pragma omp barrier
        // Each thread finishes a share of the channels, merging the bands in thread order.
        const Share channels = share(g.channels, thread, threads);
        for (std::int64_t c = channels.begin; c < channels.end; ++c) {
          Moments moments;
          for (int part = 0; part < threads; ++part) merge(moments, partial[part].of(c));
          affine.set(g, c, finish(c, moments));
        }
#pragma omp barrier
        normalize_rows(g, x, y, row_tiles, band.begin, band.end, affine, stream, caches);
        if (stream) finish_streaming();
      }
    } else if (whole_channels_per_thread(g, team)) {
      // Two groups' worth in L2: this group's x and y, or, when y is streamed (it takes no room in
      // cache), this group's x and the next group's, prefetched while this one is normalized.
      const RunBlocks blocks(g, sizeof(T), 2, 1, caches);
#pragma omp parallel num_threads(team)
      {
        const Share channels = share(g.channels, omp_get_thread_num(), omp_get_num_threads());
        forward_channels(g, x, y, blocks, channels.begin, channels.end, finish, affine, stream);
        if (stream) finish_streaming();
      }
    } else {
      // One channel at a time, its blocks shared out; each thread normalizes the blocks it took
      // the statistics of, which are in its cache.
      const RunBlocks blocks(g, sizeof(T), stream ? 1 : 2, team, caches);
      share_out_channels<Moments>(
          g, blocks, team, stream,
          [&](const RunBlock& block) {
            Moments part;
            block_moments(g, x, block, &part);
            return part;
          },
          [&](std::int64_t c, const Moments& moments) { affine.set(g, c, finish(c, moments)); },
          [&](const RunBlock& block) { normalize_block(g, x, y, block, affine, stream); });
    }
  }

  template <typename T, typename S>
  static void forward_infer(const TensorDesc& desc, const Params& params, const T* x, const S* gamma,
                            const S* beta, const S* running_mean, const S* running_var, T* y) {
    const Geometry g = geometry_of(desc);
    normalize_tensor(desc, params, x, y,
                     inference_coefficients<T>(g, params, gamma, beta, running_mean, running_var));
  }

  template <typename T, typename S>
  static void backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x, T* dx,
                       const GradientTensors<S>& tensors) {
    const CacheSizes& caches = machine().caches;
    const Geometry g = geometry_of(desc);
    const bool stream = should_stream(g, sizeof(T), 3, caches);
    const int team = team_size(params, g);
    const double count = static_cast<double>(g.per_channel);
    std::vector<double> mean(g.channels);
    for (std::int64_t c = 0; c < g.channels; ++c) mean[c] = static_cast<double>(tensors.save_mean[c]);
    GradientCoefficients<T> coefficients(g);
    auto finish = [&](std::int64_t channel, const GradientSums& sums) {
      return finish_gradient_channel(tensors, channel, count, sums);
    };

    if (g.by_rows) {
      const RowTiles row_tiles(g, sizeof(T), caches);
      std::vector<std::vector<double>> partial_dy(team, std::vector<double>(g.channels, 0.0));
      std::vector<std::vector<double>> partial_dy_centered(team, std::vector<double>(g.channels, 0.0));
#pragma omp parallel num_threads(team)
      {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        const Share band = share(row_tiles.count, thread, threads);
        row_gradient_sums(dy, x, mean.data(), g.channels, row_tiles, band.begin, band.end,
                          partial_dy[thread].data(), partial_dy_centered[thread].data());
#pragma omp barrier
        const Share channels = share(g.channels, thread, threads);
        for (std::int64_t channel = channels.begin; channel < channels.end; ++channel) {
          GradientSums sums;
          for (int part = 0; part < threads; ++part) {
            merge(sums, GradientSums{partial_dy[part][channel], partial_dy_centered[part][channel]});
          }
          coefficients.set(g, channel, finish(channel, sums));
        }
#pragma omp barrier
        gradient_rows(g, dy, x, dx, row_tiles.first_row(band.begin), row_tiles.first_row(band.end), coefficients,
                      stream, caches);
        if (stream) finish_streaming();
      }
    } else if (whole_channels_per_thread(g, team)) {
      // This group's dy, x and dx, or, when dx is streamed, this group's dy and x and the next
      // group's, prefetched while this one's dx is written.
      const RunBlocks blocks(g, sizeof(T), stream ? 4 : 3, 1, caches);
#pragma omp parallel num_threads(team)
      {
        const Share channels = share(g.channels, omp_get_thread_num(), omp_get_num_threads());
        backward_channels(g, dy, x, dx, blocks, channels.begin, channels.end, mean.data(), finish, coefficients,
                          stream);
        if (stream) finish_streaming();
      }
    } else {
      const RunBlocks blocks(g, sizeof(T), 3, team, caches);
      share_out_channels<GradientSums>(
          g, blocks, team, stream,
          [&](const RunBlock& block) {
            GradientSums part;
            block_gradient_sums(g, dy, x, block, &mean[block.first_channel], &part);
            return part;
          },
          [&](std::int64_t channel, const GradientSums& sums) { coefficients.set(g, channel, finish(channel, sums)); },
          [&](const RunBlock& block) { gradient_block(g, dy, x, dx, block, coefficients, stream); });
    }
  }
};

}  // namespace bnh::tiles
