#include "bnh/registry.hpp"

#include <algorithm>

#include "bnh/types.hpp"

namespace bnh {

namespace {

// Function-local so that registration from other files' static initializers is safe.
std::vector<RegisteredImplementation>& registry() {
  static std::vector<RegisteredImplementation> implementations;
  return implementations;
}

std::string known_names() {
  std::string known;
  for (const auto& other : registered_names()) known += (known.empty() ? "" : ", ") + other;
  return known;
}

}  // namespace

const char* to_string(Role role) {
  switch (role) {
    case Role::baseline: return "baseline";
    case Role::built_in: return "built-in";
    case Role::peer: return "peer";
    case Role::under_test: return "under test";
  }
  return "built-in";
}

Role parse_role(const std::string& text) {
  for (Role role : {Role::baseline, Role::built_in, Role::peer, Role::under_test}) {
    if (text == to_string(role)) return role;
  }
  throw Error("unknown role '" + text + "' (baseline, built-in, peer, under test)");
}

bool register_implementation(const std::string& name, ImplementationFactory make, Role role) {
  for (const auto& existing : registry()) {
    if (existing.name == name) throw Error("implementation '" + name + "' registered twice");
  }
  registry().push_back({name, std::move(make), role});
  return true;
}

std::vector<RegisteredImplementation> registered_implementations() {
  auto sorted = registry();
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return sorted;
}

std::vector<std::string> registered_names() {
  std::vector<std::string> names;
  for (const auto& entry : registered_implementations()) names.push_back(entry.name);
  return names;
}

std::unique_ptr<Implementation> make_implementation(const std::string& name) {
  for (const auto& entry : registry()) {
    if (entry.name == name) return entry.make();
  }
  throw Error("unknown implementation '" + name + "' (built-in: " + known_names() + ")");
}

Role registered_role(const std::string& name) {
  for (const auto& entry : registry()) {
    if (entry.name == name) return entry.role;
  }
  throw Error("unknown implementation '" + name + "' (built-in: " + known_names() + ")");
}

}  // namespace bnh
