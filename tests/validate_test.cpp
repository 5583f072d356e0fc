// Every bad input of SPEC.md section 4, given to the reference and to every built-in
// implementation, is refused with a message that names the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "bnh/registry.hpp"
#include "properties/bad_input.hpp"
#include "reference/reference.hpp"

namespace bnh {
namespace {

// The reference takes vectors; NULL has no meaning there, so those cases are skipped.
void call_reference(const BadInput& bad) {
  using reference::Real;
  const TensorDesc& d = bad.desc;
  auto in_range = [](std::int64_t dim) { return dim >= 1 && dim <= 256; };
  const bool small = in_range(d.n) && in_range(d.c) && in_range(d.h) && in_range(d.w);
  const std::size_t elements = small ? d.elements() : 1, channels = small ? d.c : 1;
  const std::vector<Real> x(elements, Real(0.5)), per_channel(channels, Real(0.5));
  const std::vector<Real> rm(channels, Real(0)), rv(channels, Real(bad.running_var));
  switch (bad.operation) {
    case Operation::bn_forward_train:
      reference::bn_forward_train(d, bad.params, x, per_channel, per_channel, rm, rv);
      break;
    case Operation::bn_forward_infer:
      reference::bn_forward_infer(d, bad.params, x, per_channel, per_channel, rm, rv);
      break;
    case Operation::bn_backward:
      reference::bn_backward(d, bad.params, x, x, per_channel, per_channel, per_channel);
      break;
    case Operation::renorm_forward_train:
      reference::renorm_forward_train(d, bad.params, x, per_channel, per_channel, rm, rv);
      break;
    case Operation::renorm_backward:
      reference::renorm_backward(d, bad.params, x, x, per_channel, per_channel, per_channel,
                                 per_channel, per_channel);
      break;
  }
}

std::string describe(const BadInput& bad) {
  return std::string(bad.label) + " in " + to_string(bad.operation);
}

void expect_refusal(const std::function<void()>& attempt, const BadInput& bad) {
  try {
    attempt();
    ADD_FAILURE() << describe(bad) << ": accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(bad.message), std::string::npos)
        << describe(bad) << ": message '" << error.what() << "' does not contain '"
        << bad.message << "'";
  }
}

TEST(BadInput, ReferenceRefusesEachWithItsMessage) {
  int checked = 0;
  for (const BadInput& bad : bad_inputs()) {
    if (bad.null_x) continue;
    expect_refusal([&] { call_reference(bad); }, bad);
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

class BadInputForImplementation : public testing::TestWithParam<std::string> {};

TEST_P(BadInputForImplementation, RefusesEachWithItsMessage) {
  const auto impl = make_implementation(GetParam());
  // An implementation without f64 (a peer) refuses a well-formed f64 call as unsupported before
  // it looks at the buffers or the running statistics: the f64 pass is for those that have f64.
  const bool f64 = impl->supports(TensorDesc{2, 2, 1, 1, Layout::nchw, DType::f64});
  for (BadInput bad : bad_inputs()) {
    // Each entry in f32, then again in f64, to exercise both paths.
    expect_refusal([&] { present_bad_input(*impl, bad); }, bad);
    if (bad.desc.dtype == DType::f32 && f64) {
      bad.desc.dtype = DType::f64;
      expect_refusal([&] { present_bad_input(*impl, bad); }, bad);
    }
  }
}

TEST_P(BadInputForImplementation, RunningBuffersComeInPairs) {
  const auto impl = make_implementation(GetParam());
  TensorDesc desc{2, 2, 1, 1, Layout::nchw, DType::f64};
  if (!impl->supports(desc)) desc.dtype = DType::f32;  // the doubles hold enough floats
  std::vector<double> x(4, 1.0), channel(2, 1.0), y(4), c1(2), c2(2), running(2, 0.0);
  try {
    impl->bn_forward_train(desc, {}, x.data(), channel.data(), channel.data(), y.data(), c1.data(),
                           c2.data(), running.data(), nullptr);
    ADD_FAILURE() << "accepted running_mean without running_var";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("both"), std::string::npos) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, BadInputForImplementation,
                         testing::ValuesIn(registered_names()),
                         [](const auto& info) { return info.param; });

TEST(BadInput, NonFiniteRunningVarIsDataNotAnError) {
  const auto impl = make_implementation("naive");
  const TensorDesc desc{2, 2, 1, 1, Layout::nchw, DType::f64};
  std::vector<double> x{1, 2, 3, 4}, gamma(2, 1.0), beta(2, 0.0), mean{0, 0}, var{NAN, 1}, y(4);
  impl->bn_forward_infer(desc, {}, x.data(), gamma.data(), beta.data(), mean.data(), var.data(),
                         y.data());
  // NCHW with H = W = 1: channel 0 holds x[0] and x[2].
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_TRUE(std::isfinite(y[1]));
  EXPECT_TRUE(std::isfinite(y[3]));
}

}  // namespace
}  // namespace bnh
