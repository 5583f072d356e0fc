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

}  // namespace

bool register_implementation(const std::string& name, ImplementationFactory make) {
  for (const auto& existing : registry()) {
    if (existing.name == name) throw Error("implementation '" + name + "' registered twice");
  }
  registry().push_back({name, std::move(make)});
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
  std::string known;
  for (const auto& other : registered_names()) known += (known.empty() ? "" : ", ") + other;
  throw Error("unknown implementation '" + name + "' (built-in: " + known + ")");
}

}  // namespace bnh
