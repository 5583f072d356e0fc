// An implementation seen through the conformance runner: every call passes through, and the
// first refusal and the first fault of a case are remembered.
#pragma once

#include <string>

#include "bnh/implementation.hpp"

namespace bnh {

// Passes every call through and remembers the first refusal and the first fault of a case,
// whatever the property then does with the exception: some checks fold any error of the
// implementation into their own failure text.
class Observed final : public Implementation {
 public:
  explicit Observed(Implementation& inner) : inner_(inner) {}
  std::string refusal, fault;
  void forget() { refusal.clear(); fault.clear(); }

  std::string name() const override { return inner_.name(); }
  std::string description() const override { return inner_.description(); }
  bool supports(const TensorDesc& desc) const override { return inner_.supports(desc); }
  bool supports(Operation operation) const override { return inner_.supports(operation); }

  void bn_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, void* y, void* save_mean,
                        void* save_invstd, void* running_mean, void* running_var) override {
    observe([&] { inner_.bn_forward_train(desc, params, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var); });
  }
  void bn_forward_infer(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, const void* running_mean,
                        const void* running_var, void* y) override {
    observe([&] { inner_.bn_forward_infer(desc, params, x, gamma, beta, running_mean, running_var, y); });
  }
  void bn_backward(const TensorDesc& desc, const Params& params, const void* dy, const void* x,
                   const void* gamma, const void* save_mean, const void* save_invstd, void* dx,
                   void* dgamma, void* dbeta) override {
    observe([&] { inner_.bn_backward(desc, params, dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta); });
  }
  void renorm_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                            const void* gamma, const void* beta, void* y, void* save_mean,
                            void* save_invstd, void* r, void* d, void* running_mean,
                            void* running_var) override {
    observe([&] {
      inner_.renorm_forward_train(desc, params, x, gamma, beta, y, save_mean, save_invstd, r, d, running_mean, running_var);
    });
  }
  void renorm_backward(const TensorDesc& desc, const Params& params, const void* dy,
                       const void* x, const void* gamma, const void* save_mean,
                       const void* save_invstd, const void* r, const void* d, void* dx,
                       void* dgamma, void* dbeta) override {
    observe([&] { inner_.renorm_backward(desc, params, dy, x, gamma, save_mean, save_invstd, r, d, dx, dgamma, dbeta); });
  }

 private:
  template <typename Call>
  void observe(Call&& call) {
    try {
      call();
    } catch (const PluginFault& error) {
      if (fault.empty()) fault = error.what();
      throw;
    } catch (const PluginRefusal& error) {
      if (refusal.empty()) refusal = error.what();
      throw;
    }
  }
  Implementation& inner_;
};

}  // namespace bnh
