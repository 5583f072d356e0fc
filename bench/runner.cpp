#include "bench/runner.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "bench/workspace.hpp"
#include "bnh/registry.hpp"
#include "core/machine.hpp"

namespace bnh::bench {

std::vector<std::string> initialize_benchmark_library(const std::vector<std::string>& args) {
  static bool initialized = false;
  if (initialized) return {};
  initialized = true;
  // Google Benchmark keeps argv[0] (the executable's name in its console header): the strings
  // live as long as the process.
  static std::vector<std::string> copies;
  copies = args.empty() ? std::vector<std::string>{"bnh"} : args;
  std::vector<char*> pointers;
  for (auto& arg : copies) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  int count = static_cast<int>(copies.size());
  benchmark::Initialize(&count, pointers.data());
  return std::vector<std::string>(pointers.begin() + 1, pointers.begin() + count);
}

Statistics statistics_of(std::vector<double> values) {
  Statistics result;
  if (values.empty()) return result;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  result.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  result.min = values.front();
  if (n > 1) {
    double mean = 0;
    for (double v : values) mean += v;
    mean /= static_cast<double>(n);
    double squares = 0;
    for (double v : values) squares += (v - mean) * (v - mean);
    result.stddev = std::sqrt(squares / static_cast<double>(n - 1));
  }
  return result;
}

namespace {

void set_rate_counters(benchmark::State& state, const Planned& plan) {
  const double iterations = static_cast<double>(state.iterations());
  state.counters["bytes"] = static_cast<double>(plan.bytes);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(plan.bytes) * iterations, benchmark::Counter::kIsRate);
}

// A bound's kernel on the shape's own tensors: the bar the operations are set against.
void bound_benchmark(benchmark::State& state, const Planned& plan, Workspace& ws) {
  ws.prepare(plan.desc);
  run_bound(plan.bound, plan.desc, ws, plan.threads);  // warm-up
  for (auto _ : state) {
    run_bound(plan.bound, plan.desc, ws, plan.threads);
    benchmark::ClobberMemory();
  }
  set_rate_counters(state, plan);
}

// The registered baseline, made once: it supplies the saved statistics for a backward pass of
// an implementation that has no forward pass of its own.
Implementation& baseline_implementation() {
  static const std::unique_ptr<Implementation> baseline = [] {
    for (const auto& entry : registered_implementations()) {
      if (entry.role == Role::baseline) return entry.make();
    }
    throw Error("no baseline implementation is registered");
  }();
  return *baseline;
}

// The saved statistics (and r, d) a backward pass reads: from the implementation's own forward
// pass, or the baseline's when it has none.
void run_matching_forward(Implementation& impl, Operation backward, const TensorDesc& desc, const Params& params,
                          Workspace& ws) {
  const Operation forward = forward_of(backward);
  Implementation& source = impl.supports(forward) ? impl : baseline_implementation();
  call(source, forward, desc, params, ws.buffers(forward));
}

// Runs `work`; a failure skips the benchmark with its message. `faulted` collects the ids whose
// implementation crashed, hung or wrote out of bounds: a failure, unlike a refusal.
template <typename Work>
bool skipped_on_failure(benchmark::State& state, const Planned& plan, std::set<std::string>& faulted, Work&& work) {
  try {
    work();
    return false;
  } catch (const PluginFault& fault) {
    faulted.insert(plan.id);
    state.SkipWithError(fault.what());
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
  }
  return true;
}

void operation_benchmark(benchmark::State& state, const Planned& plan, Workspace& ws,
                         std::set<std::string>& faulted) {
  Implementation& impl = *plan.contender->implementation;
  Params params;
  params.threads = plan.threads;
  omp_set_num_threads(plan.threads);  // for implementations that take OpenMP's default team
  ws.prepare(plan.desc);
  OperationBuffers buffers;  // taken after the resets, which make the running statistics anew
  const bool skipped = skipped_on_failure(state, plan, faulted, [&] {
    // Every benchmark starts from running statistics 0 / 1.
    ws.reset_running_statistics();
    if (is_backward(plan.operation)) run_matching_forward(impl, plan.operation, plan.desc, params, ws);
    ws.reset_running_statistics();
    buffers = ws.buffers(plan.operation);
    call(impl, plan.operation, plan.desc, params, buffers);  // warm-up, or a refusal
  });
  if (skipped) return;  // Google Benchmark: skip before the loop, or break out of it
  for (auto _ : state) {
    if (skipped_on_failure(state, plan, faulted, [&] { call(impl, plan.operation, plan.desc, params, buffers); })) {
      break;
    }
    benchmark::ClobberMemory();
  }
  set_rate_counters(state, plan);
  state.counters["elem/s"] = benchmark::Counter(
      static_cast<double>(plan.desc.elements()) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Keeps every repetition of every benchmark, passes the runs on to a display reporter if there
// is one, and reports progress once per benchmark.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  struct Collected {
    std::vector<double> seconds;
    std::vector<std::int64_t> iterations;
    std::string error;
  };

  CollectingReporter(const std::map<std::string, const Planned*>& plans, int total,
                     const std::function<void(const Progress&)>& progress,
                     benchmark::BenchmarkReporter* display)
      : plans_(plans), total_(total), progress_(progress), display_(display) {}

  std::map<std::string, Collected> collected;
  int round = 1, rounds = 1;

  bool ReportContext(const Context& context) override {
    if (display_ == nullptr || context_shown_) return true;
    context_shown_ = true;
    return display_->ReportContext(context);
  }

  void start_round(int number) {
    round = number;
    done_ = 0;
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    if (display_ != nullptr) display_->ReportRuns(runs);
    std::string id;
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration) continue;
      id = run.run_name.function_name;
      const auto plan = plans_.find(id);
      if (plan == plans_.end()) continue;
      Collected& slot = collected[id];
      if (run.error_occurred) {
        slot.error = run.error_message;
        continue;
      }
      const double total_seconds = plan->second->cpu_clock ? run.cpu_accumulated_time : run.real_accumulated_time;
      const auto iterations = static_cast<std::int64_t>(run.iterations);
      slot.seconds.push_back(total_seconds / static_cast<double>(std::max<std::int64_t>(1, iterations)));
      slot.iterations.push_back(iterations);
    }
    if (id.empty() || !progress_) return;
    const auto plan = plans_.find(id);
    if (plan == plans_.end()) return;
    const Collected& slot = collected[id];
    Progress line;
    line.round = round;
    line.rounds = rounds;
    line.index = ++done_;
    line.total = total_;
    line.id = id;
    line.error = slot.error;
    if (slot.error.empty() && !slot.seconds.empty()) {
      line.median_s = statistics_of(slot.seconds).median;
      line.gbps = static_cast<double>(plan->second->bytes) / line.median_s / 1e9;
    }
    progress_(line);
  }

  void Finalize() override {
    if (display_ != nullptr) display_->Finalize();
  }

 private:
  const std::map<std::string, const Planned*>& plans_;
  int total_;
  int done_ = 0;
  bool context_shown_ = false;
  const std::function<void(const Progress&)>& progress_;
  benchmark::BenchmarkReporter* display_;
};

reports::Timing timing_of(const CollectingReporter::Collected& collected, bool cpu_clock) {
  const Statistics stats = statistics_of(collected.seconds);
  reports::Timing timing;
  timing.repetitions = collected.seconds;
  timing.iterations = collected.iterations;
  timing.clock = cpu_clock ? "cpu" : "real";
  timing.median_s = stats.median;
  timing.min_s = stats.min;
  timing.stddev_s = stats.stddev;
  return timing;
}

// The typed measurement of one planned benchmark.
void record(const Planned& plan, const CollectingReporter::Collected& collected, bool faulted, RunOutput& output) {
  if (!collected.error.empty() || collected.seconds.empty()) {
    output.errors.push_back({plan.id, collected.error.empty() ? "no measurement" : collected.error, faulted});
    return;
  }
  const reports::Timing timing = timing_of(collected, plan.cpu_clock);
  const double gbps = static_cast<double>(plan.bytes) / timing.median_s / 1e9;
  if (plan.is_bound()) {
    output.bounds.push_back({plan.id, to_string(plan.bound), dtypes_label(plan.desc), plan.shape.dims(),
                             plan.threads, timing, plan.bytes, gbps});
    return;
  }
  reports::Benchmark entry;
  entry.id = plan.id;
  entry.implementation = plan.contender->implementation->name();
  entry.role = plan.contender->role;
  entry.operation = to_string(plan.operation);
  entry.layout = to_string(plan.desc.layout);
  entry.dtype = dtypes_label(plan.desc);  // "bf16:bf16" for statistics in bf16
  entry.shape = plan.shape.dims();
  entry.threads = plan.threads;
  entry.timing = timing;
  entry.bytes = plan.bytes;
  entry.gbps = gbps;
  entry.elements_per_second = static_cast<double>(plan.desc.elements()) / timing.median_s;
  entry.bound = plan.bound_id();
  output.benchmarks.push_back(std::move(entry));
}

}  // namespace

RunOutput run_benchmarks(const RunConfig& config, const std::function<void(const Progress&)>& progress,
                         benchmark::BenchmarkReporter* display) {
  validate(config);
  std::vector<std::unique_ptr<Implementation>> registered;  // when no contenders are given
  std::vector<Contender> contenders = config.contenders;
  if (contenders.empty()) {
    for (const auto& entry : registered_implementations()) {
      registered.push_back(entry.make());
      contenders.push_back({registered.back().get(), entry.role});
    }
  }
  const std::vector<Planned> plans = plan(config, contenders, machine().caches.last_level);

  initialize_benchmark_library();
  benchmark::ClearRegisteredBenchmarks();
  const int default_team = omp_get_max_threads();  // the benchmarks set it; restored below
  Workspace workspace;
  std::set<std::string> faulted;
  std::map<std::string, const Planned*> by_id;
  for (const Planned& plan : plans) {
    by_id[plan.id] = &plan;
    const Planned* planned = &plan;
    Workspace* ws = &workspace;
    std::set<std::string>* faults = &faulted;
    auto* benchmark = benchmark::RegisterBenchmark(plan.id.c_str(), [planned, ws, faults](benchmark::State& state) {
      if (planned->is_bound()) {
        bound_benchmark(state, *planned, *ws);
      } else {
        operation_benchmark(state, *planned, *ws, *faults);
      }
    });
    benchmark->Repetitions(1)->MinTime(config.min_time)->Unit(benchmark::kMicrosecond);
    if (plan.cpu_clock) {
      benchmark->MeasureProcessCPUTime();
    } else {
      benchmark->UseRealTime();
    }
  }

  // Repetitions are rounds through every benchmark, so that a benchmark's repetitions sample
  // the machine at moments spread over the whole run rather than at one moment: on a shared
  // machine that is what makes their spread, and a comparison of two runs, honest.
  CollectingReporter reporter(by_id, static_cast<int>(plans.size()), progress, display);
  reporter.rounds = config.repetitions;
  for (int round = 1; round <= config.repetitions && !plans.empty(); ++round) {
    reporter.start_round(round);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::ClearRegisteredBenchmarks();
  omp_set_num_threads(default_team);

  RunOutput output;
  output.registered = static_cast<int>(plans.size());
  for (const Planned& plan : plans) {
    const auto found = reporter.collected.find(plan.id);
    if (found != reporter.collected.end()) record(plan, found->second, faulted.count(plan.id) > 0, output);  // else filtered out
  }
  return output;
}

}  // namespace bnh::bench
