// Turns a struct of typed kernel templates into a bnh::Implementation, so that an
// implementation file holds only its math. The struct provides:
//
//   static constexpr const char* name, * description;
//   static bool supports(const TensorDesc&);
//   template <typename T> static void bn_forward_train(desc, params, x, gamma, beta,
//                                                      y, save_mean, save_invstd,
//                                                      running_mean, running_var);
//   ... and bn_forward_infer, bn_backward, renorm_forward_train, renorm_backward with the
//   argument lists of bnh/implementation.hpp, typed T instead of void.
//
// Optionally, static bool supports(Operation): absent, every operation is provided. A struct
// that lacks an operation returns false for it and throws bnh::Unsupported from that
// operation's kernels (which must still exist); they run only after the call is validated, so
// bad input is refused with its own message whatever the struct provides.
//
// The adapter validates every call (SPEC.md section 4) before a kernel runs, so kernels may
// assume well-formed input: dimensions >= 1, M > 1 when training, non-NULL required buffers.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "bnh/implementation.hpp"
#include "bnh/validate.hpp"

namespace bnh {

namespace detail {
// Whether Kernels declares the optional static bool supports(Operation).
template <typename Kernels, typename = void>
struct declares_operation_support : std::false_type {};
template <typename Kernels>
struct declares_operation_support<
    Kernels, std::void_t<decltype(Kernels::supports(std::declval<Operation>()))>> : std::true_type {};
}  // namespace detail

template <typename Kernels>
class KernelImplementation final : public Implementation {
 public:
  std::string name() const override { return Kernels::name; }
  std::string description() const override { return Kernels::description; }
  bool supports(const TensorDesc& desc) const override { return Kernels::supports(desc); }
  bool supports(Operation operation) const override {
    if constexpr (detail::declares_operation_support<Kernels>::value) {
      return Kernels::supports(operation);
    } else {
      static_cast<void>(operation);
      return true;
    }
  }

  void bn_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, void* y, void* save_mean,
                        void* save_invstd, void* running_mean, void* running_var) override {
    const auto op = Operation::bn_forward_train;
    admit(op, desc, params);
    require_buffers(op, {{x, "x"}, {gamma, "gamma"}, {beta, "beta"}, {y, "y"},
                         {save_mean, "save_mean"}, {save_invstd, "save_invstd"}});
    if ((running_mean == nullptr) != (running_var == nullptr)) {
      throw Error("bn_forward_train: running_mean and running_var must both be given or both be NULL");
    }
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      if (running_var != nullptr) validate_running_var(static_cast<const T*>(running_var), desc.c);
      Kernels::template bn_forward_train<T>(desc, params, in<T>(x), in<T>(gamma), in<T>(beta),
                                            out<T>(y), out<T>(save_mean), out<T>(save_invstd),
                                            out<T>(running_mean), out<T>(running_var));
    });
  }

  void bn_forward_infer(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, const void* running_mean,
                        const void* running_var, void* y) override {
    const auto op = Operation::bn_forward_infer;
    admit(op, desc, params);
    require_buffers(op, {{x, "x"}, {gamma, "gamma"}, {beta, "beta"}, {running_mean, "running_mean"},
                         {running_var, "running_var"}, {y, "y"}});
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      validate_running_var(in<T>(running_var), desc.c);
      Kernels::template bn_forward_infer<T>(desc, params, in<T>(x), in<T>(gamma), in<T>(beta),
                                            in<T>(running_mean), in<T>(running_var), out<T>(y));
    });
  }

  void bn_backward(const TensorDesc& desc, const Params& params, const void* dy, const void* x,
                   const void* gamma, const void* save_mean, const void* save_invstd, void* dx,
                   void* dgamma, void* dbeta) override {
    const auto op = Operation::bn_backward;
    admit(op, desc, params);
    require_buffers(op, {{dy, "dy"}, {x, "x"}, {gamma, "gamma"}, {save_mean, "save_mean"},
                         {save_invstd, "save_invstd"}, {dx, "dx"}, {dgamma, "dgamma"},
                         {dbeta, "dbeta"}});
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      Kernels::template bn_backward<T>(desc, params, in<T>(dy), in<T>(x), in<T>(gamma),
                                       in<T>(save_mean), in<T>(save_invstd), out<T>(dx),
                                       out<T>(dgamma), out<T>(dbeta));
    });
  }

  void renorm_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                            const void* gamma, const void* beta, void* y, void* save_mean,
                            void* save_invstd, void* r, void* d, void* running_mean,
                            void* running_var) override {
    const auto op = Operation::renorm_forward_train;
    admit(op, desc, params);
    require_buffers(op, {{x, "x"}, {gamma, "gamma"}, {beta, "beta"}, {y, "y"},
                         {save_mean, "save_mean"}, {save_invstd, "save_invstd"}, {r, "r"},
                         {d, "d"}, {running_mean, "running_mean"}, {running_var, "running_var"}});
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      validate_running_var(in<T>(running_var), desc.c);
      Kernels::template renorm_forward_train<T>(
          desc, params, in<T>(x), in<T>(gamma), in<T>(beta), out<T>(y), out<T>(save_mean),
          out<T>(save_invstd), out<T>(r), out<T>(d), out<T>(running_mean), out<T>(running_var));
    });
  }

  void renorm_backward(const TensorDesc& desc, const Params& params, const void* dy,
                       const void* x, const void* gamma, const void* save_mean,
                       const void* save_invstd, const void* r, const void* d, void* dx,
                       void* dgamma, void* dbeta) override {
    const auto op = Operation::renorm_backward;
    admit(op, desc, params);
    require_buffers(op, {{dy, "dy"}, {x, "x"}, {gamma, "gamma"}, {save_mean, "save_mean"},
                         {save_invstd, "save_invstd"}, {r, "r"}, {d, "d"}, {dx, "dx"},
                         {dgamma, "dgamma"}, {dbeta, "dbeta"}});
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      Kernels::template renorm_backward<T>(desc, params, in<T>(dy), in<T>(x), in<T>(gamma),
                                           in<T>(save_mean), in<T>(save_invstd), in<T>(r),
                                           in<T>(d), out<T>(dx), out<T>(dgamma), out<T>(dbeta));
    });
  }

 private:
  struct NamedBuffer {
    const void* pointer;
    const char* what;
  };

  template <typename T>
  static const T* in(const void* pointer) { return static_cast<const T*>(pointer); }
  template <typename T>
  static T* out(void* pointer) { return static_cast<T*>(pointer); }

  void admit(Operation op, const TensorDesc& desc, const Params& params) const {
    validate_call(op, desc, params);
    if (!Kernels::supports(desc)) {
      throw Unsupported(std::string(Kernels::name) + " does not support " +
                        to_string(desc.dtype) + " " + to_string(desc.layout));
    }
  }

  static void require_buffers(Operation op, std::initializer_list<NamedBuffer> buffers) {
    for (const auto& buffer : buffers) require_buffer(buffer.pointer, buffer.what, op);
  }
};

// For kernels that provide batch norm only (the outside libraries' adapters): says renorm is not
// provided and supplies the renorm kernels the adapter needs, which refuse with Unsupported.
// Derive as struct Name : BatchNormOnly<Name>.
template <typename Self>
struct BatchNormOnly {
  static bool supports(Operation operation) {
    return operation != Operation::renorm_forward_train && operation != Operation::renorm_backward;
  }

  template <typename T>
  static void renorm_forward_train(const TensorDesc&, const Params&, const T*, const T*, const T*,
                                   T*, T*, T*, T*, T*, T*, T*) {
    refuse(Operation::renorm_forward_train);
  }

  template <typename T>
  static void renorm_backward(const TensorDesc&, const Params&, const T*, const T*, const T*,
                              const T*, const T*, const T*, const T*, T*, T*, T*) {
    refuse(Operation::renorm_backward);
  }

 private:
  [[noreturn]] static void refuse(Operation operation) {
    throw Unsupported(std::string(Self::name) + " does not provide " + to_string(operation) +
                      " (no batch renormalization)");
  }
};

template <typename Kernels>
std::unique_ptr<Implementation> make_kernel_implementation() {
  return std::make_unique<KernelImplementation<Kernels>>();
}

}  // namespace bnh
