// What the harness (in-process, --no-isolation) and the sandbox worker both do with a plugin's
// table: find it in the library, find what is wrong with it, list what it provides, call one
// operation. A plugin exports bnh_impl_v2_get (bnh/plugin_v2.h) or bnh_impl_v1_get
// (bnh/plugin.h); the version-2 one is preferred when both are there. The functions on a table
// serve the synchronized table (core/sync_plugin_table.hpp) too: its members have the same
// names, with a communicator before the arguments.
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <string>

#include "bnh/operations.hpp"
#include "bnh/plugin.h"
#include "bnh/plugin_v2.h"

namespace bnh::plugin_table {

// The reason a table cannot be used ("" when it can), worded for "plugin PATH: <reason>".
inline std::string defect(const bnh_impl_v1* table) {
  if (table == nullptr) return "bnh_impl_v1_get returned NULL";
  if (table->abi_version != BNH_ABI_VERSION) {
    return "speaks ABI version " + std::to_string(table->abi_version) + ", this harness speaks " +
           std::to_string(BNH_ABI_VERSION);
  }
  if (table->name == nullptr) return "has a NULL name";
  return "";
}
inline std::string defect(const bnh_impl_v2* table) {
  if (table == nullptr) return "bnh_impl_v2_get returned NULL";
  if (table->abi_version != BNH_ABI_VERSION_2) {
    return "bnh_impl_v2_get returned a table of ABI version " + std::to_string(table->abi_version) +
           " (it must say " + std::to_string(BNH_ABI_VERSION_2) + ")";
  }
  if (table->name == nullptr) return "has a NULL name";
  return "";
}

// Whether a version-1 table can be given `desc`: bnh/plugin.h has no bf16 or f16, and no
// statistics dtype other than the data's. The harness never hands it anything else.
inline bool expressible_in_v1(const TensorDesc& desc) {
  return !is_reduced(desc.dtype) && desc.stats_dtype() == desc.dtype;
}

// A version-1 plugin's view of a descriptor the harness made expressible_in_v1.
inline bnh_tensor_desc v1_desc(const bnh_tensor_desc_v2& desc) {
  return bnh_tensor_desc{desc.n, desc.c, desc.h, desc.w, desc.layout, static_cast<bnh_dtype>(desc.dtype)};
}

// Calls visit(the table's function pointer for `operation`).
template <typename Table, typename Visit>
decltype(auto) with_function(const Table& table, Operation operation, Visit&& visit) {
  switch (operation) {
    case Operation::bn_forward_train: return visit(table.bn_forward_train);
    case Operation::bn_forward_infer: return visit(table.bn_forward_infer);
    case Operation::bn_backward: return visit(table.bn_backward);
    case Operation::renorm_forward_train: return visit(table.renorm_forward_train);
    case Operation::renorm_backward: break;
  }
  return visit(table.renorm_backward);
}

// The C ABI's argument lists are the table's, buffer for buffer, in both versions.
template <typename... Buffers>
constexpr bool agrees(const OperationSpec& spec, int (*)(const bnh_tensor_desc_v2*, const bnh_params*, Buffers...)) {
  return operation_table_detail::agrees<Buffers...>(spec);
}
static_assert(agrees(operation_spec(Operation::bn_forward_train), decltype(bnh_impl_v1::bn_forward_train){}));
static_assert(agrees(operation_spec(Operation::bn_forward_infer), decltype(bnh_impl_v1::bn_forward_infer){}));
static_assert(agrees(operation_spec(Operation::bn_backward), decltype(bnh_impl_v1::bn_backward){}));
static_assert(agrees(operation_spec(Operation::renorm_forward_train), decltype(bnh_impl_v1::renorm_forward_train){}));
static_assert(agrees(operation_spec(Operation::renorm_backward), decltype(bnh_impl_v1::renorm_backward){}));
static_assert(agrees(operation_spec(Operation::bn_forward_train), decltype(bnh_impl_v2::bn_forward_train){}));
static_assert(agrees(operation_spec(Operation::bn_forward_infer), decltype(bnh_impl_v2::bn_forward_infer){}));
static_assert(agrees(operation_spec(Operation::bn_backward), decltype(bnh_impl_v2::bn_backward){}));
static_assert(agrees(operation_spec(Operation::renorm_forward_train), decltype(bnh_impl_v2::renorm_forward_train){}));
static_assert(agrees(operation_spec(Operation::renorm_backward), decltype(bnh_impl_v2::renorm_backward){}));

// Bit k set: operation k (in bnh::all_operations' order) is provided.
template <typename Table>
std::uint32_t provided_operations(const Table& table) {
  std::uint32_t bits = 0;
  for (Operation operation : all_operations) {
    const bool provided = with_function(table, operation, [](auto function) { return function != nullptr; });
    bits |= provided ? 1u << static_cast<unsigned>(operation) : 0u;
  }
  return bits;
}

template <typename... Arguments>
constexpr std::size_t arity(int (*)(Arguments...)) {
  return sizeof...(Arguments);
}

// Calls the table's `operation` (which it must provide) with `leading` (the synchronized
// table's communicator, then desc and params) and then as many of `buffers` as it takes;
// returns its status.
template <typename Table, typename... Leading>
int call_with(const Table& table, Operation operation, const OperationBuffers& buffers, Leading... leading) {
  return with_function(table, operation, [&](auto function) {
    return spread<arity(decltype(function){}) - sizeof...(Leading)>(
        buffers, [&](auto... pointers) { return function(leading..., pointers...); });
  });
}

inline int call(const bnh_impl_v1& table, Operation operation, const bnh_tensor_desc* desc,
                const bnh_params* params, const OperationBuffers& buffers) {
  return call_with(table, operation, buffers, desc, params);
}

// A plain plugin's table, of either version, seen through the version-2 descriptor.
struct PlainTable {
  const bnh_impl_v1* v1 = nullptr;
  const bnh_impl_v2* v2 = nullptr;

  std::uint32_t abi_version() const { return v2 != nullptr ? BNH_ABI_VERSION_2 : BNH_ABI_VERSION; }
  const char* name() const { return v2 != nullptr ? v2->name : v1->name; }
  const char* description() const { return v2 != nullptr ? v2->description : v1->description; }
  bool has_supports() const { return v2 != nullptr ? v2->supports != nullptr : v1->supports != nullptr; }
  std::uint32_t operations() const { return v2 != nullptr ? provided_operations(*v2) : provided_operations(*v1); }

  // The plugin's supports(desc), 1 when it has none.
  int supports(const bnh_tensor_desc_v2& desc) const {
    if (v2 != nullptr) return v2->supports == nullptr ? 1 : v2->supports(&desc);
    const bnh_tensor_desc old = v1_desc(desc);
    return v1->supports == nullptr ? 1 : v1->supports(&old);
  }
  int call(Operation operation, const bnh_tensor_desc_v2& desc, const bnh_params& params,
           const OperationBuffers& buffers) const {
    if (v2 != nullptr) return call_with(*v2, operation, buffers, &desc, &params);
    const bnh_tensor_desc old = v1_desc(desc);
    return call_with(*v1, operation, buffers, &old, &params);
  }
  // Its last_error(), or NULL.
  const char* last_error() const {
    const auto function = v2 != nullptr ? v2->last_error : v1->last_error;
    return function != nullptr ? function() : nullptr;
  }
};

// Looks the table up in an opened library: bnh_impl_v2_get's when the library exports it, else
// bnh_impl_v1_get's. `before_get(symbol)` is called just before the plugin's function runs.
// Returns the reason it cannot be used ("" when it can).
template <typename BeforeGet>
std::string find_table(void* library, PlainTable& table, BeforeGet&& before_get) {
  if (auto get = reinterpret_cast<const bnh_impl_v2* (*)()>(dlsym(library, "bnh_impl_v2_get"))) {
    before_get("bnh_impl_v2_get");
    table.v2 = get();
    return defect(table.v2);
  }
  auto get = reinterpret_cast<const bnh_impl_v1* (*)()>(dlsym(library, "bnh_impl_v1_get"));
  if (get == nullptr) return "does not export bnh_impl_v1_get (nor bnh_impl_v2_get)";
  before_get("bnh_impl_v1_get");
  table.v1 = get();
  return defect(table.v1);
}

}  // namespace bnh::plugin_table
