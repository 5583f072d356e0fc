// Every built-in implementation against the reference, and evidence that the agreement check
// notices a wrong value in any single output.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "bnh/operations.hpp"
#include "bnh/registry.hpp"
#include "properties/agreement_suite.hpp"
#include "properties/case.hpp"
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
