// The MPI back end across real ranks, run by ctest under mpirun: the gather's layout, the
// rank-order sum bitwise the same on every rank, an empty collective, the C view, and different
// counts throwing on every rank alike. Every rank checks; the job fails when any rank does.
// With --absent-rank, the last rank never joins: the others must end the job at the timeout.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/types.hpp"

namespace {

int failures = 0;

void expect(bool condition, int rank, const std::string& what) {
  if (condition) return;
  std::fprintf(stderr, "rank %d: FAIL: %s\n", rank, what.c_str());
  ++failures;
}

// Values whose sum depends on the order of the additions.
double rank_value(int rank, int j) { return std::ldexp(1.0 + j, rank % 2 == 0 ? 60 : 0) + 0.1 * rank; }

void check(bnh::Communicator& communicator) {
  const int rank = communicator.rank(), size = communicator.size();
  const int count = 3;

  std::vector<double> values(count), gathered(size * count);
  for (int j = 0; j < count; ++j) values[j] = 10.0 * rank + j;
  communicator.all_gather(values.data(), count, gathered.data());
  for (int k = 0; k < size; ++k) {
    for (int j = 0; j < count; ++j) expect(gathered[k * count + j] == 10.0 * k + j, rank, "gather layout");
  }

  for (int j = 0; j < count; ++j) values[j] = rank_value(rank, j);
  communicator.all_reduce_sum(values.data(), count);
  for (int j = 0; j < count; ++j) {
    double expected = rank_value(0, j);
    for (int k = 1; k < size; ++k) expected += rank_value(k, j);
    expect(std::memcmp(&values[j], &expected, sizeof expected) == 0, rank, "rank-order sum");
  }
  // Every rank holds the same bits: gather them and compare with rank 0's.
  communicator.all_gather(values.data(), count, gathered.data());
  for (int k = 1; k < size; ++k) {
    expect(std::memcmp(&gathered[k * count], &gathered[0], count * sizeof(double)) == 0, rank, "sums identical on every rank");
  }

  communicator.all_gather(nullptr, 0, nullptr);

  const bnh_communicator c = communicator.to_c();
  expect(c.rank == rank && c.size == size, rank, "C view's rank and size");
  double one = 1.0;
  expect(c.all_reduce_sum(&c, &one, 1) == 0 && one == size, rank, "C view's sum");

  bool threw = false;
  try {
    std::vector<double> more(rank + 1), all(size * (size + 1));
    communicator.all_gather(more.data(), rank + 1, all.data());
  } catch (const bnh::Error& error) {
    threw = std::string(error.what()).find("different counts") != std::string::npos;
  }
  expect(threw || size == 1, rank, "different counts throw on every rank");

  // The group goes on after a refused collective: the counts are checked before the data moves.
  communicator.all_reduce_sum(&one, 1);
  expect(one == double(size) * size, rank, "collective after a refused one");
}

// Ends in MPI_Abort from the ranks that waited, never in a return.
void absent_rank(bnh::Communicator& communicator) {
  if (communicator.rank() == communicator.size() - 1) {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return;
  }
  double value = 0;
  std::vector<double> gathered(communicator.size());
  communicator.all_gather(&value, 1, gathered.data());
}

}  // namespace

int main(int argc, char** argv) {
  bnh::mpi_initialize(&argc, &argv);
  const bool absent = argc > 1 && std::string(argv[1]) == "--absent-rank";
  int status = 0;
  try {
    const auto ranks = bnh::mpi_ranks(absent ? 0.5 : 30);
    ranks->run(absent ? absent_rank : check);
    if (ranks->local_ranks().front() == 0) std::printf("mpi ranks: %d ranks checked\n", ranks->size());
    status = failures == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mpi ranks: %s\n", error.what());
    status = 1;
  }
  bnh::mpi_finalize();
  return status;
}
