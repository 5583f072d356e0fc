// load_sync_plugin (bnh/sync_implementation.hpp): a synchronized plugin run in sandbox workers,
// one per rank. The ranks call run() at once from their own threads (simulated ranks) or
// processes (MPI); each rank's calls go to its own worker, made the first time that rank calls,
// and the worker's collectives come back to be carried out with that rank's Communicator
// (core/sandbox.hpp). One more worker, made when the plugin is loaded, refuses an unusable
// library and answers supports(): it never runs a call, so a question never waits for a call
// that waits for the other ranks.
#include <map>
#include <memory>
#include <mutex>

#include "bnh/sync_implementation.hpp"
#include "core/plugin_table.hpp"
#include "core/sandbox.hpp"

namespace bnh {

namespace {

struct RankWorker {
  RankWorker(const std::string& path, double timeout_seconds) : sandbox(path, timeout_seconds, true) {}
  Sandbox sandbox;
  std::string hung[std::size(all_operations)];  // per operation: why it was given up on
};

class SyncPlugin final : public SyncImplementation {
 public:
  SyncPlugin(std::string path, double timeout_seconds)
      : path_(std::move(path)), timeout_seconds_(timeout_seconds), loader_(path_, timeout_seconds, true) {}

  std::string name() const override { return loader_.name(); }
  std::string description() const override { return loader_.description(); }
  bool supports(const TensorDesc& desc) const override {
    if (!plugin_table::expressible_in_v1(desc)) return false;  // bnh/plugin_sync.h: f32 and f64 only
    const std::lock_guard<std::mutex> lock(loader_mutex_);
    return loader_.supports(desc);
  }
  bool supports(Operation operation) const override { return loader_.provides(operation); }

  void run(Communicator& communicator, Operation operation, const TensorDesc& shard, const Params& params,
           const OperationBuffers& buffers) override {
    const std::string on_rank = " on rank " + std::to_string(communicator.rank());
    if (!supports(operation)) throw Unsupported(name() + " does not provide " + to_string(operation));
    if (!plugin_table::expressible_in_v1(shard)) throw Unsupported(name() + " has no " + dtypes_label(shard) + " data");
    RankWorker& worker = worker_of(communicator.rank());
    std::string& hung = worker.hung[static_cast<int>(operation)];
    if (!hung.empty()) throw PluginFault(hung + " on an earlier call; not called again");
    std::string reason, collective_failure;
    int status = 0;
    try {
      status = worker.sandbox.call_synchronized(communicator, operation, shard, params, buffers, reason,
                                                collective_failure);
    } catch (const PluginFault& fault) {
      if (std::string(fault.what()).find(" hung") != std::string::npos) hung = fault.what();
      throw;
    }
    // Its answer cannot be right, whatever it returned: the ranks did not meet.
    if (!collective_failure.empty()) {
      throw PluginFault(name() + " " + to_string(operation) + on_rank +
                        ": a collective failed (another rank failed or did not join): " + collective_failure);
    }
    if (status != 0) {
      throw PluginRefusal(name() + " rejected " + to_string(operation) + on_rank + ": " +
                          (reason.empty() ? "(no reason given)" : reason));
    }
  }

 private:
  // The rank's worker, started on its first call. A rank's calls come from one thread at a time.
  RankWorker& worker_of(int rank) {
    {
      const std::lock_guard<std::mutex> lock(workers_mutex_);
      if (const auto found = workers_.find(rank); found != workers_.end()) return *found->second;
    }
    // Started outside the lock: the ranks' workers load the plugin at the same time.
    auto started = std::make_unique<RankWorker>(path_, timeout_seconds_);
    const std::lock_guard<std::mutex> lock(workers_mutex_);
    return *workers_.emplace(rank, std::move(started)).first->second;
  }

  std::string path_;
  double timeout_seconds_;
  mutable Sandbox loader_;
  mutable std::mutex loader_mutex_;
  std::mutex workers_mutex_;
  std::map<int, std::unique_ptr<RankWorker>> workers_;
};

}  // namespace

std::unique_ptr<SyncImplementation> load_sync_plugin(const std::string& path, double timeout_seconds) {
  // A path without a slash would be searched for on the library path; plugins are files.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  return std::make_unique<SyncPlugin>(file, timeout_seconds);
}

}  // namespace bnh
