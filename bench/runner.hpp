// Runs the benchmarks: registers one Google Benchmark per implementation x operation x dtype x
// layout x shape x thread count, runs them all `repetitions` times over (rounds) with a
// reporter that collects every repetition, and returns the results as the "benchmarks" entries
// of a report (docs/report-schema.md), with the speed-ups against naive and against the best
// peer computed from the same run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "bench/bandwidth.hpp"
#include "bench/suites.hpp"
#include "bnh/types.hpp"

namespace bnh::bench {

// Adapters of outside libraries, measured as the bar to clear: oneDNN and PyTorch's ATen.
bool is_peer(const std::string& implementation);

// Which time a benchmark records. automatic: the process's CPU time at one thread (every
// thread's work counts, time spent waiting for a core on a shared machine does not), wall
// time at more than one (the time a caller waits for the team).
enum class Clock { automatic, cpu, real };
Clock parse_clock(const std::string& text);  // "auto" | "cpu" | "real"
const char* to_string(Clock clock);

struct RunConfig {
  std::vector<Shape> shapes;
  std::vector<std::string> implementations;  // empty: every registered implementation
  std::vector<Operation> operations;         // empty: all five
  std::vector<DType> dtypes{DType::f32};
  std::vector<Layout> layouts{Layout::nchw, Layout::nhwc};
  std::vector<int> threads{1};
  // Rounds through every benchmark, each giving one time per benchmark; odd, so that the
  // median is one of the measurements.
  int repetitions = 3;
  double min_time = 0.1;      // seconds per repetition, at least
  Clock clock = Clock::automatic;
  // Every call is followed by a busy wait of (slowdown - 1) times its own duration on the
  // benchmark's clock: a deliberately slowed build for testing `bnh compare`. 1: off.
  double slowdown = 1.0;
};

// BNH_BENCH_SLOWDOWN from the environment (1 when unset); throws bnh::Error when it is not a
// number >= 1.
double slowdown_from_environment();

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
  nlohmann::json benchmarks = nlohmann::json::array();
  // The streaming copy of each shape's x at each thread count, measured in the same rounds:
  // {"id": "copy/f32/16x64x56x56/t1", "dtype", "shape", "threads", "repetitions", "median_s",
  // "bytes", "gbps", ...}.
  nlohmann::json copies = nlohmann::json::array();
  nlohmann::json errors = nlohmann::json::array();   // {"id", "error"} for refused calls
  int registered = 0;
};

// "copy/f32/16x64x112x112/t1": the streaming copy of the shape's x.
std::string copy_id(DType dtype, const Shape& shape, int threads);

// "bn_forward_train/nchw/f32/16x64x112x112/t1/openmp"
std::string benchmark_id(Operation operation, Layout layout, DType dtype, const Shape& shape,
                         int threads, const std::string& implementation);

// Calls benchmark::Initialize once per process with `args` (argv[0] first; --benchmark_*
// flags) and returns the arguments it did not recognize. Later calls do nothing.
std::vector<std::string> initialize_benchmark_library(const std::vector<std::string>& args = {"bnh"});

// Throws bnh::Error for an invalid configuration (even repetitions, unknown implementation).
// `display`, when given, also receives every run (Google Benchmark's console table).
RunOutput run_benchmarks(const RunConfig& config, const std::vector<BandwidthResult>& bandwidth,
                         const std::function<void(const Progress&)>& progress = {},
                         benchmark::BenchmarkReporter* display = nullptr);

// Fills speedup_vs_naive, speedup_vs_best_peer and best_peer of every entry from the entries
// of the same operation, layout, dtype, shape and thread count.
void add_speedups(nlohmann::json& benchmarks);

// Sets every entry's roofline_fraction from its gbps and the probe's copy bandwidth at its
// thread count (null without a probe).
void add_roofline_fractions(nlohmann::json& benchmarks, const std::vector<BandwidthResult>& bandwidth);

// Sets every entry's copy_fraction: its gbps over that of the copy of the same dtype, shape and
// thread count in `copies` (null without one). Unlike roofline_fraction, the copy is of the
// same size and was measured in the same rounds, at moments spread like the operation's.
void add_copy_fractions(nlohmann::json& benchmarks, const nlohmann::json& copies);

// The better of two probes of the same thread counts, per thread count and kernel.
std::vector<BandwidthResult> best_of(const std::vector<BandwidthResult>& first,
                                     const std::vector<BandwidthResult>& second);

// Median (odd count: the middle one), minimum and sample standard deviation.
struct Statistics {
  double median = 0, min = 0, stddev = 0;
};
Statistics statistics_of(std::vector<double> values);

}  // namespace bnh::bench
