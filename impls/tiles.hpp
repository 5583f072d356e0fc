// Building blocks of the cache-aware implementations (blocked.cpp, openmp.cpp): how a tensor is
// cut into cache-sized pieces, the vectorized loops over them, and the per-channel scalar math
// of SPEC.md sections 2 and 3.
//
// Two views of a tensor cover every layout:
//   - the run view (NCHW, and anything with C = 1): channel c is N runs of H*W contiguous
//     elements, C*H*W apart. Channels are taken in groups that fit in L2 (RunBlocks).
//   - the row view (NHWC with C > 1, and every 2-D input): the tensor is N*H*W rows of C
//     elements and channel c is column c. A tile is a band of whole rows (RowTiles); the inner
//     loops run along a row, so they vectorize across channels.
//
// Accuracy (docs/tolerances.md): moments are sums of d = x - shift and of d^2 around a per-channel
// shift near the mean, corrected for the shift's distance from the mean (the corrected two-pass
// algorithm); pieces (blocks, tiles, threads' shares) are combined with Chan's pairwise update.
//   - f64: two passes over data that sits in cache, the mean as the shift, the sums in double.
//   - f32: one pass through memory. The shift is one of the channel's own values, near the mean
//     of the first few; d and d^2 are formed in f32 and summed four at a time in f32 (four
//     consecutive elements of a lane, or four consecutive rows), and those short partial sums
//     are accumulated in double. Each element meets at most four f32 roundings (subtraction,
//     square, two additions) before double, a handful of u of the sums of |d| and d^2, which is
//     a handful of u of sigma and of m2 as long as the shift lies within about one standard
//     deviation of the mean (checked: the sum of squares is at most twice m2): the size of the
//     per-element roundings the bound allows (its 8), with nothing that grows with M. A piece
//     that fails the check (shift on an outlier, drifting data, f32 overflow or squares in the
//     subnormal range) is taken again, from cache, by the two-pass algorithm in double. See
//     "f32 moments in one pass" below.
// Gradient sums are accumulated in double (row view: from short partial sums of four rows in the
// element type, see row_gradient_sums). Every per-channel scalar is computed in double; only
// the last per-element step, y = x*scale + shift or dx = a*dy + b*x + c, runs in the element type.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "bnh/types.hpp"

namespace bnh::tiles {

// ---------------------------------------------------------------------------------------------
// The machine's caches

struct CacheSizes {
  std::int64_t l1_data;     // bytes, per core
  std::int64_t l2;          // bytes, per core
  std::int64_t last_level;  // bytes, the largest cache
};

namespace detail {

// "32K", "1024K", "32M" as sysfs writes them; 0 when unreadable.
inline std::int64_t parse_cache_size(const std::string& text) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || value <= 0) return 0;
  switch (*end) {
    case 'K': return value << 10;
    case 'M': return value << 20;
    case 'G': return value << 30;
    default: return value;
  }
}

inline std::string read_word(const std::string& path) {
  std::ifstream file(path);
  std::string word;
  file >> word;
  return word;
}

// Sizes outside [4 KiB, 1 GiB] are not believable (sysconf has been seen to report the L3 of a
// virtual machine ten times too large); use the fallback instead.
inline std::int64_t believable(std::int64_t bytes, std::int64_t fallback) {
  return bytes >= (std::int64_t{4} << 10) && bytes <= (std::int64_t{1} << 30) ? bytes : fallback;
}

}  // namespace detail

// sysfs describes the caches the kernel saw (per level and type); sysconf is the fallback, and
// the sizes of a small desktop core are the last resort.
inline CacheSizes detect_cache_sizes() {
  std::int64_t by_level[4] = {0, 0, 0, 0};
  for (int index = 0; index < 16; ++index) {
    const std::string directory = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const std::string level = detail::read_word(directory + "level");
    if (level.empty()) break;
    const std::string type = detail::read_word(directory + "type");
    const int number = std::atoi(level.c_str());
    if (type == "Instruction" || number < 1 || number > 3) continue;
    by_level[number] = std::max(by_level[number], detail::parse_cache_size(detail::read_word(directory + "size")));
  }
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  if (by_level[1] == 0) by_level[1] = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (by_level[2] == 0) by_level[2] = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (by_level[3] == 0) by_level[3] = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
  CacheSizes sizes;
  sizes.l1_data = detail::believable(by_level[1], std::int64_t{32} << 10);
  sizes.l2 = detail::believable(by_level[2], std::max(sizes.l1_data, std::int64_t{256} << 10));
  sizes.last_level = std::max(sizes.l2, detail::believable(by_level[3], std::int64_t{8} << 20));
  return sizes;
}

inline const CacheSizes& cache_sizes() {
  static const CacheSizes sizes = detect_cache_sizes();
  return sizes;
}

// ---------------------------------------------------------------------------------------------
// Geometry: the two views

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
// (measured: a 16x64x56x56 f32 training forward, x + y = 26 MB against a 32 MiB L3, ran 1.5x
// faster streamed).
inline bool should_stream(const Geometry& g, std::size_t element_size, int tensors_touched) {
  // Runs shorter than four lines (NCHW at 7x7) would meet partial lines at both ends of every
  // run, which the write-combining buffers flush half empty.
  if (!g.by_rows && g.run_length * static_cast<std::int64_t>(element_size) < 256) return false;
  return static_cast<double>(g.elements) * static_cast<double>(element_size) * tensors_touched >
         static_cast<double>(cache_sizes().last_level) / 2;
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

  RunBlocks(const Geometry& g, std::size_t element_size, int tensors_touched, int parts = 1)
      : runs_(g.runs), run_length_(g.run_length), piece_length_(g.run_length) {
    const std::int64_t budget = std::max<std::int64_t>(
        256, cache_sizes().l2 / 2 / (static_cast<std::int64_t>(element_size) * tensors_touched));
    if (parts <= 1 && g.per_channel <= budget) {
      channels_per_group = std::clamp<std::int64_t>(budget / g.per_channel, 1, max_channels_per_group);
      runs_per_block_ = runs_;
      return;
    }
    const std::int64_t target =
        std::min(budget, std::max<std::int64_t>(256, (g.per_channel + parts - 1) / parts));
    if (run_length_ > target) {
      pieces_per_run_ = (run_length_ + target - 1) / target;
      // Equal pieces, each a multiple of 16 elements so that inner loops start on whole vectors.
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

// ---------------------------------------------------------------------------------------------
// Row view: tiles

// Bytes a row-view tile may hold so that the second pass over it finds it in L1 (the pass that
// reads memory runs in memory order; the second walks the tile down its columns).
inline std::int64_t tile_bytes() { return std::max<std::int64_t>(cache_sizes().l1_data / 2, 4096); }

// Bands of whole rows, about tile_bytes() each; but at least 64 rows where that fits in a
// quarter of L2 (and 16 where it does not), so that the per-column work of finishing and
// merging a tile stays small next to the tile's own.
struct RowTiles {
  std::int64_t rows = 1, rows_per_tile = 1, count = 1;

  RowTiles(const Geometry& g, std::size_t element_size) {
    rows = g.rows;
    const std::int64_t row_bytes = g.channels * static_cast<std::int64_t>(element_size);
    const std::int64_t fewest = std::clamp<std::int64_t>(cache_sizes().l2 / 4 / row_bytes, 16, 64);
    rows_per_tile = std::min(rows, std::max(fewest, tile_bytes() / row_bytes));
    count = (rows + rows_per_tile - 1) / rows_per_tile;
  }
  std::int64_t first_row(std::int64_t tile) const { return std::min(rows, tile * rows_per_tile); }
};

// ---------------------------------------------------------------------------------------------
// Moments (count, mean, sum of squared deviations), combined with Chan's update

struct Moments {
  double count = 0, mean = 0, m2 = 0;
};

// Chan, Golub and LeVeque (1979): exact for exact inputs, and no cancellation beyond that of
// the deviations themselves.
inline void merge(Moments& into, const Moments& part) {
  if (part.count == 0) return;
  if (into.count == 0) {
    into = part;
    return;
  }
  const double count = into.count + part.count;
  const double delta = part.mean - into.mean;
  into.mean += delta * (part.count / count);
  into.m2 += part.m2 + delta * delta * (into.count * part.count / count);
  into.count = count;
}

// The moments of every channel of the row view, side by side. All columns share one count.
struct ColumnMoments {
  double count = 0;
  std::vector<double> mean, m2;

  explicit ColumnMoments(std::int64_t channels = 0) : mean(channels, 0.0), m2(channels, 0.0) {}

  // Merges columns [first, first + width) of a part whose values start at part_mean, part_m2.
  void merge(std::int64_t first, std::int64_t width, double part_count, const double* part_mean,
             const double* part_m2) {
    if (part_count == 0) return;
    double* __restrict own_mean = mean.data() + first;
    double* __restrict own_m2 = m2.data() + first;
    if (count == 0) {
      std::copy(part_mean, part_mean + width, own_mean);
      std::copy(part_m2, part_m2 + width, own_m2);
      return;
    }
    const double total = count + part_count;
    const double part_weight = part_count / total, cross_weight = count * part_count / total;
    for (std::int64_t k = 0; k < width; ++k) {
      const double delta = part_mean[k] - own_mean[k];
      own_mean[k] += delta * part_weight;
      own_m2[k] += part_m2[k] + delta * delta * cross_weight;
    }
  }

  Moments of(std::int64_t channel) const { return Moments{count, mean[channel], m2[channel]}; }
};

struct GradientSums {
  double dy = 0, dy_centered = 0;  // sum dy, sum dy * (x - mean)
};

inline void merge(GradientSums& into, const GradientSums& part) {
  into.dy += part.dy;
  into.dy_centered += part.dy_centered;
}

// ---------------------------------------------------------------------------------------------
// Run view: reductions in lanes

// The run view's loops are written with vector types (GCC and Clang vector extensions), so that
// the order of every addition is fixed by the source: 16 lanes, each summing every 16th element
// of a run, then the lanes in order, then the elements after the last whole vector.
inline constexpr std::int64_t lanes = 16;

// One 64-byte cache line of elements as a vector.
template <typename T>
struct LineOf {
  typedef T type __attribute__((vector_size(64)));
};
template <typename T>
using Line = typename LineOf<T>::type;
template <typename T>
inline constexpr std::int64_t line_elements = 64 / static_cast<std::int64_t>(sizeof(T));

template <typename T>
Line<T> load_line(const T* p) {
  Line<T> value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

using Doubles = Line<double>;
using Floats = Line<float>;

// Elements p[0, 16) as two vectors of 8 doubles.
inline void load_lanes(const float* p, Doubles& low, Doubles& high) {
#if defined(__AVX512F__)
  // One conversion per 8 elements; compilers tuned for 256-bit vectors split the generic form
  // below into halves. (The all-lanes mask spares GCC 12 a false "may be used uninitialized".)
  low = _mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(p));
  high = _mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(p + 8));
#else
  typedef float Half __attribute__((vector_size(32)));
  Half low_half, high_half;
  std::memcpy(&low_half, p, sizeof low_half);
  std::memcpy(&high_half, p + 8, sizeof high_half);
  low = __builtin_convertvector(low_half, Doubles);
  high = __builtin_convertvector(high_half, Doubles);
#endif
}
inline void load_lanes(const double* p, Doubles& low, Doubles& high) {
  std::memcpy(&low, p, sizeof low);
  std::memcpy(&high, p + 8, sizeof high);
}

inline double sum_lanes(const Doubles& low, const Doubles& high) {
  double total = 0;
  for (int l = 0; l < 8; ++l) total += low[l];
  for (int l = 0; l < 8; ++l) total += high[l];
  return total;
}

// A sum in double lanes, of elements of either type.
struct DoubleLanes {
  Doubles low = {}, high = {};
  double tail = 0;

  template <typename T>
  void add(const T* in, std::int64_t length) {
    Doubles values_low, values_high;
    std::int64_t i = 0;
    for (; i + lanes <= length; i += lanes) {
      load_lanes(in + i, values_low, values_high);
      low += values_low;
      high += values_high;
    }
    for (; i < length; ++i) tail += static_cast<double>(in[i]);
  }
  double total() const { return sum_lanes(low, high) + tail; }
};

// The sums of x - shift and of its square, in double lanes.
struct DeviationLanes {
  Doubles first_low = {}, first_high = {}, second_low = {}, second_high = {};
  double first_tail = 0, second_tail = 0;

  // Elements p[0, 16), one per lane, each with the shift of its lane.
  template <typename T>
  void add_lanes(const T* p, const Doubles& shift_low, const Doubles& shift_high) {
    Doubles low, high;
    load_lanes(p, low, high);
    low -= shift_low;
    high -= shift_high;
    first_low += low;
    first_high += high;
    second_low += low * low;
    second_high += high * high;
  }

  template <typename T>
  void add(const T* in, std::int64_t length, double shift) {
    const Doubles shift_vector = Doubles{} + shift;
    std::int64_t i = 0;
    for (; i + lanes <= length; i += lanes) add_lanes(in + i, shift_vector, shift_vector);
    for (; i < length; ++i) {
      const double deviation = static_cast<double>(in[i]) - shift;
      first_tail += deviation;
      second_tail += deviation * deviation;
    }
  }

  // The moments of the `count` elements added: m2 is corrected for the shift's distance from
  // their mean.
  Moments moments(double count, double shift) const {
    const double first = sum_lanes(first_low, first_high) + first_tail;
    const double second = sum_lanes(second_low, second_high) + second_tail;
    Moments result;
    result.count = count;
    result.mean = shift + first / count;
    result.m2 = second - first * first / count;
    if (result.m2 < 0) result.m2 = 0;  // rounding only; NaN passes through
    return result;
  }
};

// The sums of dy and of dy * (x - mean), in double lanes.
struct GradientLanes {
  Doubles dy_low = {}, dy_high = {}, centered_low = {}, centered_high = {};
  double dy_tail = 0, centered_tail = 0;

  // Elements [0, 16), one per lane, each with the mean of its lane.
  template <typename T>
  void add_lanes(const T* dy, const T* x, const Doubles& mean_low, const Doubles& mean_high) {
    Doubles gradient_low, gradient_high, low, high;
    load_lanes(dy, gradient_low, gradient_high);
    load_lanes(x, low, high);
    dy_low += gradient_low;
    dy_high += gradient_high;
    centered_low += gradient_low * (low - mean_low);
    centered_high += gradient_high * (high - mean_high);
  }

  template <typename T>
  void add(const T* dy, const T* x, std::int64_t length, double mean) {
    const Doubles mean_vector = Doubles{} + mean;
    std::int64_t i = 0;
    for (; i + lanes <= length; i += lanes) add_lanes(dy + i, x + i, mean_vector, mean_vector);
    for (; i < length; ++i) {
      const double gradient = dy[i];
      dy_tail += gradient;
      centered_tail += gradient * (static_cast<double>(x[i]) - mean);
    }
  }
  GradientSums sums() const {
    return GradientSums{sum_lanes(dy_low, dy_high) + dy_tail, sum_lanes(centered_low, centered_high) + centered_tail};
  }
};

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

// The moments of each channel of a block: moments[k] is channel first_channel + k's. f64: the
// first pass (a shift per channel, the mean) walks the block sample by sample, reading memory
// in contiguous stretches; the second finds the block in cache and walks it channel by channel.
template <typename T>
void block_moments(const Geometry& g, const T* x, const RunBlock& block, Moments* moments) {
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

// ---------------------------------------------------------------------------------------------
// f32 moments in one pass: short f32 partial sums around a shift taken from the data
//
// For f32 data one pass over the tensor gives every channel's moments. Each channel (or row-view
// column) has a shift s: one of its own values, near the mean of the first few. Then, per
// 16-element vector, d = x - s is formed in f32, and four consecutive vectors (run view: four
// consecutive elements of each lane; row view: four consecutive rows) are summed in f32, d and
// d^2 alike, as (d0 + d1) + (d2 + d3); each such partial sum goes to double lanes, where the
// rest of the sum is accumulated as in the two-pass code. An element's d passes through at most
// four f32 roundings (the subtraction, the square, two additions) before it reaches double,
// never a long f32 run.
//
// Why that stays within the bound of docs/tolerances.md: with S1 the sum of the d and S2 that of
// their squares, S2 = m2 + count (mean - s)^2, and short_sums_hold requires S2 <= 2 m2, i.e. the
// shift within one standard deviation of the mean. The f32 roundings then err by a few u of S2
// in S2, and by a few u of sum |d| <= sqrt(count S2) in S1, so that m2 = S2 - S1^2 / count is
// within a few u of m2, sigma within a few u of itself and the mean within a few u of sigma:
// the size of the handful of per-element roundings the bound's constant term allows, with
// nothing that grows with M (the double accumulation adds the M u_f64 the bound allows too).
// Where the check fails (a shift that fell on an outlier, data that drifts along the channel),
// or where f32 overflowed or the squares fell into f32's subnormal range, that channel's piece
// is taken again, in cache, by the corrected two-pass algorithm in double. On the few-bit data
// of the exact-statistics regime the shift being one of the values keeps every d, square and
// partial sum exact.

// Two vectors of 8 doubles from one of 16 floats.
inline void widen(const Floats& value, Doubles& low, Doubles& high) {
  typedef float Half __attribute__((vector_size(32)));
  Half halves[2];
  std::memcpy(halves, &value, sizeof halves);
#if defined(__AVX512F__)
  // As in load_lanes: one conversion per 8 elements.
  low = _mm512_maskz_cvtps_pd(0xff, (__m256)halves[0]);
  high = _mm512_maskz_cvtps_pd(0xff, (__m256)halves[1]);
#else
  low = __builtin_convertvector(halves[0], Doubles);
  high = __builtin_convertvector(halves[1], Doubles);
#endif
}

// Whether moments from short f32 partial sums S1 (of d) and S2 (of d^2) over `count` elements
// are accurate: both finite, S2 <= 2 m2 (2 S1^2 <= count S2), and S2 clear of f32's subnormal
// range, where the squares lose their relative accuracy (below count * 2^-100 the loss could
// matter; above it, it is at most count * 2^-150, under 2^-50 S2). S1 = S2 = 0 holds: every d
// is 0, or every square was below 2^-150, and then so is m2 / count.
inline bool short_sums_hold(double first, double second, double count) {
  // Without branches, so that a loop over columns vectorizes; NaN compares false.
  constexpr double largest = std::numeric_limits<double>::max();
  const bool finite = (std::fabs(first) <= largest) & (second <= largest);
  const bool zero = (first == 0) & (second == 0);
  return finite & (zero | ((second >= count * 0x1p-100) & (2 * first * first <= count * second)));
}

// Of in[0, n) (n >= 1, elements `stride` apart), the value nearest `target`; with non-finite
// data, possibly in[0] (the sums taken around it then do not hold, and the exact path runs).
inline float value_nearest(const float* in, std::int64_t n, std::int64_t stride, double target) {
  float best = in[0];
  double distance = std::fabs(static_cast<double>(best) - target);
  for (std::int64_t i = 1; i < n; ++i) {
    const double here = std::fabs(static_cast<double>(in[i * stride]) - target);
    if (here < distance) {
      distance = here;
      best = in[i * stride];
    }
  }
  return best;
}

// Of in[0, n) (n >= 1, elements `stride` apart), the value nearest the mean of them.
inline float value_near_mean(const float* in, std::int64_t n, std::int64_t stride = 1) {
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(in[i * stride]);
  return value_nearest(in, n, stride, sum / static_cast<double>(n));
}

// The sums of d = x - shift and of d^2 over stretches of a run-view channel, in short f32
// partial sums (four consecutive elements per lane) added to double lanes.
struct ShortDeviationLanes {
  Doubles first_low = {}, first_high = {}, second_low = {}, second_high = {};
  double first_tail = 0, second_tail = 0;

  void add(const float* in, std::int64_t length, float shift) {
    const Floats s = Floats{} + shift;
    Doubles f_low = first_low, f_high = first_high, s_low = second_low, s_high = second_high;
    Doubles low, high;
    std::int64_t i = 0;
    for (; i + 4 * lanes <= length; i += 4 * lanes) {
      const Floats d0 = load_line(in + i) - s, d1 = load_line(in + i + lanes) - s;
      const Floats d2 = load_line(in + i + 2 * lanes) - s, d3 = load_line(in + i + 3 * lanes) - s;
      widen((d0 + d1) + (d2 + d3), low, high);
      f_low += low;
      f_high += high;
      widen((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3), low, high);
      s_low += low;
      s_high += high;
    }
    if (i + lanes <= length) {  // one to three whole vectors left: one more short partial sum
      Floats d = load_line(in + i) - s, partial_first = d, partial_second = d * d;
      for (i += lanes; i + lanes <= length; i += lanes) {
        d = load_line(in + i) - s;
        partial_first += d;
        partial_second += d * d;
      }
      widen(partial_first, low, high);
      f_low += low;
      f_high += high;
      widen(partial_second, low, high);
      s_low += low;
      s_high += high;
    }
    first_low = f_low;
    first_high = f_high;
    second_low = s_low;
    second_high = s_high;
    for (; i < length; ++i) {
      const double d = static_cast<double>(in[i]) - static_cast<double>(shift);
      first_tail += d;
      second_tail += d * d;
    }
  }
  double first() const { return sum_lanes(first_low, first_high) + first_tail; }
  double second() const { return sum_lanes(second_low, second_high) + second_tail; }
};

// Moments from S1 and S2 around `shift`, corrected for the shift's distance from the mean.
inline Moments shifted_moments(double count, double shift, double first, double second) {
  Moments result;
  result.count = count;
  result.mean = shift + first / count;
  result.m2 = second - first * first / count;
  if (result.m2 < 0) result.m2 = 0;  // rounding only
  return result;
}

// f32: the moments of each channel of a block in one pass, sample by sample through memory, with
// short f32 partial sums; a channel whose sums do not hold is taken again from cache in double.
inline void block_moments(const Geometry& g, const float* x, const RunBlock& block, Moments* moments) {
  constexpr std::int64_t shift_sample = 16;  // elements the shift is chosen from
  const std::int64_t channels = block.channels(), length = block.length();
  const double count = block.count();
  float shift[max_channels_per_group];
  for (std::int64_t k = 0; k < channels; ++k) {
    const float* first = run_start(g, x, block.first_run, block.first_channel + k) + block.first_position;
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

// The gradient sums of each channel of a block, sample by sample; mean[k] and sums[k] belong to
// channel first_channel + k.
template <typename T>
void block_gradient_sums(const Geometry& g, const T* dy, const T* x, const RunBlock& block,
                         const double* mean, GradientSums* sums) {
  const std::int64_t channels = block.channels(), length = block.length();
  GradientLanes lanes_of[max_channels_per_group];
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    for (std::int64_t k = 0; k < channels; ++k) {
      const std::int64_t channel = block.first_channel + k;
      lanes_of[k].add(run_start(g, dy, run, channel) + block.first_position,
                      run_start(g, x, run, channel) + block.first_position, length, mean[k]);
    }
  }
  for (std::int64_t k = 0; k < channels; ++k) sums[k] = lanes_of[k].sums();
}

// ---------------------------------------------------------------------------------------------
// Row view: reductions along the rows

// f64: merges into `into` the column moments of row tiles [first, end). Per tile: a shift per
// column, summed row by row in memory order; then, from cache, the deviations from it, with 16
// consecutive columns as 16 lanes summed down the rows in registers. Columns past the last
// whole 16 take the same steps one at a time.
template <typename T>
void row_moments(const T* x, std::int64_t channels, const RowTiles& tiles, std::int64_t first,
                 std::int64_t end, ColumnMoments& into) {
  std::vector<T> shift_sum(channels);
  std::vector<double> shift(channels), tile_mean(channels), tile_m2(channels);
  for (std::int64_t index = first; index < end; ++index) {
    const std::int64_t row_begin = tiles.first_row(index), rows = tiles.first_row(index + 1) - row_begin;
    const double count = static_cast<double>(rows);
    const T* tile = x + row_begin * channels;

    std::fill(shift_sum.begin(), shift_sum.end(), T(0));
    T* __restrict sum = shift_sum.data();
    for (std::int64_t row = 0; row < rows; ++row) {
      const T* __restrict in = tile + row * channels;
      for (std::int64_t k = 0; k < channels; ++k) sum[k] += in[k];
    }
    for (std::int64_t k = 0; k < channels; ++k) shift[k] = static_cast<double>(sum[k]) / count;
    for (std::int64_t k = 0; k < channels; ++k) {
      if (std::isfinite(shift[k])) continue;  // the sum overflowed (or the data is not finite)
      double exact_sum = 0;
      for (std::int64_t row = 0; row < rows; ++row) exact_sum += static_cast<double>(tile[row * channels + k]);
      shift[k] = exact_sum / count;
    }

    // While this pass computes from cache, the next tile is requested from memory, a line per
    // step, so that the first pass over it does not wait for memory.
    const char* ahead = reinterpret_cast<const char*>(tile + rows * channels);
    const char* const ahead_end = reinterpret_cast<const char*>(x + tiles.first_row(std::min(index + 2, end)) * channels);
    std::int64_t column = 0;
    for (; column + lanes <= channels; column += lanes) {
      Doubles shift_low, shift_high;
      load_lanes(shift.data() + column, shift_low, shift_high);
      DeviationLanes deviations;
      for (std::int64_t row = 0; row < rows; ++row) {
        deviations.add_lanes(tile + row * channels + column, shift_low, shift_high);
        if (ahead < ahead_end) {
          __builtin_prefetch(ahead);
          ahead += 64;
        }
      }
      // Each lane's moments, as DeviationLanes::moments takes them, eight lanes at a time.
      const Doubles zero = {};
      const Doubles mean_low = shift_low + deviations.first_low / count;
      const Doubles mean_high = shift_high + deviations.first_high / count;
      Doubles m2_low = deviations.second_low - deviations.first_low * deviations.first_low / count;
      Doubles m2_high = deviations.second_high - deviations.first_high * deviations.first_high / count;
      m2_low = m2_low < zero ? zero : m2_low;  // rounding only; NaN passes through
      m2_high = m2_high < zero ? zero : m2_high;
      std::memcpy(tile_mean.data() + column, &mean_low, sizeof mean_low);
      std::memcpy(tile_mean.data() + column + 8, &mean_high, sizeof mean_high);
      std::memcpy(tile_m2.data() + column, &m2_low, sizeof m2_low);
      std::memcpy(tile_m2.data() + column + 8, &m2_high, sizeof m2_high);
    }
    for (; column < channels; ++column) {
      DeviationLanes deviations;
      for (std::int64_t row = 0; row < rows; ++row) deviations.add(tile + row * channels + column, 1, shift[column]);
      const Moments moments = deviations.moments(count, shift[column]);
      tile_mean[column] = moments.mean;
      tile_m2[column] = moments.m2;
    }
    into.merge(0, channels, count, tile_mean.data(), tile_m2.data());
    into.count += count;
  }
}

// Column k's moments over the `rows` rows of a row-view tile, by the corrected two-pass
// algorithm in double.
inline Moments exact_column_moments(const float* tile, std::int64_t rows, std::int64_t channels, std::int64_t k) {
  const double count = static_cast<double>(rows);
  double sum = 0;
  for (std::int64_t row = 0; row < rows; ++row) sum += static_cast<double>(tile[row * channels + k]);
  const double shift = sum / count;
  double first = 0, second = 0;
  for (std::int64_t row = 0; row < rows; ++row) {
    const double d = static_cast<double>(tile[row * channels + k]) - shift;
    first += d;
    second += d * d;
  }
  return shifted_moments(count, shift, first, second);
}

// Adds to first[k] and second[k] the sums of d = x - shift[k] and of d^2 down column k of the
// `rows` rows of a row-view tile. 16 columns at a time, as 16 lanes, the rows are taken four at
// a time in short f32 partial sums, (d0 + d1) + (d2 + d3), which go to double lanes held in
// registers. The tile is read down its columns (from cache: see row_moments); meanwhile the bytes
// [ahead, ahead_end) are requested from memory, a line per 16 elements summed. Columns past the
// last whole 16 are summed in double.
inline void add_short_column_sums(const float* tile, std::int64_t rows, std::int64_t channels,
                                  const float* shift, double* first, double* second, const char*& ahead,
                                  const char* ahead_end) {
  std::int64_t column = 0;
  for (; column + lanes <= channels; column += lanes) {
    const Floats s = load_line(shift + column);
    Doubles f_low = {}, f_high = {}, s_low = {}, s_high = {}, low, high;
    const float* in = tile + column;
    std::int64_t row = 0;
    for (; row + 4 <= rows; row += 4, in += 4 * channels) {
      const Floats d0 = load_line(in) - s, d1 = load_line(in + channels) - s;
      const Floats d2 = load_line(in + 2 * channels) - s, d3 = load_line(in + 3 * channels) - s;
      widen((d0 + d1) + (d2 + d3), low, high);
      f_low += low;
      f_high += high;
      widen((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3), low, high);
      s_low += low;
      s_high += high;
      if (ahead < ahead_end) {
        __builtin_prefetch(ahead);
        __builtin_prefetch(ahead + 64);
        __builtin_prefetch(ahead + 128);
        __builtin_prefetch(ahead + 192);
        ahead += 256;
      }
    }
    for (; row < rows; ++row, in += channels) {
      widen(load_line(in) - s, low, high);
      f_low += low;
      f_high += high;
      s_low += low * low;
      s_high += high * high;
    }
    std::memcpy(first + column, &f_low, sizeof f_low);
    std::memcpy(first + column + 8, &f_high, sizeof f_high);
    std::memcpy(second + column, &s_low, sizeof s_low);
    std::memcpy(second + column + 8, &s_high, sizeof s_high);
  }
  for (; column < channels; ++column) {
    double f = 0, q = 0;
    for (std::int64_t row = 0; row < rows; ++row) {
      const double d = static_cast<double>(tile[row * channels + column]) - static_cast<double>(shift[column]);
      f += d;
      q += d * d;
    }
    first[column] = f;
    second[column] = q;
  }
}

// Per column k of the first `rows` rows of a row-view tile, the value nearest target[k] (first
// of equals); with non-finite data possibly the first row's. distance is scratch.
inline void choose_column_shifts(const float* tile, std::int64_t rows, std::int64_t channels,
                                 const double* __restrict target, float* __restrict shift,
                                 double* __restrict distance) {
  for (std::int64_t k = 0; k < channels; ++k) {
    shift[k] = tile[k];
    distance[k] = std::fabs(static_cast<double>(tile[k]) - target[k]);
  }
  for (std::int64_t row = 1; row < rows; ++row) {
    const float* __restrict in = tile + row * channels;
    for (std::int64_t k = 0; k < channels; ++k) {
      const double here = std::fabs(static_cast<double>(in[k]) - target[k]);
      const bool closer = here < distance[k];
      distance[k] = closer ? here : distance[k];
      shift[k] = closer ? in[k] : shift[k];
    }
  }
}

// f32: merges into `into` the column moments of row tiles [first, end) in one pass through
// memory. Per tile, the short f32 partial sums of every column around its shift, and from them
// the tile's moments; a column whose sums do not hold is taken again from the tile, in cache, in
// double, and its shift chosen again. The shifts: for the first tile, of its first rows the
// value nearest their mean; for the tiles after it, of the same rows the value nearest the first
// tile's mean. While a tile is summed (down its columns, from cache), the next one is requested
// from memory, so that the pass over it does not wait.
inline void row_moments(const float* x, std::int64_t channels, const RowTiles& tiles, std::int64_t first,
                        std::int64_t end, ColumnMoments& into) {
  constexpr std::int64_t shift_rows = 8;  // rows the shifts are chosen from
  std::vector<float> shift(channels);
  std::vector<double> first_sum(channels), second_sum(channels), tile_mean(channels), tile_m2(channels);
  std::vector<double> scratch(channels);
  std::vector<unsigned char> holds(channels);
  for (std::int64_t index = first; index < end; ++index) {
    const std::int64_t row_begin = tiles.first_row(index), rows = tiles.first_row(index + 1) - row_begin;
    const double count = static_cast<double>(rows);
    const float* tile = x + row_begin * channels;
    if (index == first) {
      const std::int64_t sample = std::min(rows, shift_rows);
      std::fill(tile_mean.begin(), tile_mean.end(), 0.0);
      for (std::int64_t row = 0; row < sample; ++row) {
        for (std::int64_t k = 0; k < channels; ++k) tile_mean[k] += static_cast<double>(tile[row * channels + k]);
      }
      for (std::int64_t k = 0; k < channels; ++k) tile_mean[k] /= static_cast<double>(sample);
      choose_column_shifts(tile, sample, channels, tile_mean.data(), shift.data(), scratch.data());
    }
    const char* ahead = reinterpret_cast<const char*>(tile + rows * channels);
    const char* const ahead_end = reinterpret_cast<const char*>(x + tiles.first_row(std::min(index + 2, end)) * channels);
    add_short_column_sums(tile, rows, channels, shift.data(), first_sum.data(), second_sum.data(), ahead, ahead_end);
    std::int64_t failures = 0;
    const double inverse = 1 / count;
    for (std::int64_t k = 0; k < channels; ++k) {
      const double s1 = first_sum[k], s2 = second_sum[k], m2 = s2 - s1 * s1 * inverse;
      tile_mean[k] = static_cast<double>(shift[k]) + s1 * inverse;
      tile_m2[k] = m2 < 0 ? 0 : m2;  // rounding only; NaN passes through
      const bool hold = short_sums_hold(s1, s2, count);
      holds[k] = hold;
      failures += !hold;
    }
    for (std::int64_t k = 0; failures > 0 && k < channels; ++k) {
      if (holds[k] != 0) continue;
      const Moments moments = exact_column_moments(tile, rows, channels, k);
      tile_mean[k] = moments.mean;
      tile_m2[k] = moments.m2;
      shift[k] = value_nearest(tile + k, rows, channels, moments.mean);
    }
    if (index == first) {
      choose_column_shifts(tile, std::min(rows, shift_rows), channels, tile_mean.data(), shift.data(), scratch.data());
    }
    into.merge(0, channels, count, tile_mean.data(), tile_m2.data());
    into.count += count;
  }
}

// into[k] += value[k] for the elements of a line, in double.
inline void add_line(double* into, const Floats& value) {
  Doubles low, high;
  widen(value, low, high);
  const Doubles sum_low = load_line(into) + low, sum_high = load_line(into + 8) + high;
  std::memcpy(into, &sum_low, sizeof sum_low);
  std::memcpy(into + 8, &sum_high, sizeof sum_high);
}
inline void add_line(double* into, const Doubles& value) {
  const Doubles sum = load_line(into) + value;
  std::memcpy(into, &sum, sizeof sum);
}

// Adds the rows of row tiles [first, end) to per-channel sums sum_dy[k] of dy and
// sum_dy_centered[k] of dy (x - mean[k]), in memory order, four rows at a time: per line of
// columns the four rows' terms are summed in T, (t0 + t1) + (t2 + t3), and that short partial
// sum is added to the double sums, which then take a quarter of the loads and stores they would
// take row by row. The hardware prefetchers follow the four rows of each tensor (measured on a
// (4096, 1024) f32 input: the pass 1.5x faster than summing bands of 256 columns down a tile
// in double).
//
// f32: each element meets a handful of f32 roundings (the subtraction, the product, two
// additions) before double, a few u of its term |dy| (|x - mean| + u |mean|): within the
// bound's per-element allowance (docs/tolerances.md; the scale of dgamma counts
// |dy| (|xhat| + kappa)), as for the forward's short sums. x is centred on the mean rounded to
// f32, m; x - m is exact for x within a factor two of m (Sterbenz), as all of x is when the
// spread is small next to the mean; and sum dy (x - mean) = sum dy (x - m) + (m - mean) sum dy,
// corrected in double at the end. Columns past the last whole line are summed in double.
template <typename T>
void row_gradient_sums(const T* dy, const T* x, const double* mean, std::int64_t channels,
                       const RowTiles& tiles, std::int64_t first, std::int64_t end,
                       double* sum_dy, double* sum_dy_centered) {
  constexpr std::int64_t width = line_elements<T>;
  const std::int64_t row_begin = tiles.first_row(first), row_end = tiles.first_row(end);
  std::vector<T> centre(channels);
  for (std::int64_t k = 0; k < channels; ++k) centre[k] = static_cast<T>(mean[k]);
  std::vector<double> own_dy(channels, 0.0), own_dy_centered(channels, 0.0);
  const std::int64_t whole = channels / width * width;
  std::int64_t row = row_begin;
  for (; row + 4 <= row_end; row += 4) {
    const T* const gradient = dy + row * channels;
    const T* const in = x + row * channels;
    for (std::int64_t k = 0; k < whole; k += width) {
      const Line<T> m = load_line(centre.data() + k);
      const Line<T> g0 = load_line(gradient + k), g1 = load_line(gradient + channels + k);
      const Line<T> g2 = load_line(gradient + 2 * channels + k), g3 = load_line(gradient + 3 * channels + k);
      const Line<T> d0 = load_line(in + k) - m, d1 = load_line(in + channels + k) - m;
      const Line<T> d2 = load_line(in + 2 * channels + k) - m, d3 = load_line(in + 3 * channels + k) - m;
      add_line(own_dy.data() + k, (g0 + g1) + (g2 + g3));
      add_line(own_dy_centered.data() + k, (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3));
    }
  }
  for (; row < row_end; ++row) {
    for (std::int64_t k = 0; k < whole; k += width) {
      const Line<T> g = load_line(dy + row * channels + k);
      add_line(own_dy.data() + k, g);
      add_line(own_dy_centered.data() + k, g * (load_line(x + row * channels + k) - load_line(centre.data() + k)));
    }
  }
  for (row = row_begin; row < row_end && whole < channels; ++row) {
    for (std::int64_t k = whole; k < channels; ++k) {
      const double g = dy[row * channels + k];
      own_dy[k] += g;
      own_dy_centered[k] += g * (static_cast<double>(x[row * channels + k]) - static_cast<double>(centre[k]));
    }
  }
  for (std::int64_t k = 0; k < channels; ++k) {
    sum_dy[k] += own_dy[k];
    sum_dy_centered[k] += own_dy_centered[k] + (static_cast<double>(centre[k]) - mean[k]) * own_dy[k];
  }
}

// ---------------------------------------------------------------------------------------------
// Writing outputs, optionally with streaming stores

// Stores a whole aligned line with a non-temporal store: it goes to memory without first being
// read into the cache (no read-for-ownership).
inline void stream_line(float* out, const Line<float>& value) {
#if defined(__AVX512F__)
  _mm512_stream_ps(out, (__m512)value);
#elif defined(__AVX__)
  typedef float Half __attribute__((vector_size(32)));
  Half halves[2];
  std::memcpy(halves, &value, sizeof halves);
  _mm256_stream_ps(out, (__m256)halves[0]);
  _mm256_stream_ps(out + 8, (__m256)halves[1]);
#else
  std::memcpy(out, &value, sizeof value);
#endif
}
inline void stream_line(double* out, const Line<double>& value) {
#if defined(__AVX512F__)
  _mm512_stream_pd(out, (__m512d)value);
#elif defined(__AVX__)
  typedef double Half __attribute__((vector_size(32)));
  Half halves[2];
  std::memcpy(halves, &value, sizeof halves);
  _mm256_stream_pd(out, (__m256d)halves[0]);
  _mm256_stream_pd(out + 4, (__m256d)halves[1]);
#else
  std::memcpy(out, &value, sizeof value);
#endif
}

// Makes this thread's streaming stores visible before anyone reads the output. Call once per
// thread at the end of an operation that streamed.
inline void finish_streaming() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// out[k] = element(k) for k in [0, n). Streaming, the whole aligned lines in between are written
// as line(k) (the line of elements from k) with non-temporal stores, the ends element by element.
template <typename T, typename Element, typename LineValue>
inline void store_elements(T* out, std::int64_t n, bool stream, Element&& element, LineValue&& line) {
  std::int64_t k = 0;
  if (stream && reinterpret_cast<std::uintptr_t>(out) % sizeof(T) == 0) {
    for (; k < n && reinterpret_cast<std::uintptr_t>(out + k) % 64 != 0; ++k) out[k] = element(k);
    for (; k + line_elements<T> <= n; k += line_elements<T>) stream_line(out + k, line(k));
  }
  for (; k < n; ++k) out[k] = element(k);
}

// The per-element steps: one coefficient per call (a stretch of one channel, run view) or one
// per element (a stretch of a row, row view).
template <typename T>
inline void scale_shift(const T* in, T* out, std::int64_t n, T scale, T shift, bool stream) {
  const Line<T> scale_line = Line<T>{} + scale, shift_line = Line<T>{} + shift;
  store_elements(out, n, stream, [&](std::int64_t k) { return in[k] * scale + shift; },
                 [&](std::int64_t k) { return load_line(in + k) * scale_line + shift_line; });
}
template <typename T>
inline void scale_shift(const T* in, T* out, std::int64_t n, const T* scale, const T* shift, bool stream) {
  store_elements(out, n, stream, [&](std::int64_t k) { return in[k] * scale[k] + shift[k]; },
                 [&](std::int64_t k) { return load_line(in + k) * load_line(scale + k) + load_line(shift + k); });
}
template <typename T>
inline void gradient(const T* dy, const T* x, T* out, std::int64_t n, T a, T b, T c, bool stream) {
  const Line<T> a_line = Line<T>{} + a, b_line = Line<T>{} + b, c_line = Line<T>{} + c;
  store_elements(out, n, stream, [&](std::int64_t k) { return dy[k] * a + (x[k] * b + c); },
                 [&](std::int64_t k) { return load_line(dy + k) * a_line + (load_line(x + k) * b_line + c_line); });
}
template <typename T>
inline void gradient(const T* dy, const T* x, T* out, std::int64_t n, const T* a, const T* b, const T* c,
                     bool stream) {
  store_elements(out, n, stream, [&](std::int64_t k) { return dy[k] * a[k] + (x[k] * b[k] + c[k]); },
                 [&](std::int64_t k) {
                   return load_line(dy + k) * load_line(a + k) + (load_line(x + k) * load_line(b + k) + load_line(c + k));
                 });
}

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

// y = x * scale[channel] + shift[channel] for the elements [first, end) of the tensor.
template <typename T>
void normalize_elements(const Geometry& g, const T* x, T* y, std::int64_t first, std::int64_t end,
                        const T* scale, const T* shift, bool stream) {
  for_each_stretch(g, first, end - first, y, [&](std::int64_t at, std::int64_t n, std::int64_t index) {
    const std::int64_t element = first + at;
    if (g.by_rows) {
      scale_shift(x + element, y + element, n, scale + index, shift + index, stream);
    } else {
      scale_shift(x + element, y + element, n, scale[index], shift[index], stream);
    }
  });
}

// y = x * scale[k] + shift[k] (column k) for the rows of row tiles [first, end), when the
// output streams. Where every row is whole lines of an aligned y (channels a multiple of 16), a
// tile is taken 16 columns at a time, down its rows, with that band's coefficients in registers
// (rather than read with every element, beside the data streaming through L1), while the next
// tile is requested from memory, a line per line written; otherwise as normalize_elements does.
template <typename T>
void normalize_row_tiles(const Geometry& g, const T* x, T* y, const RowTiles& tiles, std::int64_t first,
                         std::int64_t end, const T* scale, const T* shift, bool stream) {
  const std::int64_t channels = g.channels, width = line_elements<T>;
  const bool whole_lines = channels % width == 0 && reinterpret_cast<std::uintptr_t>(y) % 64 == 0;
  // Rows of up to 1 KiB are walked down their columns, a line of coefficients in registers;
  // wider rows, in memory order (measured: the column walk of 2 KiB rows and more is slower,
  // twice as slow for the 4 KiB rows of a (4096, 1024) input).
  const bool narrow = channels * static_cast<std::int64_t>(sizeof(T)) <= 1024;
  if (!stream || !whole_lines || !narrow) {
    normalize_elements(g, x, y, tiles.first_row(first) * channels, tiles.first_row(end) * channels, scale, shift,
                       stream);
    return;
  }
  for (std::int64_t index = first; index < end; ++index) {
    const std::int64_t row_begin = tiles.first_row(index), row_end = tiles.first_row(index + 1);
    const char* ahead = reinterpret_cast<const char*>(x + row_end * channels);
    const char* const ahead_end = reinterpret_cast<const char*>(x + tiles.first_row(std::min(index + 2, end)) * channels);
    for (std::int64_t column = 0; column < channels; column += width) {
      const Line<T> a = load_line(scale + column), b = load_line(shift + column);
      for (std::int64_t row = row_begin; row < row_end; ++row) {
        if (ahead < ahead_end) {
          __builtin_prefetch(ahead);
          ahead += 64;
        }
        const std::int64_t at = row * channels + column;
        stream_line(y + at, load_line(x + at) * a + b);
      }
    }
  }
}

// The normalize pass of the row view over row tiles [first, end), just after the statistics pass
// read the same rows in the same order. Streamed, it starts with the last rows, an eighth of the
// last-level cache's worth: the statistics pass read them last, so they are still in that cache,
// which a pass in memory order would have evicted by the time it reached them. (Measured: 1.65
// copies' time instead of 1.73 for a 25.7 MB x, little on larger ones; a quarter of the cache
// did no better. docs/benchmarks.md, "Bandwidth of the training forward".)
template <typename T>
void normalize_rows(const Geometry& g, const T* x, T* y, const RowTiles& tiles, std::int64_t first,
                    std::int64_t end, const T* scale, const T* shift, bool stream) {
  std::int64_t split = first;
  if (stream) {
    const std::int64_t bytes_per_tile = tiles.rows_per_tile * g.channels * static_cast<std::int64_t>(sizeof(T));
    split = std::max(first, end - cache_sizes().last_level / 8 / bytes_per_tile);
  }
  normalize_row_tiles(g, x, y, tiles, split, end, scale, shift, stream);
  normalize_row_tiles(g, x, y, tiles, first, split, scale, shift, stream);
}

// dx = dy * a[channel] + x * b[channel] + c[channel] for the elements [first, end).
template <typename T>
void gradient_elements(const Geometry& g, const T* dy, const T* x, T* dx, std::int64_t first,
                       std::int64_t end, const T* a, const T* b, const T* c, bool stream) {
  for_each_stretch(g, first, end - first, dx, [&](std::int64_t at, std::int64_t n, std::int64_t index) {
    const std::int64_t element = first + at;
    if (g.by_rows) {
      gradient(dy + element, x + element, dx + element, n, a + index, b + index, c + index, stream);
    } else {
      gradient(dy + element, x + element, dx + element, n, a[index], b[index], c[index], stream);
    }
  });
}

// The elements of a run-view block, sample by sample: each sample's part of the block is one
// contiguous stretch (whole runs of consecutive channels, or a piece of one channel's run).
template <typename Stretch>
void for_each_block_stretch(const Geometry& g, const RunBlock& block, Stretch&& stretch) {
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    const std::int64_t first = (run * g.channels + block.first_channel) * g.run_length + block.first_position;
    const std::int64_t end = (run * g.channels + block.end_channel - 1) * g.run_length + block.end_position;
    stretch(first, end);
  }
}

template <typename T>
void normalize_block(const Geometry& g, const T* x, T* y, const RunBlock& block, const T* scale,
                     const T* shift, bool stream) {
  for_each_block_stretch(g, block, [&](std::int64_t first, std::int64_t end) {
    normalize_elements(g, x, y, first, end, scale, shift, stream);
  });
}

template <typename T>
void gradient_block(const Geometry& g, const T* dy, const T* x, T* dx, const RunBlock& block,
                    const T* a, const T* b, const T* c, bool stream) {
  for_each_block_stretch(g, block, [&](std::int64_t first, std::int64_t end) {
    gradient_elements(g, dy, x, dx, first, end, a, b, c, stream);
  });
}

// ---------------------------------------------------------------------------------------------
// Per-channel scalars (SPEC.md sections 2 and 3), all in double

inline double clamp_keep_nan(double value, double low, double high) {
  // NaN passes through so that a non-finite channel stays visibly non-finite.
  return value < low ? low : (high < value ? high : value);
}

// The per-channel tensors of a training forward. r and d are NULL for batch norm; the running
// statistics are NULL when batch norm does not track them.
template <typename T>
struct TrainingTensors {
  const T* gamma;
  const T* beta;
  T* save_mean;
  T* save_invstd;
  T* r;
  T* d;
  T* running_mean;
  T* running_var;
};

// y = x * scale + shift for one channel.
struct ChannelAffine {
  double scale, shift;
};

// From channel c's batch moments: writes save_mean, save_invstd, r, d and the running update,
// and returns the channel's y = x * scale + shift.
template <typename T>
ChannelAffine finish_training_channel(const TrainingTensors<T>& t, const Params& params,
                                      std::int64_t c, const Moments& batch) {
  const double mean = batch.mean, var = batch.m2 / batch.count;
  const double sigma_batch = std::sqrt(var + params.eps);
  const double invstd = 1 / sigma_batch;
  const double gamma = t.gamma[c], beta = t.beta[c];
  ChannelAffine affine;
  if (t.r != nullptr) {
    // r and d come from the running statistics before this step updates them.
    const double sigma_running = std::sqrt(static_cast<double>(t.running_var[c]) + params.eps);
    const double r = clamp_keep_nan(sigma_batch / sigma_running, 1 / params.rmax, params.rmax);
    const double d = clamp_keep_nan((mean - t.running_mean[c]) / sigma_running, -params.dmax, params.dmax);
    t.r[c] = static_cast<T>(r);
    t.d[c] = static_cast<T>(d);
    // gamma (xhat r + d) + beta = x (gamma r invstd) + (beta + gamma d - mean gamma r invstd)
    affine.scale = gamma * r * invstd;
    affine.shift = beta + gamma * d - mean * affine.scale;
  } else {
    affine.scale = gamma * invstd;
    affine.shift = beta - mean * affine.scale;
  }
  t.save_mean[c] = static_cast<T>(mean);
  t.save_invstd[c] = static_cast<T>(invstd);
  if (t.running_mean != nullptr) {
    // PyTorch's update: momentum weights the new batch; the running variance is unbiased.
    const double unbiased = var * batch.count / (batch.count - 1);
    t.running_mean[c] = static_cast<T>((1 - params.momentum) * t.running_mean[c] + params.momentum * mean);
    t.running_var[c] = static_cast<T>((1 - params.momentum) * t.running_var[c] + params.momentum * unbiased);
  }
  return affine;
}

// Inference: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
inline ChannelAffine inference_affine(double gamma, double beta, double running_mean,
                                      double running_var, double eps) {
  const double scale = gamma / std::sqrt(running_var + eps);
  return ChannelAffine{scale, beta - running_mean * scale};
}

// Every channel's inference coefficients, laid out for the geometry (set_coefficient).
template <typename T>
struct AffineCoefficients {
  std::vector<T> scale, shift;
};
template <typename T>
AffineCoefficients<T> inference_coefficients(const Geometry& g, const Params& params, const T* gamma, const T* beta,
                                             const T* running_mean, const T* running_var) {
  AffineCoefficients<T> coefficients{std::vector<T>(g.coefficient_count()), std::vector<T>(g.coefficient_count())};
  for (std::int64_t c = 0; c < g.channels; ++c) {
    const ChannelAffine affine = inference_affine(gamma[c], beta[c], running_mean[c], running_var[c], params.eps);
    set_coefficient(g, coefficients.scale.data(), c, affine.scale);
    set_coefficient(g, coefficients.shift.data(), c, affine.shift);
  }
  return coefficients;
}

// The per-channel tensors of a backward pass. r and d are NULL for batch norm.
template <typename T>
struct GradientTensors {
  const T* gamma;
  const T* save_mean;
  const T* save_invstd;
  const T* r;
  const T* d;
  T* dgamma;
  T* dbeta;
};

// dx = dy * a + x * b + c for one channel.
struct ChannelGradient {
  double a, b, c;
};

// From channel c's gradient sums: writes dgamma and dbeta and returns dx's coefficients.
//   dx = gamma r invstd / M (M dy - dbeta - xhat sum(dy xhat)),  xhat = (x - mean) invstd
// with r = 1 for batch norm; renorm's dx is r times batch norm's (r, d are constants).
template <typename T>
ChannelGradient finish_gradient_channel(const GradientTensors<T>& t, std::int64_t c, double count,
                                        const GradientSums& sums) {
  const double mean = t.save_mean[c], invstd = t.save_invstd[c];
  const double r = t.r != nullptr ? static_cast<double>(t.r[c]) : 1.0;
  const double sum_dy_xhat = sums.dy_centered * invstd;
  t.dbeta[c] = static_cast<T>(sums.dy);
  t.dgamma[c] = static_cast<T>(t.r != nullptr ? sum_dy_xhat * r + sums.dy * t.d[c] : sum_dy_xhat);
  ChannelGradient gradient;
  gradient.a = static_cast<double>(t.gamma[c]) * r * invstd;
  gradient.b = -gradient.a * invstd * sum_dy_xhat / count;
  gradient.c = -gradient.a * sums.dy / count - gradient.b * mean;
  return gradient;
}

// ---------------------------------------------------------------------------------------------
// Run view: whole channels, group by group

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
      for (; lines > 0 && at_ < end_; --lines, at_ += 64) __builtin_prefetch(at_, 0, 2);
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

// Training forward of channels [first, end): per group, the moments of its blocks merged in
// order, finish(channel, moments) -> ChannelAffine, then the group normalized while it is still
// in cache. scale and shift receive every channel's coefficients.
//
// When y is streamed (x and y larger than the cache), the statistics pass only reads memory and
// the normalize pass only writes it: one after the other, a core would leave the read bandwidth
// idle half the time and the write bandwidth the other half. So while a group is normalized,
// the next group's x is prefetched, a line for each line of y written, every 256 elements: the
// reads of one group overlap the writes of the one before, as in a copy. (Coarser bursts lose
// the overlap; the groups are sized for two groups' x in L2: `blocks` built with
// tensors_touched = 2.) Prefetching changes no result. Only where runs are whole cache lines:
// where they are not, it was measured slower than none (16x1024x14x14, 784-byte runs: 1.37 ms
// against 1.06; bnh_bench_forward_passes on 16x256x30x30: 2.18 copies against 1.79), and
// where they are, as fast or faster (16x256x56x56: 4.9-5.7 ms against 6.8-7.1).
template <typename T, typename Finish>
void forward_channels(const Geometry& g, const T* x, T* y, const RunBlocks& blocks, std::int64_t first,
                      std::int64_t end, Finish&& finish, T* scale, T* shift, bool stream) {
  constexpr std::int64_t piece = 256;  // elements normalized between two bursts of prefetches
  const bool prefetch = stream && g.run_length * static_cast<std::int64_t>(sizeof(T)) % 64 == 0;
  Moments block_part[max_channels_per_group], channel[max_channels_per_group];
  for (std::int64_t group = first; group < end; group += blocks.channels_per_group) {
    const std::int64_t group_end = std::min(end, group + blocks.channels_per_group);
    std::fill(channel, channel + (group_end - group), Moments{});
    for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
      block_moments(g, x, blocks.block(group, group_end, index), block_part);
      for (std::int64_t k = 0; k < group_end - group; ++k) merge(channel[k], block_part[k]);
    }
    for (std::int64_t c = group; c < group_end; ++c) {
      const ChannelAffine affine = finish(c, channel[c - group]);
      set_coefficient(g, scale, c, affine.scale);
      set_coefficient(g, shift, c, affine.shift);
    }
    if (!prefetch) {
      for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
        normalize_block(g, x, y, blocks.block(group, group_end, index), scale, shift, stream);
      }
      continue;
    }
    GroupPrefetch<T> next(g, x, group_end, std::min(end, group_end + blocks.channels_per_group));
    for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
      for_each_block_stretch(g, blocks.block(group, group_end, index), [&](std::int64_t from, std::int64_t to) {
        for (std::int64_t at = from; at < to; at += piece) {
          const std::int64_t until = std::min(to, at + piece);
          normalize_elements(g, x, y, at, until, scale, shift, stream);
          next.advance((until - at) * static_cast<std::int64_t>(sizeof(T)) / 64);
        }
      });
    }
  }
}

// Backward of channels [first, end), group by group: gradient sums (mean[c] is channel c's saved
// mean), finish(channel, sums) -> ChannelGradient, then dx while the group is in cache.
template <typename T, typename Finish>
void backward_channels(const Geometry& g, const T* dy, const T* x, T* dx, const RunBlocks& blocks,
                       std::int64_t first, std::int64_t end, const double* mean, Finish&& finish,
                       T* a, T* b, T* c, bool stream) {
  GradientSums block_part[max_channels_per_group], channel[max_channels_per_group];
  for (std::int64_t group = first; group < end; group += blocks.channels_per_group) {
    const std::int64_t group_end = std::min(end, group + blocks.channels_per_group);
    std::fill(channel, channel + (group_end - group), GradientSums{});
    for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
      block_gradient_sums(g, dy, x, blocks.block(group, group_end, index), mean + group, block_part);
      for (std::int64_t k = 0; k < group_end - group; ++k) merge(channel[k], block_part[k]);
    }
    for (std::int64_t k = group; k < group_end; ++k) {
      const ChannelGradient coefficients = finish(k, channel[k - group]);
      set_coefficient(g, a, k, coefficients.a);
      set_coefficient(g, b, k, coefficients.b);
      set_coefficient(g, c, k, coefficients.c);
    }
    for (std::int64_t index = 0; index < blocks.blocks_per_group; ++index) {
      gradient_block(g, dy, x, dx, blocks.block(group, group_end, index), a, b, c, stream);
    }
  }
}

// The five operations of SPEC.md for an implementation made of three passes of its own, static
// members of Passes (CRTP): forward_train(desc, params, x, y, TrainingTensors<T>),
// forward_infer(desc, params, x, gamma, beta, running_mean, running_var, y) and
// backward(desc, params, dy, x, dx, GradientTensors<T>). Batch norm and renorm differ only in
// the per-channel tensors they hand over: renorm's r and d, NULL for batch norm.
template <typename Passes>
struct TiledOperations {
  static bool supports(const TensorDesc&) { return true; }

  template <typename T>
  static void bn_forward_train(const TensorDesc& desc, const Params& params, const T* x, const T* gamma,
                               const T* beta, T* y, T* save_mean, T* save_invstd, T* running_mean,
                               T* running_var) {
    Passes::forward_train(desc, params, x, y,
                          TrainingTensors<T>{gamma, beta, save_mean, save_invstd, nullptr, nullptr, running_mean,
                                             running_var});
  }

  template <typename T>
  static void bn_forward_infer(const TensorDesc& desc, const Params& params, const T* x, const T* gamma,
                               const T* beta, const T* running_mean, const T* running_var, T* y) {
    Passes::forward_infer(desc, params, x, gamma, beta, running_mean, running_var, y);
  }

  template <typename T>
  static void bn_backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x, const T* gamma,
                          const T* save_mean, const T* save_invstd, T* dx, T* dgamma, T* dbeta) {
    Passes::backward(desc, params, dy, x, dx,
                     GradientTensors<T>{gamma, save_mean, save_invstd, nullptr, nullptr, dgamma, dbeta});
  }

  template <typename T>
  static void renorm_forward_train(const TensorDesc& desc, const Params& params, const T* x, const T* gamma,
                                   const T* beta, T* y, T* save_mean, T* save_invstd, T* r, T* d,
                                   T* running_mean, T* running_var) {
    Passes::forward_train(desc, params, x, y,
                          TrainingTensors<T>{gamma, beta, save_mean, save_invstd, r, d, running_mean, running_var});
  }

  template <typename T>
  static void renorm_backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x,
                              const T* gamma, const T* save_mean, const T* save_invstd, const T* r, const T* d,
                              T* dx, T* dgamma, T* dbeta) {
    Passes::backward(desc, params, dy, x, dx, GradientTensors<T>{gamma, save_mean, save_invstd, r, d, dgamma, dbeta});
  }
};

}  // namespace bnh::tiles
