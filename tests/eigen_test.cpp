// The eigen implementation against the 50-digit reference on the shapes its views and tiles make
// special: M = 2, one channel, odd sizes, 2-D input, NHWC tiles with a remainder; and on data
// whose large mean would cancel a one-pass variance away; in bf16 and f16, mixed and pure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "bnh/registry.hpp"
#include "properties/case.hpp"
#include "properties/reference_agreement.hpp"

namespace bnh {
namespace {

void expect_agreement(Implementation& impl, const Case& test_case) {
  for (Operation operation : all_operations) {
    const auto result = check_reference_agreement(impl, test_case, operation);
    EXPECT_TRUE(result.passed()) << test_case.summary() << "\n" << result.describe();
  }
}

TEST(Eigen, AgreesWithTheReferenceOnEdgeShapes) {
  const auto impl = make_implementation("eigen");
  const std::vector<TensorDesc> shapes{
      {2, 1, 1, 1},    // M = 2, C = 1, 2-D
      {1, 1, 1, 2},    // M = 2 within one sample (NCHW row of two)
      {4, 1, 5, 3},    // one channel
      {3, 17, 9, 11},  // nothing a multiple of a vector width
      {37, 5, 1, 1},   // 2-D (N, C)
      {2, 520, 3, 3},  // NHWC: 18 rows x 520 channels, tiles of 9 rows x 57 or 58 channels
      {2, 3, 37, 29},  // NCHW: rows of 1073, reduced in two pieces
  };
  std::uint64_t seed = 100;
  for (TensorDesc desc : shapes) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (Layout layout : {Layout::nchw, Layout::nhwc}) {
        desc.dtype = dtype;
        desc.layout = layout;
        expect_agreement(*impl, random_case(desc, seed++));
      }
    }
  }
}

// bf16 and f16 data, with f32 statistics and with the statistics in the data dtype.
TEST(Eigen, AgreesWithTheReferenceInBf16AndF16) {
  const auto impl = make_implementation("eigen");
  const std::vector<TensorDesc> shapes{{2, 1, 1, 1}, {3, 17, 9, 11}, {37, 5, 1, 1}, {2, 520, 3, 3}, {2, 3, 37, 29}};
  const std::vector<DTypeChoice> pairs{DType::bf16, DTypeChoice(DType::bf16, DType::bf16), DType::f16,
                                       DTypeChoice(DType::f16, DType::f16)};
  std::uint64_t seed = 200;
  for (TensorDesc desc : shapes) {
    for (const DTypeChoice& dtypes : pairs) {
      for (Layout layout : {Layout::nchw, Layout::nhwc}) {
        dtypes.apply(desc);
        desc.layout = layout;
        expect_agreement(*impl, random_case(desc, seed++));
      }
    }
  }
}

TEST(Eigen, AgreesWithTheReferenceOnALargeMeanWithASmallSpread) {
  const auto impl = make_implementation("eigen");
  // x = 1e4 + normal. f32 data has too few digits for a one-pass variance accumulated in double
  // (E[x^2] - E[x]^2) to show; in f64 it fails this case.
  for (DType dtype : {DType::f32, DType::f64}) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      Case test_case = random_case(TensorDesc{4, 6, 13, 11, layout, dtype}, 7);
      std::mt19937_64 engine(8);
      std::normal_distribution<double> normal(0.0, 1.0);
      // Values of the dtype, so that the case's data is exactly what the implementation sees.
      auto representable = [&](double value) { return round_to_dtype(value, dtype); };
      for (auto& value : test_case.x) value = representable(1e4 + normal(engine));
      // Running statistics near the batch's, so that renorm's r and d are not simply clamped.
      for (auto& value : test_case.running_mean) value = representable(1e4 + 0.1 * normal(engine));
      expect_agreement(*impl, test_case);
    }
  }
}

TEST(Eigen, ANonFiniteChannelStaysInItsChannel) {
  const auto impl = make_implementation("eigen");
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    const TensorDesc desc{3, 4, 5, 6, layout, DType::f32};
    const Case test_case = random_case(desc, 11);
    std::vector<float> x(test_case.x.begin(), test_case.x.end());
    x[desc.offset(1, 2, 3)] = NAN;
    const std::vector<float> gamma(test_case.gamma.begin(), test_case.gamma.end());
    const std::vector<float> beta(test_case.beta.begin(), test_case.beta.end());
    std::vector<float> running_mean(test_case.running_mean.begin(), test_case.running_mean.end());
    std::vector<float> running_var(test_case.running_var.begin(), test_case.running_var.end());
    std::vector<float> y(x.size()), mean(desc.c), invstd(desc.c), r(desc.c), d(desc.c);
    impl->renorm_forward_train(desc, test_case.params, x.data(), gamma.data(), beta.data(),
                               y.data(), mean.data(), invstd.data(), r.data(), d.data(),
                               running_mean.data(), running_var.data());
    for (std::int64_t c = 0; c < desc.c; ++c) {
      const bool poisoned = c == 2;
      EXPECT_EQ(std::isnan(mean[c]), poisoned) << c;
      EXPECT_EQ(std::isnan(r[c]), poisoned) << c;   // the clamp lets NaN through
      EXPECT_EQ(std::isnan(d[c]), poisoned) << c;
      EXPECT_EQ(std::isnan(running_var[c]), poisoned) << c;
      for (std::int64_t n = 0; n < desc.n; ++n) {
        for (std::int64_t s = 0; s < desc.spatial(); ++s) {
          EXPECT_EQ(std::isnan(y[desc.offset(n, c, s)]), poisoned) << c;
        }
      }
    }
  }
}

TEST(Eigen, UntrackedRunningStatisticsLeaveTheOutputsAlone) {
  const auto impl = make_implementation("eigen");
  const TensorDesc desc{3, 17, 9, 11, Layout::nhwc, DType::f64};
  const Case test_case = random_case(desc, 12);
  std::vector<double> running_mean = test_case.running_mean, running_var = test_case.running_var;
  std::vector<double> y1(test_case.x.size()), y2(test_case.x.size()), m1(desc.c), m2(desc.c),
      s1(desc.c), s2(desc.c);
  impl->bn_forward_train(desc, test_case.params, test_case.x.data(), test_case.gamma.data(),
                         test_case.beta.data(), y1.data(), m1.data(), s1.data(),
                         running_mean.data(), running_var.data());
  impl->bn_forward_train(desc, test_case.params, test_case.x.data(), test_case.gamma.data(),
                         test_case.beta.data(), y2.data(), m2.data(), s2.data(), nullptr, nullptr);
  EXPECT_EQ(y1, y2);
  EXPECT_EQ(m1, m2);
  EXPECT_EQ(s1, s2);
  EXPECT_NE(running_mean, test_case.running_mean);
}

}  // namespace
}  // namespace bnh
