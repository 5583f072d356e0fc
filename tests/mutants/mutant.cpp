#include "tests/mutants/mutant.hpp"

#include <algorithm>

namespace bnh::mutants {

namespace {
std::vector<Mutant>& registry() {
  static std::vector<Mutant> mutants;
  return mutants;
}
std::vector<SyncMutant>& sync_registry() {
  static std::vector<SyncMutant> mutants;
  return mutants;
}
template <typename Entry>
std::vector<Entry> by_name(std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return entries;
}
}  // namespace

bool register_mutant(const std::string& name, const std::string& bug, ImplementationFactory make,
                     std::vector<DTypeChoice> dtypes) {
  registry().push_back({name, bug, std::move(make), std::move(dtypes)});
  return true;
}

std::vector<Mutant> catalogue() { return by_name(registry()); }

bool register_sync_mutant(const std::string& name, const std::string& bug, SyncImplementationFactory make) {
  sync_registry().push_back({name, bug, std::move(make)});
  return true;
}

std::vector<SyncMutant> sync_catalogue() { return by_name(sync_registry()); }

}  // namespace bnh::mutants
