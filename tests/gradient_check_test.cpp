// The gradient check: every built-in implementation's backward is the derivative of its own
// forward, and backwards that are wrong in the ways real ones are get caught, with the wrong
// input named.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>

#include "bnh/registry.hpp"
#include "properties/case.hpp"
#include "properties/gradient_check.hpp"
#include "tests/gradient_check_bugs.hpp"

namespace bnh {
namespace {

using namespace testing_gradients;

const char* to_string(GradientMode mode) { return mode == GradientMode::bn ? "bn" : "renorm"; }
const char* to_string(GradientMethod method) { return method == GradientMethod::full ? "full" : "fast"; }

// Small shapes: M = 2 (2-D and with a spatial extent), a 2-D one, odd sizes, N = 1.
const std::vector<TensorDesc> small_shapes{
    {2, 3, 1, 1}, {1, 2, 2, 1}, {5, 3, 1, 1}, {3, 2, 2, 3}, {1, 3, 2, 3}};

// Whether the gradient check of this mode applies: peers lack f64 or renorm, and the check
// must be supported exactly where the implementation provides what it needs.
bool provides(const Implementation& impl, const TensorDesc& desc, GradientMode mode) {
  if (!impl.supports(desc) || !impl.supports(Operation::bn_forward_train)) return false;
  if (mode == GradientMode::bn) return impl.supports(Operation::bn_backward);
  return impl.supports(Operation::renorm_forward_train) && impl.supports(Operation::renorm_backward);
}

class GradientCheckBuiltin : public testing::TestWithParam<std::string> {};

TEST_P(GradientCheckBuiltin, BackwardIsTheDerivativeOfTheForward) {
  const auto impl = make_implementation(GetParam());
  std::map<std::string, double> worst;  // per dtype, method, mode
  std::uint64_t seed = 10;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      for (TensorDesc desc : small_shapes) {
        desc.dtype = dtype;
        desc.layout = layout;
        const Case test_case = random_case(desc, ++seed);
        for (GradientMode mode : {GradientMode::bn, GradientMode::renorm}) {
          for (GradientMethod method : {GradientMethod::full, GradientMethod::fast}) {
            GradientCheckOptions options;
            options.mode = mode;
            options.method = method;
            options.seed = seed;
            const auto result = gradient_check(*impl, test_case, options);
            const bool provided = provides(*impl, desc, mode);
            ASSERT_EQ(result.supported, provided) << test_case.summary();
            if (!provided) continue;
            EXPECT_TRUE(result.passed()) << test_case.summary() << " " << to_string(mode) << " "
                                         << to_string(method) << "\n" << result.describe();
            EXPECT_EQ(result.inputs.size(), method == GradientMethod::full ? 3u : 1u);
            auto& entry = worst[std::string(bnh::to_string(dtype)) + " " + to_string(method) + " " +
                                to_string(mode)];
            entry = std::max(entry, margin(result));
          }
        }
      }
    }
  }
  for (const auto& [key, value] : worst) {
    std::cout << "[ margin   ] " << GetParam() << " " << key << ": worst error / tolerance " << value
              << "\n";
  }
}

TEST_P(GradientCheckBuiltin, FastMethodOnALargerTensor) {
  const auto impl = make_implementation(GetParam());
  for (DType dtype : {DType::f32, DType::f64}) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      const Case test_case = random_case(TensorDesc{4, 3, 5, 4, layout, dtype}, 31);
      for (GradientMode mode : {GradientMode::bn, GradientMode::renorm}) {
        GradientCheckOptions options;
        options.mode = mode;
        options.method = GradientMethod::fast;
        options.directions = 5;
        const auto result = gradient_check(*impl, test_case, options);
        const bool provided = provides(*impl, test_case.desc, mode);
        EXPECT_EQ(result.supported, provided) << test_case.summary();
        if (!provided) continue;
        EXPECT_TRUE(result.passed()) << test_case.summary() << "\n" << result.describe();
        std::cout << "[ margin   ] " << GetParam() << " " << bnh::to_string(dtype) << " "
                  << bnh::to_string(layout) << " fast " << to_string(mode)
                  << " 4x3x5x4: " << margin(result) << "\n";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, GradientCheckBuiltin, testing::ValuesIn(registered_names()),
                         [](const auto& info) { return info.param; });

TEST(GradientCheck, TheWrittenOutCorrectBackwardPasses) {
  WrongBackward correct(Bug::none);
  for (DType dtype : {DType::f32, DType::f64}) {
    for (GradientMode mode : {GradientMode::bn, GradientMode::renorm}) {
      for (GradientMethod method : {GradientMethod::full, GradientMethod::fast}) {
        const Case test_case = shifted_case(TensorDesc{3, 4, 2, 2, Layout::nhwc, dtype}, 3);
        GradientCheckOptions options;
        options.mode = mode;
        options.method = method;
        const auto result = gradient_check(correct, test_case, options);
        EXPECT_TRUE(result.passed()) << result.describe();
      }
    }
  }
}

TEST(GradientCheck, CatchesEachWrongBackwardAndNamesTheInput) {
  const std::vector<TensorDesc> shapes{{3, 4, 2, 2, Layout::nchw}, {6, 3, 1, 1, Layout::nhwc},
                                       {2, 3, 2, 3, Layout::nhwc}};
  for (const auto& info : bugs) {
    WrongBackward wrong(info.bug);
    for (DType dtype : {DType::f32, DType::f64}) {
      double least_full = INFINITY, least_fast = INFINITY;
      std::uint64_t seed = 100;
      for (TensorDesc desc : shapes) {
        desc.dtype = dtype;
        for (const Case& test_case : {random_case(desc, ++seed), shifted_case(desc, ++seed)}) {
          GradientCheckOptions options;
          options.mode = info.mode;
          options.method = GradientMethod::full;
          const auto full = gradient_check(wrong, test_case, options);
          EXPECT_FALSE(full.passed()) << info.name << " " << test_case.summary() << "\n"
                                      << full.describe();
          // Exactly the wrong input fails.
          for (const auto& input : full.inputs) {
            EXPECT_EQ(input.passed, input.input != info.wrong_input)
                << info.name << " " << test_case.summary() << "\n" << full.describe();
          }
          const auto* named = find_input(full, info.wrong_input);
          ASSERT_NE(named, nullptr);
          least_full = std::min(least_full, named->max_abs_error / named->tolerance);

          options.method = GradientMethod::fast;
          options.seed = seed;
          const auto fast = gradient_check(wrong, test_case, options);
          if (dtype == DType::f64 || info.f32_fast) {
            EXPECT_FALSE(fast.passed()) << info.name << " " << test_case.summary() << "\n"
                                        << fast.describe();
          }
          least_fast = std::min(least_fast, margin(fast));
        }
      }
      std::cout << "[ caught   ] " << info.name << " " << bnh::to_string(dtype)
                << ": error / tolerance at least " << least_full << " (full, input "
                << info.wrong_input << "), " << least_fast << " (fast)\n";
    }
  }
}

TEST(GradientCheck, DescribeNamesTheWorstElement) {
  WrongBackward wrong(Bug::dgamma_unbiased);
  const Case test_case = random_case(TensorDesc{3, 4, 2, 1, Layout::nchw, DType::f64}, 8);
  const auto result = gradient_check(wrong, test_case);
  ASSERT_FALSE(result.passed());
  const auto* gamma = find_input(result, "gamma");
  ASSERT_NE(gamma, nullptr);
  ASSERT_FALSE(gamma->passed);
  EXPECT_GE(gamma->worst_output, 0);
  EXPECT_LT(gamma->worst_output, test_case.desc.elements());
  EXPECT_GE(gamma->worst_input, 0);
  EXPECT_LT(gamma->worst_input, test_case.desc.c);
  // The entry named is in the gamma column of the worst output's channel.
  EXPECT_EQ(gamma->worst_input, (gamma->worst_output / test_case.desc.spatial()) % test_case.desc.c);
  const std::string text = result.describe();
  EXPECT_NE(text.find("FAILED"), std::string::npos) << text;
  EXPECT_NE(text.find("gamma FAIL"), std::string::npos) << text;
  EXPECT_NE(text.find("x ok"), std::string::npos) << text;
  EXPECT_NE(text.find("beta ok"), std::string::npos) << text;
  const std::string entry = "output " + std::to_string(gamma->worst_output) + ", input " +
                            std::to_string(gamma->worst_input);
  EXPECT_NE(text.find(entry), std::string::npos) << text;
  // M = 6: the bug scales dgamma by sqrt(5/6).
  EXPECT_NEAR(gamma->analytic, gamma->numeric * std::sqrt(5.0 / 6.0), 1e-6 * std::fabs(gamma->numeric));
}

TEST(GradientCheck, ReportsWhatItUsed) {
  const auto impl = make_implementation("naive");
  const Case f64 = random_case(TensorDesc{3, 2, 1, 1, Layout::nchw, DType::f64}, 1);
  const Case f32 = random_case(TensorDesc{3, 2, 1, 1, Layout::nchw, DType::f32}, 1);
  auto result = gradient_check(*impl, f64);
  EXPECT_EQ(result.step, 1e-6);
  EXPECT_EQ(result.atol, 1e-5);
  EXPECT_EQ(result.rtol, 1e-4);
  result = gradient_check(*impl, f32);
  EXPECT_EQ(result.step, 1e-2);
  EXPECT_EQ(result.atol, 1e-2);
  EXPECT_EQ(result.rtol, 1e-2);
  GradientCheckOptions options;
  options.step = 1e-5;
  options.atol = 1e-4;
  options.rtol = 0;
  result = gradient_check(*impl, f64, options);
  EXPECT_EQ(result.step, 1e-5);
  EXPECT_EQ(result.atol, 1e-4);
  EXPECT_EQ(result.rtol, 0);
  EXPECT_TRUE(result.passed()) << result.describe();
}

TEST(GradientCheck, RejectsBadOptions) {
  const auto impl = make_implementation("naive");
  const Case test_case = random_case(TensorDesc{3, 2, 1, 1, Layout::nchw, DType::f64}, 1);
  GradientCheckOptions options;
  options.step = -1;
  EXPECT_THROW(gradient_check(*impl, test_case, options), Error);
  options = {};
  options.directions = 0;
  EXPECT_THROW(gradient_check(*impl, test_case, options), Error);
  options = {};
  options.atol = NAN;
  EXPECT_THROW(gradient_check(*impl, test_case, options), Error);
  const Case large = random_case(TensorDesc{64, 8, 8, 8, Layout::nchw, DType::f32}, 1);
  EXPECT_THROW(gradient_check(*impl, large), Error);
  options = {};
  options.method = GradientMethod::fast;
  EXPECT_TRUE(gradient_check(*impl, large, options).passed());
}

// naive without one operation, or with a backward that rejects every call.
class Limited final : public UniformImplementation {
 public:
  Limited(Operation missing, bool throws) : missing_(missing), throws_(throws) {}
  std::string name() const override { return "limited"; }
  std::string description() const override { return ""; }
  bool supports(const TensorDesc& desc) const override { return inner_->supports(desc); }
  bool supports(Operation operation) const override { return operation != missing_; }
  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    if (throws_ && operation == Operation::bn_backward) throw Error("bn_backward: refused");
    call(*inner_, operation, desc, params, buffers);
  }

 private:
  Operation missing_;
  bool throws_;
  std::unique_ptr<Implementation> inner_ = make_implementation("naive");
};

TEST(GradientCheck, UnsupportedAndThrowingImplementations) {
  const Case test_case = random_case(TensorDesc{3, 2, 2, 1, Layout::nchw, DType::f64}, 4);
  GradientCheckOptions renorm;
  renorm.mode = GradientMode::renorm;
  Limited no_renorm_backward(Operation::renorm_backward, false);
  auto result = gradient_check(no_renorm_backward, test_case, renorm);
  EXPECT_FALSE(result.supported);
  EXPECT_TRUE(result.passed());
  EXPECT_NE(result.describe().find("not supported"), std::string::npos);
  EXPECT_TRUE(gradient_check(no_renorm_backward, test_case).passed());  // bn needs none of it

  Limited no_forward(Operation::bn_forward_train, false);
  EXPECT_FALSE(gradient_check(no_forward, test_case, renorm).supported);

  Limited throwing(Operation::bn_forward_infer, true);
  result = gradient_check(throwing, test_case);
  EXPECT_TRUE(result.supported);
  EXPECT_FALSE(result.passed());
  EXPECT_NE(result.error.find("refused"), std::string::npos);
  EXPECT_NE(result.describe().find("refused"), std::string::npos);
}

}  // namespace
}  // namespace bnh
