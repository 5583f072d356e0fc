// Every registered implementation on a suite of shapes (by default ResNet-50's batch-norm shapes
// at N = 16 and the 2-D (4096, 1024) of the mlp suite), all five operations, both layouts, f32,
// one thread, with Google Benchmark's own console table and flags (--benchmark_filter,
// --benchmark_format, --benchmark_out, ...). The streaming-bandwidth probe runs first; the
// summary of `bnh bench` closes the run, with each shape's bounds (bench/bounds.hpp) among the
// benchmarks. The pieces are those of `bnh bench` (bench/runner.hpp); this program writes no
// report.
//
// Flags: the --benchmark_* flags, plus
//   --quick           the quick suite, 3 repetitions of at least 0.01 s
//   --suite=NAME      resnet50 (default), mlp, small-batch, cache-sweep, quick
//   --threads=N       OpenMP threads (default 1)
//   --repetitions=N   odd (default 3)    --min-time=SECONDS (default 0.1)
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "bench/bandwidth.hpp"
#include "bench/runner.hpp"
#include "bench/suites.hpp"
#include "bnh/types.hpp"
#include "reports/report.hpp"
#include "reports/summary.hpp"

namespace {

bool take(const std::string& arg, const std::string& flag, std::string& value) {
  if (arg.compare(0, flag.size() + 1, flag + "=") != 0) return false;
  value = arg.substr(flag.size() + 1);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string suite, value;
  bool quick = false;
  bnh::bench::RunConfig config;
  config.min_time = 0.1;
  bool min_time_given = false;
  std::vector<std::string> benchmark_args{argv[0]};
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--quick") {
        quick = true;
      } else if (take(arg, "--suite", value)) {
        suite = value;
      } else if (take(arg, "--threads", value)) {
        config.threads = {std::stoi(value)};
      } else if (take(arg, "--repetitions", value)) {
        config.repetitions = std::stoi(value);
      } else if (take(arg, "--min-time", value)) {
        config.min_time = std::stod(value);
        min_time_given = true;
      } else if (arg == "--help") {
        std::cout << "usage: " << argv[0]
                  << " [--quick] [--suite=NAME] [--threads=N] [--repetitions=N] [--min-time=S] [--benchmark_* flags]\n\n";
        benchmark_args.push_back(arg);
      } else {
        benchmark_args.push_back(arg);
      }
    }
    const bool default_suite = suite.empty() && !quick;
    if (suite.empty()) suite = quick ? "quick" : "resnet50";
    if (quick && !min_time_given) config.min_time = 0.01;
    config.shapes = bnh::bench::suite_shapes(suite);
    // By default the shapes the implementations are held to: ResNet-50's and a 2-D (4096, 1024).
    if (default_suite) config.shapes.push_back(bnh::bench::suite_shapes("mlp").front());

    const auto leftover = bnh::bench::initialize_benchmark_library(benchmark_args);
    if (!leftover.empty()) {
      std::cerr << argv[0] << ": unrecognized argument '" << leftover.front() << "'\n";
      return 2;
    }

    std::vector<bnh::bench::BandwidthResult> bandwidth{bnh::bench::measure_bandwidth(config.threads.front())};
    std::cout << "bandwidth probe: copy " << bandwidth.front().copy_gbps << " GB/s, triad "
              << bandwidth.front().triad_gbps << " GB/s\n";
    benchmark::ConsoleReporter console(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                             : benchmark::ConsoleReporter::OO_Tabular);
    auto result = bnh::bench::run_benchmarks(config, {}, &console);
    bnh::reports::Report report = bnh::reports::new_report(bnh::reports::describe_machine(bandwidth), {});
    report.benchmarks = std::move(result.benchmarks);
    report.bounds = std::move(result.bounds);
    bnh::reports::derive(report);
    std::cout << '\n' << bnh::reports::format_summary_text(report);
    benchmark::Shutdown();
  } catch (const std::exception& error) {
    std::cerr << argv[0] << ": " << error.what() << '\n';
    return 2;
  }
  return 0;  // a measurement, not a test
}
