// Loads an outside implementation: a shared library exporting bnh_impl_v2_get (bnh/plugin_v2.h:
// bf16 and f16 data with a statistics dtype) or bnh_impl_v1_get (bnh/plugin.h, SPEC.md section
// 5), presented as a bnh::Implementation. Version 2 is taken when the library exports both.
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

// Throws bnh::Error with a clear message when the library cannot be opened, lacks both symbols,
// returns NULL, returns a table of another ABI version, or has a NULL name; bnh::PluginFault when loading it
// crashes or hangs (isolated). A call the plugin declines throws bnh::PluginRefusal with its
// reason; a call that misbehaves throws bnh::PluginFault. A version-1 plugin supports no bf16
// or f16 data (it is not asked) and a call with such data throws bnh::Unsupported.
std::unique_ptr<Implementation> load_plugin(const std::string& path, const PluginOptions& options = {});

}  // namespace bnh
