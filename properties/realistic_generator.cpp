// The realistic-size case specs (gen_realistic_case_spec, properties/generators.hpp): shapes as
// real networks have them, with a shrink order of their own that ends on small shapes.
#include <cmath>
#include <cstdint>
#include <iterator>
#include <random>

#include "properties/generators.hpp"
#include "properties/spec_choices.hpp"

namespace bnh {

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

template <typename Choices>
auto pick(Engine& engine, const Choices& choices) {
  return choices[static_cast<std::size_t>(uniform(engine, 0, static_cast<std::int64_t>(std::size(choices)) - 1))];
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
  spec.eps = pick(engine, spec_choices::eps);
  spec.momentum = pick(engine, spec_choices::momentum);
  spec.rmax = pick(engine, spec_choices::rmax);
  spec.dmax = pick(engine, spec_choices::dmax);
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
    flat.desc = TensorDesc{spec.desc.per_channel(), spec.desc.c, 1, 1, spec.desc.layout, spec.desc.dtype, spec.desc.stats};
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
  simplify(&CaseSpec::eps, spec_choices::eps[0]);
  simplify(&CaseSpec::momentum, spec_choices::momentum[0]);
  simplify(&CaseSpec::rmax, spec_choices::rmax[0]);
  simplify(&CaseSpec::dmax, spec_choices::dmax[0]);
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
