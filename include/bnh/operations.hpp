// The five operations as data: each one's buffers in the order of its arguments in the C ABI
// (bnh/plugin.h) and in bnh::Implementation, with what the operation does to each (reads it,
// writes it, or reads then updates it) and how many values it holds (the whole tensor, or one
// per channel). Whatever has to present buffers to an operation, size them, guard them or name
// them reads this table instead of spelling the argument lists out again.
//
// Header-only but for call(): the sandbox worker, which links nothing of the harness, uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <utility>

#include "bnh/plugin.h"
#include "bnh/types.hpp"

namespace bnh {

class Implementation;

enum class BufferRole {
  input,   // read only
  output,  // written; its contents on entry do not matter
  in_out,  // read, then updated (the running statistics)
};

enum class Extent {
  tensor,   // N x C x H x W values, in the layout of the descriptor
  channel,  // C values, one per channel
};

struct BufferSpec {
  const char* name;
  BufferRole role;
  Extent extent;
  bool optional = false;  // may be NULL: bn_forward_train's running statistics (not tracked)
};

inline constexpr std::size_t max_operation_buffers = 10;

struct OperationSpec {
  Operation operation;
  std::size_t count;
  BufferSpec buffers[max_operation_buffers];

  constexpr const BufferSpec* begin() const { return buffers; }
  constexpr const BufferSpec* end() const { return buffers + count; }
  // The position of the buffer called `name`, or -1 when the operation has none.
  constexpr int index_of(std::string_view name) const {
    for (std::size_t k = 0; k < count; ++k) {
      if (name == buffers[k].name) return static_cast<int>(k);
    }
    return -1;
  }
};

namespace operation_table_detail {
constexpr BufferSpec read(const char* name, Extent extent) { return {name, BufferRole::input, extent}; }
constexpr BufferSpec written(const char* name, Extent extent) { return {name, BufferRole::output, extent}; }
constexpr BufferSpec updated(const char* name, bool optional) {
  return {name, BufferRole::in_out, Extent::channel, optional};
}
constexpr Extent tensor = Extent::tensor, channel = Extent::channel;

// In bnh::all_operations' order; each list in the argument order of bnh/plugin.h.
inline constexpr OperationSpec table[] = {
    {Operation::bn_forward_train, 8,
     {read("x", tensor), read("gamma", channel), read("beta", channel), written("y", tensor),
      written("save_mean", channel), written("save_invstd", channel),
      updated("running_mean", true), updated("running_var", true)}},
    {Operation::bn_forward_infer, 6,
     {read("x", tensor), read("gamma", channel), read("beta", channel),
      read("running_mean", channel), read("running_var", channel), written("y", tensor)}},
    {Operation::bn_backward, 8,
     {read("dy", tensor), read("x", tensor), read("gamma", channel), read("save_mean", channel),
      read("save_invstd", channel), written("dx", tensor), written("dgamma", channel),
      written("dbeta", channel)}},
    {Operation::renorm_forward_train, 10,
     {read("x", tensor), read("gamma", channel), read("beta", channel), written("y", tensor),
      written("save_mean", channel), written("save_invstd", channel), written("r", channel),
      written("d", channel), updated("running_mean", false), updated("running_var", false)}},
    {Operation::renorm_backward, 10,
     {read("dy", tensor), read("x", tensor), read("gamma", channel), read("save_mean", channel),
      read("save_invstd", channel), read("r", channel), read("d", channel),
      written("dx", tensor), written("dgamma", channel), written("dbeta", channel)}},
};
}  // namespace operation_table_detail

constexpr const OperationSpec& operation_spec(Operation operation) {
  return operation_table_detail::table[static_cast<std::size_t>(operation)];
}

// A backward pass: it reads the saved statistics (and renorm's r, d) of a training forward.
constexpr bool is_backward(Operation operation) {
  return operation == Operation::bn_backward || operation == Operation::renorm_backward;
}
// The training forward whose saved statistics `backward` reads.
constexpr Operation forward_of(Operation backward) {
  return backward == Operation::renorm_backward ? Operation::renorm_forward_train : Operation::bn_forward_train;
}

// How many values a buffer of this extent holds for `desc` (assumed valid: see validate_desc).
inline std::int64_t values_in(Extent extent, const TensorDesc& desc) {
  return extent == Extent::tensor ? desc.elements() : desc.c;
}
// The dtype of a buffer of this extent: the data's for tensors, the statistics' per channel.
inline DType dtype_of(Extent extent, const TensorDesc& desc) {
  return extent == Extent::tensor ? desc.dtype : desc.stats_dtype();
}
// How many bytes a buffer of this extent holds for `desc`.
inline std::size_t bytes_in(Extent extent, const TensorDesc& desc) {
  return static_cast<std::size_t>(values_in(extent, desc)) * element_size(dtype_of(extent, desc));
}

// One pointer per buffer of an operation, at the buffer's position in operation_spec(); NULL
// for an optional buffer not given. Pointers point to elements of the buffer's dtype (dtype_of).
struct OperationBuffers {
  void* pointers[max_operation_buffers] = {};

  OperationBuffers() = default;
  // The buffers in table order; inputs may be given as pointers to const (never written).
  OperationBuffers(std::initializer_list<const void*> in_table_order) {
    std::size_t k = 0;
    for (const void* pointer : in_table_order) pointers[k++] = const_cast<void*>(pointer);
  }
  void*& operator[](std::size_t k) { return pointers[k]; }
  void* operator[](std::size_t k) const { return pointers[k]; }
};

// Runs `operation` of `implementation` on `buffers`: the one place the C++ side turns the table
// back into an argument list. Throws what the implementation throws.
void call(Implementation& implementation, Operation operation, const TensorDesc& desc,
          const Params& params, const OperationBuffers& buffers);

// Calls invoke(buffers[0], ..., buffers[n - 1]) with n = `count` pointers, n a compile-time
// count taken from a function's parameter list.
namespace operation_table_detail {
template <typename Invoke, std::size_t... k>
decltype(auto) spread(const OperationBuffers& buffers, Invoke& invoke, std::index_sequence<k...>) {
  return invoke(buffers[k]...);
}
}  // namespace operation_table_detail
template <std::size_t count, typename Invoke>
decltype(auto) spread(const OperationBuffers& buffers, Invoke&& invoke) {
  static_assert(count <= max_operation_buffers, "more buffers than an operation has");
  return operation_table_detail::spread(buffers, invoke, std::make_index_sequence<count>{});
}

// Whether a function's buffer parameters agree with `spec`: as many, and `const void*` exactly
// for the inputs. For the C ABI's function pointers and for Implementation's members.
namespace operation_table_detail {
template <typename... Buffers>
constexpr bool agrees(const OperationSpec& spec) {
  if (sizeof...(Buffers) != spec.count) return false;
  const bool read_only[] = {std::is_same_v<Buffers, const void*>...};
  const bool writable[] = {std::is_same_v<Buffers, void*>...};
  for (std::size_t k = 0; k < spec.count; ++k) {
    const bool input = spec.buffers[k].role == BufferRole::input;
    if (input ? !read_only[k] : !writable[k]) return false;
  }
  return true;
}
}  // namespace operation_table_detail

template <typename... Buffers>
constexpr bool agrees(const OperationSpec& spec, int (*)(const bnh_tensor_desc*, const bnh_params*, Buffers...)) {
  return operation_table_detail::agrees<Buffers...>(spec);
}
template <typename... Buffers>
constexpr bool agrees(const OperationSpec& spec,
                      void (Implementation::*)(const TensorDesc&, const Params&, Buffers...)) {
  return operation_table_detail::agrees<Buffers...>(spec);
}

}  // namespace bnh
