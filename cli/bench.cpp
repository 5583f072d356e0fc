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
#include "bnh/sync_implementation.hpp"
#include "bnh/text.hpp"
#include "cli/arguments.hpp"
#include "cli/bench.hpp"
#include "cli/commands.hpp"
#include "cli/output_files.hpp"
#include "cli/targets.hpp"
#include "properties/accuracy_sweep.hpp"
#include "reports/report.hpp"
#include "reports/schema.hpp"
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
  --impls LIST         built-in implementations (default: all; see bnh list)
  --plugin PATH        also an implementation in a shared library (docs/plugin-abi.md), run
                       in a sandbox worker process like bnh check --plugin: measured against
                       the built-ins and the peers
  --timeout SECONDS    per plugin call, and for loading it (default 10)
  --no-isolation       load and call the plugin in this process (for a debugger)
  --focus NAME         the implementation the summary and the charts are about (default:
                       the fastest built-in)
  --ops LIST           operations (default: all five)
  --dtype LIST         f32, f64, bf16, f16 (default: f32); bf16:bf16 and f16:f16 keep the
                       statistics in the data dtype (pure) instead of f32 (mixed). An
                       implementation without a dtype is skipped for it, with one line
  --layout LIST        nchw,nhwc (default: both)
  --threads LIST       thread counts (default: 1; at most 1024, or 4 per hardware
                       thread where that is more)
  --repetitions N      repetitions, odd, at most 999 (default: 3): rounds through every
                       benchmark, so that each one's repetitions are spread over the run
  --min-time SECONDS   least time per repetition (default: 0.1, at most 3600)
  --clock KIND         auto (default: CPU time at 1 thread, wall time above), cpu, real
  --output PATH        the report (default: out/latest.json, its folder created if
                       missing); checked to be writable before the run
  --no-accuracy        skip the accuracy measurement
  --help               this text

bnh bench --sync measures a synchronized implementation under MPI instead (bnh bench --sync
--help).

Exit status: 0 the report was written; 1 it was written, but an implementation crashed, hung
or wrote out of bounds (a plugin's fault); 2 bad usage or an output that cannot be written;
3 it was written, but a --plugin implementation had nothing it could be measured on.
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

// The built-ins of --impls (all by default), then the plugin of --plugin, measured against them.
std::vector<Target> chosen_targets(const Arguments& arguments) {
  std::vector<Target> chosen;
  for (const auto& name : arguments.list("--impls", registered_names())) {
    if (is_sync_implementation(name)) {
      throw UsageError("bnh bench: " + name + " is synchronized; bnh bench --sync --impl " + name + " measures it on ranks");
    }
    chosen.push_back(builtin_target(name));
  }
  if (arguments.has("--plugin")) chosen.push_back(plugin_target(arguments));
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (chosen[i].implementation->name() == chosen[j].implementation->name()) {
        throw UsageError("bnh bench: two implementations are called '" + chosen[i].implementation->name() +
                         "' (" + chosen[j].selector + ", " + chosen[i].selector + ")");
      }
    }
  }
  return chosen;
}

// The workspace holds x, dy and the output of the largest shape, at the largest dtype; the
// bandwidth probe and the accuracy sweep need a fixed amount besides.
void require_memory_for(const std::vector<bench::Shape>& shapes, const std::vector<DTypeChoice>& dtypes) {
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
  for (const auto& dtype : dtypes) widest = std::max(widest, element_size(dtype.data));
  require_memory("bench", "the suite's largest tensor, " + largest_label + ",",
                 largest * static_cast<double>(widest) * 4 + fixed_bytes);
}

std::vector<bench::BandwidthResult> probe_bandwidth(const std::vector<int>& threads, const char* when) {
  std::vector<bench::BandwidthResult> probes;
  for (int count : threads) probes.push_back(bench::measure_bandwidth(count));
  for (const auto& probe : probes) {
    std::cerr << "bandwidth probe, " << probe.threads << " thread(s)" << when << ": copy " << std::fixed
              << std::setprecision(1) << probe.copy_gbps << " GB/s, triad " << probe.triad_gbps << " GB/s"
              << std::defaultfloat << '\n';
  }
  return probes;
}

// Earlier rounds: a counter on a terminal and one line per round; the last round: one line per
// benchmark with its median over every round.
void show_progress(const bench::Progress& progress, bool terminal) {
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
    std::cerr << "  not measured: " << progress.error << '\n';
  } else {
    std::cerr << "  " << seconds_text(progress.median_s) << "  " << std::fixed << std::setprecision(2)
              << progress.gbps << " GB/s" << std::defaultfloat << '\n';
  }
}

// Says, one line each, which dtypes asked for an implementation does not support in any layout
// (the plan leaves them out, as it leaves out the operations an implementation lacks).
void announce_skipped_dtypes(const std::vector<Target>& targets, const bench::RunConfig& config) {
  for (const auto& dtype : config.dtypes) {
    for (const auto& target : targets) {
      const Implementation& impl = *target.implementation;
      const bool any_layout = std::any_of(config.layouts.begin(), config.layouts.end(), [&](Layout layout) {
        TensorDesc desc;
        dtype.apply(desc);
        desc.layout = layout;
        return impl.supports(desc);
      });
      if (any_layout) continue;
      std::cerr << "skipped " << dtype.label() << " for " << printable(impl.name()) << ": it does not support "
                << dtype.label() << '\n';
    }
  }
}

// The dtypes of the accuracy measurement: f32 and f64 as always, and the reduced ones measured.
std::vector<DTypeChoice> accuracy_dtypes(const std::vector<DTypeChoice>& measured) {
  std::vector<DTypeChoice> dtypes = AccuracyOptions{}.dtypes;
  for (const auto& dtype : measured) {
    if (std::find(dtypes.begin(), dtypes.end(), dtype) == dtypes.end()) dtypes.push_back(dtype);
  }
  return dtypes;
}

std::vector<AccuracyPoint> measure_accuracy_of(const std::vector<Implementation*>& implementations,
                                               const bench::RunConfig& config, bool terminal) {
  AccuracyOptions options;
  options.operations = config.operations;
  options.dtypes = accuracy_dtypes(config.dtypes);
  const auto started = std::chrono::steady_clock::now();
  return measure_accuracy(implementations, options, [&](int done, int total) {
    if (terminal) std::cerr << "\raccuracy: " << done << "/" << total << std::flush;
    if (done == total) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::cerr << (terminal ? "\r" : "") << "accuracy: " << total
                << " implementation x operation x dtype combinations against the reference in " << std::fixed
                << std::setprecision(1) << seconds << " s" << std::defaultfloat << '\n';
    }
  });
}

}  // namespace

std::vector<bench::Shape> chosen_shapes(const Arguments& arguments, const std::string& suite, std::int64_t n) {
  const auto suites = bench::suite_names();
  if (std::find(suites.begin(), suites.end(), suite) == suites.end()) {
    std::string known;
    for (const auto& name : suites) known += (known.empty() ? "" : ", ") + name;
    throw UsageError("bnh bench: unknown suite '" + suite + "' (suites: " + known + ")");
  }
  bench::SuiteOptions options;
  options.n = n;
  const std::vector<bench::Shape> shapes = bench::suite_shapes(suite, options);
  if (!arguments.has("--shapes")) return shapes;
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
  return chosen;
}

int run_bench(const std::vector<std::string>& words) {
  if (std::find(words.begin(), words.end(), "--sync") != words.end()) return run_bench_sync(words);
  const auto parsed = arguments_or_help(
      "bench", words,
      {"--suite", "--n", "--shapes", "--impls", "--ops", "--dtype", "--layout", "--threads", "--repetitions",
       "--min-time", "--clock", "--output", "--plugin", "--timeout", "--focus"},
      {"--quick", "--no-accuracy", "--no-isolation"}, bench_usage);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;
  const bool quick = arguments.has("--quick");
  const std::string suite = arguments.value("--suite", quick ? "quick" : "resnet50");
  const std::int64_t n = arguments.integer("--n", 16, 1);
  const std::vector<bench::Shape> shapes = chosen_shapes(arguments, suite, n);

  bench::RunConfig config;
  config.shapes = shapes;
  for (const auto& name : arguments.list("--ops", {})) config.operations.push_back(parse_operation(name));
  config.dtypes = parse_dtype_choices(arguments.list("--dtype", {"f32"}));
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
  require_memory_for(shapes, config.dtypes);
  const std::string output = output_path(arguments, "out/latest.json");
  const bool accuracy = !arguments.has("--no-accuracy");

  const std::vector<Target> targets = chosen_targets(arguments);
  std::vector<Implementation*> implementations;
  for (const auto& target : targets) {
    config.contenders.push_back({target.implementation.get(), target.role});
    implementations.push_back(target.implementation.get());
  }
  const std::string focus = arguments.value("--focus", "");
  if (!focus.empty() && std::none_of(targets.begin(), targets.end(), [&](const Target& target) {
        return target.implementation->name() == focus;
      })) {
    throw UsageError("bnh bench: --focus " + focus + " is not one of the implementations measured");
  }

  announce_skipped_dtypes(targets, config);
  const auto started = std::chrono::steady_clock::now();
  std::vector<bench::BandwidthResult> bandwidth = probe_bandwidth(config.threads, "");
  const bool terminal = isatty(fileno(stderr)) != 0;
  bench::RunOutput result =
      bench::run_benchmarks(config, [terminal](const bench::Progress& progress) { show_progress(progress, terminal); });
  // The probe again, now that the benchmarks are done: on a shared machine one moment's probe
  // may be disturbed, and the better of the two is the closer to what the machine can do.
  bandwidth = bench::best_of(bandwidth, probe_bandwidth(config.threads, " after the benchmarks"));

  reports::Report report = reports::new_report(reports::describe_machine(bandwidth), reports::describe_build());
  report.suite.name = suite;
  if (suite == "resnet50" || suite == "quick") report.suite.n = n;
  report.suite.repetitions = config.repetitions;
  report.suite.min_time = config.min_time;
  report.suite.quick = quick;
  report.suite.clock = bench::to_string(config.clock);
  for (const auto& shape : shapes) report.suite.shapes.push_back(shape.label());
  report.focus = focus;
  report.benchmarks = std::move(result.benchmarks);
  report.bounds = std::move(result.bounds);
  report.errors = std::move(result.errors);
  if (accuracy) report.accuracy = measure_accuracy_of(implementations, config, terminal);
  reports::derive(report);

  write_file(output, reports::report_text(report));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << '\n' << reports::format_summary_text(report);
  const auto faults = std::count_if(report.errors.begin(), report.errors.end(), [](const auto& e) { return e.fault; });
  const auto refusals = static_cast<std::ptrdiff_t>(report.errors.size()) - faults;
  if (refusals > 0) std::cout << '\n' << refusals << " benchmark(s) refused a valid call (listed in the report)\n";
  if (faults > 0) {
    std::cout << '\n' << faults << " benchmark(s) failed: the implementation crashed, hung or wrote out of bounds "
              << "(listed in the report)\n";
  }
  std::cout << "\nwrote " << output << " (" << report.benchmarks.size() << " benchmarks";
  if (accuracy) std::cout << ", " << report.accuracy.size() << " accuracy entries";
  std::cout << ", focus " << (report.focus.empty() ? "-" : report.focus) << ") in " << std::fixed
            << std::setprecision(0) << elapsed << " s" << std::defaultfloat << '\n';
  if (faults > 0) return exit_status::check_failed;
  for (const auto& target : targets) {
    if (target.role != Role::under_test) continue;
    const std::string name = target.implementation->name();
    if (std::none_of(report.benchmarks.begin(), report.benchmarks.end(),
                     [&](const auto& benchmark) { return benchmark.implementation == name; })) {
      std::cerr << "bnh bench: nothing was measured for " << printable(name)
                << ": it supports none of the dtypes, layouts and operations asked for\n";
      return exit_status::nothing_checked;
    }
  }
  return exit_status::success;
}

}  // namespace bnh::cli
