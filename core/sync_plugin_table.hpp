// A synchronized plugin's table (bnh/plugin_sync.h), as the sandbox worker uses it: what is wrong
// with it, and a call of one operation with the rank's communicator. What it provides is
// plugin_table::provided_operations, which serves both tables.
#pragma once

#include <string>

#include "bnh/plugin_sync.h"
#include "core/plugin_table.hpp"

namespace bnh::sync_plugin_table {

// The reason a table cannot be used ("" when it can), worded for "plugin PATH: <reason>".
inline std::string defect(const bnh_sync_impl_v1* table) {
  if (table == nullptr) return "bnh_sync_impl_v1_get returned NULL";
  if (table->abi_version != BNH_SYNC_ABI_VERSION) {
    return "speaks synchronized ABI version " + std::to_string(table->abi_version) +
           ", this harness speaks " + std::to_string(BNH_SYNC_ABI_VERSION);
  }
  if (table->name == nullptr) return "has a NULL name";
  return "";
}

// The synchronized ABI's argument lists are the plain ones with a communicator first.
template <typename... Buffers>
constexpr bool agrees(const OperationSpec& spec,
                      int (*)(const bnh_communicator*, const bnh_tensor_desc*, const bnh_params*, Buffers...)) {
  return operation_table_detail::agrees<Buffers...>(spec);
}
static_assert(agrees(operation_spec(Operation::bn_forward_train), decltype(bnh_sync_impl_v1::bn_forward_train){}));
static_assert(agrees(operation_spec(Operation::bn_forward_infer), decltype(bnh_sync_impl_v1::bn_forward_infer){}));
static_assert(agrees(operation_spec(Operation::bn_backward), decltype(bnh_sync_impl_v1::bn_backward){}));
static_assert(agrees(operation_spec(Operation::renorm_forward_train), decltype(bnh_sync_impl_v1::renorm_forward_train){}));
static_assert(agrees(operation_spec(Operation::renorm_backward), decltype(bnh_sync_impl_v1::renorm_backward){}));

inline int call(const bnh_sync_impl_v1& table, Operation operation, const bnh_communicator* communicator,
                const bnh_tensor_desc* desc, const bnh_params* params, const OperationBuffers& buffers) {
  return plugin_table::call_with(table, operation, buffers, communicator, desc, params);
}

}  // namespace bnh::sync_plugin_table
