#include "properties/generators.hpp"
#include "properties/spec_choices.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <tuple>
#include <vector>

namespace bnh {

namespace {

// The bits of the data format that shape a regime: its digits (the significand, implicit bit
// included) and whether it is f16, whose range ends at 65504.
struct DataFormat {
  int digits;
  bool f16;
  explicit DataFormat(DType dtype) : digits(format_of(dtype).digits), f16(dtype == DType::f16) {}
  bool wide() const { return digits > 24; }  // f64
  double unit_in_last_place() const { return std::ldexp(1.0, 1 - digits); }  // relative, at 1
};

// Per-channel draws of one regime. `scale` of the data and of dy are chosen per channel.
class DataMaker {
 public:
  DataMaker(const CaseSpec& spec) : spec_(spec), format_(spec.desc.dtype), engine_(spec.data_seed * 0x9e3779b97f4a7c15ULL + 1) {}

  double uniform(double low, double high) { return std::uniform_real_distribution<double>(low, high)(engine_); }
  double normal() { return normal_(engine_); }
  std::int64_t integer(std::int64_t low, std::int64_t high) {
    return std::uniform_int_distribution<std::int64_t>(low, high)(engine_);
  }
  double log_uniform(double low_exponent, double high_exponent) {
    return std::pow(10.0, uniform(low_exponent, high_exponent));
  }
  double sign() { return integer(0, 1) != 0 ? 1.0 : -1.0; }

  // The M values of one channel, in logical (sample, position) order; make_case rounds them to
  // the data dtype.
  std::vector<double> channel(std::int64_t count, std::int64_t c) {
    const DType dtype = spec_.desc.dtype;
    const bool f32 = dtype == DType::f32;
    std::vector<double> values(count);
    switch (spec_.regime) {
      case Regime::exact_statistics: {
        // Mean and deviation are small multiples of 1/4; pairs +a, -a (one value at the mean
        // when M is odd) make the mean exact and every partial sum representable. |x| <= 10 in
        // quarters takes at most 6 significant bits: exact in bf16 and f16 too, as is the mean
        // in any statistics dtype.
        const double mean = static_cast<double>(integer(-32, 32)) / 4;
        for (std::int64_t i = 0; i + 1 < count; i += 2) {
          const double a = static_cast<double>(integer(0, 8)) / 4;
          values[i] = mean + a;
          values[i + 1] = mean - a;
        }
        if (count % 2 != 0) values[count - 1] = mean;
        std::shuffle(values.begin(), values.end(), engine_);
        break;
      }
      case Regime::standard_normal:
        for (auto& v : values) v = normal();
        break;
      case Regime::large_mean: {
        // kappa = mean / spread up to 1e4 (f32) or 1e8 (f64); in 16 bits as far as the spread
        // stays a few units in the last place of the mean: 2^(digits - 2), 64 in bf16 (mean 5,
        // spread 0.1 is the one-pass variance's published NaN) and 512 in f16.
        const double spread = std::ldexp(1.0, static_cast<int>(integer(-6, 6)));
        const double kappa = is_reduced(dtype) ? std::pow(10.0, uniform(0.5, (format_.digits - 2) * std::log10(2.0)))
                                               : log_uniform(1, f32 ? 4 : 8);
        const double mean = sign() * spread * kappa;
        for (auto& v : values) v = mean + spread * normal();
        break;
      }
      case Regime::near_constant: {
        // A few units in the last place of the mean.
        const double mean = sign() * log_uniform(-2, 3);
        const double ulp = mean * format_.unit_in_last_place();
        for (auto& v : values) v = mean + ulp * static_cast<double>(integer(-3, 3));
        break;
      }
      case Regime::constant_channels: {
        const double value = static_cast<double>(integer(-20, 20)) / 8;
        const bool constant = c % 2 == 0;
        for (auto& v : values) v = constant ? value : value + normal();
        break;
      }
      case Regime::mixed_magnitudes: {
        // f16 spans 1e-3 to 1e3 times a few: its range ends at 65504.
        const double decades = format_.wide() ? 30 : format_.f16 ? 3 : 6;
        const double magnitude = log_uniform(-decades, decades);
        const double offset = normal();
        for (auto& v : values) v = magnitude * (offset + normal());
        break;
      }
      case Regime::heavy_tails:
        for (auto& v : values) v = normal() / std::max(std::fabs(normal()), 1e-3);
        break;
      case Regime::huge: {
        // Squares near 1e36 (f32 and bf16: an M-term f32 sum of them overflows) or 1e300 (f64:
        // the double sum stays just finite for the sizes generated). f16: from 30, where a sum
        // of a few dozen squares passes 65504 (f16's var_sum overflow) though f32 holds it
        // easily, to 2e4, near the top of f16's range.
        const double magnitude = format_.f16 ? log_uniform(1.5, 4.3) : format_.wide() ? 1e150 : 1e18;
        for (auto& v : values) v = magnitude * std::clamp(normal(), -1.5, 1.5);
        break;
      }
      case Regime::tiny: {
        // Subnormal in the data dtype: spacings 1.4e-45 (f32), 9.2e-41 (bf16), 6e-8 (f16).
        const double magnitude = format_.wide() ? 1e-312 : format_.f16 ? 1e-7 : dtype == DType::bf16 ? 1e-39 : 1e-41;
        for (auto& v : values) v = magnitude * static_cast<double>(integer(-50, 50));
        break;
      }
    }
    return values;
  }

  // dy: low-bit values in the exact regime, otherwise normal; one channel in eight all zero.
  double gradient(std::int64_t c) {
    if (c % 8 == 7) return 0;
    if (spec_.regime == Regime::exact_statistics) return static_cast<double>(integer(-8, 8)) / 8;
    return normal();
  }

 private:
  const CaseSpec& spec_;
  DataFormat format_;
  std::mt19937_64 engine_;
  std::normal_distribution<double> normal_;
};

// The exact regime's values are multiples of 1/4 with |x| <= 10 and |x - mean| <= 2. A partial
// sum of x is a multiple of 1/4 up to 10 M, and one of squared deviations a multiple of 1/16 up
// to 4 M: both are representable, in any order, while 64 M fits the significand (M <= 2^18 in
// f32, and in bf16 and f16, whose sums are f32's or wider). Past that an f32 sum rounds like any
// other and the accumulation bound applies.
bool sums_exact(const TensorDesc& desc) {
  const double significand = desc.dtype == DType::f64 ? 0x1p53 : 0x1p24;
  return 64 * static_cast<double>(desc.per_channel()) <= significand;
}

}  // namespace

Case make_case(const CaseSpec& spec) {
  const TensorDesc& desc = spec.desc;
  Case result;
  result.desc = desc;
  result.params.eps = spec.eps;
  result.params.momentum = spec.momentum;
  result.params.rmax = spec.rmax;
  result.params.dmax = spec.dmax;
  // A shard's own mean is not one of the pairs' (they are shuffled across the batch), so a split
  // across ranks merges inexact shard moments: the general bound applies, not the exact one.
  const auto filled = std::count_if(spec.shards.begin(), spec.shards.end(), [](std::int64_t n) { return n > 0; });
  result.exact_statistics = spec.regime == Regime::exact_statistics && sums_exact(desc) && filled <= 1;
  result.origin = spec.to_string();
  result.shards = spec.shards;
  result.x.resize(desc.elements());
  result.dy.resize(desc.elements());
  result.gamma.resize(desc.c);
  result.beta.resize(desc.c);
  result.running_mean.resize(desc.c);
  result.running_var.resize(desc.c);

  DataMaker maker(spec);
  const std::int64_t count = desc.per_channel();
  for (std::int64_t c = 0; c < desc.c; ++c) {
    const auto values = maker.channel(count, c);
    double sum = 0;
    for (std::int64_t n = 0; n < desc.n; ++n) {
      for (std::int64_t s = 0; s < desc.spatial(); ++s) {
        const std::int64_t i = desc.offset(n, c, s);
        result.x[i] = round_to_dtype(values[n * desc.spatial() + s], desc.dtype);
        result.dy[i] = round_to_dtype(maker.gradient(c), desc.dtype);
        sum += result.x[i];
      }
    }
    // gamma: 1 or a few-bit value in [-2, 2], zero included; beta likewise: exact in every
    // statistics dtype.
    if (spec.gamma == GammaKind::unit) {
      result.gamma[c] = 1;
      result.beta[c] = 0;
    } else {
      result.gamma[c] = static_cast<double>(maker.integer(-8, 8)) / 4;
      result.beta[c] = static_cast<double>(maker.integer(-8, 8)) / 4;
    }
    // Running statistics near the batch's (renorm's r and d inside their limits) or far from
    // them (clipped). Computed from the data so that "near" means near for every regime.
    const double mean = sum / static_cast<double>(count);
    double squares = 0;
    for (double v : values) squares += (v - mean) * (v - mean);
    const double var = squares / static_cast<double>(count);
    // Per-channel values are held in the statistics dtype; one its range cannot hold (the
    // running variance of f16 data near 65504 in pure f16) falls back to a plainer one.
    const double spread = std::sqrt(var + spec.eps);
    const auto per_channel = [stats = desc.stats_dtype()](double value, double fallback) {
      const double rounded = round_to_dtype(value, stats);
      return std::isfinite(rounded) ? rounded : round_to_dtype(fallback, stats);
    };
    if (spec.running == RunningKind::near) {
      result.running_mean[c] = per_channel(mean + 0.1 * spread * maker.normal(), mean);
      result.running_var[c] = per_channel(var * maker.uniform(0.8, 1.25), var);
    } else {
      result.running_mean[c] = per_channel(mean + 20 * spread * maker.sign(), mean);
      result.running_var[c] = per_channel((var + spec.eps) * (maker.integer(0, 1) ? 100 : 0.01), var);
    }
    if (!std::isfinite(result.running_var[c])) result.running_var[c] = 1;
    if (!std::isfinite(result.running_mean[c])) result.running_mean[c] = 0;
  }
  return result;
}

// The families of small shapes, the simplest first: shrinking moves towards it.
enum class ShapeKind {
  small_4d,             // N, C, H, W each up to 8
  two_d,                // (N, C), N up to 8^2
  few_long_channels,    // M up to 8 * 8^2
  many_short_channels,  // C from 9 to 72, past 16, 32 and 64 among them
};

rc::Gen<TensorDesc> gen_shape(const ShapeLimits& limits) {
  using rc::gen::element;
  // Drawn from the whole range from the first case (rapidcheck's size would start every extent
  // at 1): early cases then differ in shape, so that an implementation refusing some shapes
  // (one channel, odd C) still meets others. Shrinking still goes towards 1.
  const auto extent = rc::gen::resize(100, rc::gen::inRange<std::int64_t>(1, 9));
  using Draw = std::tuple<ShapeKind, std::int64_t, std::int64_t, std::int64_t, std::int64_t, Layout, DTypeChoice>;
  const std::vector<DTypeChoice> dtypes =
      limits.dtypes.empty() ? std::vector<DTypeChoice>{DType::f32, DType::f64} : limits.dtypes;
  return rc::gen::map(
      rc::gen::tuple(element(ShapeKind::small_4d, ShapeKind::two_d, ShapeKind::few_long_channels,
                             ShapeKind::many_short_channels),
                     extent, extent, extent, extent, element(Layout::nchw, Layout::nhwc), rc::gen::elementOf(dtypes)),
      [limits](const Draw& draw) {
        const auto& [kind, a, b, c, d, layout, dtype] = draw;
        TensorDesc desc;
        switch (kind) {
          case ShapeKind::small_4d: desc = TensorDesc{a, b, c, d}; break;
          case ShapeKind::two_d: desc = TensorDesc{a * c, b, 1, 1}; break;
          case ShapeKind::few_long_channels: desc = TensorDesc{a, (b + 3) / 4, c * d, d}; break;
          case ShapeKind::many_short_channels: desc = TensorDesc{a, 8 * b + c, d, 1}; break;
        }
        desc.layout = layout;
        dtype.apply(desc);
        while (desc.elements() > limits.max_elements && desc.n > 1) desc.n = (desc.n + 1) / 2;
        while (desc.elements() > limits.max_elements && desc.h > 1) desc.h = (desc.h + 1) / 2;
        if (limits.training && desc.per_channel() < 2) desc.n = 2;
        return desc;
      });
}

rc::Gen<CaseSpec> gen_case_spec(const ShapeLimits& limits) {
  using rc::gen::element;
  using rc::gen::elementOf;
  using rc::gen::set;
  return rc::gen::build<CaseSpec>(
      set(&CaseSpec::desc, gen_shape(limits)),
      set(&CaseSpec::regime, elementOf(all_regimes)),
      set(&CaseSpec::data_seed,
          rc::gen::cast<std::uint64_t>(rc::gen::resize(100, rc::gen::inRange<std::uint32_t>(0, 1u << 30)))),
      set(&CaseSpec::gamma, element(GammaKind::unit, GammaKind::random)),
      set(&CaseSpec::running, element(RunningKind::near, RunningKind::far)),
      set(&CaseSpec::eps, elementOf(spec_choices::eps)),
      set(&CaseSpec::momentum, elementOf(spec_choices::momentum)),
      set(&CaseSpec::rmax, elementOf(spec_choices::rmax)),
      set(&CaseSpec::dmax, elementOf(spec_choices::dmax)));
}

std::vector<std::int64_t> draw_shards(std::int64_t n, int ranks, std::uint64_t seed) {
  std::mt19937_64 engine(seed * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL);
  const auto integer = [&](std::int64_t low, std::int64_t high) {
    return std::uniform_int_distribution<std::int64_t>(low, high)(engine);
  };
  std::vector<std::int64_t> shards(static_cast<std::size_t>(ranks), 0);
  switch (integer(0, 3)) {
    case 0: {  // cuts anywhere: uneven, and empty where two cuts meet
      std::vector<std::int64_t> cuts{0, n};
      for (int k = 1; k < ranks; ++k) cuts.push_back(integer(0, n));
      std::sort(cuts.begin(), cuts.end());
      for (int k = 0; k < ranks; ++k) shards[k] = cuts[k + 1] - cuts[k];
      break;
    }
    case 1:  // every sample on one rank, the others empty
      shards[integer(0, ranks - 1)] = n;
      break;
    case 2: {  // one sample on as many ranks as it goes, the rest on one of them
      std::int64_t left = n;
      for (auto& size : shards) {
        size = left > 0 ? 1 : 0;
        left -= size;
      }
      shards[integer(0, ranks - 1)] += left;
      std::shuffle(shards.begin(), shards.end(), engine);
      break;
    }
    default:  // as even as it goes
      for (int k = 0; k < ranks; ++k) shards[k] = n / ranks + (k < n % ranks ? 1 : 0);
  }
  return shards;
}

CaseSpec with_shards(CaseSpec spec, const ShapeLimits& limits) {
  TensorDesc& desc = spec.desc;
  if (!limits.forced_shards.empty()) {
    desc.n = 0;
    for (std::int64_t size : limits.forced_shards) desc.n += size;
    while (desc.elements() > limits.max_elements && desc.h > 1) desc.h = (desc.h + 1) / 2;
    while (desc.elements() > limits.max_elements && desc.w > 1) desc.w = (desc.w + 1) / 2;
    if (limits.training && desc.per_channel() < 2) desc.h = 2;
    spec.shards = limits.forced_shards;
  } else if (limits.ranks > 1) {
    spec.shards = draw_shards(desc.n, limits.ranks, spec.data_seed);
  }
  return spec;
}

std::string describe_case(const Case& test_case) {
  double smallest = std::numeric_limits<double>::infinity(), largest = -smallest;
  std::size_t non_finite = 0;
  for (double v : test_case.x) {
    if (!std::isfinite(v)) {
      ++non_finite;
      continue;
    }
    smallest = std::min(smallest, v);
    largest = std::max(largest, v);
  }
  std::ostringstream out;
  out.precision(6);
  out << (test_case.origin.empty() ? test_case.summary() : test_case.origin) << " | x in ["
      << smallest << ", " << largest << "]";
  if (non_finite != 0) out << ", " << non_finite << " non-finite";
  return out.str();
}

void showValue(const CaseSpec& spec, std::ostream& out) { out << '"' << spec.to_string() << '"'; }

}  // namespace bnh
