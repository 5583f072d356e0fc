// Synchronized batch norm: the batch is split into shards along N, one per rank, and the
// statistics are merged across the ranks (PyTorch's SyncBatchNorm). The C++ face of
// bnh/plugin_sync.h: built-in synchronized implementations register here, synchronized plugins
// are loaded as one (bnh/plugin_loader.hpp), and the checks run any of them on ranks
// (bnh/communicator.hpp).
//
// What each rank gets back (the contract of docs/plugin-abi.md, "Synchronized batch norm"):
//   y, dx                                 its own shard's;
//   save_mean, save_invstd, r, d, the
//   running statistics, dgamma, dbeta     the whole batch's (dgamma and dbeta already reduced),
//                                         bitwise identical on every rank.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/operations.hpp"
#include "bnh/types.hpp"

namespace bnh {

class SyncImplementation {
 public:
  virtual ~SyncImplementation() = default;

  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual bool supports(const TensorDesc& desc) const = 0;  // dtype and layout
  virtual bool supports(Operation operation) const = 0;

  // Runs `operation` on this rank's shard. `shard` is the whole batch's description but for
  // shard.n, this rank's number of samples (0 for an empty shard); tensor buffers hold the
  // shard, per-channel buffers all C channels; buffers as operation_spec(operation) orders them.
  // The ranks call it at the same time, each with its own communicator (simulated ranks: one
  // thread per rank). Throws bnh::Error when it rejects the call (on every rank alike, when
  // the input is bad), bnh::Unsupported when it does not provide it.
  virtual void run(Communicator& communicator, Operation operation, const TensorDesc& shard,
                   const Params& params, const OperationBuffers& buffers) = 0;
};

using SyncImplementationFactory = std::function<std::unique_ptr<SyncImplementation>()>;

// The built-in synchronized implementations, by name (the `sync` of impls/sync/).
bool register_sync_implementation(const std::string& name, SyncImplementationFactory make);
std::vector<std::string> registered_sync_names();  // sorted
bool is_sync_implementation(const std::string& name);
// Throws bnh::Error naming the known ones when `name` is not one.
std::unique_ptr<SyncImplementation> make_sync_implementation(const std::string& name);

// Loads a synchronized plugin (one that exports bnh_sync_impl_v1_get). Each rank's calls run
// in that rank's own sandbox worker; the worker's collectives are carried out by the rank's
// communicator in the harness. Throws like load_plugin.
std::unique_ptr<SyncImplementation> load_sync_plugin(const std::string& path, double timeout_seconds = 10);

}  // namespace bnh
