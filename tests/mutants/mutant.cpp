#include "tests/mutants/mutant.hpp"

#include <algorithm>

namespace bnh::mutants {

namespace {
std::vector<Mutant>& registry() {
  static std::vector<Mutant> mutants;
  return mutants;
}
}  // namespace

bool register_mutant(const std::string& name, const std::string& bug, ImplementationFactory make) {
  registry().push_back({name, bug, std::move(make)});
  return true;
}

std::vector<Mutant> catalogue() {
  auto sorted = registry();
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return sorted;
}

}  // namespace bnh::mutants
