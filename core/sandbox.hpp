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
//
// A synchronized plugin (bnh/plugin_sync.h) gets one Sandbox per rank. Its calls take the rank's
// Communicator: the worker hands the plugin a bnh_communicator whose collectives come back to
// the harness as requests on the exchange area (core/sandbox_protocol.hpp), and call() carries
// them out with that Communicator while it waits for the call's result.
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

class Communicator;

class Sandbox {
 public:
  // Starts the worker and loads the plugin in it. Throws bnh::Error when the library is not a
  // usable plugin, bnh::PluginFault when loading it crashes or hangs.
  // `synchronized`: the library's bnh_sync_impl_v1_get table, called through call_synchronized.
  Sandbox(std::string plugin_path, double timeout_seconds, bool synchronized = false);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Valid UTF-8 (printing them is the printer's business: bnh::printable).
  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  bool provides(Operation operation) const;
  // The ABI version of the plugin's table: 1 or 2 (a synchronized table: 1). The worker hands
  // a version-1 table the descriptor without its statistics dtype: ask it nothing it cannot
  // express (plugin_table::expressible_in_v1).
  std::uint32_t abi_version() const { return abi_version_; }
  bool supports(const TensorDesc& desc);  // asked once per distinct desc

  // Runs `operation` in the worker on copies of `buffers`, each sized, guarded and protected as
  // its entry in operation_spec(operation) says. Returns the plugin's status; `reason` gets its
  // last_error() when that is nonzero. Outputs and in/out buffers are copied back only on
  // status 0.
  int call(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers, std::string& reason);

  // A synchronized plugin's call on `communicator`'s rank, `shard` its part of the batch
  // (shard.n may be 0: its tensors, when given, are then zero-byte buffers at an inaccessible
  // page; a NULL stays NULL, as bad input must reach every rank alike). Faults
  // name the rank. Returns as call() does; when one of the call's collectives failed (another
  // rank failed), `collective_failure` says why, and every later collective of the call failed
  // at once.
  int call_synchronized(Communicator& communicator, Operation operation, const TensorDesc& shard,
                        const Params& params, const OperationBuffers& buffers, std::string& reason,
                        std::string& collective_failure);

 private:
  struct Layout;
  void start();
  void stop();  // kills the worker and its process group
  [[noreturn]] void fail(const std::string& what);  // explains a dead or hung worker, then stops
  bool exchange(sandbox::Message request, const std::string& what);
  void ensure_arena(std::size_t bytes);
  int run(Operation operation, const TensorDesc& desc, const Params& params,
          const OperationBuffers& buffers, std::string& reason, const std::string& what);
  void serve_collective();  // sandbox_collectives.cpp
  void carry_out(const sandbox::CollectiveRequest& request);

  std::string path_, name_, description_;
  double timeout_seconds_;
  int socket_ = -1, control_file_ = -1, arena_file_ = -1;
  sandbox::ControlBlock* control_ = nullptr;
  unsigned char* arena_ = nullptr;
  std::size_t arena_bytes_ = 0;
  int worker_ = -1;
  std::uint32_t requests_ = 0;
  std::uint32_t operations_ = 0;
  std::uint32_t abi_version_ = 1;
  bool has_supports_ = true;
  bool synchronized_ = false;
  // A synchronized call's: the communicator its collectives use, and the first one's failure.
  int exchange_file_ = -1;
  unsigned char* exchange_area_ = nullptr;
  std::size_t exchange_mapped_ = 0;
  Communicator* communicator_ = nullptr;
  std::string collective_failure_;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, int, int, int>, bool> supported_;
};

}  // namespace bnh
