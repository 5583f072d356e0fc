// Every property runs on the operations an implementation has: an implementation that provides
// only inference, or only renorm, still gets every property that can check it.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "bnh/registry.hpp"
#include "properties/conformance.hpp"

namespace bnh {
namespace {

// naive, with only some of its operations: the others are "not provided".
class OnlySome final : public Implementation {
 public:
  explicit OnlySome(std::set<Operation> provided) : inner_(make_implementation("naive")), provided_(std::move(provided)) {}
  std::string name() const override { return "naive-part"; }
  std::string description() const override { return "naive with some operations only"; }
  bool supports(const TensorDesc& desc) const override { return inner_->supports(desc); }
  bool supports(Operation operation) const override { return provided_.count(operation) != 0; }

  void bn_forward_train(const TensorDesc& desc, const Params& params, const void* x, const void* gamma,
                        const void* beta, void* y, void* save_mean, void* save_invstd,
                        void* running_mean, void* running_var) override {
    require(Operation::bn_forward_train);
    inner_->bn_forward_train(desc, params, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var);
  }
  void bn_forward_infer(const TensorDesc& desc, const Params& params, const void* x, const void* gamma,
                        const void* beta, const void* running_mean, const void* running_var,
                        void* y) override {
    require(Operation::bn_forward_infer);
    inner_->bn_forward_infer(desc, params, x, gamma, beta, running_mean, running_var, y);
  }
  void bn_backward(const TensorDesc& desc, const Params& params, const void* dy, const void* x,
                   const void* gamma, const void* save_mean, const void* save_invstd, void* dx,
                   void* dgamma, void* dbeta) override {
    require(Operation::bn_backward);
    inner_->bn_backward(desc, params, dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  }
  void renorm_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                            const void* gamma, const void* beta, void* y, void* save_mean,
                            void* save_invstd, void* r, void* d, void* running_mean,
                            void* running_var) override {
    require(Operation::renorm_forward_train);
    inner_->renorm_forward_train(desc, params, x, gamma, beta, y, save_mean, save_invstd, r, d, running_mean, running_var);
  }
  void renorm_backward(const TensorDesc& desc, const Params& params, const void* dy, const void* x,
                       const void* gamma, const void* save_mean, const void* save_invstd,
                       const void* r, const void* d, void* dx, void* dgamma, void* dbeta) override {
    require(Operation::renorm_backward);
    inner_->renorm_backward(desc, params, dy, x, gamma, save_mean, save_invstd, r, d, dx, dgamma, dbeta);
  }

 private:
  void require(Operation operation) const {
    if (!supports(operation)) throw Unsupported(std::string(to_string(operation)) + " not provided");
  }
  std::unique_ptr<Implementation> inner_;
  std::set<Operation> provided_;
};

// The properties that ran (passed) and failed on `provided`.
std::set<std::string> passed_properties(std::set<Operation> provided) {
  OnlySome implementation(std::move(provided));
  ConformanceOptions options;
  options.cases = 10;
  options.seed = 5;
  options.realistic = false;
  std::set<std::string> passed;
  for (const auto& result : run_conformance(implementation, options).properties) {
    EXPECT_NE(result.status, PropertyResult::Status::failed) << result.property << ": " << result.failure;
    if (result.status == PropertyResult::Status::passed && result.cases > 0) passed.insert(result.property);
  }
  return passed;
}

TEST(ConformanceOperations, InferenceAloneGetsEveryPropertyThatCanCheckIt) {
  const auto passed = passed_properties({Operation::bn_forward_infer});
  for (const char* name : {"agreement_bn_forward_infer", "finite_output", "non_finite_stays_in_channel",
                           "determinism", "layout_equivalence", "batch_permutation_equivariance",
                           "four_d_as_two_d"}) {
    EXPECT_EQ(passed.count(name), 1u) << name;
  }
  EXPECT_EQ(passed.count("normalized_output"), 0u);
}

TEST(ConformanceOperations, RenormAloneGetsTheBatchNormPropertiesThatHoldForIt) {
  const auto passed = passed_properties({Operation::renorm_forward_train, Operation::renorm_backward});
  for (const char* name : {"normalized_output", "shift_invariance", "scale_invariance", "gradient_sums_vanish",
                           "parameter_gradients", "backward_linear_in_dy", "running_statistics_update",
                           "renorm_within_limits", "determinism", "non_finite_stays_in_channel", "finite_output",
                           "layout_equivalence"}) {
    EXPECT_EQ(passed.count(name), 1u) << name;
  }
  EXPECT_EQ(passed.count("agreement_bn_forward_train"), 0u);
}

// A forward without its backward: the backward properties are skipped at once, not run on
// cases that all come to nothing.
TEST(ConformanceOperations, ATrainingForwardAloneSkipsTheBackwardProperties) {
  OnlySome implementation({Operation::bn_forward_train});
  ConformanceOptions options;
  options.cases = 10;
  options.realistic = false;
  options.properties = {"gradient_sums_vanish", "parameter_gradients", "backward_linear_in_dy", "shift_invariance"};
  const auto result = run_conformance(implementation, options);
  for (const auto& property : result.properties) {
    const bool backward_only = property.property != std::string("shift_invariance");
    EXPECT_EQ(property.status, backward_only ? PropertyResult::Status::skipped : PropertyResult::Status::passed)
        << property.property;
  }
}

}  // namespace
}  // namespace bnh
