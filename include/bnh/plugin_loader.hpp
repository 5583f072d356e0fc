// Loads an outside implementation: a shared library exporting bnh_impl_v1_get (SPEC.md
// section 5), presented as a bnh::Implementation.
#pragma once

#include <memory>
#include <string>

#include "bnh/implementation.hpp"

namespace bnh {

struct PluginOptions {
  // Run every call in a child process on guarded copies of its buffers (bnh/isolated_call.hpp),
  // so that a crash, a hang or a stray write is a failed check, not a dead harness.
  bool isolate = true;
  double timeout_seconds = 10;  // per call, when isolated
};

// Throws bnh::Error with a clear message when the library cannot be opened, lacks the symbol,
// returns NULL, speaks another ABI version, or has a NULL name.
std::unique_ptr<Implementation> load_plugin(const std::string& path, const PluginOptions& options = {});

}  // namespace bnh
