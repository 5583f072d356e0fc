// The C++ interface every implementation under test presents to the harness: the five
// operations of SPEC.md section 5, a name, and what it supports. Built-in implementations get
// it from bnh/kernels.hpp; plugins get it from the loader (bnh/plugin_loader.hpp).
//
// Pointers point to elements of desc.dtype, exactly as in the C ABI. Every operation throws
// bnh::Error when it rejects the call and bnh::Unsupported when it does not provide it.
#pragma once

#include <memory>
#include <string>

#include "bnh/operations.hpp"
#include "bnh/types.hpp"

namespace bnh {

class Implementation {
 public:
  virtual ~Implementation() = default;

  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual bool supports(const TensorDesc& desc) const = 0;   // dtype and layout
  virtual bool supports(Operation operation) const = 0;

  // running_mean / running_var: nullptr = do not track.
  virtual void bn_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                                const void* gamma, const void* beta, void* y, void* save_mean,
                                void* save_invstd, void* running_mean, void* running_var) = 0;
  virtual void bn_forward_infer(const TensorDesc& desc, const Params& params, const void* x,
                                const void* gamma, const void* beta, const void* running_mean,
                                const void* running_var, void* y) = 0;
  virtual void bn_backward(const TensorDesc& desc, const Params& params, const void* dy,
                           const void* x, const void* gamma, const void* save_mean,
                           const void* save_invstd, void* dx, void* dgamma, void* dbeta) = 0;
  // running_mean / running_var: read, then updated; required.
  virtual void renorm_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                                    const void* gamma, const void* beta, void* y, void* save_mean,
                                    void* save_invstd, void* r, void* d, void* running_mean,
                                    void* running_var) = 0;
  virtual void renorm_backward(const TensorDesc& desc, const Params& params, const void* dy,
                               const void* x, const void* gamma, const void* save_mean,
                               const void* save_invstd, const void* r, const void* d, void* dx,
                               void* dgamma, void* dbeta) = 0;
};

// An implementation that runs every operation through one function taking the operation's
// buffers as the table orders them (bnh/operations.hpp): the plugin loader, test doubles.
class UniformImplementation : public Implementation {
 public:
  virtual void run(Operation operation, const TensorDesc& desc, const Params& params,
                   const OperationBuffers& buffers) = 0;

  void bn_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, void* y, void* save_mean,
                        void* save_invstd, void* running_mean, void* running_var) final {
    run(Operation::bn_forward_train, desc, params,
        {x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var});
  }
  void bn_forward_infer(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, const void* running_mean,
                        const void* running_var, void* y) final {
    run(Operation::bn_forward_infer, desc, params, {x, gamma, beta, running_mean, running_var, y});
  }
  void bn_backward(const TensorDesc& desc, const Params& params, const void* dy, const void* x,
                   const void* gamma, const void* save_mean, const void* save_invstd, void* dx,
                   void* dgamma, void* dbeta) final {
    run(Operation::bn_backward, desc, params, {dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta});
  }
  void renorm_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                            const void* gamma, const void* beta, void* y, void* save_mean,
                            void* save_invstd, void* r, void* d, void* running_mean,
                            void* running_var) final {
    run(Operation::renorm_forward_train, desc, params,
        {x, gamma, beta, y, save_mean, save_invstd, r, d, running_mean, running_var});
  }
  void renorm_backward(const TensorDesc& desc, const Params& params, const void* dy,
                       const void* x, const void* gamma, const void* save_mean,
                       const void* save_invstd, const void* r, const void* d, void* dx,
                       void* dgamma, void* dbeta) final {
    run(Operation::renorm_backward, desc, params,
        {dy, x, gamma, save_mean, save_invstd, r, d, dx, dgamma, dbeta});
  }
};

}  // namespace bnh
