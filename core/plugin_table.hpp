// What the harness (in-process, --no-isolation) and the sandbox worker both do with a plugin's
// table: find what is wrong with it, list what it provides, call one operation. The functions
// on a table serve the synchronized table (core/sync_plugin_table.hpp) too: its members have the
// same names, with a communicator before the arguments.
#pragma once

#include <cstdint>
#include <string>

#include "bnh/operations.hpp"
#include "bnh/plugin.h"

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

// The C ABI's argument lists are the table's, buffer for buffer.
static_assert(agrees(operation_spec(Operation::bn_forward_train), decltype(bnh_impl_v1::bn_forward_train){}));
static_assert(agrees(operation_spec(Operation::bn_forward_infer), decltype(bnh_impl_v1::bn_forward_infer){}));
static_assert(agrees(operation_spec(Operation::bn_backward), decltype(bnh_impl_v1::bn_backward){}));
static_assert(agrees(operation_spec(Operation::renorm_forward_train), decltype(bnh_impl_v1::renorm_forward_train){}));
static_assert(agrees(operation_spec(Operation::renorm_backward), decltype(bnh_impl_v1::renorm_backward){}));

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

}  // namespace bnh::plugin_table
