// The mutant catalogue: deliberately wrong implementations, each one small realistic bug. Each
// file derives from the textbook kernels (impls/naive.hpp), replaces one step or one operation,
// and registers itself with BNH_MUTANT(Kernels, "what is wrong").
#pragma once

#include <string>
#include <vector>

#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"
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

}  // namespace bnh::mutants

#define BNH_MUTANT(Kernels, bug)                                                   \
  static const bool bnh_mutant_##Kernels = ::bnh::mutants::register_mutant(        \
      Kernels::name, bug, [] { return ::bnh::make_kernel_implementation<Kernels>(); })
