// Every bad input of SPEC.md section 4, given to the reference and to every built-in
// implementation, is refused with a message that names the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "bnh/registry.hpp"
#include "reference/reference.hpp"

namespace bnh {
namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

struct BadInput {
  const char* label;
  Operation operation;
  TensorDesc desc;
  Params params;
  const char* message;                 // must appear in the error
  double running_var = 1.0;            // every channel's running variance
  bool null_x = false;
};

TensorDesc shape(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return TensorDesc{n, c, h, w, Layout::nchw, DType::f32};
}

Params with_eps(double eps) { Params p; p.eps = eps; return p; }
Params with_momentum(double m) { Params p; p.momentum = m; return p; }
Params with_limits(double rmax, double dmax) { Params p; p.rmax = rmax; p.dmax = dmax; return p; }

std::vector<BadInput> bad_inputs() {
  const TensorDesc ok = shape(2, 3, 2, 2);
  TensorDesc bad_dtype = ok, bad_layout = ok;
  bad_dtype.dtype = static_cast<DType>(7);
  bad_layout.layout = static_cast<Layout>(9);
  const std::int64_t big = std::int64_t{1} << 20;
  std::vector<BadInput> cases;
  for (Operation op : all_operations) {
    cases.push_back({"N = 0", op, shape(0, 3, 2, 2), {}, "dimension N must be >= 1"});
    cases.push_back({"C < 0", op, shape(2, -1, 2, 2), {}, "dimension C must be >= 1"});
    cases.push_back({"H = 0", op, shape(2, 3, 0, 2), {}, "dimension H must be >= 1"});
    cases.push_back({"W = 0", op, shape(2, 3, 2, 0), {}, "dimension W must be >= 1"});
    cases.push_back({"overflow", op, shape(big, big, big, big), {}, "overflows int64"});
    cases.push_back({"dtype", op, bad_dtype, {}, "unknown dtype code 7"});
    cases.push_back({"layout", op, bad_layout, {}, "unknown layout code 9"});
    cases.push_back({"NULL x", op, ok, {}, "x must not be NULL", 1.0, true});
  }
  for (Operation op : {Operation::bn_forward_train, Operation::renorm_forward_train,
                       Operation::bn_backward, Operation::renorm_backward}) {
    cases.push_back({"M = 1", op, shape(1, 3, 1, 1), {},
                     "expected more than 1 value per channel when training"});
  }
  for (Operation op : {Operation::bn_forward_train, Operation::bn_forward_infer,
                       Operation::renorm_forward_train}) {
    for (double eps : {0.0, -1e-5, nan, inf}) {
      cases.push_back({"eps", op, ok, with_eps(eps), "eps must be > 0 and finite"});
    }
    cases.push_back({"running_var < 0", op, ok, {}, "running_var must be >= 0", -0.5});
  }
  for (Operation op : {Operation::bn_forward_train, Operation::renorm_forward_train}) {
    for (double momentum : {-0.1, 1.5, nan}) {
      cases.push_back({"momentum", op, ok, with_momentum(momentum), "momentum must be in [0, 1]"});
    }
  }
  for (double rmax : {0.5, 0.0, nan}) {
    cases.push_back({"rmax", Operation::renorm_forward_train, ok, with_limits(rmax, 1.0),
                     "rmax must be >= 1"});
  }
  for (double dmax : {-1.0, nan}) {
    cases.push_back({"dmax", Operation::renorm_forward_train, ok, with_limits(2.0, dmax),
                     "dmax must be >= 0"});
  }
  return cases;
}

// Calls the operation through the implementation interface with buffers that are large enough
// for every valid shape here; validation must refuse before any buffer is touched otherwise.
void call(Implementation& impl, const BadInput& bad) {
  std::vector<double> big(256, 0.5), channel(64, 0.5), var(64, bad.running_var);
  std::vector<double> out(256), c1(64), c2(64), c3(64), c4(64), rm(64, 0.0), rv(var);
  const void* x = bad.null_x ? nullptr : big.data();
  const TensorDesc& d = bad.desc;
  const Params& p = bad.params;
  switch (bad.operation) {
    case Operation::bn_forward_train:
      impl.bn_forward_train(d, p, x, channel.data(), channel.data(), out.data(), c1.data(),
                            c2.data(), rm.data(), rv.data());
      break;
    case Operation::bn_forward_infer:
      impl.bn_forward_infer(d, p, x, channel.data(), channel.data(), rm.data(), var.data(), out.data());
      break;
    case Operation::bn_backward:
      impl.bn_backward(d, p, big.data(), x, channel.data(), channel.data(), channel.data(),
                       out.data(), c1.data(), c2.data());
      break;
    case Operation::renorm_forward_train:
      impl.renorm_forward_train(d, p, x, channel.data(), channel.data(), out.data(), c1.data(),
                                c2.data(), c3.data(), c4.data(), rm.data(), rv.data());
      break;
    case Operation::renorm_backward:
      impl.renorm_backward(d, p, big.data(), x, channel.data(), channel.data(), channel.data(),
                           channel.data(), channel.data(), out.data(), c1.data(), c2.data());
      break;
  }
}

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
  for (BadInput bad : bad_inputs()) {
    // The dtype cases use f32 buffers' worth of bytes; switch to f64 to exercise both paths.
    expect_refusal([&] { call(*impl, bad); }, bad);
    if (bad.desc.dtype == DType::f32) {
      bad.desc.dtype = DType::f64;
      expect_refusal([&] { call(*impl, bad); }, bad);
    }
  }
}

TEST_P(BadInputForImplementation, RunningBuffersComeInPairs) {
  const auto impl = make_implementation(GetParam());
  const TensorDesc desc{2, 2, 1, 1, Layout::nchw, DType::f64};
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
  std::vector<double> x{1, 2, 3, 4}, gamma(2, 1.0), beta(2, 0.0), mean{0, 0}, var{nan, 1}, y(4);
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
