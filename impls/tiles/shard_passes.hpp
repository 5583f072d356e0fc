// The passes of team_passes.hpp taken apart, for kernels that must combine every channel's sums
// with someone else's before they can write a single output (synchronized batch norm merges
// them across ranks): one pass returns every channel's moments or gradient sums, another writes
// dx (normalize_tensor of team_passes.hpp writes y) from coefficients finished elsewhere.
//
// The sums are cut and merged as team_passes.hpp cuts and merges them at the same team size (the
// same blocks or row bands, the same per-thread shares, merged in thread order), so that they
// are bitwise the sums openmp finishes from: one shard holding the whole batch gives openmp's
// outputs exactly. The outputs are written in a pass of their own, which changes no value: each
// element is x * scale + shift (or dy * dy_scale + x * x_scale + offset) whichever pass writes it.
//
// Every tensor here holds at least one sample: an empty shard has nothing to walk.
#pragma once

#include <omp.h>

#include <cstdint>
#include <vector>

#include "core/machine.hpp"
#include "impls/tiles/channel_math.hpp"
#include "impls/tiles/rows.hpp"
#include "impls/tiles/runs.hpp"
#include "impls/tiles/team_passes.hpp"

namespace bnh::tiles {

// The channels' Part sums of the run view: per channel, its blocks' sums merged in block order;
// with a team sharing out each channel's blocks, every thread's share merged in thread order.
// sum_block(block, parts) sets parts[k] for channel block.first_channel + k. The tensors kept in
// cache, as team_passes.hpp counts them for RunBlocks: `whole_touched` where each thread takes
// whole channels, `shared_touched` where the team shares out each channel's blocks.
template <typename Part, typename SumBlock>
std::vector<Part> run_view_sums(const Geometry& g, std::size_t element_size, int whole_touched, int shared_touched,
                                int team, SumBlock&& sum_block) {
  std::vector<Part> total(g.channels);
  if (whole_channels_per_thread(g, team)) {
    const RunBlocks blocks(g, element_size, whole_touched, 1, machine().caches);
#pragma omp parallel num_threads(team)
    {
      const Share channels = share(g.channels, omp_get_thread_num(), omp_get_num_threads());
      Part block_part[max_channels_per_group];
      for (std::int64_t group = channels.begin; group < channels.end; group += blocks.channels_per_group) {
        const std::int64_t group_end = std::min(channels.end, group + blocks.channels_per_group);
        for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
          sum_block(blocks.block(group, group_end, index), block_part);
          for (std::int64_t k = 0; k < group_end - group; ++k) merge(total[group + k], block_part[k]);
        }
      }
    }
    return total;
  }
  const RunBlocks blocks(g, element_size, shared_touched, team, machine().caches);
  std::vector<Part> partial(static_cast<std::size_t>(team) * g.channels);
#pragma omp parallel num_threads(team)
  {
    const int thread = omp_get_thread_num();
    const Share mine = share(blocks.blocks_per_group, thread, omp_get_num_threads());
    Part block_part[1];
    for (std::int64_t channel = 0; channel < g.channels; ++channel) {
      for (std::int64_t index = mine.begin; index < mine.end; ++index) {
        sum_block(blocks.block(channel, channel + 1, index), block_part);
        merge(partial[thread * g.channels + channel], block_part[0]);
      }
    }
  }
  for (std::int64_t channel = 0; channel < g.channels; ++channel) {
    for (int part = 0; part < team; ++part) merge(total[channel], partial[part * g.channels + channel]);
  }
  return total;
}

// Every channel's moments (count, mean, m2) over the whole tensor x, as TeamPasses::forward_train
// takes them.
template <typename T>
std::vector<Moments> shard_moments(const TensorDesc& desc, const Params& params, const T* x) {
  const Geometry g = geometry_of(desc);
  const int team = team_size(params, g);
  if (!g.by_rows) {
    // Shared out, the blocks are sized for x alone when y is streamed, for x and y otherwise.
    const bool stream = should_stream(g, sizeof(T), 2, machine().caches);
    return run_view_sums<Moments>(g, sizeof(T), 2, stream ? 1 : 2, team,
                                  [&](const RunBlock& block, Moments* parts) { block_moments(g, x, block, parts); });
  }
  const RowTiles row_tiles(g, sizeof(T), machine().caches);
  std::vector<ColumnMoments> partial(team, ColumnMoments(g.channels));
#pragma omp parallel num_threads(team)
  {
    const Share band = share(row_tiles.count, omp_get_thread_num(), omp_get_num_threads());
    row_moments(x, g.channels, row_tiles, band.begin, band.end, partial[omp_get_thread_num()]);
  }
  std::vector<Moments> total(g.channels);
  for (std::int64_t c = 0; c < g.channels; ++c) {
    for (int part = 0; part < team; ++part) merge(total[c], partial[part].of(c));
  }
  return total;
}

// Every channel's gradient sums (sum dy, sum dy (x - mean[c])) over the whole tensor, as
// TeamPasses::backward takes them.
template <typename T>
std::vector<GradientSums> shard_gradient_sums(const TensorDesc& desc, const Params& params, const T* dy, const T* x,
                                              const double* mean) {
  const Geometry g = geometry_of(desc);
  const int team = team_size(params, g);
  if (!g.by_rows) {
    return run_view_sums<GradientSums>(g, sizeof(T), 3, 3, team, [&](const RunBlock& block, GradientSums* parts) {
      block_gradient_sums(g, dy, x, block, mean + block.first_channel, parts);
    });
  }
  const RowTiles row_tiles(g, sizeof(T), machine().caches);
  std::vector<std::vector<double>> partial_dy(team, std::vector<double>(g.channels, 0.0));
  std::vector<std::vector<double>> partial_dy_centered(team, std::vector<double>(g.channels, 0.0));
#pragma omp parallel num_threads(team)
  {
    const int thread = omp_get_thread_num();
    const Share band = share(row_tiles.count, thread, omp_get_num_threads());
    row_gradient_sums(dy, x, mean, g.channels, row_tiles, band.begin, band.end, partial_dy[thread].data(),
                      partial_dy_centered[thread].data());
  }
  std::vector<GradientSums> total(g.channels);
  for (std::int64_t c = 0; c < g.channels; ++c) {
    for (int part = 0; part < team; ++part) merge(total[c], GradientSums{partial_dy[part][c], partial_dy_centered[part][c]});
  }
  return total;
}

// dx = dy * dy_scale + x * x_scale + offset, channel by channel, over the whole tensor, as
// normalize_tensor (team_passes.hpp) writes y.
template <typename T>
void gradient_shard(const TensorDesc& desc, const Params& params, const T* dy, const T* x, T* dx,
                    const GradientCoefficients<T>& coefficients) {
  const Geometry g = geometry_of(desc);
  const bool stream = should_stream(g, sizeof(T), 3, machine().caches);
#pragma omp parallel num_threads(team_size(params, g))
  {
    const Share mine = share(g.elements, omp_get_thread_num(), omp_get_num_threads(), line_elements<T>);
    gradient_elements(g, dy, x, dx, mine.begin, mine.end, coefficients, stream);
    if (stream) finish_streaming();
  }
}

}  // namespace bnh::tiles
