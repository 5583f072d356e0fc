// The ranks of a synchronized batch norm (bnh/sync_implementation.hpp) and what they do together.
// Two back ends provide them (core/simulated_ranks.cpp, core/mpi_ranks.cpp): simulated ranks,
// threads of this process with the collectives in shared memory, and real MPI ranks, one process
// each.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "bnh/plugin_sync.h"

namespace bnh {

// One rank's view. Every rank must make the same collective calls in the same order with the
// same count; a collective that cannot complete (another rank failed, left, or asked for a
// different count) throws bnh::Error on every rank that waits in it, never hangs.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // gathered[k * count + j] = rank k's values[j], the same on every rank; gathered holds
  // size() * count doubles.
  virtual void all_gather(const double* values, std::int64_t count, double* gathered) = 0;

  // values[j] = the sum over the ranks of their values[j], added in rank order 0, 1, ...:
  // bitwise the same on every rank and from run to run, whatever the back end.
  void all_reduce_sum(double* values, std::int64_t count);

  // The C view a plugin receives (bnh/plugin_sync.h); valid while this object lives. A
  // collective that throws returns nonzero to the plugin instead.
  bnh_communicator to_c();
};

// The ranks this process holds, and a way to run the same body on each of them.
class Ranks {
 public:
  virtual ~Ranks() = default;
  virtual int size() const = 0;
  // The ranks whose bodies run in this process: all of [0, size) for simulated ranks, this
  // process's own under MPI.
  virtual std::vector<int> local_ranks() const = 0;
  // Calls body(communicator) once per local rank (simulated: each on its own thread, all at
  // once) and returns when every one has returned; the first exception in rank order is
  // rethrown, as it was thrown (a PluginFault stays one). Simulated: when a body throws, the
  // others' pending and later collectives throw bnh::Error("rank K failed: <its message>")
  // rather than hang, and the ranks whose collectives failed that way are passed over: the
  // exception rethrown is the first in rank order among the ranks that failed on their own.
  // MPI: a collective that does not complete within the timeout ends the job (MPI_Abort, with
  // a message naming the collective), since a rank that left cannot be waited for.
  // Calls of run() on one object are taken one at a time; a body must not call run() on the
  // ranks running it.
  virtual void run(const std::function<void(Communicator&)>& body) = 0;
};

// K ranks on threads of this process (rank 0 on the caller's, the others on threads started
// once and reused by every run); a rank that waits longer than timeout_seconds in a collective
// throws bnh::Error naming the ranks that did not join.
std::unique_ptr<Ranks> simulated_ranks(int size, double timeout_seconds = 60);

// The MPI job this process belongs to (MPI_COMM_WORLD). Call mpi_initialize() first.
// Throws bnh::Error when bnh was built without MPI.
std::unique_ptr<Ranks> mpi_ranks(double timeout_seconds = 60);
bool built_with_mpi();
void mpi_initialize(int* argc, char*** argv);  // MPI_Init (a no-op when already initialized)
void mpi_finalize();                           // MPI_Finalize (a no-op when not initialized)

}  // namespace bnh
