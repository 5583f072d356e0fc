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

// The sums of d = x - shift and of d^2 down `strip` consecutive vectors of columns of the `rows`
// rows of an f32, bf16 or f16 tile, from `in` (the tile's first row at the strip's first
// column): the rows are taken four (f32) or eight (bf16, f16) at a time in short f32 partial
// sums, (d0 + d1) + (d2 + d3) and so on, which go to double lanes. Meanwhile as many bytes as
// are summed are requested from [ahead, ahead_end).
template <std::int64_t strip, typename T>
void short_strip_sums(const T* in, std::int64_t rows, std::int64_t channels, const float* shift, double* first,
                      double* second, const char*& ahead, const char* ahead_end) {
  constexpr std::int64_t strip_bytes = strip * lanes * static_cast<std::int64_t>(sizeof(T));
  Floats minus_s[strip];
  WidenedPair sums[strip];
  for (std::int64_t v = 0; v < strip; ++v) minus_s[v] = -load_vector(shift + v * lanes);
  std::int64_t row = 0;
  if constexpr (short_sum_vectors<T> == 8) {
    for (; row + 8 <= rows; row += 8, in += 8 * channels) {
      for (std::int64_t v = 0; v < strip; ++v) {
        Floats d[8];
        for (std::int64_t r = 0; r < 8; ++r) d[r] = deviation(load_widened(in + r * channels + v * lanes), minus_s[v]);
        add_short_sums_of_eight(d, sums[v]);
      }
      prefetch_ahead(ahead, ahead_end, 8 * strip_bytes);
    }
  }
  for (; row + 4 <= rows; row += 4, in += 4 * channels) {
    for (std::int64_t v = 0; v < strip; ++v) {
      const T* at = in + v * lanes;
      add_short_sums(deviation(load_widened(at), minus_s[v]), deviation(load_widened(at + channels), minus_s[v]),
                     deviation(load_widened(at + 2 * channels), minus_s[v]),
                     deviation(load_widened(at + 3 * channels), minus_s[v]), sums[v]);
    }
    prefetch_ahead(ahead, ahead_end, 4 * strip_bytes);
  }
  for (; row < rows; ++row, in += channels) {
    for (std::int64_t v = 0; v < strip; ++v) {
      Doubles low, high;
      widen(deviation(load_widened(in + v * lanes), minus_s[v]), low, high);
      sums[v].first_low += low;
      sums[v].first_high += high;
      sums[v].second_low += low * low;
      sums[v].second_high += high * high;
    }
  }
  for (std::int64_t v = 0; v < strip; ++v) {
    store_vector(first + v * lanes, sums[v].first_low);
    store_vector(first + v * lanes + double_lanes, sums[v].first_high);
    store_vector(second + v * lanes, sums[v].second_low);
    store_vector(second + v * lanes + double_lanes, sums[v].second_high);
  }
}

// Sets first[k] and second[k] to the sums of d = x - shift[k] and of d^2 down column k of the
// `rows` rows of an f32, bf16 or f16 tile (short_strip_sums), read down its columns from cache
// while the bytes [ahead, ahead_end) are requested from memory. The columns go a cache line's
// worth of vectors at a time where vectors are narrower than a line (AVX2, and 16-bit data):
// rows whose length is a multiple of 4 KiB all fall in the same set of the L1 cache, which holds
// only a few of them, so a line must be used whole while it is there. Columns past the last
// whole vector are summed in double.
template <typename T>
void short_column_sums(const T* tile, std::int64_t rows, std::int64_t channels, const float* shift,
                       double* first, double* second, const char*& ahead, const char* ahead_end) {
  constexpr std::int64_t line = std::max<std::int64_t>(1, line_elements<T> / lanes) * lanes;
  std::int64_t column = 0;
  for (; column + line <= channels; column += line) {
    short_strip_sums<line / lanes>(tile + column, rows, channels, shift + column, first + column, second + column,
                                   ahead, ahead_end);
  }
  for (; column + lanes <= channels; column += lanes) {
    short_strip_sums<1>(tile + column, rows, channels, shift + column, first + column, second + column, ahead,
                        ahead_end);
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

// Per column k of the `rows` rows of an f32, bf16 or f16 tile, the value nearest target[k] (first
// of equals); with non-finite data possibly the first row's. `lanes` columns at a time in double,
// the nearest values kept as such (exact: they are values of T), so that every choice is a
// blend: the form with one array per column that compilers vectorize turns the choice into
// masked stores, which are slow on some CPUs.
template <typename T>
void choose_column_shifts(const T* tile, std::int64_t rows, std::int64_t channels, const double* target,
                          float* shift) {
  const auto distance = [](const Doubles& value, const Doubles& to) {
    const Doubles difference = value - to;
    return difference < 0 ? -difference : difference;
  };
  std::int64_t k = 0;
  for (; k + lanes <= channels; k += lanes) {
    Doubles target_low, target_high, best_low, best_high, low, high;
    load_lanes(target + k, target_low, target_high);
    load_lanes(tile + k, best_low, best_high);
    Doubles nearest_low = distance(best_low, target_low), nearest_high = distance(best_high, target_high);
    for (std::int64_t row = 1; row < rows; ++row) {
      load_lanes(tile + row * channels + k, low, high);
      const Doubles here_low = distance(low, target_low), here_high = distance(high, target_high);
      const auto closer_low = here_low < nearest_low, closer_high = here_high < nearest_high;
      nearest_low = closer_low ? here_low : nearest_low;
      nearest_high = closer_high ? here_high : nearest_high;
      best_low = closer_low ? low : best_low;
      best_high = closer_high ? high : best_high;
    }
    for (std::int64_t l = 0; l < double_lanes; ++l) {
      shift[k + l] = static_cast<float>(best_low[l]);
      shift[k + double_lanes + l] = static_cast<float>(best_high[l]);
    }
  }
  for (; k < channels; ++k) shift[k] = value_nearest(tile + k, rows, channels, target[k]);
}

// Merges into `into` the column moments of f32, bf16 or f16 row tiles [first, end) in one pass
// through memory. Per tile, the short f32 partial sums of every column around its shift, and from them
// the tile's moments; a column whose sums do not hold is taken again from the tile, in cache, in
// double, and its shift chosen again. The shifts: of the first tile's values, the one nearest
// its mean, for every tile. (Chosen from fewer rows, around their own mean, a shift could sit
// far enough out that one column in a hundred failed the check on uniform data, and the exact
// path, a walk down a column, is slow.) While a tile is summed (down its columns, from cache),
// the next one is requested from memory, so that the pass over it does not wait.
template <typename T>
void row_moments_one_pass(const T* x, std::int64_t channels, const RowTiles& tiles, std::int64_t first,
                          std::int64_t end, ColumnMoments& into) {
  std::vector<float> shift(channels);
  std::vector<double> first_sum(channels), second_sum(channels), tile_mean(channels), tile_m2(channels);
  std::vector<unsigned char> holds(channels);
  for (std::int64_t index = first; index < end; ++index) {
    const std::int64_t row_begin = tiles.first_row(index), rows = tiles.first_row(index + 1) - row_begin;
    const double count = static_cast<double>(rows);
    const T* tile = x + row_begin * channels;
    if (index == first) {
      std::fill(tile_mean.begin(), tile_mean.end(), 0.0);
      for (std::int64_t row = 0; row < rows; ++row) {
        for (std::int64_t k = 0; k < channels; ++k) tile_mean[k] += static_cast<double>(widened(tile[row * channels + k]));
      }
      for (std::int64_t k = 0; k < channels; ++k) tile_mean[k] /= count;
      choose_column_shifts(tile, rows, channels, tile_mean.data(), shift.data());
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
