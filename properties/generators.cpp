#include "properties/generators.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

namespace bnh {

namespace {

// Parameter choices, the simplest first: shrinking moves towards it.
const double eps_choices[] = {1e-5, 1e-3, 0.25, 1e-8};
const double momentum_choices[] = {0.1, 0, 1, 0.5};
const double rmax_choices[] = {3, 1, 1.5, std::numeric_limits<double>::infinity()};
const double dmax_choices[] = {5, 0, 0.5, std::numeric_limits<double>::infinity()};

// Per-channel draws of one regime. `scale` of the data and of dy are chosen per channel.
class DataMaker {
 public:
  DataMaker(const CaseSpec& spec) : spec_(spec), engine_(spec.data_seed * 0x9e3779b97f4a7c15ULL + 1) {}

  double uniform(double low, double high) { return std::uniform_real_distribution<double>(low, high)(engine_); }
  double normal() { return normal_(engine_); }
  std::int64_t integer(std::int64_t low, std::int64_t high) {
    return std::uniform_int_distribution<std::int64_t>(low, high)(engine_);
  }
  double log_uniform(double low_exponent, double high_exponent) {
    return std::pow(10.0, uniform(low_exponent, high_exponent));
  }
  double sign() { return integer(0, 1) != 0 ? 1.0 : -1.0; }

  // The M values of one channel, in logical (sample, position) order.
  std::vector<double> channel(std::int64_t count, std::int64_t c) {
    const bool f32 = spec_.desc.dtype == DType::f32;
    std::vector<double> values(count);
    switch (spec_.regime) {
      case Regime::exact_statistics: {
        // Mean and deviation are small multiples of 1/4; pairs +a, -a (one value at the mean
        // when M is odd) make the mean exact and every partial sum representable.
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
        const double spread = std::ldexp(1.0, static_cast<int>(integer(-6, 6)));
        const double mean = sign() * spread * log_uniform(1, f32 ? 4 : 8);
        for (auto& v : values) v = mean + spread * normal();
        break;
      }
      case Regime::near_constant: {
        // A few units in the last place of the mean.
        const double mean = sign() * log_uniform(-2, 3);
        const double ulp = mean * (f32 ? 0x1p-23 : 0x1p-52);
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
        const double magnitude = log_uniform(f32 ? -6 : -30, f32 ? 6 : 30);
        const double offset = normal();
        for (auto& v : values) v = magnitude * (offset + normal());
        break;
      }
      case Regime::heavy_tails:
        for (auto& v : values) v = normal() / std::max(std::fabs(normal()), 1e-3);
        break;
      case Regime::huge: {
        // Squares near 1e36 (f32: an M-term f32 sum of them overflows) or 1e300 (f64: the
        // double sum stays just finite for the sizes generated).
        const double magnitude = f32 ? 1e18 : 1e150;
        for (auto& v : values) v = magnitude * std::clamp(normal(), -1.5, 1.5);
        break;
      }
      case Regime::tiny: {
        const double magnitude = f32 ? 1e-41 : 1e-312;  // subnormal
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
  std::mt19937_64 engine_;
  std::normal_distribution<double> normal_;
};

double representable(double value, DType dtype) {
  return dtype == DType::f32 ? static_cast<double>(static_cast<float>(value)) : value;
}

// The exact regime's values are multiples of 1/4 with |x| <= 10 and |x - mean| <= 2. A partial
// sum of x is a multiple of 1/4 up to 10 M, and one of squared deviations a multiple of 1/16 up
// to 4 M: both are representable, in any order, while 64 M fits the significand (M <= 2^18 in
// f32). Past that an f32 sum rounds like any other and the accumulation bound applies.
bool sums_exact(const TensorDesc& desc) {
  const double significand = desc.dtype == DType::f32 ? 0x1p24 : 0x1p53;
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
  result.exact_statistics = spec.regime == Regime::exact_statistics && sums_exact(desc);
  result.origin = spec.to_string();
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
        result.x[i] = representable(values[n * desc.spatial() + s], desc.dtype);
        result.dy[i] = representable(maker.gradient(c), desc.dtype);
        sum += result.x[i];
      }
    }
    // gamma: 1 or a few-bit value in [-2, 2], zero included; beta likewise.
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
    const double spread = std::sqrt(var + spec.eps);
    if (spec.running == RunningKind::near) {
      result.running_mean[c] = representable(mean + 0.1 * spread * maker.normal(), desc.dtype);
      result.running_var[c] = representable(var * maker.uniform(0.8, 1.25), desc.dtype);
    } else {
      result.running_mean[c] = representable(mean + 20 * spread * maker.sign(), desc.dtype);
      result.running_var[c] = representable((var + spec.eps) * (maker.integer(0, 1) ? 100 : 0.01), desc.dtype);
    }
    if (!std::isfinite(result.running_var[c])) result.running_var[c] = representable(var, desc.dtype);
  }
  return result;
}

rc::Gen<TensorDesc> gen_shape(const ShapeLimits& limits) {
  using rc::gen::inRange;
  return rc::gen::map(
      rc::gen::tuple(inRange<int>(0, 4), inRange<std::int64_t>(1, 9), inRange<std::int64_t>(1, 9),
                     inRange<std::int64_t>(1, 9), inRange<std::int64_t>(1, 9), inRange<int>(0, 2),
                     inRange<int>(0, 2)),
      [limits](const std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t, int, int>& t) {
        const auto& [kind, a, b, c, d, layout, dtype] = t;
        TensorDesc desc;
        switch (kind) {
          case 0:  // small 4-D
            desc = TensorDesc{a, b, c, d};
            break;
          case 1:  // 2-D (N, C): N up to 8^2
            desc = TensorDesc{a * c, b, 1, 1};
            break;
          case 2:  // few channels, long: M up to 8 * 8^2
            desc = TensorDesc{a, (b + 3) / 4, c * d, d};
            break;
          default:  // many channels, short: C from 9 to 72, past 16, 32 and 64 among them
            desc = TensorDesc{a, 8 * b + c, d, 1};
            break;
        }
        desc.layout = layout == 0 ? Layout::nchw : Layout::nhwc;
        desc.dtype = dtype == 0 ? DType::f32 : DType::f64;
        while (desc.elements() > limits.max_elements && desc.n > 1) desc.n = (desc.n + 1) / 2;
        while (desc.elements() > limits.max_elements && desc.h > 1) desc.h = (desc.h + 1) / 2;
        if (limits.training && desc.per_channel() < 2) desc.n = 2;
        return desc;
      });
}

rc::Gen<CaseSpec> gen_case_spec(const ShapeLimits& limits) {
  using rc::gen::inRange;
  return rc::gen::map(
      rc::gen::tuple(gen_shape(limits), inRange<int>(0, std::size(all_regimes)),
                     inRange<std::uint32_t>(0, 1u << 30), inRange<int>(0, 2), inRange<int>(0, 2),
                     inRange<int>(0, 4), inRange<int>(0, 4), inRange<int>(0, 4), inRange<int>(0, 4)),
      [](const std::tuple<TensorDesc, int, std::uint32_t, int, int, int, int, int, int>& t) {
        CaseSpec spec;
        spec.desc = std::get<0>(t);
        spec.regime = all_regimes[std::get<1>(t)];
        spec.data_seed = std::get<2>(t);
        spec.gamma = std::get<3>(t) == 0 ? GammaKind::unit : GammaKind::random;
        spec.running = std::get<4>(t) == 0 ? RunningKind::near : RunningKind::far;
        spec.eps = eps_choices[std::get<5>(t)];
        spec.momentum = momentum_choices[std::get<6>(t)];
        spec.rmax = rmax_choices[std::get<7>(t)];
        spec.dmax = dmax_choices[std::get<8>(t)];
        return spec;
      });
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

// ---- realistic shapes --------------------------------------------------------------------

namespace {

// A many-channel tensor stays under this element count (a large-M one under 2^20), so that one
// case costs a fraction of a second against the 50-digit reference.
constexpr std::int64_t many_channels_elements = std::int64_t{1} << 17;

// Activation sides of real networks: ResNet and VGG at 224 (112, 56, 28), Inception at 299
// (147, 71, 35).
constexpr std::int64_t large_sides[] = {28, 35, 56, 71, 112, 147, 224};
// Channel counts one past a power of two, where a blocked loop's second or last block begins.
constexpr std::int64_t past_block_channels[] = {17, 33, 65, 129, 257, 513, 1025, 2049};
// Channel counts of real layers (MobileNet, ResNet, EfficientNet, DenseNet).
constexpr std::int64_t layer_channels[] = {40, 96, 144, 192, 384, 576, 960, 1280, 1920, 2048};
constexpr std::int64_t small_sides[] = {1, 2, 3, 4, 7, 8, 14};

using Engine = std::mt19937_64;

std::int64_t uniform(Engine& engine, std::int64_t low, std::int64_t high) {
  return std::uniform_int_distribution<std::int64_t>(low, high)(engine);
}

template <typename T, std::size_t size>
T pick(Engine& engine, const T (&choices)[size]) {
  return choices[uniform(engine, 0, static_cast<std::int64_t>(size) - 1)];
}

// M = N*H*W from 2^16 to 2^20, log-uniform: a square activation with N images, or a 2-D
// (N, C) batch; one or two channels up to M = 2^18, one above.
TensorDesc large_m_shape(Engine& engine) {
  const double target = std::exp2(std::uniform_real_distribution<double>(16, 20)(engine));
  const std::int64_t side = uniform(engine, 0, 3) == 0 ? 1 : pick(engine, large_sides);
  const std::int64_t area = side * side;
  const std::int64_t n = std::clamp<std::int64_t>(std::llround(target / static_cast<double>(area)),
                                                  ((1 << 16) + area - 1) / area, (1 << 20) / area);
  const std::int64_t c = n * area <= (1 << 18) ? uniform(engine, 1, 2) : 1;
  return TensorDesc{n, c, side, side};
}

// C from 17 to 2,100 (one past a block size, a real layer's count, or any), a few images of a
// small activation; N, then H, halved while the tensor is over its budget.
TensorDesc many_channels_shape(Engine& engine, bool training) {
  std::int64_t c = 0;
  switch (uniform(engine, 0, 3)) {
    case 0:
    case 1: c = pick(engine, past_block_channels); break;
    case 2: c = pick(engine, layer_channels); break;
    default: c = uniform(engine, 33, 2100); break;
  }
  const std::int64_t side = pick(engine, small_sides);
  TensorDesc desc{uniform(engine, 1, 16), c, side, side};
  while (desc.elements() > many_channels_elements && desc.n > 1) desc.n = (desc.n + 1) / 2;
  while (desc.elements() > many_channels_elements && desc.h > 1) desc.h = (desc.h + 1) / 2;
  if (training && desc.per_channel() < 2) desc.n = 2;
  return desc;
}

// Every regime but `tiny`: subnormal data is about single roundings, which the small cases
// cover at every size that matters.
constexpr Regime realistic_regimes[] = {
    Regime::exact_statistics, Regime::standard_normal,   Regime::large_mean,
    Regime::near_constant,    Regime::constant_channels, Regime::mixed_magnitudes,
    Regime::heavy_tails,      Regime::huge};

// Large M two times in three: the sums of real layers are where accuracy is lost, and the small
// cases already reach 72 channels.
CaseSpec realistic_spec(Engine& engine, bool training) {
  CaseSpec spec;
  spec.desc = uniform(engine, 0, 2) != 0 ? large_m_shape(engine) : many_channels_shape(engine, training);
  spec.desc.layout = uniform(engine, 0, 1) == 0 ? Layout::nchw : Layout::nhwc;
  spec.desc.dtype = uniform(engine, 0, 1) == 0 ? DType::f32 : DType::f64;
  spec.regime = pick(engine, realistic_regimes);
  spec.data_seed = static_cast<std::uint64_t>(uniform(engine, 0, (1 << 30) - 1));
  spec.gamma = uniform(engine, 0, 1) == 0 ? GammaKind::unit : GammaKind::random;
  spec.running = uniform(engine, 0, 1) == 0 ? RunningKind::near : RunningKind::far;
  spec.eps = pick(engine, eps_choices);
  spec.momentum = pick(engine, momentum_choices);
  spec.rmax = pick(engine, rmax_choices);
  spec.dmax = pick(engine, dmax_choices);
  return spec;
}

// Simpler versions of a spec, the cheapest first: the smallest shape; each dimension stepped
// down (to 1, then halfway, then ever nearer, as rapidcheck shrinks an integer); the tensor as
// 2-D; an earlier regime; seed 0; gamma = 1 and beta = 0; running statistics near; each
// parameter's first choice. rapidcheck takes the first that still fails and asks again, so a
// failure ends on the smallest failing shape it can reach.
rc::Seq<CaseSpec> simpler_specs(const CaseSpec& spec, bool training) {
  std::vector<CaseSpec> simpler;
  auto add = [&](const CaseSpec& candidate) {
    if (!training || candidate.desc.per_channel() >= 2) simpler.push_back(candidate);
  };
  CaseSpec smallest = spec;
  smallest.desc.n = training ? 2 : 1;
  smallest.desc.c = smallest.desc.h = smallest.desc.w = 1;
  if (smallest.desc.elements() < spec.desc.elements()) add(smallest);
  for (std::int64_t TensorDesc::*dimension : {&TensorDesc::n, &TensorDesc::c, &TensorDesc::h, &TensorDesc::w}) {
    const std::int64_t value = spec.desc.*dimension;
    for (std::int64_t step = value - 1; step > 0; step /= 2) {
      CaseSpec candidate = spec;
      candidate.desc.*dimension = value - step;
      add(candidate);
    }
  }
  if (spec.desc.spatial() > 1) {  // the same M as 2-D (M, C), whose N steps down one by one
    CaseSpec flat = spec;
    flat.desc = TensorDesc{spec.desc.per_channel(), spec.desc.c, 1, 1, spec.desc.layout, spec.desc.dtype};
    add(flat);
  }
  for (Regime regime : all_regimes) {
    if (regime == spec.regime) break;
    CaseSpec candidate = spec;
    candidate.regime = regime;
    add(candidate);
  }
  auto simplify = [&](auto CaseSpec::*field, auto simplest) {
    if (spec.*field == simplest) return;
    CaseSpec candidate = spec;
    candidate.*field = simplest;
    add(candidate);
  };
  simplify(&CaseSpec::data_seed, std::uint64_t{0});
  simplify(&CaseSpec::gamma, GammaKind::unit);
  simplify(&CaseSpec::running, RunningKind::near);
  simplify(&CaseSpec::eps, eps_choices[0]);
  simplify(&CaseSpec::momentum, momentum_choices[0]);
  simplify(&CaseSpec::rmax, rmax_choices[0]);
  simplify(&CaseSpec::dmax, dmax_choices[0]);
  return rc::seq::fromContainer(std::move(simpler));
}

}  // namespace

rc::Gen<CaseSpec> gen_realistic_case_spec(const ShapeLimits& limits) {
  const bool training = limits.training;
  return [training](const rc::Random& random, int) {
    rc::Random source = random;
    Engine engine(source.next());
    return rc::shrinkable::shrinkRecur(realistic_spec(engine, training),
                                       [training](const CaseSpec& spec) { return simpler_specs(spec, training); });
  };
}

}  // namespace bnh
