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
// Kernels templated on one type serve f32 and f64. Kernels that serve bf16 and f16 data take
// two, template <typename T, typename S>: the tensors are typed T and the per-channel buffers
// S (the statistics dtype), and they are called for every pair of dispatch_dtypes. Reduced
// precision is offered only by a struct with such two-type kernels.
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

// Whether Kernels' templates take two types, data T and statistics S.
template <typename Kernels, typename T, typename S, typename = void>
struct has_two_type_kernels : std::false_type {};
template <typename Kernels, typename T, typename S>
struct has_two_type_kernels<Kernels, T, S,
                            std::void_t<decltype(&Kernels::template bn_forward_train<T, S>)>> : std::true_type {};
}  // namespace detail

template <typename Kernels>
class KernelImplementation final : public UniformImplementation {
 public:
  std::string name() const override { return Kernels::name; }
  std::string description() const override { return Kernels::description; }
  bool supports(const TensorDesc& desc) const override {
    bool typed = false;
    dispatch_dtypes(desc, [&](auto data, auto statistics) {
      using T = decltype(data);
      using S = decltype(statistics);
      typed = detail::has_two_type_kernels<Kernels, T, S>::value ||
              (std::is_same_v<T, S> && (std::is_same_v<T, float> || std::is_same_v<T, double>));
    });
    return typed && Kernels::supports(desc);
  }
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
    if (!supports(desc)) {
      throw Unsupported(std::string(Kernels::name) + " does not support " +
                        dtypes_label(desc) + " " + to_string(desc.layout));
    }
    validate_buffers(op, buffers);
    dispatch_dtypes(desc, [&](auto data, auto statistics) {
      using T = decltype(data);
      using S = decltype(statistics);
      // A negative running_var is refused before any kernel reads it, in whichever operation.
      const int k = operation_spec(op).index_of("running_var");
      const void* running_var = k < 0 ? nullptr : buffers[static_cast<std::size_t>(k)];
      if (running_var != nullptr) validate_running_var(static_cast<const S*>(running_var), desc.c);
      if constexpr (detail::has_two_type_kernels<Kernels, T, S>::value) {
        run_kernel<T, S>(op, desc, params, buffers, std::make_index_sequence<std::size(all_operations)>{});
      } else if constexpr (std::is_same_v<T, S> && (std::is_same_v<T, float> || std::is_same_v<T, double>)) {
        run_kernel<T, T>(op, desc, params, buffers, std::make_index_sequence<std::size(all_operations)>{});
      } else {
        throw Unsupported(std::string(Kernels::name) + " does not support " + dtypes_label(desc) + " data");
      }
    });
  }

 private:
  // The struct's kernel of `op` for data T and statistics S: the one place its five names are
  // spelled. One-type kernels are named with T alone (then S is T).
  template <Operation op, typename T, typename S>
  static constexpr auto kernel() {
    if constexpr (detail::has_two_type_kernels<Kernels, T, S>::value) {
      if constexpr (op == Operation::bn_forward_train) {
        return &Kernels::template bn_forward_train<T, S>;
      } else if constexpr (op == Operation::bn_forward_infer) {
        return &Kernels::template bn_forward_infer<T, S>;
      } else if constexpr (op == Operation::bn_backward) {
        return &Kernels::template bn_backward<T, S>;
      } else if constexpr (op == Operation::renorm_forward_train) {
        return &Kernels::template renorm_forward_train<T, S>;
      } else {
        static_assert(op == Operation::renorm_backward);
        return &Kernels::template renorm_backward<T, S>;
      }
    } else if constexpr (op == Operation::bn_forward_train) {
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
  template <typename T, typename S, std::size_t... o>
  static void run_kernel(Operation op, const TensorDesc& desc, const Params& params,
                         const OperationBuffers& buffers, std::index_sequence<o...>) {
    ((op == all_operations[o] ? call_kernel<all_operations[o], T, S>(desc, params, buffers) : void()), ...);
  }

  // The kernel takes the table's buffers in order, typed: T for a tensor, S for a per-channel
  // buffer, const for an input.
  template <Operation op, typename T, typename S>
  static void call_kernel(const TensorDesc& desc, const Params& params, const OperationBuffers& buffers) {
    call_kernel<op, T, S>(desc, params, buffers, std::make_index_sequence<operation_spec(op).count>{});
  }
  template <Operation op, typename T, typename S, std::size_t... k>
  static void call_kernel(const TensorDesc& desc, const Params& params,
                          const OperationBuffers& buffers, std::index_sequence<k...>) {
    kernel<op, T, S>()(desc, params,
                       typed<std::conditional_t<operation_spec(op).buffers[k].extent == Extent::tensor, T, S>,
                             operation_spec(op).buffers[k].role>(buffers[k])...);
  }
  template <typename E, BufferRole role>
  static auto typed(void* pointer) {
    if constexpr (role == BufferRole::input) {
      return static_cast<const E*>(pointer);
    } else {
      return static_cast<E*>(pointer);
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

  // One-type or two-type (data T, statistics S) alike, as the struct's own kernels are.
  template <typename T, typename S = T>
  static void renorm_forward_train(const TensorDesc&, const Params&, const T*, const S*, const S*,
                                   T*, S*, S*, S*, S*, S*, S*) {
    refuse(Operation::renorm_forward_train);
  }

  template <typename T, typename S = T>
  static void renorm_backward(const TensorDesc&, const Params&, const T*, const T*, const S*,
                              const S*, const S*, const S*, const S*, T*, S*, S*) {
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
