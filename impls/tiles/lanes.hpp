// Sums in lanes: a stretch of one channel is summed `lanes` elements at a time, lane l taking
// every lanes-th element, each lane in double; then the lanes in order, then the elements after
// the last whole vector. The order of every addition is fixed by the source (simd.hpp). bf16 and
// f16 data are read widened to f32 (conversions.hpp) and summed as f32 data is.
#pragma once

#include <cstdint>

#include "impls/tiles/conversions.hpp"
#include "impls/tiles/moments.hpp"
#include "impls/tiles/simd.hpp"

namespace bnh::tiles {

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
    for (; i < length; ++i) tail += widened(in[i]);
  }
  double total() const { return sum_lanes(low, high) + tail; }
};

// The sums of d = x - shift and of d^2, in double lanes.
struct DeviationLanes {
  Doubles first_low = {}, first_high = {}, second_low = {}, second_high = {};
  double first_tail = 0, second_tail = 0;

  // Elements p[0, lanes), one per lane, each with the shift of its lane.
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
    const Doubles shift_vector = broadcast(shift);
    std::int64_t i = 0;
    for (; i + lanes <= length; i += lanes) add_lanes(in + i, shift_vector, shift_vector);
    for (; i < length; ++i) {
      const double deviation = widened(in[i]) - shift;
      first_tail += deviation;
      second_tail += deviation * deviation;
    }
  }

  // The moments of the `count` elements added, corrected for the shift's distance from their mean.
  Moments moments(double count, double shift) const {
    return shifted_moments(count, shift, sum_lanes(first_low, first_high) + first_tail,
                           sum_lanes(second_low, second_high) + second_tail);
  }
};

// The sums of dy and of dy * (x - mean), in double lanes.
struct GradientLanes {
  Doubles dy_low = {}, dy_high = {}, centered_low = {}, centered_high = {};
  double dy_tail = 0, centered_tail = 0;

  template <typename T>
  void add(const T* dy, const T* x, std::int64_t length, double mean) {
    const Doubles mean_vector = broadcast(mean);
    Doubles gradient_low, gradient_high, low, high;
    std::int64_t i = 0;
    for (; i + lanes <= length; i += lanes) {
      load_lanes(dy + i, gradient_low, gradient_high);
      load_lanes(x + i, low, high);
      dy_low += gradient_low;
      dy_high += gradient_high;
      centered_low += gradient_low * (low - mean_vector);
      centered_high += gradient_high * (high - mean_vector);
    }
    for (; i < length; ++i) {
      const double gradient = widened(dy[i]);
      dy_tail += gradient;
      centered_tail += gradient * (widened(x[i]) - mean);
    }
  }
  GradientSums sums() const {
    return GradientSums{sum_lanes(dy_low, dy_high) + dy_tail, sum_lanes(centered_low, centered_high) + centered_tail};
  }
};

// Two sums in double lanes, S1 (first) and S2 (second), fed with short f32 partial sums as
// vectors of floats and, past the last whole vector, element by element in double.
struct WidenedPair {
  Doubles first_low = {}, first_high = {}, second_low = {}, second_high = {};
  double first_tail = 0, second_tail = 0;

  void add(const Floats& first, const Floats& second) {
    Doubles low, high;
    widen(first, low, high);
    first_low += low;
    first_high += high;
    widen(second, low, high);
    second_low += low;
    second_high += high;
  }
  void add_tail(double first, double second) {
    first_tail += first;
    second_tail += second;
  }
  double first() const { return sum_lanes(first_low, first_high) + first_tail; }
  double second() const { return sum_lanes(second_low, second_high) + second_tail; }
};

// Adds the short f32 partial sums of four vectors of deviations, (d0 + d1) + (d2 + d3) and the
// same of their squares, to S1 and S2.
inline void add_short_sums(const Floats& d0, const Floats& d1, const Floats& d2, const Floats& d3, WidenedPair& sums) {
  sums.add((d0 + d1) + (d2 + d3), (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3));
}

// The same of eight vectors, pairwise: ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7)).
inline void add_short_sums_of_eight(const Floats (&d)[8], WidenedPair& sums) {
  const Floats first = ((d[0] + d[1]) + (d[2] + d[3])) + ((d[4] + d[5]) + (d[6] + d[7]));
  const Floats second = ((d[0] * d[0] + d[1] * d[1]) + (d[2] * d[2] + d[3] * d[3])) +
                        ((d[4] * d[4] + d[5] * d[5]) + (d[6] * d[6] + d[7] * d[7]));
  sums.add(first, second);
}

// Vectors (run view) or rows (row view) per short partial sum of the statistics: eight for bf16
// and f16, whose conversions leave each element's work heavier, so that the widening of the
// partial sums to double is spread over twice the elements; four for f32. The run view's
// gradient sums take as many. Either is a handful of f32 roundings per element
// (moments.hpp).
template <typename T>
inline constexpr std::int64_t short_sum_vectors = is_reduced_v<T> ? 8 : 4;

// The sums of d = x - shift (first) and of d^2 (second) over stretches of an f32 run-view
// channel (f32, bf16 or f16 data), in short f32 partial sums of short_sum_vectors<T> vectors
// (moments.hpp): four consecutive elements per lane, or for 16-bit data eight of each 8 * lanes
// elements, summed pairwise.
struct ShortDeviationLanes : WidenedPair {
  template <typename T>
  void add(const T* in, std::int64_t length, float shift) {
    const Floats minus_s = -broadcast(shift);
    WidenedPair sums = *this;  // a local, so that the sums stay in registers through the loop
    std::int64_t i = 0;
    if constexpr (short_sum_vectors<T> == 8) {
      for (; i + 8 * lanes <= length; i += 8 * lanes) {
        Floats d[8];
        for (std::int64_t v = 0; v < 8; v += 2) load_widened_pair(in + i + v * lanes, d[v], d[v + 1]);
        for (Floats& value : d) value = deviation(value, minus_s);
        add_short_sums_of_eight(d, sums);
      }
    }
    for (; i + 4 * lanes <= length; i += 4 * lanes) {
      add_short_sums(deviation(load_widened(in + i), minus_s), deviation(load_widened(in + i + lanes), minus_s),
                     deviation(load_widened(in + i + 2 * lanes), minus_s),
                     deviation(load_widened(in + i + 3 * lanes), minus_s), sums);
    }
    if (i + lanes <= length) {  // one to three whole vectors left: one more short partial sum
      Floats d = deviation(load_widened(in + i), minus_s), partial_first = d, partial_second = d * d;
      for (i += lanes; i + lanes <= length; i += lanes) {
        d = deviation(load_widened(in + i), minus_s);
        partial_first += d;
        partial_second += d * d;
      }
      sums.add(partial_first, partial_second);
    }
    for (; i < length; ++i) {
      const double d = static_cast<double>(widened(in[i])) - static_cast<double>(shift);
      sums.add_tail(d, d * d);
    }
    static_cast<WidenedPair&>(*this) = sums;
  }
};

// The sums of dy (first) and of dy * (x - m) (second) over stretches of a run-view channel of
// f32, bf16 or f16 data, m its mean rounded to f32: short f32 partial sums of
// short_sum_vectors<T> vectors, (t0 + t1) + (t2 + t3) and so on, as the row view does and for the
// same reasons (rows.hpp, row_gradient_sums): a handful of f32 roundings per element before
// double, and sum dy (x - mean) = sum dy (x - m) + (m - mean) sum dy corrected in double.
struct ShortGradientLanes : WidenedPair {
  template <typename T>
  void add(const T* dy, const T* x, std::int64_t length, float centre) {
    const Floats minus_m = -broadcast(centre);
    WidenedPair sums = *this;  // a local, so that the sums stay in registers through the loop
    std::int64_t i = 0;
    if constexpr (short_sum_vectors<T> == 8) {
      for (; i + 8 * lanes <= length; i += 8 * lanes) {
        Floats g[8], d[8];
        for (std::int64_t v = 0; v < 8; v += 2) {
          load_widened_pair(dy + i + v * lanes, g[v], g[v + 1]);
          load_widened_pair(x + i + v * lanes, d[v], d[v + 1]);
        }
        for (Floats& value : d) value = deviation(value, minus_m);
        const Floats first = ((g[0] + g[1]) + (g[2] + g[3])) + ((g[4] + g[5]) + (g[6] + g[7]));
        const Floats second = ((g[0] * d[0] + g[1] * d[1]) + (g[2] * d[2] + g[3] * d[3])) +
                              ((g[4] * d[4] + g[5] * d[5]) + (g[6] * d[6] + g[7] * d[7]));
        sums.add(first, second);
      }
    }
    for (; i + 4 * lanes <= length; i += 4 * lanes) {
      const Floats g0 = load_widened(dy + i), g1 = load_widened(dy + i + lanes);
      const Floats g2 = load_widened(dy + i + 2 * lanes), g3 = load_widened(dy + i + 3 * lanes);
      const Floats d0 = deviation(load_widened(x + i), minus_m), d1 = deviation(load_widened(x + i + lanes), minus_m);
      const Floats d2 = deviation(load_widened(x + i + 2 * lanes), minus_m);
      const Floats d3 = deviation(load_widened(x + i + 3 * lanes), minus_m);
      sums.add((g0 + g1) + (g2 + g3), (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3));
    }
    for (; i + lanes <= length; i += lanes) {
      const Floats g = load_widened(dy + i);
      sums.add(g, g * deviation(load_widened(x + i), minus_m));
    }
    for (; i < length; ++i) {
      const double gradient = widened(dy[i]);
      sums.add_tail(gradient, gradient * (static_cast<double>(widened(x[i])) - static_cast<double>(centre)));
    }
    static_cast<WidenedPair&>(*this) = sums;
  }
  GradientSums sums(double mean, float centre) const {
    const double sum_dy = first();
    return GradientSums{sum_dy, second() + (static_cast<double>(centre) - mean) * sum_dy};
  }
};

}  // namespace bnh::tiles
