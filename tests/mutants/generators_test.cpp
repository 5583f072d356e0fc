// The case generators: what the realistic shapes are, that their shrinks end on small shapes,
// and that case specs read and replay by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <cmath>
#include <set>

#include "properties/generators.hpp"

namespace bnh {
namespace {

std::vector<CaseSpec> draw(const rc::Gen<CaseSpec>& gen, int count) {
  std::vector<CaseSpec> specs;
  for (int i = 0; i < count; ++i) specs.push_back(gen(rc::Random(1000 + i), 100).value());
  return specs;
}

TEST(Generator, RealisticShapesAreLargeMOrManyChannels) {
  std::set<std::int64_t> channels;
  std::set<std::string> kinds;
  int large_m = 0, many_channels = 0;
  for (const CaseSpec& spec : draw(gen_realistic_case_spec(), 400)) {
    const TensorDesc& desc = spec.desc;
    const std::int64_t m = desc.per_channel();
    kinds.insert(std::string(to_string(desc.dtype)) + to_string(desc.layout));
    channels.insert(desc.c);
    if (m >= (1 << 16)) {
      ++large_m;
      EXPECT_LE(m, 1 << 20) << spec.to_string();
      EXPECT_LE(desc.c, 2) << spec.to_string();
      EXPECT_LE(desc.elements(), 1 << 20) << spec.to_string();
    } else {
      ++many_channels;
      EXPECT_GE(desc.c, 17) << spec.to_string();
      EXPECT_LE(desc.c, 2100) << spec.to_string();
      EXPECT_GE(m, 2) << spec.to_string();
      EXPECT_LE(desc.elements(), 1 << 17) << spec.to_string();
    }
  }
  EXPECT_GT(large_m, 200);  // two in three
  EXPECT_GT(many_channels, 80);
  EXPECT_EQ(kinds.size(), 4u);  // both dtypes, both layouts
  for (std::int64_t past : {17, 33, 65, 129, 257, 2049}) EXPECT_EQ(channels.count(past), 1u) << past;
}

// rapidcheck's shrinking: take the first simpler value that still fails, until none does.
CaseSpec shrink_to_minimum(rc::Shrinkable<CaseSpec> failing, const std::function<bool(const CaseSpec&)>& fails) {
  for (bool progressed = true; progressed;) {
    progressed = false;
    auto shrinks = failing.shrinks();
    while (auto next = shrinks.next()) {
      if (fails(next->value())) {
        failing = *next;
        progressed = true;
        break;
      }
    }
  }
  return failing.value();
}

TEST(Generator, RealisticShrinksEndOnTheSmallestFailingShape) {
  const auto gen = gen_realistic_case_spec();
  // A bug past channel 32 that shows once M >= 6: C = 33, M = 6 exactly, the rest simplest.
  const auto past_32 = [](const CaseSpec& spec) { return spec.desc.c > 32 && spec.desc.per_channel() >= 6; };
  // An accumulation bug that needs M >= 5000 and some mean: large-mean data at least.
  const auto large_m = [](const CaseSpec& spec) {
    return spec.desc.per_channel() >= 5000 && spec.regime >= Regime::large_mean;
  };
  int shrunk_past_32 = 0, shrunk_large_m = 0;
  for (int i = 0; i < 60; ++i) {
    const auto drawn = gen(rc::Random(7 + i), 100);
    for (const auto& [fails, counter] : {std::pair{std::function<bool(const CaseSpec&)>(past_32), &shrunk_past_32},
                                         {std::function<bool(const CaseSpec&)>(large_m), &shrunk_large_m}}) {
      if (!fails(drawn.value())) continue;
      const CaseSpec minimal = shrink_to_minimum(drawn, fails);
      ++*counter;
      EXPECT_EQ(minimal.data_seed, 0u);
      EXPECT_EQ(minimal.gamma, GammaKind::unit);
      EXPECT_EQ(minimal.running, RunningKind::near);
      EXPECT_EQ(minimal.eps, 1e-5);
      EXPECT_EQ(minimal.desc.dtype, drawn.value().desc.dtype);
      EXPECT_EQ(minimal.desc.layout, drawn.value().desc.layout);
      if (counter == &shrunk_past_32) {
        EXPECT_EQ(minimal.desc.c, 33) << minimal.to_string();
        EXPECT_EQ(minimal.desc.per_channel(), 6) << minimal.to_string();
        EXPECT_EQ(minimal.regime, Regime::exact_statistics);
      } else {
        EXPECT_EQ(minimal.desc.c, 1) << minimal.to_string();
        EXPECT_EQ(minimal.regime, Regime::large_mean);
        // No single dimension can step down by one and still fail.
        const TensorDesc& d = minimal.desc;
        EXPECT_LT((d.n - 1) * d.h * d.w, 5000) << minimal.to_string();
        EXPECT_LT(d.n * (d.h - 1) * d.w, 5000) << minimal.to_string();
        EXPECT_LT(d.n * d.h * (d.w - 1), 5000) << minimal.to_string();
      }
    }
  }
  EXPECT_GT(shrunk_past_32, 5);
  EXPECT_GT(shrunk_large_m, 5);
}

TEST(Generator, SmallShapesStayWithinTheLimitAndSometimesHaveManyChannels) {
  ShapeLimits limits;
  int many = 0;
  for (const CaseSpec& spec : draw(gen_case_spec(limits), 400)) {
    EXPECT_LE(spec.desc.elements(), limits.max_elements) << spec.to_string();
    EXPECT_GE(spec.desc.per_channel(), 2) << spec.to_string();
    many += spec.desc.c > 32 ? 1 : 0;
  }
  EXPECT_GT(many, 20);
}

TEST(Generator, CaseSpecsUseNamesAndReadOldNumbers) {
  CaseSpec spec;
  spec.desc = TensorDesc{4, 33, 2, 3, Layout::nhwc, DType::f64};
  spec.regime = Regime::heavy_tails;
  spec.data_seed = 12;
  spec.gamma = GammaKind::random;
  spec.running = RunningKind::far;
  spec.rmax = std::numeric_limits<double>::infinity();
  const std::string text = spec.to_string();
  EXPECT_NE(text.find(" gamma=random running=far eps=1e-05 momentum=0.1 rmax=inf dmax=5"), std::string::npos) << text;
  EXPECT_EQ(CaseSpec::parse(text).to_string(), text);
  CaseSpec odd;
  odd.eps = 0.1 + 0.2;  // 0.30000000000000004: every digit it needs to read back
  EXPECT_EQ(CaseSpec::parse(odd.to_string()).eps, odd.eps);
  EXPECT_NE(CaseSpec().to_string().find(" gamma=unit running=near "), std::string::npos);
  const CaseSpec old = CaseSpec::parse("f32 nchw 2x3x1x1 regime=normal seed=5 gamma=1 running=0");
  EXPECT_EQ(old.gamma, GammaKind::random);
  EXPECT_EQ(old.running, RunningKind::near);
  EXPECT_THROW(CaseSpec::parse("f32 nchw 2x3x1x1 gamma=2"), Error);
  EXPECT_THROW(CaseSpec::parse("f32 nchw 2x3x1x1 running=close"), Error);
}

// The exact regime keeps its rounding-only bound only while its sums are exact in the dtype.
TEST(Generator, ExactStatisticsOnlyWhereEverySumIsExact) {
  CaseSpec spec;
  spec.regime = Regime::exact_statistics;
  spec.desc = TensorDesc{1 << 18, 1, 1, 1, Layout::nchw, DType::f32};
  EXPECT_TRUE(make_case(spec).exact_statistics);
  spec.desc.n = (1 << 18) + 2;
  EXPECT_FALSE(make_case(spec).exact_statistics);
  spec.desc.dtype = DType::f64;
  EXPECT_TRUE(make_case(spec).exact_statistics);
  spec.desc.dtype = DType::bf16;  // summed in f32: exact up to 2^18, as f32 data
  EXPECT_FALSE(make_case(spec).exact_statistics);
  spec.desc.n = 1 << 18;
  EXPECT_TRUE(make_case(spec).exact_statistics);
}

const DTypeChoice every_choice[] = {{DType::f32}, {DType::f64}, {DType::bf16}, {DType::f16},
                                    {DType::bf16, DType::bf16}, {DType::f16, DType::f16}};

// Specs draw the dtypes asked for, and carry the statistics dtype through their one line.
TEST(Generator, SpecsCarryTheDtypesAskedFor) {
  for (const DTypeChoice& choice : every_choice) {
    ShapeLimits limits;
    limits.dtypes = {choice};
    for (const CaseSpec& spec : draw(gen_case_spec(limits), 20)) {
      EXPECT_TRUE(choice.matches(spec.desc)) << spec.to_string();
      EXPECT_EQ(CaseSpec::parse(spec.to_string()).to_string(), spec.to_string());
    }
  }
  const CaseSpec pure = CaseSpec::parse("bf16:bf16 nhwc 2x3x1x1 regime=large-mean seed=4");
  EXPECT_EQ(pure.desc.stats_dtype(), DType::bf16);
  EXPECT_EQ(CaseSpec::parse("bf16:f32 nchw 2x1x1x1").to_string().rfind("bf16 nchw", 0), 0u);  // the default
  EXPECT_THROW(CaseSpec::parse("bf16:f64 nchw 2x1x1x1"), Error);
  EXPECT_THROW(CaseSpec::parse("f32:bf16 nchw 2x1x1x1"), Error);
}

// Every regime's data is what its dtypes hold: x and dy in the data dtype, the per-channel
// values in the statistics dtype, all finite.
TEST(Generator, DataIsRepresentableInItsDtypesInEveryRegime) {
  for (const DTypeChoice& choice : every_choice) {
    ShapeLimits limits;
    limits.dtypes = {choice};
    const auto specs = draw(gen_case_spec(limits), 30);
    for (Regime regime : all_regimes) {
      for (CaseSpec spec : specs) {
        spec.regime = regime;
        const Case test_case = make_case(spec);
        const DType data = spec.desc.dtype, stats = spec.desc.stats_dtype();
        auto held = [](const std::vector<double>& values, DType dtype) {
          return std::all_of(values.begin(), values.end(),
                             [dtype](double v) { return std::isfinite(v) && round_to_dtype(v, dtype) == v; });
        };
        EXPECT_TRUE(held(test_case.x, data)) << spec.to_string();
        EXPECT_TRUE(held(test_case.dy, data)) << spec.to_string();
        for (const auto* values : {&test_case.gamma, &test_case.beta, &test_case.running_mean, &test_case.running_var}) {
          EXPECT_TRUE(held(*values, stats)) << spec.to_string();
        }
      }
    }
  }
}

// The largest |mean| / spread of a case's channels.
double largest_kappa(const Case& test_case) {
  double kappa = 0;
  const std::int64_t count = test_case.desc.per_channel();
  for (std::int64_t c = 0; c < test_case.desc.c; ++c) {
    double sum = 0, squares = 0;
    test_case.desc.for_each_in_channel(c, [&](std::int64_t i) { sum += test_case.x[i]; });
    const double mean = sum / static_cast<double>(count);
    test_case.desc.for_each_in_channel(c, [&](std::int64_t i) { squares += (test_case.x[i] - mean) * (test_case.x[i] - mean); });
    const double spread = std::sqrt(squares / static_cast<double>(count));
    if (spread > 0) kappa = std::max(kappa, std::fabs(mean) / spread);
  }
  return kappa;
}

// In 16 bits, a large mean goes as far as the format allows: bf16's mean 5, spread 0.1 (kappa
// 50, the one-pass variance's NaN) is inside the range; the spread stays above the spacing.
TEST(Generator, LargeMeansReachTheFormatsLimit) {
  for (DType dtype : {DType::bf16, DType::f16}) {
    ShapeLimits limits;
    limits.dtypes = {dtype};
    double largest = 0;
    for (CaseSpec spec : draw(gen_case_spec(limits), 300)) {
      spec.regime = Regime::large_mean;
      if (spec.desc.per_channel() < 16) continue;
      largest = std::max(largest, largest_kappa(make_case(spec)));
    }
    const double limit = dtype == DType::bf16 ? 64 : 512;
    EXPECT_GT(largest, 0.6 * limit) << to_string(dtype);
    EXPECT_LT(largest, 2 * limit) << to_string(dtype);
  }
}

// f16's huge regime: sums of squares past 65504 (f16's var_sum overflow) that f32 holds, from
// values well inside f16's range to values near its top.
TEST(Generator, F16SumsOfSquaresOverflowF16ButNotF32) {
  ShapeLimits limits;
  limits.dtypes = {DType::f16};
  int overflowing = 0, from_small_values = 0, near_the_top = 0;
  for (CaseSpec spec : draw(gen_case_spec(limits), 200)) {
    spec.regime = Regime::huge;
    const Case test_case = make_case(spec);
    double squares = 0, largest = 0;
    for (double v : test_case.x) {
      squares += v * v;
      largest = std::max(largest, std::fabs(v));
    }
    EXPECT_LT(squares, 1e30) << spec.to_string();
    if (squares > 65504) ++overflowing;
    if (squares > 65504 && largest < 1000) ++from_small_values;
    if (largest > 16384) ++near_the_top;
  }
  EXPECT_GT(overflowing, 150);
  EXPECT_GT(from_small_values, 10);
  EXPECT_GT(near_the_top, 10);
}

}  // namespace
}  // namespace bnh
