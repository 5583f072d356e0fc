// The built-in implementations. Each registers itself with one line,
// BNH_REGISTER_IMPLEMENTATION(Kernels), at the end of its file in impls/.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"

namespace bnh {

using ImplementationFactory = std::function<std::unique_ptr<Implementation>()>;

struct RegisteredImplementation {
  std::string name;
  ImplementationFactory make;
};

// Adds an implementation; returns true so that it can initialize a static.
bool register_implementation(const std::string& name, ImplementationFactory make);
// Every registered implementation, sorted by name.
std::vector<RegisteredImplementation> registered_implementations();
std::vector<std::string> registered_names();
// Throws bnh::Error naming the known implementations when `name` is not one.
std::unique_ptr<Implementation> make_implementation(const std::string& name);

}  // namespace bnh

#define BNH_REGISTER_IMPLEMENTATION(Kernels)                                       \
  static const bool bnh_registered_##Kernels = ::bnh::register_implementation(     \
      Kernels::name, [] { return ::bnh::make_kernel_implementation<Kernels>(); })
