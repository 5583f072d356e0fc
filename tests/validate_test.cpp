// Every bad input of SPEC.md section 4, given to the reference and to every built-in
// implementation, is refused with a message that names the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "bnh/operations.hpp"
#include "bnh/registry.hpp"
#include "properties/bad_input.hpp"
#include "reference/reference.hpp"

namespace bnh {
namespace {

// The reference takes one vector for each buffer the operation reads or updates, in the order
// of the table (bnh/operations.hpp); NULL has no meaning there, so those cases are skipped.
void call_reference(const BadInput& bad) {
  using reference::Real;
  const TensorDesc& d = bad.desc;
  auto in_range = [](std::int64_t dim) { return dim >= 1 && dim <= 256; };
  const bool small = in_range(d.n) && in_range(d.c) && in_range(d.h) && in_range(d.w);
  std::vector<std::vector<Real>> a;
  for (const BufferSpec& buffer : operation_spec(bad.operation)) {
    if (buffer.role == BufferRole::output) continue;
    const std::string name = buffer.name;
    const double value = name == "running_var" ? bad.running_var : name == "running_mean" ? 0.0 : 0.5;
    a.emplace_back(static_cast<std::size_t>(small ? values_in(buffer.extent, d) : 1), Real(value));
  }
  const Params& p = bad.params;
  switch (bad.operation) {
    case Operation::bn_forward_train: reference::bn_forward_train(d, p, a[0], a[1], a[2], a[3], a[4]); break;
    case Operation::bn_forward_infer: reference::bn_forward_infer(d, p, a[0], a[1], a[2], a[3], a[4]); break;
    case Operation::bn_backward: reference::bn_backward(d, p, a[0], a[1], a[2], a[3], a[4]); break;
    case Operation::renorm_forward_train: reference::renorm_forward_train(d, p, a[0], a[1], a[2], a[3], a[4]); break;
    case Operation::renorm_backward: reference::renorm_backward(d, p, a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
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
