// Runs a call into untrusted code (a plugin) in a child process, on copies of its buffers that
// sit between guard regions in memory shared with the child. A crash, a hang, a write outside
// a buffer or into a read-only input becomes a bnh::PluginFault naming what happened, and the
// caller's own memory is never exposed to the call.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "bnh/types.hpp"

namespace bnh {

struct IsolatedBuffer {
  const char* name;
  const void* source;   // the caller's data to copy in (NULL: the callee gets NULL)
  void* destination;    // where results are copied back (NULL: read-only input)
  std::size_t bytes;
};

struct IsolatedResult {
  int status = 0;            // what the callee returned
  std::string message;       // the callee's last_error() when status != 0
};

// `call` runs in the child with one pointer per buffer (NULL where source was NULL) and returns
// the callee's status; `last_error` is asked in the child when that status is nonzero.
// Output buffers start filled with NaN bytes, so that an output the callee forgets to write is
// visible. Throws PluginFault on a crash, a hang (no result within `timeout_seconds`), a write
// into a guard region or into a read-only buffer.
IsolatedResult run_isolated(const std::string& what, const std::vector<IsolatedBuffer>& buffers,
                            const std::function<int(const std::vector<void*>&)>& call,
                            const std::function<const char*()>& last_error,
                            double timeout_seconds);

}  // namespace bnh
