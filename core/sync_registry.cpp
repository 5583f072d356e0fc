// The registry of built-in synchronized implementations (bnh/sync_implementation.hpp), kept
// apart from the single-process one (core/registry.cpp): a synchronized implementation runs on
// ranks, so nothing that takes a bnh::Implementation can be handed one by mistake.
#include <algorithm>
#include <utility>

#include "bnh/sync_implementation.hpp"
#include "bnh/types.hpp"

namespace bnh {

namespace {

struct RegisteredSyncImplementation {
  std::string name;
  SyncImplementationFactory make;
};

// Function-local so that registration from other files' static initializers is safe.
std::vector<RegisteredSyncImplementation>& sync_registry() {
  static std::vector<RegisteredSyncImplementation> implementations;
  return implementations;
}

std::string known_sync_names() {
  std::string known;
  for (const auto& name : registered_sync_names()) known += (known.empty() ? "" : ", ") + name;
  return known.empty() ? "none" : known;
}

}  // namespace

bool register_sync_implementation(const std::string& name, SyncImplementationFactory make) {
  for (const auto& existing : sync_registry()) {
    if (existing.name == name) throw Error("synchronized implementation '" + name + "' registered twice");
  }
  sync_registry().push_back({name, std::move(make)});
  return true;
}

std::vector<std::string> registered_sync_names() {
  std::vector<std::string> names;
  for (const auto& entry : sync_registry()) names.push_back(entry.name);
  std::sort(names.begin(), names.end());
  return names;
}

bool is_sync_implementation(const std::string& name) {
  const auto& entries = sync_registry();
  return std::any_of(entries.begin(), entries.end(), [&](const auto& entry) { return entry.name == name; });
}

std::unique_ptr<SyncImplementation> make_sync_implementation(const std::string& name) {
  for (const auto& entry : sync_registry()) {
    if (entry.name == name) return entry.make();
  }
  throw Error("unknown synchronized implementation '" + name + "' (built-in: " + known_sync_names() + ")");
}

}  // namespace bnh
