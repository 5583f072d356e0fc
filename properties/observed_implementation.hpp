// An implementation seen through the conformance runner: every call passes through, and the
// first refusal and the first fault of a case are remembered.
#pragma once

#include <string>

#include "bnh/implementation.hpp"

namespace bnh {

// Passes every call through and remembers the first refusal and the first fault of a case,
// whatever the property then does with the exception: some checks fold any error of the
// implementation into their own failure text.
class Observed final : public UniformImplementation {
 public:
  explicit Observed(Implementation& inner) : inner_(inner) {}
  std::string refusal, fault;
  void forget() { refusal.clear(); fault.clear(); }

  std::string name() const override { return inner_.name(); }
  std::string description() const override { return inner_.description(); }
  bool supports(const TensorDesc& desc) const override { return inner_.supports(desc); }
  bool supports(Operation operation) const override { return inner_.supports(operation); }

  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    try {
      bnh::call(inner_, operation, desc, params, buffers);
    } catch (const PluginFault& error) {
      if (fault.empty()) fault = error.what();
      throw;
    } catch (const PluginRefusal& error) {
      if (refusal.empty()) refusal = error.what();
      throw;
    }
  }

 private:
  Implementation& inner_;
};

}  // namespace bnh
