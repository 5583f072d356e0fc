// The run view (NCHW): channel c is N runs of H*W contiguous elements. Statistics and gradient
// sums of a block's channels, and the forward and backward of whole channels, group by group:
// only the first pass over a group reads memory; the passes after it find the group in L2.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "impls/tiles/geometry.hpp"
#include "impls/tiles/lanes.hpp"
#include "impls/tiles/moments.hpp"
#include "impls/tiles/outputs.hpp"

namespace bnh::tiles {

// Channel first_channel + k's moments over a block, by the corrected two-pass algorithm in
// double: the mean, then the deviations from it.
template <typename T>
Moments exact_block_moments(const Geometry& g, const T* x, const RunBlock& block, std::int64_t k) {
  const std::int64_t length = block.length();
  const double count = block.count();
  DoubleLanes sum;
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    sum.add(run_start(g, x, run, block.first_channel + k) + block.first_position, length);
  }
  const double shift = sum.total() / count;
  DeviationLanes deviations;
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    deviations.add(run_start(g, x, run, block.first_channel + k) + block.first_position, length, shift);
  }
  return deviations.moments(count, shift);
}

// The moments of each channel of a block by the corrected two-pass algorithm in double
// (moments[k] is channel first_channel + k's): the first pass (the mean, as the shift) walks the
// block sample by sample, reading memory in contiguous stretches; the second finds the block in
// cache and walks it channel by channel.
template <typename T>
void block_moments_two_pass(const Geometry& g, const T* x, const RunBlock& block, Moments* moments) {
  const std::int64_t channels = block.channels(), length = block.length();
  const double count = block.count();
  DoubleLanes shift_sums[max_channels_per_group];
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    for (std::int64_t k = 0; k < channels; ++k) {
      shift_sums[k].add(run_start(g, x, run, block.first_channel + k) + block.first_position, length);
    }
  }
  for (std::int64_t k = 0; k < channels; ++k) {
    const double shift = shift_sums[k].total() / count;
    DeviationLanes deviations;
    for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
      deviations.add(run_start(g, x, run, block.first_channel + k) + block.first_position, length, shift);
    }
    moments[k] = deviations.moments(count, shift);
  }
}

// The moments of each channel of an f32, bf16 or f16 block in one pass, sample by sample through
// memory, in short f32 partial sums (moments.hpp); a channel whose sums do not hold is taken
// again from cache by the two-pass algorithm.
template <typename T>
void block_moments_one_pass(const Geometry& g, const T* x, const RunBlock& block, Moments* moments) {
  constexpr std::int64_t shift_sample = 16;  // elements the shift is chosen from
  const std::int64_t channels = block.channels(), length = block.length();
  const double count = block.count();
  float shift[max_channels_per_group];
  for (std::int64_t k = 0; k < channels; ++k) {
    const T* first = run_start(g, x, block.first_run, block.first_channel + k) + block.first_position;
    shift[k] = value_near_mean(first, std::min(length, shift_sample));
  }
  ShortDeviationLanes sums[max_channels_per_group];
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    for (std::int64_t k = 0; k < channels; ++k) {
      sums[k].add(run_start(g, x, run, block.first_channel + k) + block.first_position, length, shift[k]);
    }
  }
  for (std::int64_t k = 0; k < channels; ++k) {
    const double first = sums[k].first(), second = sums[k].second();
    moments[k] = short_sums_hold(first, second, count) ? shifted_moments(count, shift[k], first, second)
                                                       : exact_block_moments(g, x, block, k);
  }
}

// f32, bf16 and f16 in one pass through memory, f64 in two over the block in cache.
template <typename T>
void block_moments(const Geometry& g, const T* x, const RunBlock& block, Moments* moments) {
  if constexpr (std::is_same_v<T, double>) {
    block_moments_two_pass(g, x, block, moments);
  } else {
    block_moments_one_pass(g, x, block, moments);
  }
}

// The gradient sums of each channel of a block, sample by sample; mean[k] and sums[k] belong to
// channel first_channel + k. f32, bf16 and f16 in short f32 partial sums, f64 in double.
template <typename T>
void block_gradient_sums(const Geometry& g, const T* dy, const T* x, const RunBlock& block,
                         const double* mean, GradientSums* sums) {
  const std::int64_t channels = block.channels(), length = block.length();
  auto first_of = [&](const T* tensor, std::int64_t run, std::int64_t k) {
    return run_start(g, tensor, run, block.first_channel + k) + block.first_position;
  };
  if constexpr (!std::is_same_v<T, double>) {
    ShortGradientLanes lanes_of[max_channels_per_group];
    float centre[max_channels_per_group];
    for (std::int64_t k = 0; k < channels; ++k) centre[k] = static_cast<float>(mean[k]);
    for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
      for (std::int64_t k = 0; k < channels; ++k) {
        lanes_of[k].add(first_of(dy, run, k), first_of(x, run, k), length, centre[k]);
      }
    }
    for (std::int64_t k = 0; k < channels; ++k) sums[k] = lanes_of[k].sums(mean[k], centre[k]);
  } else {
    GradientLanes lanes_of[max_channels_per_group];
    for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
      for (std::int64_t k = 0; k < channels; ++k) {
        lanes_of[k].add(first_of(dy, run, k), first_of(x, run, k), length, mean[k]);
      }
    }
    for (std::int64_t k = 0; k < channels; ++k) sums[k] = lanes_of[k].sums();
  }
}

// The cache lines of a run-view group's x, in the order its statistics pass reads them (sample
// by sample), handed out a few at a time to be prefetched.
template <typename T>
class GroupPrefetch {
 public:
  GroupPrefetch(const Geometry& g, const T* x, std::int64_t first_channel, std::int64_t end_channel)
      : g_(&g), x_(x), first_channel_(first_channel), end_channel_(end_channel) {
    start_run(0);
  }
  // Prefetches the next `lines` lines (fewer once the group is exhausted).
  void advance(std::int64_t lines) {
    while (lines > 0 && at_ != nullptr) {
      for (; lines > 0 && at_ < end_; --lines, at_ += cache_line_bytes) __builtin_prefetch(at_, 0, 2);
      if (at_ >= end_) start_run(run_ + 1);
    }
  }

 private:
  void start_run(std::int64_t run) {
    run_ = run;
    if (first_channel_ >= end_channel_ || run >= g_->runs) {
      at_ = end_ = nullptr;
      return;
    }
    at_ = reinterpret_cast<const char*>(run_start(*g_, x_, run, first_channel_));
    end_ = reinterpret_cast<const char*>(run_start(*g_, x_, run, end_channel_ - 1) + g_->run_length);
  }
  const Geometry* g_;
  const T* x_;
  std::int64_t first_channel_, end_channel_, run_ = 0;
  const char *at_ = nullptr, *end_ = nullptr;
};

// Calls write(from, to) over the elements of the group of channels [group, group_end), block by
// block, 1 KiB of output at a time, whatever the element size; after each piece, advances every
// prefetch in `next` by as many lines as were written.
template <typename T, typename Write, typename... Prefetches>
void write_group_prefetching(const Geometry& g, const RunBlocks& blocks, std::int64_t group, std::int64_t group_end,
                             Write&& write, Prefetches&... next) {
  constexpr std::int64_t piece = 1024 / static_cast<std::int64_t>(sizeof(T));
  for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
    for_each_block_stretch(g, blocks.block(group, group_end, index), [&](std::int64_t from, std::int64_t to) {
      for (std::int64_t at = from; at < to; at += piece) {
        const std::int64_t until = std::min(to, at + piece);
        write(at, until);
        const std::int64_t lines = (until - at) * static_cast<std::int64_t>(sizeof(T)) / cache_line_bytes;
        (next.advance(lines), ...);
      }
    });
  }
}

// Training forward of channels [first, end): per group, the moments of its blocks merged in
// order, finish(channel, moments) -> ChannelAffine, then the group normalized while it is still
// in cache. `affine` receives every channel's coefficients.
//
// When y is streamed (x and y larger than the cache), the statistics pass only reads memory and
// the normalize pass only writes it: one after the other, a core would leave the read bandwidth
// idle half the time and the write bandwidth the other half. So while a group is normalized,
// the next group's x is prefetched, a line for each line of y written, every 1 KiB of y: the
// reads of one group overlap the writes of the one before, as in a copy. (Coarser bursts lose
// the overlap; the groups are sized for two groups' x in L2: `blocks` built with
// tensors_touched = 2.) Prefetching changes no result. Only where runs are whole cache lines:
// where they are not, it measured slower than none (docs/benchmarks.md, "Kernel measurements").
template <typename T, typename Finish>
void forward_channels(const Geometry& g, const T* x, T* y, const RunBlocks& blocks, std::int64_t first,
                      std::int64_t end, Finish&& finish, AffineCoefficients<T>& affine, bool stream) {
  const bool prefetch = stream && g.run_length * static_cast<std::int64_t>(sizeof(T)) % cache_line_bytes == 0;
  Moments block_part[max_channels_per_group], channel[max_channels_per_group];
  for (std::int64_t group = first; group < end; group += blocks.channels_per_group) {
    const std::int64_t group_end = std::min(end, group + blocks.channels_per_group);
    std::fill(channel, channel + (group_end - group), Moments{});
    for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
      block_moments(g, x, blocks.block(group, group_end, index), block_part);
      for (std::int64_t k = 0; k < group_end - group; ++k) merge(channel[k], block_part[k]);
    }
    for (std::int64_t c = group; c < group_end; ++c) affine.set(g, c, finish(c, channel[c - group]));
    if (!prefetch) {
      for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
        normalize_block(g, x, y, blocks.block(group, group_end, index), affine, stream);
      }
      continue;
    }
    GroupPrefetch<T> next(g, x, group_end, std::min(end, group_end + blocks.channels_per_group));
    write_group_prefetching<T>(g, blocks, group, group_end, [&](std::int64_t from, std::int64_t to) {
      normalize_elements(g, x, y, from, to, affine, stream);
    }, next);
  }
}

// Backward of channels [first, end), group by group: gradient sums (mean[c] is channel c's saved
// mean), finish(channel, sums) -> ChannelGradient, then dx while the group is in cache. When dx
// is streamed, the next group's dy and x are prefetched while this one's dx is written, as the
// forward does (the groups sized for two groups' dy and x: tensors_touched = 4).
template <typename T, typename Finish>
void backward_channels(const Geometry& g, const T* dy, const T* x, T* dx, const RunBlocks& blocks,
                       std::int64_t first, std::int64_t end, const double* mean, Finish&& finish,
                       GradientCoefficients<T>& coefficients, bool stream) {
  const bool prefetch = stream && g.run_length * static_cast<std::int64_t>(sizeof(T)) % cache_line_bytes == 0;
  GradientSums block_part[max_channels_per_group], channel[max_channels_per_group];
  for (std::int64_t group = first; group < end; group += blocks.channels_per_group) {
    const std::int64_t group_end = std::min(end, group + blocks.channels_per_group);
    std::fill(channel, channel + (group_end - group), GradientSums{});
    for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
      block_gradient_sums(g, dy, x, blocks.block(group, group_end, index), mean + group, block_part);
      for (std::int64_t k = 0; k < group_end - group; ++k) merge(channel[k], block_part[k]);
    }
    for (std::int64_t c = group; c < group_end; ++c) coefficients.set(g, c, finish(c, channel[c - group]));
    if (!prefetch) {
      for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
        gradient_block(g, dy, x, dx, blocks.block(group, group_end, index), coefficients, stream);
      }
      continue;
    }
    const std::int64_t next_end = std::min(end, group_end + blocks.channels_per_group);
    GroupPrefetch<T> next_dy(g, dy, group_end, next_end), next_x(g, x, group_end, next_end);
    write_group_prefetching<T>(g, blocks, group, group_end, [&](std::int64_t from, std::int64_t to) {
      gradient_elements(g, dy, x, dx, from, to, coefficients, stream);
    }, next_dy, next_x);
  }
}

}  // namespace bnh::tiles
