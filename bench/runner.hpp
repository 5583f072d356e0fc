// Runs the benchmarks: registers one Google Benchmark per planned benchmark (bench/plan.hpp),
// runs them all `repetitions` times over (rounds) with a reporter that collects every
// repetition, and returns typed measurements: the operations' (reports::Benchmark, with the id
// of their bound), the bounds' and the refused calls. reports::derive() computes the figures
// derived from them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/plan.hpp"
#include "reports/schema.hpp"

namespace bnh::bench {

// One benchmark measured in one round, for a progress line.
struct Progress {
  int round = 1, rounds = 1;  // 1-based: repetitions are rounds through every benchmark
  int index = 0, total = 0;   // 1-based, within the round
  std::string id;
  double median_s = 0;        // over the rounds so far
  double gbps = 0;
  std::string error;          // non-empty: the implementation refused the call
};

struct RunOutput {
  std::vector<reports::Benchmark> benchmarks;   // derived figures not yet set
  std::vector<reports::BoundMeasurement> bounds;
  std::vector<reports::BenchmarkError> errors;  // refused calls
  int registered = 0;
};

// Calls benchmark::Initialize once per process with `args` (argv[0] first; --benchmark_*
// flags) and returns the arguments it did not recognize. Later calls do nothing.
std::vector<std::string> initialize_benchmark_library(const std::vector<std::string>& args = {"bnh"});

// Throws bnh::Error for an invalid configuration. `display`, when given, also receives every
// run (Google Benchmark's console table).
RunOutput run_benchmarks(const RunConfig& config, const std::function<void(const Progress&)>& progress = {},
                         benchmark::BenchmarkReporter* display = nullptr);

// Median (odd count: the middle one), minimum and sample standard deviation.
struct Statistics {
  double median = 0, min = 0, stddev = 0;
};
Statistics statistics_of(std::vector<double> values);

}  // namespace bnh::bench
