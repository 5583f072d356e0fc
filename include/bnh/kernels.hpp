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
// assume well-formed input: dimensions >= 1, M > 1 when training, non-NULL required buffers
// (bnh/operations.hpp's table says which), running_var >= 0.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <string>
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
class KernelImplementation final : public UniformImplementation {
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

  void run(Operation op, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    validate_call(op, desc, params);
    if (!Kernels::supports(desc)) {
      throw Unsupported(std::string(Kernels::name) + " does not support " +
                        to_string(desc.dtype) + " " + to_string(desc.layout));
    }
    validate_buffers(op, buffers);
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      // A negative running_var is refused before any kernel reads it, in whichever operation.
      const int k = operation_spec(op).index_of("running_var");
      const void* running_var = k < 0 ? nullptr : buffers[static_cast<std::size_t>(k)];
      if (running_var != nullptr) validate_running_var(static_cast<const T*>(running_var), desc.c);
      run_kernel<T>(op, desc, params, buffers, std::make_index_sequence<std::size(all_operations)>{});
    });
  }

 private:
  // The struct's kernel of `op` for T: the one place its five names are spelled.
  template <Operation op, typename T>
  static constexpr auto kernel() {
    if constexpr (op == Operation::bn_forward_train) {
      return &Kernels::template bn_forward_train<T>;
    } else if constexpr (op == Operation::bn_forward_infer) {
      return &Kernels::template bn_forward_infer<T>;
    } else if constexpr (op == Operation::bn_backward) {
      return &Kernels::template bn_backward<T>;
    } else if constexpr (op == Operation::renorm_forward_train) {
      return &Kernels::template renorm_forward_train<T>;
    } else {
      static_assert(op == Operation::renorm_backward);
      return &Kernels::template renorm_backward<T>;
    }
  }

  // Runs the kernel of `op`, whichever of all_operations it is.
  template <typename T, std::size_t... o>
  static void run_kernel(Operation op, const TensorDesc& desc, const Params& params,
                         const OperationBuffers& buffers, std::index_sequence<o...>) {
    ((op == all_operations[o] ? call_kernel<all_operations[o], T>(desc, params, buffers) : void()), ...);
  }

  // The kernel takes the table's buffers in order, typed: const T* for an input, T* otherwise.
  template <Operation op, typename T>
  static void call_kernel(const TensorDesc& desc, const Params& params, const OperationBuffers& buffers) {
    call_kernel<op, T>(desc, params, buffers, std::make_index_sequence<operation_spec(op).count>{});
  }
  template <Operation op, typename T, std::size_t... k>
  static void call_kernel(const TensorDesc& desc, const Params& params,
                          const OperationBuffers& buffers, std::index_sequence<k...>) {
    kernel<op, T>()(desc, params, typed<T, operation_spec(op).buffers[k].role>(buffers[k])...);
  }
  template <typename T, BufferRole role>
  static auto typed(void* pointer) {
    if constexpr (role == BufferRole::input) {
      return static_cast<const T*>(pointer);
    } else {
      return static_cast<T*>(pointer);
    }
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
