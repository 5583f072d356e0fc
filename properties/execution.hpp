// Runs one operation of an implementation on a case's data, converting to and from the case's
// dtype, so that checks can work on plain double vectors whatever the dtype.
#pragma once

#include <vector>

#include "bnh/implementation.hpp"
#include "properties/case.hpp"

namespace bnh {

// An implementation seen through buffers of doubles: each call stores its inputs into buffers
// of their dtypes (dtype_of: the data dtype for tensors, the statistics dtype per channel),
// rounding them, runs the wrapped implementation, and loads what it wrote back, exactly. The
// gradient check differentiates any dtype pair through it.
class InDoubles final : public UniformImplementation {
 public:
  explicit InDoubles(Implementation& wrapped) : wrapped_(wrapped) {}
  std::string name() const override { return wrapped_.name(); }
  std::string description() const override { return wrapped_.description(); }
  bool supports(const TensorDesc& desc) const override { return wrapped_.supports(desc); }
  bool supports(Operation operation) const override { return wrapped_.supports(operation); }
  // `buffers` point to doubles.
  void run(Operation operation, const TensorDesc& desc, const Params& params, const OperationBuffers& buffers) override;

 private:
  Implementation& wrapped_;
};

struct ForwardOutputs {
  std::vector<double> y, save_mean, save_invstd, r, d, running_mean, running_var;
};

struct BackwardOutputs {
  std::vector<double> dx, dgamma, dbeta;
};

// Training forward on the case's x, gamma, beta. Batch norm tracks the case's running
// statistics when `track_running` is set; renorm always reads and updates them.
ForwardOutputs run_forward_train(Implementation& implementation, const Case& test_case, bool renorm,
                                 bool track_running = true);
std::vector<double> run_forward_infer(Implementation& implementation, const Case& test_case);
// Backward on the case's dy, x, gamma with the given saved values (r and d for renorm only).
BackwardOutputs run_backward(Implementation& implementation, const Case& test_case, bool renorm,
                             const std::vector<double>& save_mean,
                             const std::vector<double>& save_invstd,
                             const std::vector<double>& r = {}, const std::vector<double>& d = {});

}  // namespace bnh
