// openmp: the tiles of impls/tiles.hpp (cache-sized, vectorized, streaming stores for outputs
// larger than the last-level cache), spread over an OpenMP team of params.threads threads
// (0: OpenMP's default).
//
// Who does what:
//   - run view (NCHW) with enough channels: each thread takes a contiguous share of whole
//     channels and runs them as blocked does, group by group.
//   - run view with fewer channels than threads (or too few to share out evenly): the threads
//     split every channel's blocks, the batch and spatial dimensions, between them.
//   - row view (NHWC, 2-D): each thread takes a contiguous band of rows for both passes, so its
//     normalize pass finds its rows in its own cache; the channels are the vector dimension.
//
// Determinism: the split depends only on the shape and the team size, each thread reduces its
// share in a fixed order, and a single thread merges each channel's per-thread partial results
// in thread order (no reduction clauses, no dynamic schedules). At a given thread count the
// results are bitwise identical from run to run.
#include <omp.h>

#include <vector>

#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"
#include "impls/tiles.hpp"

namespace {

using bnh::Params;
using bnh::TensorDesc;
namespace tiles = bnh::tiles;

// Below this many elements, starting a team costs more than the team saves.
constexpr std::int64_t parallel_threshold = std::int64_t{1} << 15;

int team_size(const Params& params, const tiles::Geometry& g) {
  if (g.elements < parallel_threshold) return 1;
  return params.threads > 0 ? params.threads : omp_get_max_threads();
}

struct Share {
  std::int64_t begin, end;
};

// The part-th of `parts` contiguous, nearly equal shares of [0, count), with inner boundaries
// on multiples of `granularity` (a cache line's worth of elements, so that threads seldom write
// the same line).
Share share(std::int64_t count, int part, int parts, std::int64_t granularity = 1) {
  auto boundary = [&](int index) {
    if (index >= parts) return count;
    const std::int64_t exact = count / parts * index + count % parts * index / parts;
    return std::min(count, exact / granularity * granularity);
  };
  return Share{boundary(part), boundary(part + 1)};
}

// Whole channels per thread, unless there are fewer channels than threads, or sharing them out
// would leave threads idle while the channels are big enough to split instead.
bool whole_channels_per_thread(const tiles::Geometry& g, int threads) {
  constexpr std::int64_t small_channel = 1 << 14;  // elements; not worth two barriers
  if (g.channels < threads) return false;
  return g.channels % threads == 0 || g.channels >= 4 * threads || g.per_channel < small_channel;
}

struct OpenMP : tiles::TiledOperations<OpenMP> {
  static constexpr const char* name = "openmp";
  static constexpr const char* description =
      "blocked's tiles over an OpenMP team (params.threads); partial results merged in thread order";

  template <typename T>
  static void forward_train(const TensorDesc& desc, const Params& params, const T* x, T* y,
                            const tiles::TrainingTensors<T>& tensors) {
    const tiles::Geometry g = tiles::geometry_of(desc);
    const bool stream = tiles::should_stream(g, sizeof(T), 2);
    const int team = team_size(params, g);
    std::vector<T> scale(g.coefficient_count()), shift(g.coefficient_count());
    auto finish = [&](std::int64_t c, const tiles::Moments& moments) {
      return tiles::finish_training_channel(tensors, params, c, moments);
    };

    if (g.by_rows) {
      const tiles::RowTiles row_tiles(g, sizeof(T));
      std::vector<tiles::ColumnMoments> partial(team, tiles::ColumnMoments(g.channels));
#pragma omp parallel num_threads(team)
      {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        const Share band = share(row_tiles.count, thread, threads);
        tiles::row_moments(x, g.channels, row_tiles, band.begin, band.end, partial[thread]);
#pragma omp barrier
        // Each thread finishes a share of the channels, merging the bands in thread order.
        const Share channels = share(g.channels, thread, threads);
        for (std::int64_t c = channels.begin; c < channels.end; ++c) {
          tiles::Moments moments;
          for (int part = 0; part < threads; ++part) tiles::merge(moments, partial[part].of(c));
          const tiles::ChannelAffine affine = finish(c, moments);
          tiles::set_coefficient(g, scale.data(), c, affine.scale);
          tiles::set_coefficient(g, shift.data(), c, affine.shift);
        }
#pragma omp barrier
        tiles::normalize_rows(g, x, y, row_tiles, band.begin, band.end, scale.data(), shift.data(), stream);
        if (stream) tiles::finish_streaming();
      }
    } else if (whole_channels_per_thread(g, team)) {
      // Two groups' worth in L2: this group's x and y, or, when y is streamed (it takes no room in
      // cache), this group's x and the next group's, prefetched while this one is normalized.
      const tiles::RunBlocks blocks(g, sizeof(T), 2);
#pragma omp parallel num_threads(team)
      {
        const Share channels = share(g.channels, omp_get_thread_num(), omp_get_num_threads());
        tiles::forward_channels(g, x, y, blocks, channels.begin, channels.end, finish, scale.data(),
                                shift.data(), stream);
        if (stream) tiles::finish_streaming();
      }
    } else {
      // One channel at a time, its blocks shared out; each thread normalizes the blocks it took
      // the statistics of, which are in its cache.
      const tiles::RunBlocks blocks(g, sizeof(T), stream ? 1 : 2, team);
      std::vector<tiles::Moments> partial(team);
#pragma omp parallel num_threads(team)
      {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        const Share mine = share(blocks.blocks_per_group, thread, threads);
        for (std::int64_t c = 0; c < g.channels; ++c) {
          tiles::Moments moments, block_part;
          for (std::int64_t index = mine.begin; index < mine.end; ++index) {
            tiles::block_moments(g, x, blocks.block(c, c + 1, index), &block_part);
            tiles::merge(moments, block_part);
          }
          partial[thread] = moments;
#pragma omp barrier
#pragma omp single
          {
            tiles::Moments channel;
            for (int part = 0; part < threads; ++part) tiles::merge(channel, partial[part]);
            const tiles::ChannelAffine affine = finish(c, channel);
            tiles::set_coefficient(g, scale.data(), c, affine.scale);
            tiles::set_coefficient(g, shift.data(), c, affine.shift);
          }
          for (std::int64_t index = mine.begin; index < mine.end; ++index) {
            tiles::normalize_block(g, x, y, blocks.block(c, c + 1, index), scale.data(), shift.data(), stream);
          }
        }
        if (stream) tiles::finish_streaming();
      }
    }
  }

  template <typename T>
  static void forward_infer(const TensorDesc& desc, const Params& params, const T* x, const T* gamma,
                            const T* beta, const T* running_mean, const T* running_var, T* y) {
    const tiles::Geometry g = tiles::geometry_of(desc);
    const auto [scale, shift] = tiles::inference_coefficients(g, params, gamma, beta, running_mean, running_var);
    const bool stream = tiles::should_stream(g, sizeof(T), 2);
    const std::int64_t line = 64 / static_cast<std::int64_t>(sizeof(T));
#pragma omp parallel num_threads(team_size(params, g))
    {
      const Share mine = share(g.elements, omp_get_thread_num(), omp_get_num_threads(), line);
      tiles::normalize_elements(g, x, y, mine.begin, mine.end, scale.data(), shift.data(), stream);
      if (stream) tiles::finish_streaming();
    }
  }

  template <typename T>
  static void backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x, T* dx,
                       const tiles::GradientTensors<T>& tensors) {
    const tiles::Geometry g = tiles::geometry_of(desc);
    const bool stream = tiles::should_stream(g, sizeof(T), 3);
    const int team = team_size(params, g);
    const double count = static_cast<double>(g.per_channel);
    const std::vector<double> mean(tensors.save_mean, tensors.save_mean + g.channels);
    std::vector<T> a(g.coefficient_count()), b(g.coefficient_count()), c(g.coefficient_count());
    auto finish = [&](std::int64_t channel, const tiles::GradientSums& sums) {
      return tiles::finish_gradient_channel(tensors, channel, count, sums);
    };
    auto keep = [&](std::int64_t channel, const tiles::ChannelGradient& gradient) {
      tiles::set_coefficient(g, a.data(), channel, gradient.a);
      tiles::set_coefficient(g, b.data(), channel, gradient.b);
      tiles::set_coefficient(g, c.data(), channel, gradient.c);
    };

    if (g.by_rows) {
      const tiles::RowTiles row_tiles(g, sizeof(T));
      std::vector<std::vector<double>> partial_dy(team, std::vector<double>(g.channels, 0.0));
      std::vector<std::vector<double>> partial_dy_centered(team, std::vector<double>(g.channels, 0.0));
#pragma omp parallel num_threads(team)
      {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        const Share band = share(row_tiles.count, thread, threads);
        tiles::row_gradient_sums(dy, x, mean.data(), g.channels, row_tiles, band.begin, band.end,
                                 partial_dy[thread].data(), partial_dy_centered[thread].data());
#pragma omp barrier
        const Share channels = share(g.channels, thread, threads);
        for (std::int64_t channel = channels.begin; channel < channels.end; ++channel) {
          tiles::GradientSums sums;
          for (int part = 0; part < threads; ++part) {
            tiles::merge(sums, tiles::GradientSums{partial_dy[part][channel], partial_dy_centered[part][channel]});
          }
          keep(channel, finish(channel, sums));
        }
#pragma omp barrier
        tiles::gradient_elements(g, dy, x, dx, row_tiles.first_row(band.begin) * g.channels,
                                 row_tiles.first_row(band.end) * g.channels, a.data(), b.data(), c.data(), stream);
        if (stream) tiles::finish_streaming();
      }
    } else if (whole_channels_per_thread(g, team)) {
      const tiles::RunBlocks blocks(g, sizeof(T), 3);
#pragma omp parallel num_threads(team)
      {
        const Share channels = share(g.channels, omp_get_thread_num(), omp_get_num_threads());
        tiles::backward_channels(g, dy, x, dx, blocks, channels.begin, channels.end, mean.data(), finish,
                                 a.data(), b.data(), c.data(), stream);
        if (stream) tiles::finish_streaming();
      }
    } else {
      const tiles::RunBlocks blocks(g, sizeof(T), 3, team);
      std::vector<tiles::GradientSums> partial(team);
#pragma omp parallel num_threads(team)
      {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        const Share mine = share(blocks.blocks_per_group, thread, threads);
        for (std::int64_t channel = 0; channel < g.channels; ++channel) {
          tiles::GradientSums sums, block_part;
          for (std::int64_t index = mine.begin; index < mine.end; ++index) {
            tiles::block_gradient_sums(g, dy, x, blocks.block(channel, channel + 1, index), &mean[channel],
                                       &block_part);
            tiles::merge(sums, block_part);
          }
          partial[thread] = sums;
#pragma omp barrier
#pragma omp single
          {
            tiles::GradientSums total;
            for (int part = 0; part < threads; ++part) tiles::merge(total, partial[part]);
            keep(channel, finish(channel, total));
          }
          for (std::int64_t index = mine.begin; index < mine.end; ++index) {
            tiles::gradient_block(g, dy, x, dx, blocks.block(channel, channel + 1, index), a.data(), b.data(),
                                  c.data(), stream);
          }
        }
        if (stream) tiles::finish_streaming();
      }
    }
  }
};

}  // namespace

BNH_REGISTER_IMPLEMENTATION(OpenMP);
