// MPI ranks: the processes of an MPI job (MPI_COMM_WORLD), one rank each. Built when CMake found
// MPI (BNH_WITH_MPI); otherwise every entry point but mpi_finalize says how to get it.
//
// A rank cannot tell a peer that failed from one that is slow, and a peer that left never joins
// again: a collective that does not complete within the timeout ends the whole job (MPI_Abort)
// with one line naming the collective and the rank, rather than leaving the job hanging.
#include <string>

#include "bnh/communicator.hpp"
#include "bnh/types.hpp"

#ifdef BNH_WITH_MPI

// The C interface only: mpi.h would otherwise bring in the C++ bindings, a library not linked.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <sstream>
#include <thread>
#include <vector>

namespace bnh {
namespace {

using Clock = std::chrono::steady_clock;

bool mpi_is_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(double timeout_seconds) : timeout_seconds_(timeout_seconds) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // The counts are gathered first: a gather whose ranks send different counts is erroneous in
  // MPI, and every rank must see the mismatch alike to throw alike.
  void all_gather(const double* values, std::int64_t count, double* gathered) override {
    if (count < 0) throw Error("all_gather: negative count " + std::to_string(count));
    std::vector<std::int64_t> counts(size_);
    MPI_Request request;
    MPI_Iallgather(&count, 1, MPI_INT64_T, counts.data(), 1, MPI_INT64_T, MPI_COMM_WORLD, &request);
    complete_or_abort(request, "all_gather (of the counts)");
    for (int k = 0; k < size_; ++k) {
      if (counts[k] != count) throw Error(different_counts(counts));
    }
    if (count > INT_MAX / size_) throw Error("all_gather: " + std::to_string(count) + " values per rank is more than one MPI call carries");
    MPI_Iallgather(values, static_cast<int>(count), MPI_DOUBLE, gathered, static_cast<int>(count), MPI_DOUBLE,
                   MPI_COMM_WORLD, &request);
    complete_or_abort(request, "all_gather");
  }

 private:
  // Polls rather than blocks, so that a peer that never comes cannot hold this rank forever;
  // after a short spin it sleeps between polls to leave the cores to the ranks still working.
  void complete_or_abort(MPI_Request& request, const char* collective) const {
    const auto start = Clock::now();
    const auto spin_until = start + std::chrono::milliseconds(1);
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds_));
    for (;;) {
      int done = 0;
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done) return;
      const auto now = Clock::now();
      if (now > deadline) {
        std::fprintf(stderr, "bnh: rank %d of %d: %s did not complete within %g s (another rank failed, hung or left); ending the MPI job\n",
                     rank_, size_, collective, timeout_seconds_);
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      if (now < spin_until) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
  }

  static std::string different_counts(const std::vector<std::int64_t>& counts) {
    std::ostringstream text;
    text << "all_gather: the ranks gave different counts (";
    for (std::size_t k = 0; k < counts.size(); ++k) text << (k > 0 ? ", " : "") << "rank " << k << ": " << counts[k];
    text << ")";
    return text.str();
  }

  int rank_ = 0, size_ = 1;
  double timeout_seconds_;
};

class MpiRanks : public Ranks {
 public:
  explicit MpiRanks(double timeout_seconds) : communicator_(timeout_seconds) {}
  int size() const override { return communicator_.size(); }
  std::vector<int> local_ranks() const override { return {communicator_.rank()}; }
  void run(const std::function<void(Communicator&)>& body) override { body(communicator_); }

 private:
  MpiCommunicator communicator_;
};

}  // namespace

std::unique_ptr<Ranks> mpi_ranks(double timeout_seconds) {
  if (!mpi_is_running()) throw Error("MPI is not initialized (the command needs --mpi, under mpirun)");
  if (!(timeout_seconds > 0)) throw Error("MPI ranks: the timeout must be positive");
  constexpr double longest_wait_seconds = 1e7;  // beyond it, "forever": the clock must not overflow
  return std::make_unique<MpiRanks>(std::min(timeout_seconds, longest_wait_seconds));
}

bool built_with_mpi() { return true; }

void mpi_initialize(int* argc, char*** argv) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) throw Error("MPI cannot be initialized again after MPI_Finalize");
  if (initialized) return;
  // Serialized: the collectives are called from whichever thread runs the rank's body, one at
  // a time.
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
}

void mpi_finalize() {
  if (mpi_is_running()) MPI_Finalize();
}

}  // namespace bnh

#else  // built without MPI

namespace bnh {
namespace {
const char* const without_mpi = "bnh was built without MPI (Debian: libopenmpi-dev openmpi-bin)";
}

std::unique_ptr<Ranks> mpi_ranks(double) { throw Error(without_mpi); }
bool built_with_mpi() { return false; }
void mpi_initialize(int*, char***) { throw Error(without_mpi); }
void mpi_finalize() {}

}  // namespace bnh

#endif
