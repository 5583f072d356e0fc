// The processes of the plugin sandbox: starting a worker, ending it with everything it started,
// and making sure none outlives the harness.
#pragma once

#include <string>

#include <sys/types.h>

namespace bnh {

struct WorkerFiles {
  int socket, control, arena;  // become the worker's fds 3, 4 and 5
  int exchange = -1;           // fd 6: a synchronized plugin's collectives (-1: a plain plugin)
};

// Starts bnh-sandbox on `plugin_path` in its own process group, with SIGKILL as its
// parent-death signal; it hosts a synchronized plugin when `files` has an exchange area. Found as $BNH_SANDBOX, beside the running executable, in the build tree,
// or where `make install` puts it; throws bnh::Error when none exists.
pid_t spawn_sandbox_worker(const std::string& plugin_path, const WorkerFiles& files);

// Kills the worker, its process group and every process descended from it, and reaps it.
void kill_sandbox_worker(pid_t worker);

struct WorkerEnd {
  int signal = 0;  // the signal that ended it, or 0
  int status = 0;  // its exit status when no signal did
};
// Waits (briefly; then kills) for a worker that has closed its end of the socket.
WorkerEnd wait_for_sandbox_worker(pid_t worker);

}  // namespace bnh
