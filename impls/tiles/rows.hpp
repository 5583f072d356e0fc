// The row view (NHWC, 2-D): the tensor is rows of C elements, channel c is column c, and a tile is
// a band of whole rows (RowTiles). The statistics and the gradient sums of every column, over a
// range of tiles: the inner loops run along a row, `lanes` columns at a time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "impls/tiles/geometry.hpp"
#include "impls/tiles/lanes.hpp"
#include "impls/tiles/moments.hpp"
#include "impls/tiles/simd.hpp"

namespace bnh::tiles {

// Requests the bytes [ahead, ahead_end) from memory, `bytes` of them per call, so that the pass
// over the next tile does not wait for memory while this one computes from cache.
inline void prefetch_ahead(const char*& ahead, const char* ahead_end, std::int64_t bytes) {
  for (std::int64_t b = 0; b < bytes && ahead < ahead_end; b += cache_line_bytes, ahead += cache_line_bytes) {
    __builtin_prefetch(ahead);
  }
}

// Merges into `into` the column moments of row tiles [first, end) by the corrected two-pass
// algorithm in double. Per tile: a shift per column (the tile's mean), summed row by row in
// memory order; then, from cache, the deviations from it, `lanes` consecutive columns as lanes
// summed down the rows in registers. Columns past the last whole vector take the same steps one
// at a time.
template <typename T>
void row_moments_two_pass(const T* x, std::int64_t channels, const RowTiles& tiles, std::int64_t first,
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

    const char* ahead = reinterpret_cast<const char*>(tile + rows * channels);
    const char* const ahead_end = reinterpret_cast<const char*>(x + tiles.first_row(std::min(index + 2, end)) * channels);
    std::int64_t column = 0;
    for (; column + lanes <= channels; column += lanes) {
      Doubles shift_low, shift_high;
      load_lanes(shift.data() + column, shift_low, shift_high);
      DeviationLanes deviations;
      for (std::int64_t row = 0; row < rows; ++row) {
        deviations.add_lanes(tile + row * channels + column, shift_low, shift_high);
        prefetch_ahead(ahead, ahead_end, cache_line_bytes);
      }
      // Each lane's moments, as shifted_moments takes them, a vector of lanes at a time.
      const Doubles zero = {};
      const Doubles mean_low = shift_low + deviations.first_low / count;
      const Doubles mean_high = shift_high + deviations.first_high / count;
      Doubles m2_low = deviations.second_low - deviations.first_low * deviations.first_low / count;
      Doubles m2_high = deviations.second_high - deviations.first_high * deviations.first_high / count;
      m2_low = m2_low < zero ? zero : m2_low;  // rounding only; NaN passes through
      m2_high = m2_high < zero ? zero : m2_high;
      store_vector(tile_mean.data() + column, mean_low);
      store_vector(tile_mean.data() + column + double_lanes, mean_high);
      store_vector(tile_m2.data() + column, m2_low);
      store_vector(tile_m2.data() + column + double_lanes, m2_high);
    }
    for (; column < channels; ++column) {
      DeviationLanes deviations;
      for (std::int64_t row = 0; row < rows; ++row) deviations.add(tile + row * channels + column, 1, shift[column]);
      const Moments moments = deviations.moments(count, shift[column]);
      tile_mean[column] = moments.mean;
      tile_m2[column] = moments.m2;
    }
    into.merge(count, tile_mean.data(), tile_m2.data());
  }
}

// Column k's moments over the `rows` rows of an f32, bf16 or f16 tile, by the corrected two-pass
// algorithm.
template <typename T>
Moments exact_column_moments(const T* tile, std::int64_t rows, std::int64_t channels, std::int64_t k) {
  const double count = static_cast<double>(rows);
  double sum = 0;
  for (std::int64_t row = 0; row < rows; ++row) sum += static_cast<double>(widened(tile[row * channels + k]));
  const double shift = sum / count;
  double first = 0, second = 0;
  for (std::int64_t row = 0; row < rows; ++row) {
    const double d = static_cast<double>(widened(tile[row * channels + k])) - shift;
    first += d;
    second += d * d;
  }
  return shifted_moments(count, shift, first, second);
}

// Sets first[k] and second[k] to the sums of d = x - shift[k] and of d^2 down column k of the
// `rows` rows of an f32, bf16 or f16 tile. `lanes` columns at a time, the rows are taken four
// (f32) or eight (bf16, f16) at a time in short f32 partial sums, (d0 + d1) + (d2 + d3) and
// so on, which go to double lanes held in registers. The
// tile is read down its columns (from cache); meanwhile the bytes [ahead, ahead_end) are
// requested from memory, as many as are summed. Columns past the last whole vector are summed in
// double.
template <typename T>
void short_column_sums(const T* tile, std::int64_t rows, std::int64_t channels, const float* shift,
                       double* first, double* second, const char*& ahead, const char* ahead_end) {
  std::int64_t column = 0;
  for (; column + lanes <= channels; column += lanes) {
    const Floats minus_s = -load_vector(shift + column);
    WidenedPair sums;
    const T* in = tile + column;
    std::int64_t row = 0;
    if constexpr (short_sum_vectors<T> == 8) {
      for (; row + 8 <= rows; row += 8, in += 8 * channels) {
        Floats d[8];
        for (std::int64_t r = 0; r < 8; ++r) d[r] = deviation(load_widened(in + r * channels), minus_s);
        add_short_sums_of_eight(d, sums);
        prefetch_ahead(ahead, ahead_end, 8 * lanes * static_cast<std::int64_t>(sizeof(T)));
      }
    }
    for (; row + 4 <= rows; row += 4, in += 4 * channels) {
      add_short_sums(deviation(load_widened(in), minus_s), deviation(load_widened(in + channels), minus_s),
                     deviation(load_widened(in + 2 * channels), minus_s),
                     deviation(load_widened(in + 3 * channels), minus_s), sums);
      prefetch_ahead(ahead, ahead_end, 4 * lanes * static_cast<std::int64_t>(sizeof(T)));
    }
    for (; row < rows; ++row, in += channels) {
      Doubles low, high;
      widen(deviation(load_widened(in), minus_s), low, high);
      sums.first_low += low;
      sums.first_high += high;
      sums.second_low += low * low;
      sums.second_high += high * high;
    }
    store_vector(first + column, sums.first_low);
    store_vector(first + column + double_lanes, sums.first_high);
    store_vector(second + column, sums.second_low);
    store_vector(second + column + double_lanes, sums.second_high);
  }
  for (; column < channels; ++column) {
    double f = 0, q = 0;
    for (std::int64_t row = 0; row < rows; ++row) {
      const double d = static_cast<double>(widened(tile[row * channels + column])) - static_cast<double>(shift[column]);
      f += d;
      q += d * d;
    }
    first[column] = f;
    second[column] = q;
  }
}

// Per column k of the first `rows` rows of an f32, bf16 or f16 tile, the value nearest target[k]
// (first of equals); with non-finite data possibly the first row's. distance is scratch.
template <typename T>
void choose_column_shifts(const T* tile, std::int64_t rows, std::int64_t channels, const double* __restrict target,
                          float* __restrict shift, double* __restrict distance) {
  for (std::int64_t k = 0; k < channels; ++k) {
    shift[k] = widened(tile[k]);
    distance[k] = std::fabs(static_cast<double>(shift[k]) - target[k]);
  }
  for (std::int64_t row = 1; row < rows; ++row) {
    const T* __restrict in = tile + row * channels;
    for (std::int64_t k = 0; k < channels; ++k) {
      const float value = widened(in[k]);
      const double here = std::fabs(static_cast<double>(value) - target[k]);
      const bool closer = here < distance[k];
      distance[k] = closer ? here : distance[k];
      shift[k] = closer ? value : shift[k];
    }
  }
}

// Merges into `into` the column moments of f32, bf16 or f16 row tiles [first, end) in one pass
// through memory. Per tile, the short f32 partial sums of every column around its shift, and from them
// the tile's moments; a column whose sums do not hold is taken again from the tile, in cache, in
// double, and its shift chosen again. The shifts: for the first tile, of its first rows the
// value nearest their mean; for the tiles after it, of the same rows the value nearest the first
// tile's mean. While a tile is summed (down its columns, from cache), the next one is requested
// from memory, so that the pass over it does not wait.
template <typename T>
void row_moments_one_pass(const T* x, std::int64_t channels, const RowTiles& tiles, std::int64_t first,
                          std::int64_t end, ColumnMoments& into) {
  constexpr std::int64_t shift_rows = 8;  // rows the shifts are chosen from
  std::vector<float> shift(channels);
  std::vector<double> first_sum(channels), second_sum(channels), tile_mean(channels), tile_m2(channels);
  std::vector<double> scratch(channels);
  std::vector<unsigned char> holds(channels);
  for (std::int64_t index = first; index < end; ++index) {
    const std::int64_t row_begin = tiles.first_row(index), rows = tiles.first_row(index + 1) - row_begin;
    const double count = static_cast<double>(rows);
    const T* tile = x + row_begin * channels;
    if (index == first) {
      const std::int64_t sample = std::min(rows, shift_rows);
      std::fill(tile_mean.begin(), tile_mean.end(), 0.0);
      for (std::int64_t row = 0; row < sample; ++row) {
        for (std::int64_t k = 0; k < channels; ++k) tile_mean[k] += static_cast<double>(widened(tile[row * channels + k]));
      }
      for (std::int64_t k = 0; k < channels; ++k) tile_mean[k] /= static_cast<double>(sample);
      choose_column_shifts(tile, sample, channels, tile_mean.data(), shift.data(), scratch.data());
    }
    const char* ahead = reinterpret_cast<const char*>(tile + rows * channels);
    const char* const ahead_end = reinterpret_cast<const char*>(x + tiles.first_row(std::min(index + 2, end)) * channels);
    short_column_sums(tile, rows, channels, shift.data(), first_sum.data(), second_sum.data(), ahead, ahead_end);
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
    into.merge(count, tile_mean.data(), tile_m2.data());
  }
}

// f32, bf16 and f16 in one pass through memory, f64 in two over each tile in cache.
template <typename T>
void row_moments(const T* x, std::int64_t channels, const RowTiles& tiles, std::int64_t first, std::int64_t end,
                 ColumnMoments& into) {
  if constexpr (std::is_same_v<T, double>) {
    row_moments_two_pass(x, channels, tiles, first, end, into);
  } else {
    row_moments_one_pass(x, channels, tiles, first, end, into);
  }
}

// Adds the rows of row tiles [first, end) to per-channel sums sum_dy[k] of dy and
// sum_dy_centered[k] of dy (x - mean[k]), in memory order, four rows at a time: per vector of
// columns the four rows' terms are summed in Compute<T> (f32 for bf16 and f16 data),
// (t0 + t1) + (t2 + t3), and that short partial
// sum is added to the double sums, which then take a quarter of the loads and stores they would
// take row by row. The hardware prefetchers follow the four rows of each tensor; this measured
// faster than summing bands of columns down a tile in double (docs/benchmarks.md, "Kernel
// measurements").
//
// f32 (and bf16, f16): each element meets a handful of f32 roundings (the subtraction, the product, two
// additions) before double, a few u of its term |dy| (|x - mean| + u |mean|): within the
// bound's per-element allowance (docs/tolerances.md; the scale of dgamma counts
// |dy| (|xhat| + kappa)), as for the forward's short sums. x is centred on the mean rounded to
// f32, m; x - m is exact for x within a factor two of m (Sterbenz), as all of x is when the
// spread is small next to the mean; and sum dy (x - mean) = sum dy (x - m) + (m - mean) sum dy,
// corrected in double at the end. Columns past the last whole vector are summed in double.
template <typename T>
void row_gradient_sums(const T* dy, const T* x, const double* mean, std::int64_t channels,
                       const RowTiles& tiles, std::int64_t first, std::int64_t end,
                       double* sum_dy, double* sum_dy_centered) {
  using C = Compute<T>;
  constexpr std::int64_t width = vector_elements<C>;
  const std::int64_t row_begin = tiles.first_row(first), row_end = tiles.first_row(end);
  std::vector<C> centre(channels);
  for (std::int64_t k = 0; k < channels; ++k) centre[k] = static_cast<C>(mean[k]);
  std::vector<double> own_dy(channels, 0.0), own_dy_centered(channels, 0.0);
  const std::int64_t whole = channels / width * width;
  std::int64_t row = row_begin;
  for (; row + 4 <= row_end; row += 4) {
    const T* const gradient = dy + row * channels;
    const T* const in = x + row * channels;
    for (std::int64_t k = 0; k < whole; k += width) {
      const Vector<C> m = load_vector(centre.data() + k);
      const Vector<C> g0 = load_widened(gradient + k), g1 = load_widened(gradient + channels + k);
      const Vector<C> g2 = load_widened(gradient + 2 * channels + k), g3 = load_widened(gradient + 3 * channels + k);
      const Vector<C> d0 = load_widened(in + k) - m, d1 = load_widened(in + channels + k) - m;
      const Vector<C> d2 = load_widened(in + 2 * channels + k) - m, d3 = load_widened(in + 3 * channels + k) - m;
      add_to_doubles(own_dy.data() + k, (g0 + g1) + (g2 + g3));
      add_to_doubles(own_dy_centered.data() + k, (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3));
    }
  }
  for (; row < row_end; ++row) {
    for (std::int64_t k = 0; k < whole; k += width) {
      const Vector<C> g = load_widened(dy + row * channels + k);
      add_to_doubles(own_dy.data() + k, g);
      add_to_doubles(own_dy_centered.data() + k, g * (load_widened(x + row * channels + k) - load_vector(centre.data() + k)));
    }
  }
  for (row = row_begin; row < row_end && whole < channels; ++row) {
    for (std::int64_t k = whole; k < channels; ++k) {
      const double g = widened(dy[row * channels + k]);
      own_dy[k] += g;
      own_dy_centered[k] += g * (static_cast<double>(widened(x[row * channels + k])) - static_cast<double>(centre[k]));
    }
  }
  for (std::int64_t k = 0; k < channels; ++k) {
    sum_dy[k] += own_dy[k];
    sum_dy_centered[k] += own_dy_centered[k] + (static_cast<double>(centre[k]) - mean[k]) * own_dy[k];
  }
}

}  // namespace bnh::tiles
