// The gradient check on bf16 and f16 data: the built-ins pass in every pair of data and
// statistics dtypes, with the differences taken in f32 or in the data dtype; a step the data
// cannot resolve is refused, a default one raised; the wrong backwards are caught.
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

const DTypeChoice reduced_choices[] = {{DType::bf16}, {DType::f16}, {DType::bf16, DType::bf16}, {DType::f16, DType::f16}};
const char* to_string(Differences differences) { return differences == Differences::f32 ? "f32" : "data"; }

Case reduced_case(TensorDesc desc, const DTypeChoice& choice, std::uint64_t seed) {
  choice.apply(desc);
  return random_case(desc, seed);
}

class GradientCheckReduced : public testing::TestWithParam<std::string> {};

TEST_P(GradientCheckReduced, BackwardIsTheDerivativeOfTheForward) {
  const auto impl = make_implementation(GetParam());
  const std::vector<TensorDesc> shapes{{2, 3, 1, 1}, {5, 3, 1, 1}, {3, 2, 2, 3, Layout::nhwc}};
  std::map<std::string, double> worst;
  std::uint64_t seed = 40;
  for (const DTypeChoice& choice : reduced_choices) {
    for (const TensorDesc& shape : shapes) {
      const Case test_case = reduced_case(shape, choice, ++seed);
      if (!impl->supports(test_case.desc)) continue;
      for (GradientMode mode : {GradientMode::bn, GradientMode::renorm}) {
        for (GradientMethod method : {GradientMethod::full, GradientMethod::fast}) {
          for (Differences differences : {Differences::f32, Differences::data}) {
            GradientCheckOptions options;
            options.mode = mode;
            options.method = method;
            options.differences = differences;
            options.seed = seed;
            const auto result = gradient_check(*impl, test_case, options);
            if (!result.supported) continue;
            EXPECT_TRUE(result.passed()) << test_case.summary() << " differences in " << to_string(differences)
                                         << "\n" << result.describe();
            auto& entry = worst[choice.label() + (method == GradientMethod::full ? " full" : " fast") +
                                " differences in " + to_string(differences)];
            entry = std::max(entry, margin(result));
          }
        }
      }
    }
  }
  for (const auto& [key, value] : worst) {
    std::cout << "[ margin   ] " << GetParam() << " " << key << ": worst error / tolerance " << value << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, GradientCheckReduced, testing::ValuesIn(registered_names()),
                         [](const auto& info) { return info.param; });

TEST(GradientCheckReduced, ReportsWhatItUsed) {
  const auto impl = make_implementation("naive");
  const Case bf16 = reduced_case({4, 2, 1, 1}, {DType::bf16}, 1);
  if (!impl->supports(bf16.desc)) GTEST_SKIP() << "naive has no bf16";
  auto result = gradient_check(*impl, bf16);
  EXPECT_EQ(result.dtype, DType::bf16);
  EXPECT_EQ(result.differences, DType::f32);  // by default, naive having f32
  EXPECT_EQ(result.step, 1e-2);
  EXPECT_EQ(result.atol, 0x1p-7);  // 2 u, u = 2^-8
  EXPECT_EQ(gradient_check(*impl, reduced_case({4, 2, 1, 1}, {DType::bf16, DType::bf16}, 1)).atol, 0x1p-6);  // 4 u
  EXPECT_NE(result.describe().find("differences of the f32 forward"), std::string::npos) << result.describe();
  GradientCheckOptions options;
  options.differences = Differences::data;
  result = gradient_check(*impl, bf16, options);
  EXPECT_EQ(result.differences, DType::bf16);
  EXPECT_EQ(result.step, 0.25);
  EXPECT_EQ(result.atol, 0.1);
  const Case f16 = reduced_case({4, 2, 1, 1}, {DType::f16}, 1);
  result = gradient_check(*impl, f16, options);
  EXPECT_EQ(result.step, 0.125);
  EXPECT_EQ(result.atol, 0.03);
  EXPECT_TRUE(result.passed()) << result.describe();
}

// JAX's 1e-4 in bf16: x + 1e-4 rounds back to x and the derivative comes out 0. Refused, with
// the least step that works; the same step on f32 differences of the same data is fine.
TEST(GradientCheckReduced, AStepBelowTheDataResolutionIsRefused) {
  const auto impl = make_implementation("naive");
  const Case bf16 = reduced_case({4, 2, 1, 1}, {DType::bf16}, 2);
  if (!impl->supports(bf16.desc)) GTEST_SKIP() << "naive has no bf16";
  GradientCheckOptions options;
  options.step = 1e-4;
  options.differences = Differences::data;
  try {
    gradient_check(*impl, bf16, options);
    ADD_FAILURE() << "a step of 1e-4 on bf16 data was accepted";
  } catch (const StepBelowResolution& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("0.0001 is below what bf16 resolves on this data"), std::string::npos) << text;
    EXPECT_NE(text.find("use "), std::string::npos) << text;
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  }
  options.differences = Differences::f32;
  EXPECT_TRUE(gradient_check(*impl, bf16, options).passed());
  // f32 data has its floor too: 1e-9 of a unit spread is below f32's spacing at 1.
  const Case f32 = random_case(TensorDesc{4, 2, 1, 1}, 2);
  options.step = 1e-9;
  EXPECT_THROW(gradient_check(*impl, f32, options), StepBelowResolution);
}

// Off-centre bf16 data (kappa ~ 40): the default step of 1/4 is below two numbers of the data,
// and is raised, never left to round to nothing.
TEST(GradientCheckReduced, TheDefaultStepIsRaisedToTheDataResolution) {
  const auto impl = make_implementation("naive");
  Case shifted = reduced_case({6, 2, 1, 1}, {DType::bf16}, 3);
  if (!impl->supports(shifted.desc)) GTEST_SKIP() << "naive has no bf16";
  for (auto& value : shifted.x) value = round_to_dtype(40 + value, DType::bf16);
  GradientCheckOptions options;
  options.differences = Differences::data;
  const auto result = gradient_check(*impl, shifted, options);
  EXPECT_TRUE(result.step_raised);
  EXPECT_GE(result.step, 2 * result.resolution);
  EXPECT_GT(result.step, 0.25);
  EXPECT_NE(result.describe().find("raised"), std::string::npos) << result.describe();
}

// The wrong backwards in bf16 and f16, against f32 differences: every one fails, on the wrong
// input. Against the 16-bit forward's own differences only the coarse ones (a factor gamma
// missing, a sum averaged) are sure to; the margins of the rest are printed.
TEST(GradientCheckReduced, CatchesEachWrongBackwardAndNamesTheInput) {
  const std::vector<TensorDesc> shapes{{3, 4, 2, 2, Layout::nchw}, {6, 3, 1, 1, Layout::nhwc},
                                       {2, 3, 2, 3, Layout::nhwc}};
  if (!make_implementation("naive")->supports(reduced_case({2, 1, 1, 1}, {DType::bf16}, 1).desc)) {
    GTEST_SKIP() << "naive has no bf16";
  }
  for (const auto& info : bugs) {
    WrongBackward wrong(info.bug);
    for (const DTypeChoice& choice : reduced_choices) {
      double least_f32 = INFINITY, least_data = INFINITY;
      std::uint64_t seed = 200;
      for (const TensorDesc& shape : shapes) {
        const Case test_case = reduced_case(shape, choice, ++seed);
        GradientCheckOptions options;
        options.mode = info.mode;
        options.differences = Differences::f32;
        const auto full = gradient_check(wrong, test_case, options);
        EXPECT_FALSE(full.passed()) << info.name << " " << test_case.summary() << "\n" << full.describe();
        for (const auto& input : full.inputs) {
          EXPECT_EQ(input.passed, input.input != info.wrong_input)
              << info.name << " " << test_case.summary() << "\n" << full.describe();
        }
        const auto* named = find_input(full, info.wrong_input);
        ASSERT_NE(named, nullptr);
        least_f32 = std::min(least_f32, named->max_abs_error / named->tolerance);
        options.differences = Differences::data;
        const auto own = gradient_check(wrong, test_case, options);
        const auto* own_named = find_input(own, info.wrong_input);
        ASSERT_NE(own_named, nullptr);
        if (info.bug == Bug::dx_without_gamma || info.bug == Bug::dbeta_averaged) {
          EXPECT_FALSE(own.passed()) << info.name << " " << test_case.summary() << "\n" << own.describe();
        }
        least_data = std::min(least_data, own_named->max_abs_error / own_named->tolerance);
      }
      std::cout << "[ caught   ] " << info.name << " " << choice.label() << ": error / tolerance at least "
                << least_f32 << " (f32 differences), " << least_data << " (" << choice.label()
                << " differences)\n";
    }
  }
}

}  // namespace
}  // namespace bnh
