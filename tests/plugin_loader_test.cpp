#include <gtest/gtest.h>

#include "bnh/types.hpp"
#include "bnh/plugin_loader.hpp"
#include "properties/case.hpp"
#include "properties/reference_agreement.hpp"

namespace bnh {
namespace {

std::string plugin(const std::string& name) {
  return std::string(BNH_TEST_PLUGIN_DIR) + "/libbnh_test_plugin_" + name + ".so";
}

void expect_refused(const std::string& path, const std::string& message) {
  try {
    load_plugin(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(message), std::string::npos) << error.what();
  }
}

TEST(PluginLoader, RefusesEachDefectWithAClearMessage) {
  expect_refused(plugin("no_symbol"), "does not export bnh_impl_v1_get");
  expect_refused(plugin("null_table"), "bnh_impl_v1_get returned NULL");
  expect_refused(plugin("wrong_abi"), "speaks ABI version 2, this harness speaks 1");
  expect_refused(plugin("null_name"), "has a NULL name");
  expect_refused(plugin("does_not_exist"), "cannot load plugin");
}

TEST(PluginLoader, LoadsAWellFormedPlugin) {
  const auto impl = load_plugin(plugin("minimal"));
  EXPECT_EQ(impl->name(), "minimal");
  EXPECT_EQ(impl->description(), "batch-norm inference only, f64");
  EXPECT_TRUE(impl->supports(Operation::bn_forward_infer));
  EXPECT_FALSE(impl->supports(Operation::bn_forward_train));
  EXPECT_TRUE(impl->supports(TensorDesc{2, 3, 4, 5, Layout::nhwc, DType::f64}));
  EXPECT_FALSE(impl->supports(TensorDesc{2, 3, 4, 5, Layout::nhwc, DType::f32}));

  const Case test_case = random_case(TensorDesc{2, 3, 4, 5, Layout::nhwc, DType::f64}, 3);
  const auto result = check_reference_agreement(*impl, test_case, Operation::bn_forward_infer);
  EXPECT_TRUE(result.supported);
  EXPECT_TRUE(result.passed()) << result.describe();
}

TEST(PluginLoader, MissingFunctionIsUnsupportedAndRefusalCarriesThePluginsReason) {
  const auto impl = load_plugin(plugin("minimal"));
  const TensorDesc desc{2, 1, 1, 1, Layout::nchw, DType::f64};
  std::vector<double> x{1, 2}, one{1}, zero{0}, y(2), c1(1), c2(1);
  EXPECT_THROW(impl->bn_forward_train(desc, {}, x.data(), one.data(), zero.data(), y.data(),
                                      c1.data(), c2.data(), nullptr, nullptr),
               Unsupported);
  Params bad;
  bad.eps = -1;
  try {
    impl->bn_forward_infer(desc, bad, x.data(), one.data(), zero.data(), zero.data(), one.data(), y.data());
    ADD_FAILURE() << "negative eps accepted";
  } catch (const Unsupported&) {
    ADD_FAILURE() << "a refusal is not an unsupported operation";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "minimal rejected bn_forward_infer: eps must be > 0 and finite");
  }
}

// Each faulty plugin misbehaves on a valid inference call; isolated, that is a PluginFault
// naming what happened, and the harness goes on.
// `verdict` is what the later agreement check must say (a hung operation is not called again).
void expect_fault(const std::string& plugin_name, const std::string& reason, const std::string& verdict) {
  PluginOptions options;
  options.timeout_seconds = 1;
  const auto impl = load_plugin(plugin(plugin_name), options);
  const Case test_case = random_case(TensorDesc{2, 3, 4, 5, Layout::nchw, DType::f64}, 3);
  try {
    std::vector<double> y(test_case.x.size());
    impl->bn_forward_infer(test_case.desc, test_case.params, test_case.x.data(), test_case.gamma.data(),
                           test_case.beta.data(), test_case.running_mean.data(),
                           test_case.running_var.data(), y.data());
    ADD_FAILURE() << plugin_name << ": no fault reported";
  } catch (const PluginFault& fault) {
    EXPECT_NE(std::string(fault.what()).find(reason), std::string::npos) << fault.what();
  }
  // The agreement check turns the fault into a failed verdict with the reason.
  const auto result = check_reference_agreement(*impl, test_case, Operation::bn_forward_infer);
  EXPECT_FALSE(result.passed());
  EXPECT_NE(result.error.find(verdict), std::string::npos) << result.error;
}

// The worker (bnh-sandbox) is built without the sanitizers, so a crash is a signal in every build.
TEST(PluginIsolation, ACrashIsAFailedCheck) {
  expect_fault("crash", " crashed with SIGSEGV", " crashed with SIGSEGV");
}
TEST(PluginIsolation, AHangIsAFailedCheck) {
  expect_fault("hang", "hung: no result within", "hung: no result within 1 s (killed) on an earlier call");
}
TEST(PluginIsolation, AWritePastAnOutputIsAFailedCheck) {
  // y ends on a guard page: the first byte past it faults, and the fault handler names it.
  const std::string reason = "wrote to byte 0 past the end of y";
  expect_fault("overflow", reason, reason);
}

TEST(PluginIsolation, AHungOperationIsNotCalledAgain) {
  PluginOptions options;
  options.timeout_seconds = 1;
  const auto impl = load_plugin(plugin("hang"), options);
  const Case test_case = random_case(TensorDesc{2, 1, 1, 1, Layout::nchw, DType::f64}, 3);
  std::vector<double> y(2);
  auto call = [&] {
    impl->bn_forward_infer(test_case.desc, test_case.params, test_case.x.data(), test_case.gamma.data(),
                           test_case.beta.data(), test_case.running_mean.data(),
                           test_case.running_var.data(), y.data());
  };
  EXPECT_THROW(call(), PluginFault);
  try {
    call();
  } catch (const PluginFault& fault) {
    EXPECT_NE(std::string(fault.what()).find("on an earlier call; not called again"), std::string::npos)
        << fault.what();
  }
}

TEST(PluginIsolation, IsolatedResultsEqualDirectOnes) {
  PluginOptions direct;
  direct.isolate = false;
  const auto isolated_impl = load_plugin(plugin("minimal"));
  const auto direct_impl = load_plugin(plugin("minimal"), direct);
  const Case test_case = random_case(TensorDesc{3, 4, 5, 2, Layout::nhwc, DType::f64}, 9);
  std::vector<double> a(test_case.x.size()), b(test_case.x.size());
  isolated_impl->bn_forward_infer(test_case.desc, test_case.params, test_case.x.data(), test_case.gamma.data(),
                                  test_case.beta.data(), test_case.running_mean.data(),
                                  test_case.running_var.data(), a.data());
  direct_impl->bn_forward_infer(test_case.desc, test_case.params, test_case.x.data(), test_case.gamma.data(),
                                test_case.beta.data(), test_case.running_mean.data(),
                                test_case.running_var.data(), b.data());
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace bnh
