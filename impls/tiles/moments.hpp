// Moments (count, mean, sum of squared deviations) and gradient sums of pieces of a channel, and
// how pieces (blocks, tiles, threads' shares) are combined: Chan's pairwise update.
//
// Accuracy (docs/tolerances.md): moments are sums of d = x - shift and of d^2 around a per-channel
// shift near the mean, corrected for the shift's distance from the mean (the corrected two-pass
// algorithm).
//   - f64: two passes over data that sits in cache, the mean as the shift, the sums in double.
//   - f32, bf16 and f16: one pass through memory, in short f32 partial sums, see below (bf16
//     and f16 read widened to f32, exactly: the same sums as f32 data of the same values).
// Gradient sums are accumulated in double; f32 ones from short f32 partial sums of four terms
// (run view: ShortGradientLanes; row view: row_gradient_sums, which gives the reasons).
//
// f32 moments in one pass. Each channel (or row-view column) has a shift s: one of its own values,
// near the mean of the first few (row view: of the first tile's rows). Then, per vector, d = x - s
// is formed in f32, and four consecutive vectors (run view: four consecutive elements of each lane;
// row view: four consecutive rows) are summed in f32, d and d^2 alike, as (d0 + d1) + (d2 + d3);
// each such partial sum goes to double lanes, where the rest of the sum is accumulated as in the
// two-pass code. An element's d passes through at most four f32 roundings (the subtraction, the
// square, two additions) before it reaches double, never a long f32 run. Both views sum eight
// vectors (rows) of bf16 and f16 data the same way, pairwise, ((d0 + d1) + (d2 + d3)) + (...): one
// addition, hence one rounding, more (five), and the same bound below.
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
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "impls/tiles/conversions.hpp"

namespace bnh::tiles {

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

  // Merges (Chan's update, column by column) a part of `part_count` rows whose values start at
  // part_mean and part_m2, and counts its rows.
  void merge(double part_count, const double* part_mean, const double* part_m2) {
    if (part_count == 0) return;
    const std::int64_t width = static_cast<std::int64_t>(mean.size());
    double* __restrict own_mean = mean.data();
    double* __restrict own_m2 = m2.data();
    if (count == 0) {
      std::copy(part_mean, part_mean + width, own_mean);
      std::copy(part_m2, part_m2 + width, own_m2);
    } else {
      const double total = count + part_count;
      const double part_weight = part_count / total, cross_weight = count * part_count / total;
      for (std::int64_t k = 0; k < width; ++k) {
        const double delta = part_mean[k] - own_mean[k];
        own_mean[k] += delta * part_weight;
        own_m2[k] += part_m2[k] + delta * delta * cross_weight;
      }
    }
    count += part_count;
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

// Moments from S1 = sum (x - shift) and S2 = sum (x - shift)^2: m2 = S2 - S1^2 / count.
inline Moments shifted_moments(double count, double shift, double first, double second) {
  Moments result;
  result.count = count;
  result.mean = shift + first / count;
  result.m2 = second - first * first / count;
  if (result.m2 < 0) result.m2 = 0;  // rounding only; NaN passes through
  return result;
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

// Of in[0, n) (n >= 1, elements `stride` apart; f32, bf16 or f16), the value nearest `target`;
// with non-finite data, possibly in[0] (the sums taken around it then do not hold, and the exact
// path runs).
template <typename T>
float value_nearest(const T* in, std::int64_t n, std::int64_t stride, double target) {
  float best = widened(in[0]);
  double distance = std::fabs(static_cast<double>(best) - target);
  for (std::int64_t i = 1; i < n; ++i) {
    const float value = widened(in[i * stride]);
    const double here = std::fabs(static_cast<double>(value) - target);
    if (here < distance) {
      distance = here;
      best = value;
    }
  }
  return best;
}

// Of in[0, n) (n >= 1, elements `stride` apart), the value nearest the mean of them.
template <typename T>
float value_near_mean(const T* in, std::int64_t n, std::int64_t stride = 1) {
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(widened(in[i * stride]));
  return value_nearest(in, n, stride, sum / static_cast<double>(n));
}

}  // namespace bnh::tiles
