// Sums in lanes: a stretch of one channel is summed `lanes` elements at a time, lane l taking
// every lanes-th element, each lane in double; then the lanes in order, then the elements after
// the last whole vector. The order of every addition is fixed by the source (simd.hpp).
#pragma once

#include <cstdint>

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
    for (; i < length; ++i) tail += static_cast<double>(in[i]);
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
      const double deviation = static_cast<double>(in[i]) - shift;
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
      const double gradient = dy[i];
      dy_tail += gradient;
      centered_tail += gradient * (static_cast<double>(x[i]) - mean);
    }
  }
  GradientSums sums() const {
    return GradientSums{sum_lanes(dy_low, dy_high) + dy_tail, sum_lanes(centered_low, centered_high) + centered_tail};
  }
};

// The sums of dy and of dy * (x - m) over stretches of an f32 run-view channel, m its mean
// rounded to f32: four consecutive elements per lane summed in f32, (t0 + t1) + (t2 + t3), and
// those short partial sums added to double lanes, as the row view does and for the same reasons
// (rows.hpp, row_gradient_sums): a handful of f32 roundings per element before double, and
// sum dy (x - mean) = sum dy (x - m) + (m - mean) sum dy corrected in double.
struct ShortGradientLanes {
  Doubles dy_low = {}, dy_high = {}, centered_low = {}, centered_high = {};
  double dy_tail = 0, centered_tail = 0;

  void add(const float* dy, const float* x, std::int64_t length, float centre) {
    const Floats m = broadcast(centre);
    // Locals, so that the sums stay in registers through the loop.
    Doubles g_low = dy_low, g_high = dy_high, c_low = centered_low, c_high = centered_high, low, high;
    std::int64_t i = 0;
    for (; i + 4 * lanes <= length; i += 4 * lanes) {
      const Floats g0 = load_vector(dy + i), g1 = load_vector(dy + i + lanes);
      const Floats g2 = load_vector(dy + i + 2 * lanes), g3 = load_vector(dy + i + 3 * lanes);
      const Floats d0 = load_vector(x + i) - m, d1 = load_vector(x + i + lanes) - m;
      const Floats d2 = load_vector(x + i + 2 * lanes) - m, d3 = load_vector(x + i + 3 * lanes) - m;
      widen((g0 + g1) + (g2 + g3), low, high);
      g_low += low;
      g_high += high;
      widen((g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3), low, high);
      c_low += low;
      c_high += high;
    }
    for (; i + lanes <= length; i += lanes) {
      const Floats g = load_vector(dy + i);
      widen(g, low, high);
      g_low += low;
      g_high += high;
      widen(g * (load_vector(x + i) - m), low, high);
      c_low += low;
      c_high += high;
    }
    dy_low = g_low;
    dy_high = g_high;
    centered_low = c_low;
    centered_high = c_high;
    for (; i < length; ++i) {
      const double gradient = dy[i];
      dy_tail += gradient;
      centered_tail += gradient * (static_cast<double>(x[i]) - static_cast<double>(centre));
    }
  }
  GradientSums sums(double mean, float centre) const {
    const double sum_dy = sum_lanes(dy_low, dy_high) + dy_tail;
    const double centered = sum_lanes(centered_low, centered_high) + centered_tail;
    return GradientSums{sum_dy, centered + (static_cast<double>(centre) - mean) * sum_dy};
  }
};

// Adds the short f32 partial sums of four vectors of deviations, (d0 + d1) + (d2 + d3) and the
// same of their squares, to the double lanes of S1 (first_*) and S2 (second_*).
inline void add_short_sums(const Floats& d0, const Floats& d1, const Floats& d2, const Floats& d3,
                           Doubles& first_low, Doubles& first_high, Doubles& second_low, Doubles& second_high) {
  Doubles low, high;
  widen((d0 + d1) + (d2 + d3), low, high);
  first_low += low;
  first_high += high;
  widen((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3), low, high);
  second_low += low;
  second_high += high;
}

// The sums of d = x - shift and of d^2 over stretches of a run-view channel, in short f32
// partial sums (four consecutive elements per lane, moments.hpp) added to double lanes.
struct ShortDeviationLanes {
  Doubles first_low = {}, first_high = {}, second_low = {}, second_high = {};
  double first_tail = 0, second_tail = 0;

  void add(const float* in, std::int64_t length, float shift) {
    const Floats s = broadcast(shift);
    // Locals, so that the sums stay in registers through the loop.
    Doubles f_low = first_low, f_high = first_high, s_low = second_low, s_high = second_high;
    Doubles low, high;
    std::int64_t i = 0;
    for (; i + 4 * lanes <= length; i += 4 * lanes) {
      add_short_sums(load_vector(in + i) - s, load_vector(in + i + lanes) - s, load_vector(in + i + 2 * lanes) - s,
                     load_vector(in + i + 3 * lanes) - s, f_low, f_high, s_low, s_high);
    }
    if (i + lanes <= length) {  // one to three whole vectors left: one more short partial sum
      Floats d = load_vector(in + i) - s, partial_first = d, partial_second = d * d;
      for (i += lanes; i + lanes <= length; i += lanes) {
        d = load_vector(in + i) - s;
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

}  // namespace bnh::tiles
