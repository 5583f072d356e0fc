// The harness's side of the plugin sandbox: one worker process (bnh-sandbox) per plugin, started
// once and reused for every call, the way AFL's fork server spares a fork per test case. The
// harness never runs plugin code. Each call's buffers are copied into shared memory, each placed
// between PROT_NONE pages (inputs read-only), with canaries in the sub-page rest.
//
// A call that crashes, exits, hangs or writes where it must not throws bnh::PluginFault naming
// what happened (the buffer and the offset, when the worker's fault handler saw the address); the
// worker and every process it started are then killed, and the next call starts a new worker.
// Workers run in their own process group with a parent-death signal, and are killed when the
// harness exits or receives SIGINT, SIGTERM or SIGHUP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bnh/operations.hpp"
#include "bnh/types.hpp"
#include "core/sandbox_protocol.hpp"

namespace bnh {

class Sandbox {
 public:
  // Starts the worker and loads the plugin in it. Throws bnh::Error when the library is not a
  // usable plugin, bnh::PluginFault when loading it crashes or hangs.
  Sandbox(std::string plugin_path, double timeout_seconds);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Valid UTF-8 (printing them is the printer's business: bnh::printable).
  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  bool provides(Operation operation) const;
  bool supports(const bnh_tensor_desc& desc);  // asked once per distinct desc

  // Runs `operation` in the worker on copies of `buffers`, each sized, guarded and protected as
  // its entry in operation_spec(operation) says. Returns the plugin's status; `reason` gets its
  // last_error() when that is nonzero. Outputs and in/out buffers are copied back only on
  // status 0.
  int call(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers, std::string& reason);

 private:
  struct Layout;
  void start();
  void stop();  // kills the worker and its process group
  [[noreturn]] void fail(const std::string& what);  // explains a dead or hung worker, then stops
  bool exchange(sandbox::Message request, const std::string& what);
  void ensure_arena(std::size_t bytes);

  std::string path_, name_, description_;
  double timeout_seconds_;
  int socket_ = -1, control_file_ = -1, arena_file_ = -1;
  sandbox::ControlBlock* control_ = nullptr;
  unsigned char* arena_ = nullptr;
  std::size_t arena_bytes_ = 0;
  int worker_ = -1;
  std::uint32_t requests_ = 0;
  std::uint32_t operations_ = 0;
  bool has_supports_ = true;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, int, int>, bool> supported_;
};

}  // namespace bnh
