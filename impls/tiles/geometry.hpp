// How the tiled kernels cut a tensor into cache-sized pieces. Two views cover every layout:
//   - the run view (NCHW, and anything with C = 1): channel c is N runs of H*W contiguous
//     elements, C*H*W apart. Channels are taken in groups that fit in L2 (RunBlocks).
//   - the row view (NHWC with C > 1, and every 2-D input): the tensor is N*H*W rows of C
//     elements and channel c is column c. A tile is a band of whole rows (RowTiles); the inner
//     loops run along a row, so they vectorize across channels.
// Every size here is a function of the caches it is given (the kernels pass bnh::machine()'s),
// so that tests can cut tensors for caches of any size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "bnh/types.hpp"
#include "core/machine.hpp"

namespace bnh::tiles {

struct Geometry {
  bool by_rows = false;          // the row view; otherwise the run view
  std::int64_t channels = 1;
  std::int64_t runs = 1;         // run view: N runs per channel
  std::int64_t run_length = 1;   // run view: H*W
  std::int64_t rows = 1;         // row view: N*H*W rows of `channels` elements
  std::int64_t per_channel = 1;  // M
  std::int64_t elements = 1;
  // Row view: per-channel coefficients are laid out repeated, so that one loop covers several
  // short rows: the pattern repeats every row_period elements (whole rows, about 1024), and the
  // array runs on for row_margin elements more, so that a loop may start anywhere in the first
  // period and still run at least row_margin elements.
  std::int64_t row_period = 1;
  static constexpr std::int64_t row_margin = 1024;

  // Elements of an array of per-channel coefficients (see set_coefficient).
  std::int64_t coefficient_count() const { return by_rows ? row_period + row_margin : channels; }
};

inline Geometry geometry_of(const TensorDesc& desc) {
  Geometry g;
  // With C = 1 both layouts are one contiguous channel; with H = W = 1 both are rows of C.
  g.by_rows = desc.c > 1 && (desc.layout == Layout::nhwc || desc.spatial() == 1);
  g.channels = desc.c;
  g.runs = desc.n;
  g.run_length = desc.spatial();
  g.rows = desc.per_channel();
  g.per_channel = desc.per_channel();
  g.elements = desc.elements();
  g.row_period = desc.c * std::max<std::int64_t>(1, 1024 / desc.c);
  return g;
}

// Sets channel c's coefficient in an array of g.coefficient_count() elements.
template <typename T>
void set_coefficient(const Geometry& g, T* coefficients, std::int64_t c, double value) {
  const std::int64_t end = g.coefficient_count();
  for (std::int64_t at = c; at < end; at += g.channels) coefficients[at] = static_cast<T>(value);
}

// Streaming (non-temporal) stores pay off once the tensors an operation touches exceed half the
// last-level cache: the output would only evict the input, and nothing reads it back soon. Half,
// because the cache is shared: on a busy machine the share left to one process is about that
// (docs/benchmarks.md, "Kernel measurements").
inline bool should_stream(const Geometry& g, std::size_t element_size, int tensors_touched, const CacheSizes& caches) {
  // Runs shorter than four lines (NCHW at 7x7) would meet partial lines at both ends of every
  // run, which the write-combining buffers flush half empty.
  if (!g.by_rows && g.run_length * static_cast<std::int64_t>(element_size) < 256) return false;
  return static_cast<double>(g.elements) * static_cast<double>(element_size) * tensors_touched >
         static_cast<double>(caches.last_level) / 2;
}

// ---------------------------------------------------------------------------------------------
// Run view: blocks

// A block of the run view: channels [first_channel, end_channel) of samples [first_run, end_run),
// positions [first_position, end_position) of each run.
struct RunBlock {
  std::int64_t first_channel, end_channel;
  std::int64_t first_run, end_run;
  std::int64_t first_position, end_position;

  std::int64_t channels() const { return end_channel - first_channel; }
  std::int64_t length() const { return end_position - first_position; }
  double count() const { return static_cast<double>((end_run - first_run) * length()); }
};

// At most this many channels form a group: their per-channel accumulators live on the stack.
inline constexpr std::int64_t max_channels_per_group = 64;

// How the run view cuts channels into blocks. Channels are taken in groups whose data, in every
// tensor an operation keeps in cache (`tensors_touched`: an output written with streaming stores
// does not count), fits in half of L2: the first pass reads the group from memory
// sample by sample (one long contiguous stretch per sample, which the hardware prefetchers
// follow, rather than N short runs C*H*W apart), and the passes after it find the group in L2.
// Such a group is a single block. A channel too large for that is a group of its own, cut into
// blocks of whole runs or of pieces of one run; so is every channel when `parts` > 1, cut into
// at least that many blocks for threads to share.
class RunBlocks {
 public:
  std::int64_t channels_per_group = 1;
  std::int64_t blocks_per_group = 1;

  RunBlocks(const Geometry& g, std::size_t element_size, int tensors_touched, int parts, const CacheSizes& caches)
      : runs_(g.runs), run_length_(g.run_length), piece_length_(g.run_length) {
    const std::int64_t budget = std::max<std::int64_t>(
        256, caches.l2 / 2 / (static_cast<std::int64_t>(element_size) * tensors_touched));
    if (parts <= 1 && g.per_channel <= budget) {
      channels_per_group = std::clamp<std::int64_t>(budget / g.per_channel, 1, max_channels_per_group);
      runs_per_block_ = runs_;
      return;
    }
    const std::int64_t target =
        std::min(budget, std::max<std::int64_t>(256, (g.per_channel + parts - 1) / parts));
    if (run_length_ > target) {
      pieces_per_run_ = (run_length_ + target - 1) / target;
      // Equal pieces, each a multiple of 16 elements (a cache line of f32, a whole number of
      // vectors on every target) so that inner loops start on whole vectors.
      piece_length_ = ((run_length_ + pieces_per_run_ - 1) / pieces_per_run_ + 15) / 16 * 16;
      pieces_per_run_ = (run_length_ + piece_length_ - 1) / piece_length_;
      runs_per_block_ = 1;
      blocks_per_group = runs_ * pieces_per_run_;
    } else {
      runs_per_block_ = std::max<std::int64_t>(1, target / run_length_);
      blocks_per_group = (runs_ + runs_per_block_ - 1) / runs_per_block_;
    }
  }

  // Block `index` of the group of channels [first_channel, end_channel).
  RunBlock block(std::int64_t first_channel, std::int64_t end_channel, std::int64_t index) const {
    const std::int64_t first_run = index / pieces_per_run_ * runs_per_block_;
    const std::int64_t first_position = index % pieces_per_run_ * piece_length_;
    return RunBlock{first_channel, end_channel,
                    first_run, std::min(runs_, first_run + runs_per_block_),
                    first_position, std::min(run_length_, first_position + piece_length_)};
  }

 private:
  std::int64_t runs_, run_length_;
  std::int64_t runs_per_block_ = 1, piece_length_ = 1, pieces_per_run_ = 1;
};

// The first element of run `run` of channel `channel`, in the run view.
template <typename T>
T* run_start(const Geometry& g, T* tensor, std::int64_t run, std::int64_t channel) {
  return tensor + (run * g.channels + channel) * g.run_length;
}

// The elements of a run-view block, sample by sample: each sample's part of the block is one
// contiguous stretch [first, end) (whole runs of consecutive channels, or a piece of one run).
template <typename Stretch>
void for_each_block_stretch(const Geometry& g, const RunBlock& block, Stretch&& stretch) {
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    const std::int64_t first = (run * g.channels + block.first_channel) * g.run_length + block.first_position;
    const std::int64_t end = (run * g.channels + block.end_channel - 1) * g.run_length + block.end_position;
    stretch(first, end);
  }
}

// ---------------------------------------------------------------------------------------------
// Row view: tiles

// Bytes a row-view tile may hold so that the second pass over it finds it in L1 (the pass that
// reads memory runs in memory order; the second walks the tile down its columns).
inline std::int64_t tile_bytes(const CacheSizes& caches) { return std::max<std::int64_t>(caches.l1_data / 2, 4096); }

// Bands of whole rows, about tile_bytes() each; but at least 64 rows where that fits in a
// quarter of L2 (and 16 where it does not), so that the per-column work of finishing and
// merging a tile stays small next to the tile's own.
struct RowTiles {
  std::int64_t rows = 1, rows_per_tile = 1, count = 1;

  RowTiles(const Geometry& g, std::size_t element_size, const CacheSizes& caches) {
    rows = g.rows;
    const std::int64_t row_bytes = g.channels * static_cast<std::int64_t>(element_size);
    const std::int64_t fewest = std::clamp<std::int64_t>(caches.l2 / 4 / row_bytes, 16, 64);
    rows_per_tile = std::min(rows, std::max(fewest, tile_bytes(caches) / row_bytes));
    count = (rows + rows_per_tile - 1) / rows_per_tile;
  }
  std::int64_t first_row(std::int64_t tile) const { return std::min(rows, tile * rows_per_tile); }
};

// Calls stretch(offset, n, index) for the stretches that make up elements [first, first + count)
// of the tensor: within a stretch the run view has one channel (index), and the row view the
// consecutive entries of the repeated coefficients from index on. offset counts from `first`.
// The row view ends its stretches on cache lines of `output`, so that streaming stores only meet
// partial lines at the two ends of the range, and where it can at the end of a period, so that
// a pass reads the coefficients of one period, not more (they share L1 with the data streaming
// through it); only a stretch that would be short runs on into the margin.
template <typename T, typename Stretch>
void for_each_stretch(const Geometry& g, std::int64_t first, std::int64_t count, const T* output,
                      Stretch&& stretch) {
  if (g.by_rows) {
    std::int64_t column = first % g.row_period;
    for (std::int64_t done = 0; done < count;) {
      std::int64_t n = g.row_period - column;
      if (n < Geometry::row_margin / 4) n = g.coefficient_count() - column;
      n = std::min(count - done, n);
      if (done + n < count) {
        const auto past_line = reinterpret_cast<std::uintptr_t>(output + first + done + n) % 64 / sizeof(T);
        if (static_cast<std::int64_t>(past_line) < n) n -= static_cast<std::int64_t>(past_line);
      }
      stretch(done, n, column);
      done += n;
      column = (column + n) % g.row_period;
    }
  } else {
    std::int64_t position = first % g.run_length;
    std::int64_t channel = first / g.run_length % g.channels;
    for (std::int64_t done = 0; done < count;) {
      const std::int64_t n = std::min(count - done, g.run_length - position);
      stretch(done, n, channel);
      done += n;
      position = 0;
      channel = channel + 1 == g.channels ? 0 : channel + 1;
    }
  }
}

}  // namespace bnh::tiles
