// The mutant catalogue: deliberately wrong implementations, each one small realistic bug. Each
// file derives from the textbook kernels (impls/naive.hpp), replaces one step or one operation,
// and registers itself with BNH_MUTANT(Kernels, "what is wrong"), judged on f32 and f64 data, or
// BNH_MUTANT_ON(Kernels, "what is wrong", dtypes...) on the dtypes its bug lives in (bf16 and f16
// data, mixed or pure: {DType::f16, DType::f16} is pure f16). The synchronized mutants
// (sync_*.cpp) derive from the synchronized textbook (sync_textbook.hpp) the same way and
// register with BNH_SYNC_MUTANT(Steps, "name", "what is wrong").
#pragma once

#include <string>
#include <vector>

#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"
#include "bnh/sync_implementation.hpp"
#include "impls/naive.hpp"
#include "properties/case.hpp"

namespace bnh::mutants {

struct Mutant {
  std::string name;
  std::string bug;
  ImplementationFactory make;
  std::vector<DTypeChoice> dtypes;  // what it is judged on; empty: the runner's own (f32, f64)
};

bool register_mutant(const std::string& name, const std::string& bug, ImplementationFactory make,
                     std::vector<DTypeChoice> dtypes = {});
std::vector<Mutant> catalogue();  // sorted by name

using naive::Textbook;

struct SyncMutant {
  std::string name;
  std::string bug;
  SyncImplementationFactory make;
};

bool register_sync_mutant(const std::string& name, const std::string& bug, SyncImplementationFactory make);
std::vector<SyncMutant> sync_catalogue();  // sorted by name

}  // namespace bnh::mutants

#define BNH_MUTANT(Kernels, bug)                                                   \
  static const bool bnh_mutant_##Kernels = ::bnh::mutants::register_mutant(        \
      Kernels::name, bug, [] { return ::bnh::make_kernel_implementation<Kernels>(); })

#define BNH_MUTANT_ON(Kernels, bug, ...)                                           \
  static const bool bnh_mutant_##Kernels = ::bnh::mutants::register_mutant(        \
      Kernels::name, bug, [] { return ::bnh::make_kernel_implementation<Kernels>(); }, {__VA_ARGS__})

#define BNH_SYNC_MUTANT(Steps, name, bug)                                          \
  static const bool bnh_sync_mutant_##Steps = ::bnh::mutants::register_sync_mutant( \
      name, bug, [] { return std::make_unique<Steps>(name); })
