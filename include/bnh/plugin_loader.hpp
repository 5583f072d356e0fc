// Loads an outside implementation: a shared library exporting bnh_impl_v1_get (SPEC.md
// section 5), presented as a bnh::Implementation.
#pragma once

#include <memory>
#include <string>

#include "bnh/implementation.hpp"

namespace bnh {

struct PluginOptions {
  // Load the plugin and run every call in a worker process (bnh-sandbox) on guarded copies of
  // its buffers, so that a crash, a hang or a stray write is a failed check, not a dead harness.
  bool isolate = true;
  double timeout_seconds = 10;  // per call, when isolated
};

// Throws bnh::Error with a clear message when the library cannot be opened, lacks the symbol,
// returns NULL, speaks another ABI version, or has a NULL name; bnh::PluginFault when loading it
// crashes or hangs (isolated). A call the plugin declines throws bnh::PluginRefusal with its
// reason; a call that misbehaves throws bnh::PluginFault.
std::unique_ptr<Implementation> load_plugin(const std::string& path, const PluginOptions& options = {});

}  // namespace bnh
