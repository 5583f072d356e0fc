// What the harness (in-process, --no-isolation) and the sandbox worker both do with a plugin's
// table: find what is wrong with it, list what it provides, call one operation.
#pragma once

#include <cstdint>
#include <string>

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

// Bit k set: operation k (in bnh::all_operations' order) is provided.
inline std::uint32_t provided_operations(const bnh_impl_v1& table) {
  const bool provided[] = {table.bn_forward_train != nullptr, table.bn_forward_infer != nullptr,
                           table.bn_backward != nullptr, table.renorm_forward_train != nullptr,
                           table.renorm_backward != nullptr};
  std::uint32_t bits = 0;
  for (unsigned k = 0; k < 5; ++k) bits |= provided[k] ? 1u << k : 0u;
  return bits;
}

// Calls operation `operation` (its index in bnh::all_operations) with the buffers in the C ABI's
// argument order; -1 for an unknown index.
inline int call(const bnh_impl_v1& table, int operation, const bnh_tensor_desc* d,
                const bnh_params* p, void* const* b) {
  switch (operation) {
    case 0: return table.bn_forward_train(d, p, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    case 1: return table.bn_forward_infer(d, p, b[0], b[1], b[2], b[3], b[4], b[5]);
    case 2: return table.bn_backward(d, p, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    case 3:
      return table.renorm_forward_train(d, p, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]);
    case 4:
      return table.renorm_backward(d, p, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]);
    default: return -1;
  }
}

}  // namespace bnh::plugin_table
