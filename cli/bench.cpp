#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "bench/bandwidth.hpp"
#include "bench/runner.hpp"
#include "bench/suites.hpp"
#include "bnh/registry.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output_files.hpp"
#include "reports/accuracy.hpp"
#include "reports/report.hpp"
#include "reports/summary.hpp"

namespace bnh::cli {

namespace {

constexpr std::int64_t max_repetitions = 999;
constexpr double max_min_time = 3600;
constexpr double fixed_bytes = 1 << 30;  // the probe's three arrays, the accuracy sweep, the program

constexpr const char* bench_usage = R"(usage: bnh bench [--suite NAME] [--quick] [options]

Measures implementations on a suite of shapes with Google Benchmark, every operation, dtype,
layout and thread count asked for, after a streaming-bandwidth probe in the same process; then
measures their accuracy against the 50-digit reference across conditioning. Writes a JSON
report (docs/report-schema.md; render it with bnh report, compare two with bnh compare) and
prints a summary. Progress goes to stderr, one line per benchmark. See docs/benchmarks.md.

options:
  --suite NAME         resnet50 (default), mlp, small-batch, cache-sweep, quick
  --quick              short run for CI: the quick suite (unless --suite is given),
                       3 repetitions of at least 0.01 s
  --n N                batch of the resnet50 and quick suites (default: 16); a suite whose
                       tensors would not fit in this machine's memory is refused
  --shapes LIST        only these shapes of the suite, as labelled in ids (16x64x56x56,
                       4096x1024)
  --impls LIST         implementations (default: all; see bnh list)
  --ops LIST           operations (default: all five)
  --dtype LIST         f32,f64 (default: f32)
  --layout LIST        nchw,nhwc (default: both)
  --threads LIST       thread counts (default: 1; at most 1024, or 4 per hardware
                       thread where that is more)
  --repetitions N      repetitions, odd, at most 999 (default: 3): rounds through every
                       benchmark, so that each one's repetitions are spread over the run
  --min-time SECONDS   least time per repetition (default: 0.1, at most 3600)
  --clock KIND         auto (default: CPU time at 1 thread, wall time above), cpu, real
  --output PATH        the report (default: reports/latest.json, its folder created if
                       missing); checked to be writable before the run
  --no-accuracy        skip the accuracy measurement
  --help               this text

environment:
  BNH_BENCH_SLOWDOWN=F   busy-wait (F - 1) times each call's duration after it: a
                         deliberately slowed build, for testing bnh compare (recorded in the
                         report as suite.slowdown)

Exit status: 0 the report was written, 2 bad usage or an output that cannot be written.
)";

// Thread counts in [1, thread_limit()]: a team of 100000 threads does not start (and ended in
// a crash inside OpenMP).
std::vector<int> thread_counts(const Arguments& arguments) {
  std::vector<int> counts;
  for (std::int64_t value : arguments.integer_list("--threads", {1}, 1, thread_limit())) {
    const int threads = static_cast<int>(value);
    if (std::find(counts.begin(), counts.end(), threads) == counts.end()) counts.push_back(threads);
  }
  return counts;
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(3);
  if (seconds >= 1e-3) {
    out << seconds * 1e3 << " ms";
  } else {
    out << seconds * 1e6 << " us";
  }
  return out.str();
}

}  // namespace

int run_bench(const std::vector<std::string>& words) {
  if (words.size() == 1 && (words[0] == "--help" || words[0] == "-h")) {
    std::cout << bench_usage;
    return 0;
  }
  Arguments arguments("bench", words,
                      {"--suite", "--n", "--shapes", "--impls", "--ops", "--dtype", "--layout", "--threads",
                       "--repetitions", "--min-time", "--clock", "--output"},
                      {"--help", "--quick", "--no-accuracy"});
  if (arguments.has("--help")) {
    std::cout << bench_usage;
    return 0;
  }
  const bool quick = arguments.has("--quick");
  const std::string suite = arguments.value("--suite", quick ? "quick" : "resnet50");
  const auto suites = bench::suite_names();
  if (std::find(suites.begin(), suites.end(), suite) == suites.end()) {
    std::string known;
    for (const auto& name : suites) known += (known.empty() ? "" : ", ") + name;
    throw UsageError("bnh bench: unknown suite '" + suite + "' (suites: " + known + ")");
  }
  bench::SuiteOptions suite_options;
  suite_options.n = arguments.integer("--n", 16, 1);
  std::vector<bench::Shape> shapes = bench::suite_shapes(suite, suite_options);
  if (arguments.has("--shapes")) {
    std::vector<bench::Shape> chosen;
    for (const auto& label : arguments.list("--shapes", {})) {
      const auto found = std::find_if(shapes.begin(), shapes.end(), [&](const auto& s) { return s.label() == label; });
      if (found == shapes.end()) {
        std::string known;
        for (const auto& shape : shapes) known += (known.empty() ? "" : ", ") + shape.label();
        throw UsageError("bnh bench: the " + suite + " suite has no shape '" + label + "' (it has " + known + ")");
      }
      chosen.push_back(*found);
    }
    shapes = chosen;
  }

  bench::RunConfig config;
  config.shapes = shapes;
  for (const auto& name : arguments.list("--impls", {})) {
    make_implementation(name);  // refuses an unknown name, listing the known ones
    config.implementations.push_back(name);
  }
  for (const auto& name : arguments.list("--ops", {})) config.operations.push_back(parse_operation(name));
  config.dtypes.clear();
  for (const auto& name : arguments.list("--dtype", {"f32"})) config.dtypes.push_back(parse_dtype(name));
  config.layouts.clear();
  for (const auto& name : arguments.list("--layout", {"nchw", "nhwc"})) config.layouts.push_back(parse_layout(name));
  config.threads = thread_counts(arguments);
  config.repetitions = static_cast<int>(arguments.integer("--repetitions", 3, 1, max_repetitions));
  if (config.repetitions % 2 == 0) {
    throw UsageError("bnh bench: --repetitions must be odd (the median of an even count is not a "
                     "measurement), got " + std::to_string(config.repetitions));
  }
  config.min_time = arguments.real("--min-time", quick ? 0.01 : 0.1, 0);
  if (config.min_time > max_min_time) {
    throw UsageError("bnh bench: --min-time must be at most " + std::to_string(static_cast<int>(max_min_time)) +
                     " seconds, got " + arguments.value("--min-time", ""));
  }
  try {
    config.clock = bench::parse_clock(arguments.value("--clock", "auto"));
  } catch (const Error& error) {
    throw UsageError(std::string("bnh bench: ") + error.what());
  }
  config.slowdown = bench::slowdown_from_environment();
  // The workspace holds x, dy and the output of the largest shape, at the largest dtype; the
  // bandwidth probe and the accuracy sweep need a fixed amount besides.
  double largest = 0;
  std::string largest_label;
  for (const auto& shape : shapes) {  // in double: with a large --n the product overflows int64
    const double elements = static_cast<double>(shape.n) * static_cast<double>(shape.c) *
                            static_cast<double>(shape.h) * static_cast<double>(shape.w);
    if (elements > largest) {
      largest = elements;
      largest_label = shape.label();
    }
  }
  std::size_t widest = 0;
  for (DType dtype : config.dtypes) widest = std::max(widest, element_size(dtype));
  require_memory("bench", "the suite's largest tensor, " + largest_label + ",",
                 largest * static_cast<double>(widest) * 4 + fixed_bytes);
  const bool default_output = !arguments.has("--output");
  const std::string output = arguments.value("--output", "reports/latest.json");
  // Find out now, not after the run, that the report cannot be written.
  if (default_output) {
    check_default_output(output);
  } else {
    check_writable(output);
  }
  const bool accuracy = !arguments.has("--no-accuracy");

  const auto started = std::chrono::steady_clock::now();
  if (config.slowdown > 1) {
    std::cerr << "bnh bench: BNH_BENCH_SLOWDOWN=" << config.slowdown
              << ": every call is deliberately slowed; the report records it\n";
  }

  // The bandwidth probe first, at every thread count, in this process.
  std::vector<bench::BandwidthResult> bandwidth;
  for (int threads : config.threads) {
    bandwidth.push_back(bench::measure_bandwidth(threads));
    std::cerr << "bandwidth probe, " << threads << " thread(s): copy " << std::fixed << std::setprecision(1)
              << bandwidth.back().copy_gbps << " GB/s, triad " << bandwidth.back().triad_gbps << " GB/s"
              << std::defaultfloat << '\n';
  }

  // Earlier rounds: a counter on a terminal and one line per round; the last round: one line
  // per benchmark with its median over every round.
  const bool terminal = isatty(fileno(stderr)) != 0;
  const bench::RunOutput result = bench::run_benchmarks(config, bandwidth, [terminal](const bench::Progress& progress) {
    if (progress.round < progress.rounds) {
      if (terminal) {
        std::cerr << "\rround " << progress.round << "/" << progress.rounds << ": " << progress.index << "/"
                  << progress.total << std::flush;
      }
      if (progress.index == progress.total) {
        std::cerr << (terminal ? "\r" : "") << "round " << progress.round << "/" << progress.rounds << ": "
                  << progress.total << " benchmarks measured\n";
      }
      return;
    }
    const int width = static_cast<int>(std::to_string(progress.total).size());
    std::cerr << "[" << std::setw(width) << progress.index << "/" << progress.total << "] " << progress.id;
    if (!progress.error.empty()) {
      std::cerr << "  refused: " << progress.error << '\n';
    } else {
      std::cerr << "  " << seconds_text(progress.median_s) << "  " << std::fixed << std::setprecision(2)
                << progress.gbps << " GB/s" << std::defaultfloat << '\n';
    }
  });

  // The probe again, now that the benchmarks are done: on a shared machine one moment's probe
  // may be disturbed, and the better of the two is the closer to what the machine can do.
  std::vector<bench::BandwidthResult> again;
  for (int threads : config.threads) again.push_back(bench::measure_bandwidth(threads));
  bandwidth = bench::best_of(bandwidth, again);
  for (const auto& probe : bandwidth) {
    std::cerr << "bandwidth probe, " << probe.threads << " thread(s), the better of before and after: copy "
              << std::fixed << std::setprecision(1) << probe.copy_gbps << " GB/s, triad " << probe.triad_gbps
              << " GB/s" << std::defaultfloat << '\n';
  }
  nlohmann::json benchmarks = result.benchmarks;
  bench::add_roofline_fractions(benchmarks, bandwidth);

  nlohmann::json report = reports::new_report(reports::machine_info(bandwidth), reports::build_info());
  nlohmann::json suite_info = {{"name", suite},
                               {"repetitions", config.repetitions},
                               {"min_time", config.min_time},
                               {"quick", quick},
                               {"clock", bench::to_string(config.clock)}};
  if (suite == "resnet50" || suite == "quick") suite_info["n"] = suite_options.n;
  suite_info["shapes"] = nlohmann::json::array();
  for (const auto& shape : shapes) suite_info["shapes"].push_back(shape.label());
  if (config.slowdown > 1) suite_info["slowdown"] = config.slowdown;
  report["suite"] = suite_info;
  report["benchmarks"] = benchmarks;
  report["copies"] = result.copies;
  if (!result.errors.empty()) report["errors"] = result.errors;

  if (accuracy) {
    reports::AccuracyOptions options;
    options.implementations = config.implementations;
    options.operations = config.operations;
    const auto accuracy_started = std::chrono::steady_clock::now();
    report["accuracy"] = reports::measure_accuracy(options, [&](int done, int total) {
      if (terminal) std::cerr << "\raccuracy: " << done << "/" << total << std::flush;
      if (done == total) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - accuracy_started).count();
        std::cerr << (terminal ? "\r" : "") << "accuracy: " << total
                  << " implementation x operation x dtype combinations against the reference in " << std::fixed
                  << std::setprecision(1) << seconds << " s" << std::defaultfloat << '\n';
      }
    });
  }

  write_file(output, reports::report_text(report));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << '\n' << reports::format_summary_text(report);
  if (!result.errors.empty()) {
    std::cout << '\n' << result.errors.size() << " benchmark(s) refused a valid call (listed in the report)\n";
  }
  std::cout << "\nwrote " << output << " (" << report["benchmarks"].size() << " benchmarks";
  if (accuracy) std::cout << ", " << report["accuracy"].size() << " accuracy entries";
  std::cout << ") in " << std::fixed << std::setprecision(0) << elapsed << " s" << std::defaultfloat << '\n';
  return 0;
}

}  // namespace bnh::cli
