// The case generators: what the realistic shapes are, that their shrinks end on small shapes,
// and that case specs read and replay by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
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
}

}  // namespace
}  // namespace bnh
