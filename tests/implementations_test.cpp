// Every built-in implementation against the reference, and evidence that the agreement check
// notices a wrong value in any single output. naive and eigen in bf16 and f16, mixed and pure:
// each output is their f64 output rounded once, and a NaN channel stays in its channel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bnh/operations.hpp"
#include "bnh/registry.hpp"
#include "properties/agreement_suite.hpp"
#include "properties/case.hpp"
#include "properties/execution.hpp"
#include "properties/reference_agreement.hpp"

namespace bnh {
namespace {

class BuiltinImplementation : public testing::TestWithParam<std::string> {};

TEST_P(BuiltinImplementation, AgreesWithTheReferenceOnEdgeAndRandomShapes) {
  const auto impl = make_implementation(GetParam());
  for (std::uint64_t seed : {1u, 2u}) {
    AgreementSuiteOptions options;
    options.seed = seed;
    options.random_shapes = 6;
    for (const auto& summary : run_agreement_suite(*impl, options)) {
      // Supported exactly where the implementation says it is (peers lack f64 or renorm).
      const bool provided = impl->supports(summary.operation) &&
                            impl->supports(TensorDesc{2, 1, 1, 1, summary.layout, summary.dtype});
      EXPECT_EQ(summary.supported, provided) << to_string(summary.operation);
      EXPECT_EQ(summary.failures, 0) << summary.first_failure;
    }
  }
}

TEST_P(BuiltinImplementation, AgreesWithTheReferenceOnALargerTensor) {
  const auto impl = make_implementation(GetParam());
  for (DType dtype : {DType::f32, DType::f64}) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      const Case test_case = random_case(TensorDesc{8, 5, 23, 19, layout, dtype}, 77);
      for (Operation operation : all_operations) {
        const auto result = check_reference_agreement(*impl, test_case, operation);
        EXPECT_TRUE(result.passed()) << test_case.summary() << "\n" << result.describe();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, BuiltinImplementation, testing::ValuesIn(registered_names()),
                         [](const auto& info) { return info.param; });

// naive with one output of one operation nudged at one element.
class Nudged final : public UniformImplementation {
 public:
  Nudged(Operation operation, std::string output) : operation_(operation), output_(std::move(output)) {}
  std::string name() const override { return "nudged"; }
  std::string description() const override { return ""; }
  bool supports(const TensorDesc& desc) const override { return inner_->supports(desc); }
  bool supports(Operation operation) const override { return inner_->supports(operation); }

  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    call(*inner_, operation, desc, params, buffers);
    if (operation != operation_) return;
    const OperationSpec& spec = operation_spec(operation);
    const int k = spec.index_of(output_);
    ASSERT_GE(k, 0) << output_ << " is not a buffer of " << to_string(operation);
    // One part in a thousand of the last element: far beyond rounding, small for a bug.
    const std::int64_t last = values_in(spec.buffers[k].extent, desc) - 1;
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      T& value = static_cast<T*>(buffers[static_cast<std::size_t>(k)])[last];
      value += static_cast<T>(1e-3 * (1 + std::fabs(value)));
    });
  }

 private:
  Operation operation_;
  std::string output_;
  std::unique_ptr<Implementation> inner_ = make_implementation("naive");
};

// Every buffer an operation writes or updates, per the table.
TEST(ReferenceAgreement, CatchesAWrongValueInEveryOutput) {
  for (DType dtype : {DType::f32, DType::f64}) {
    const Case test_case = random_case(TensorDesc{3, 4, 5, 2, Layout::nhwc, dtype}, 5);
    for (Operation operation : all_operations) {
      for (const BufferSpec& buffer : operation_spec(operation)) {
        if (buffer.role == BufferRole::input) continue;
        const std::string name = buffer.name;
        Nudged nudged(operation, name);
        const auto result = check_reference_agreement(nudged, test_case, operation);
        EXPECT_FALSE(result.passed()) << to_string(operation) << " " << name << " " << to_string(dtype);
        bool named = false;
        for (const auto& output : result.outputs) named |= output.output == name && !output.passed();
        EXPECT_TRUE(named) << result.describe();
      }
    }
  }
}

// ---- bf16 and f16 -----------------------------------------------------------------------------

// The reduced pairs: mixed (f32 statistics, the default) and pure (statistics in the data dtype).
struct ReducedPair {
  DType data;
  std::optional<DType> stats;
};
const ReducedPair reduced_pairs[] = {
    {DType::bf16, std::nullopt}, {DType::bf16, DType::bf16}, {DType::f16, std::nullopt}, {DType::f16, DType::f16}};

std::string label(const ReducedPair& pair) {
  TensorDesc desc;
  desc.dtype = pair.data;
  desc.stats = pair.stats;
  return dtypes_label(desc);
}

void round_all(std::vector<double>& values, DType dtype) {
  for (double& value : values) value = round_to_dtype(value, dtype);
}

// The case with its data in `pair`'s data dtype and its per-channel values in its statistics
// dtype; and the same values as an f64 case.
struct CasePair {
  Case reduced, wide;
};
CasePair in_dtypes(Case tc, const ReducedPair& pair) {
  tc.desc.dtype = pair.data;
  tc.desc.stats = pair.stats;
  round_all(tc.x, pair.data);
  round_all(tc.dy, pair.data);
  const DType stats = tc.desc.stats_dtype();
  for (auto* channel : {&tc.gamma, &tc.beta, &tc.running_mean, &tc.running_var}) round_all(*channel, stats);
  Case wide = tc;
  wide.desc.dtype = DType::f64;
  wide.desc.stats.reset();
  return {tc, wide};
}

// Bit for bit, NaN equal to NaN.
void expect_rounded(const std::vector<double>& reduced, const std::vector<double>& wide, DType dtype,
                    const std::string& what) {
  ASSERT_EQ(reduced.size(), wide.size()) << what;
  int shown = 0;
  for (std::size_t i = 0; i < reduced.size(); ++i) {
    const double expected = round_to_dtype(wide[i], dtype);
    const bool same = (std::isnan(expected) && std::isnan(reduced[i])) ||
                      std::memcmp(&expected, &reduced[i], sizeof expected) == 0;
    if (!same && shown++ < 3) ADD_FAILURE() << what << "[" << i << "] = " << reduced[i] << ", f64 rounded " << expected;
  }
}

// Every operation of `impl` on the pair of cases: each reduced output is the f64 output rounded
// once to its buffer's dtype. The backward passes take the reduced run's saved statistics.
void expect_f64_rounded(Implementation& impl, const CasePair& cases) {
  const Case& tc = cases.reduced;
  const DType data = tc.desc.dtype, stats = tc.desc.stats_dtype();
  const std::string where = label({data, tc.desc.stats}) + " " + tc.summary() + ": ";
  for (bool renorm : {false, true}) {
    const std::string op = where + (renorm ? "renorm " : "bn ");
    const ForwardOutputs low = run_forward_train(impl, tc, renorm);
    const ForwardOutputs high = run_forward_train(impl, cases.wide, renorm);
    expect_rounded(low.y, high.y, data, op + "y");
    expect_rounded(low.save_mean, high.save_mean, stats, op + "save_mean");
    expect_rounded(low.save_invstd, high.save_invstd, stats, op + "save_invstd");
    expect_rounded(low.running_mean, high.running_mean, stats, op + "running_mean");
    expect_rounded(low.running_var, high.running_var, stats, op + "running_var");
    if (renorm) {
      expect_rounded(low.r, high.r, stats, op + "r");
      expect_rounded(low.d, high.d, stats, op + "d");
    }
    const BackwardOutputs back = run_backward(impl, tc, renorm, low.save_mean, low.save_invstd, low.r, low.d);
    const BackwardOutputs back_wide =
        run_backward(impl, cases.wide, renorm, low.save_mean, low.save_invstd, low.r, low.d);
    expect_rounded(back.dx, back_wide.dx, data, op + "dx");
    expect_rounded(back.dgamma, back_wide.dgamma, stats, op + "dgamma");
    expect_rounded(back.dbeta, back_wide.dbeta, stats, op + "dbeta");
  }
  expect_rounded(run_forward_infer(impl, tc), run_forward_infer(impl, cases.wide), data, where + "infer y");
}

// naive and eigen compute in double whatever the dtypes, and their f64 arithmetic is the same
// for any input type: with reduced inputs (exact in double) each output must be the f64 run's
// output rounded once to nearest even, f16's overflow to infinity and its subnormals included.
class DoubleArithmetic : public testing::TestWithParam<std::string> {};

TEST_P(DoubleArithmetic, ReducedOutputsAreTheF64OutputsRoundedOnce) {
  const auto impl = make_implementation(GetParam());
  const std::vector<TensorDesc> shapes{{2, 1, 1, 1}, {3, 5, 7, 4}, {37, 5, 1, 1}, {2, 70, 3, 3}, {2, 3, 37, 29}};
  std::uint64_t seed = 300;
  for (const ReducedPair& pair : reduced_pairs) {
    for (TensorDesc desc : shapes) {
      for (Layout layout : {Layout::nchw, Layout::nhwc}) {
        desc.layout = layout;
        desc.dtype = DType::f64;
        expect_f64_rounded(*impl, in_dtypes(random_case(desc, seed++), pair));
      }
    }
  }
}

TEST_P(DoubleArithmetic, LargeMeanOverflowAndSubnormalOutputs) {
  const auto impl = make_implementation(GetParam());
  for (const ReducedPair& pair : reduced_pairs) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      Case tc = random_case(TensorDesc{4, 3, 6, 5, layout, DType::f64}, 41);
      // Mean 5, spread 0.1 (a one-pass variance in bf16 comes out negative); channel 1's
      // outputs beyond f16's 65504, channel 2's below its least normal.
      for (double& value : tc.x) value = 5 + 0.1 * value;
      for (double& value : tc.running_mean) value = 5 + 0.01 * value;
      for (double& value : tc.running_var) value = 0.01 * value;
      tc.gamma[1] = 4e4;
      tc.gamma[2] = 3e-6;
      tc.beta[2] = 0;
      expect_f64_rounded(*impl, in_dtypes(tc, pair));
    }
  }
}

// A NaN in one channel of a reduced tensor leaves the other channels' outputs finite.
TEST_P(DoubleArithmetic, ANanChannelStaysInItsChannel) {
  const auto impl = make_implementation(GetParam());
  for (const ReducedPair& pair : reduced_pairs) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      Case tc = in_dtypes(random_case(TensorDesc{3, 4, 5, 2, layout, DType::f64}, 12), pair).reduced;
      const std::int64_t poisoned = 2;
      tc.x[static_cast<std::size_t>(tc.desc.offset(1, poisoned, 3))] = NAN;
      const ForwardOutputs out = run_forward_train(*impl, tc, true);
      const BackwardOutputs back = run_backward(*impl, tc, true, out.save_mean, out.save_invstd, out.r, out.d);
      for (std::int64_t c = 0; c < tc.desc.c; ++c) {
        const bool nan = c == poisoned;
        EXPECT_EQ(std::isnan(out.save_mean[c]), nan) << label(pair) << " channel " << c;
        EXPECT_EQ(std::isnan(out.running_var[c]), nan) << label(pair) << " channel " << c;
        EXPECT_EQ(std::isnan(back.dgamma[c]), nan) << label(pair) << " channel " << c;
        tc.desc.for_each_in_channel(c, [&](std::int64_t i) {
          EXPECT_EQ(std::isnan(out.y[i]), nan) << label(pair) << " channel " << c;
          EXPECT_EQ(std::isnan(back.dx[i]), nan) << label(pair) << " channel " << c;
        });
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Textbook, DoubleArithmetic, testing::Values("naive", "eigen"),
                         [](const auto& info) { return info.param; });

TEST(ReferenceAgreement, UlpDistance) {
  EXPECT_EQ(ulp_distance(1.0f, 1.0f), 0);
  EXPECT_EQ(ulp_distance(std::nextafter(1.0f, 2.0f), 1.0f), 1);
  EXPECT_EQ(ulp_distance(1.0 + 4 * 0x1p-52, 1.0), 4);
  EXPECT_EQ(ulp_distance(NAN, NAN), 0);
  EXPECT_TRUE(std::isinf(ulp_distance(1.0, double(NAN))));
  EXPECT_TRUE(std::isinf(ulp_distance(double(INFINITY), 1.0)));
}

}  // namespace
}  // namespace bnh
