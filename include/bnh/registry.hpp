// The built-in implementations. Each registers itself with one line at the end of its file in
// impls/: BNH_REGISTER_IMPLEMENTATION(Kernels), or BNH_REGISTER_IMPLEMENTATION_AS(Kernels, role)
// for the baseline and the peers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"

namespace bnh {

// What an implementation is in a benchmark: the baseline speed-ups are taken against (naive),
// one of the project's own kernels, an adapter of an outside library measured as the bar to
// clear, or a plugin a user brought to test against all of them.
enum class Role { baseline, built_in, peer, under_test };
const char* to_string(Role role);  // "baseline", "built-in", "peer", "under test"
Role parse_role(const std::string& text);  // throws bnh::Error for an unknown role

using ImplementationFactory = std::function<std::unique_ptr<Implementation>()>;

struct RegisteredImplementation {
  std::string name;
  ImplementationFactory make;
  Role role = Role::built_in;
};

// Adds an implementation; returns true so that it can initialize a static.
bool register_implementation(const std::string& name, ImplementationFactory make, Role role = Role::built_in);
// Every registered implementation, sorted by name.
std::vector<RegisteredImplementation> registered_implementations();
std::vector<std::string> registered_names();
// Throws bnh::Error naming the known implementations when `name` is not one.
std::unique_ptr<Implementation> make_implementation(const std::string& name);
// The role `name` registered with; throws like make_implementation for an unknown name.
Role registered_role(const std::string& name);

}  // namespace bnh

#define BNH_REGISTER_IMPLEMENTATION(Kernels)                                       \
  static const bool bnh_registered_##Kernels = ::bnh::register_implementation(     \
      Kernels::name, [] { return ::bnh::make_kernel_implementation<Kernels>(); })

#define BNH_REGISTER_IMPLEMENTATION_AS(Kernels, role)                               \
  static const bool bnh_registered_##Kernels = ::bnh::register_implementation(     \
      Kernels::name, [] { return ::bnh::make_kernel_implementation<Kernels>(); }, role)
