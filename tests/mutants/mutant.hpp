// The mutant catalogue: deliberately wrong implementations, each one small realistic bug. Each
// file derives from the textbook kernels (impls/naive.hpp), replaces one step or one operation,
// and registers itself with BNH_MUTANT(Kernels, "what is wrong"). The synchronized mutants
// (sync_*.cpp) derive from the synchronized textbook (sync_textbook.hpp) the same way and
// register with BNH_SYNC_MUTANT(Steps, "name", "what is wrong").
#pragma once

#include <string>
#include <vector>

#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"
#include "bnh/sync_implementation.hpp"
#include "impls/naive.hpp"

namespace bnh::mutants {

struct Mutant {
  std::string name;
  std::string bug;
  ImplementationFactory make;
};

bool register_mutant(const std::string& name, const std::string& bug, ImplementationFactory make);
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

#define BNH_SYNC_MUTANT(Steps, name, bug)                                          \
  static const bool bnh_sync_mutant_##Steps = ::bnh::mutants::register_sync_mutant( \
      name, bug, [] { return std::make_unique<Steps>(name); })
