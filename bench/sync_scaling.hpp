// Scaling of a synchronized batch norm (bnh/sync_implementation.hpp) over ranks: the time per
// call of each operation on each shape, measured on rank 0 after every rank has joined a
// barrier, and the part of it spent inside the communicator's collectives. `bnh bench --sync`
// runs this once per rank count under MPI and combines the runs (docs/benchmarks.md,
// "Synchronized batch norm: scaling").
//
// Two ways to use K ranks on a shape whose single-process batch is N:
//   weak    every rank holds a shard of N samples (the batch grows to K N);
//   strong  the N samples are split, N / K per rank (the first N mod K ranks one more).
// The efficiencies against the single-rank time T(1):
//   E_weak = T(1) / T_weak(K),   E_strong = T(1) / (K T_strong(K)).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/suites.hpp"
#include "bnh/communicator.hpp"
#include "bnh/sync_implementation.hpp"
#include "bnh/types.hpp"

namespace bnh::bench {

// A rank's communicator that also sums the wall time spent inside its collectives (all_reduce_sum
// is all_gather underneath, so both are counted).
class TimedCommunicator : public Communicator {
 public:
  explicit TimedCommunicator(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void all_gather(const double* values, std::int64_t count, double* gathered) override;

  double seconds() const { return seconds_; }
  void reset() { seconds_ = 0; }

 private:
  Communicator& inner_;
  double seconds_ = 0;
};

enum class Scaling { single, weak, strong };  // single: one rank, the baseline of both
const char* to_string(Scaling scaling);
Scaling parse_scaling(const std::string& text);

struct SyncScalingConfig {
  std::vector<Shape> shapes;          // the single-process batches
  std::vector<Operation> operations;  // empty: all five
  DType dtype = DType::f32;
  Layout layout = Layout::nchw;
  int threads = 1;       // OpenMP threads per rank
  int repetitions = 5;   // odd: the median is one of them
  double min_time = 0.1; // seconds per repetition, at least
};

// One operation on one shape at one rank count, as rank 0 saw it.
struct SyncMeasurement {
  Operation operation = Operation::bn_forward_train;
  Shape shape;              // the single-process batch
  int ranks = 1;
  Scaling scaling = Scaling::single;
  std::int64_t shard_n = 0; // rank 0's samples
  std::int64_t iterations = 0;  // calls per repetition
  std::vector<double> seconds;                // per call, one per repetition
  std::vector<double> communication_seconds;  // per call inside the collectives, likewise
  double median_s = 0;
  double communication_share = 0;  // median communication time / median time
  double efficiency = 1;           // against the single-rank time (1 for it); 0 when unknown
};

// Which samples each rank holds: all N for weak (and single) scaling, N split as evenly as
// possible for strong.
std::int64_t shard_samples(Scaling scaling, std::int64_t n, int rank, int ranks);

// Runs every operation the implementation provides on every shape, on these ranks: single
// scaling on one rank, weak then strong on more. Every rank calls it (through ranks.run); the
// measurements are rank 0's, returned where rank 0 runs (empty elsewhere). `progress`, on rank 0,
// receives each measurement as it is taken. Throws what the implementation throws.
std::vector<SyncMeasurement> measure_sync_scaling(SyncImplementation& implementation, Ranks& ranks,
                                                  const SyncScalingConfig& config,
                                                  const std::function<void(const SyncMeasurement&)>& progress = {});

// Adds a later round's measurements to the earlier ones: the repetitions of the same operation,
// shape, rank count and scaling pooled, their median and communication share taken again over
// all of them; a measurement not yet present is appended.
void pool_rounds(std::vector<SyncMeasurement>& pooled, std::vector<SyncMeasurement> round);

// Sets each multi-rank measurement's efficiency from the single-rank one of the same operation
// and shape (0 when there is none).
void derive_efficiencies(std::vector<SyncMeasurement>& measurements);

nlohmann::json to_json(const SyncMeasurement& measurement);
SyncMeasurement sync_measurement_from_json(const nlohmann::json& json);

// The table `bnh bench --sync` prints: one row per operation and shape, the single-rank time,
// then per rank count the weak and strong times, communication shares and efficiencies.
std::string format_sync_table(const std::vector<SyncMeasurement>& measurements);

}  // namespace bnh::bench
