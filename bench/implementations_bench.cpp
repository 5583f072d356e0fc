// Every registered implementation on the batch-norm shapes of ResNet-50 at N = 16 and on a 2-D
// (4096, 1024) input, both layouts, f32, all five operations, one thread each
// (Params::threads = 1). A streaming copy runs first and gives the machine's attainable
// bandwidth; after all benchmarks a summary computed from the same run compares every
// implementation with naive and the large shapes' bandwidth with the copy's.
//
// Counters: "bytes" is the traffic an operation cannot avoid (forward: read x, write y;
// backward: read dy and x, write dx; the per-channel vectors are negligible), "GB/s" is that
// traffic over the time, "elem/s" tensor elements over the time. Times are CPU times: every
// benchmark is single-threaded, so CPU time is the kernel's own time and leaves out the time the
// process waits for a core on a shared machine.
//
// Flags: the standard --benchmark_* flags, plus --quick (3 shapes, 1 repetition, min time 0.05 s).
// Defaults: --benchmark_repetitions=3 (odd: benchmark 1.7.1's median of an even count is
// wrong), --benchmark_min_time=0.2 (seconds, a plain number in 1.7.1), aggregates only.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bnh/registry.hpp"

namespace {

using bnh::DType;
using bnh::Implementation;
using bnh::Layout;
using bnh::Operation;
using bnh::TensorDesc;

constexpr std::int64_t batch = 16;
constexpr double mib = 1024.0 * 1024.0;

struct Shape {
  std::int64_t n, c, h, w;
  bool two_d;
  std::string label() const {
    return two_d ? std::to_string(n) + "x" + std::to_string(c)
                 : std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" +
                       std::to_string(w);
  }
};

std::vector<Shape> shapes(bool quick) {
  if (quick) return {{batch, 64, 56, 56, false}, {batch, 512, 7, 7, false}, {4096, 1024, 1, 1, true}};
  return {{batch, 64, 112, 112, false}, {batch, 64, 56, 56, false},  {batch, 256, 56, 56, false},
          {batch, 128, 28, 28, false},  {batch, 512, 28, 28, false}, {batch, 256, 14, 14, false},
          {batch, 1024, 14, 14, false}, {batch, 512, 7, 7, false},   {batch, 2048, 7, 7, false},
          {4096, 1024, 1, 1, true}};
}

// ---- memory ----------------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(float* pointer) const { std::free(pointer); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

// 64-byte aligned, and written once so that page faults stay out of the timings.
Buffer allocate(std::int64_t count, float value) {
  const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(float) + 63) / 64 * 64;
  auto* pointer = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (pointer == nullptr) throw std::bad_alloc();
  std::fill(pointer, pointer + count, value);
  return Buffer(pointer);
}

// The tensors of one shape. Random i.i.d. data is the same in either layout, so one workspace
// serves both; it is rebuilt only when the shape changes (benchmarks run shape by shape).
struct Workspace {
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  Buffer x, dy, out;                                  // out: y or dx
  Buffer gamma, beta, running_mean, running_var;      // per channel
  Buffer save_mean, save_invstd, r, d, dgamma, dbeta;

  bool holds(const TensorDesc& desc) const {
    return n == desc.n && c == desc.c && h == desc.h && w == desc.w;
  }
};

Workspace& workspace_for(const TensorDesc& desc) {
  static Workspace workspace;
  if (workspace.holds(desc)) return workspace;
  workspace = Workspace{};  // free the previous shape's tensors first
  const std::int64_t elements = desc.elements(), channels = desc.c;
  workspace.x = allocate(elements, 0);
  workspace.dy = allocate(elements, 0);
  workspace.out = allocate(elements, 0);
  std::mt19937_64 engine(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::int64_t i = 0; i < elements; ++i) workspace.x[i] = normal(engine);
  for (std::int64_t i = 0; i < elements; ++i) workspace.dy[i] = normal(engine);
  workspace.gamma = allocate(channels, 1.5f);
  workspace.beta = allocate(channels, 0.25f);
  workspace.running_mean = allocate(channels, 0.0f);
  workspace.running_var = allocate(channels, 1.0f);
  for (Buffer* vector : {&workspace.save_mean, &workspace.save_invstd, &workspace.r, &workspace.d,
                         &workspace.dgamma, &workspace.dbeta}) {
    *vector = allocate(channels, 0.0f);
  }
  workspace.n = desc.n;
  workspace.c = desc.c;
  workspace.h = desc.h;
  workspace.w = desc.w;
  return workspace;
}

// ---- the benchmarks --------------------------------------------------------------------------

double compulsory_bytes(Operation operation, const TensorDesc& desc) {
  const double tensor = static_cast<double>(desc.elements()) * sizeof(float);
  const bool backward = operation == Operation::bn_backward || operation == Operation::renorm_backward;
  return backward ? 3 * tensor : 2 * tensor;
}

void run(Implementation& impl, Operation operation, const TensorDesc& desc, Workspace& ws) {
  bnh::Params params;
  params.threads = 1;
  switch (operation) {
    case Operation::bn_forward_train:
      impl.bn_forward_train(desc, params, ws.x.get(), ws.gamma.get(), ws.beta.get(), ws.out.get(),
                            ws.save_mean.get(), ws.save_invstd.get(), ws.running_mean.get(),
                            ws.running_var.get());
      break;
    case Operation::bn_forward_infer:
      impl.bn_forward_infer(desc, params, ws.x.get(), ws.gamma.get(), ws.beta.get(),
                            ws.running_mean.get(), ws.running_var.get(), ws.out.get());
      break;
    case Operation::bn_backward:
      impl.bn_backward(desc, params, ws.dy.get(), ws.x.get(), ws.gamma.get(), ws.save_mean.get(),
                       ws.save_invstd.get(), ws.out.get(), ws.dgamma.get(), ws.dbeta.get());
      break;
    case Operation::renorm_forward_train:
      impl.renorm_forward_train(desc, params, ws.x.get(), ws.gamma.get(), ws.beta.get(),
                                ws.out.get(), ws.save_mean.get(), ws.save_invstd.get(), ws.r.get(),
                                ws.d.get(), ws.running_mean.get(), ws.running_var.get());
      break;
    case Operation::renorm_backward:
      impl.renorm_backward(desc, params, ws.dy.get(), ws.x.get(), ws.gamma.get(),
                           ws.save_mean.get(), ws.save_invstd.get(), ws.r.get(), ws.d.get(),
                           ws.out.get(), ws.dgamma.get(), ws.dbeta.get());
      break;
  }
}

void reset_running_statistics(Workspace& ws, std::int64_t channels) {
  std::fill(ws.running_mean.get(), ws.running_mean.get() + channels, 0.0f);
  std::fill(ws.running_var.get(), ws.running_var.get() + channels, 1.0f);
}

void operation_benchmark(benchmark::State& state, Implementation* impl, Operation operation,
                         TensorDesc desc) {
  Workspace& ws = workspace_for(desc);
  try {
    // The saved statistics (and r, d) that a backward pass reads come from this
    // implementation's own forward pass; every benchmark starts from running statistics 0 / 1.
    const bool renorm = operation == Operation::renorm_forward_train ||
                        operation == Operation::renorm_backward;
    reset_running_statistics(ws, desc.c);
    run(*impl, renorm ? Operation::renorm_forward_train : Operation::bn_forward_train, desc, ws);
    reset_running_statistics(ws, desc.c);
    run(*impl, operation, desc, ws);  // warm-up, and the first call's error if there is one
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return;
  }
  for (auto _ : state) {
    run(*impl, operation, desc, ws);
    benchmark::ClobberMemory();
  }
  const double bytes = compulsory_bytes(operation, desc);
  const double iterations = static_cast<double>(state.iterations());
  state.counters["bytes"] = bytes;
  state.counters["GB/s"] = benchmark::Counter(bytes * iterations, benchmark::Counter::kIsRate);
  state.counters["elem/s"] = benchmark::Counter(static_cast<double>(desc.elements()) * iterations,
                                                benchmark::Counter::kIsRate);
}

// The attainable bandwidth: std::memcpy of a 256 MiB float buffer, far beyond any cache.
// bytes = read + write. The buffers live only while this benchmark runs.
void stream_copy(benchmark::State& state) {
  const std::int64_t count = static_cast<std::int64_t>(256 * mib / sizeof(float));
  const Buffer source = allocate(count, 1.0f), target = allocate(count, 0.0f);
  for (auto _ : state) {
    std::memcpy(target.get(), source.get(), static_cast<std::size_t>(count) * sizeof(float));
    benchmark::ClobberMemory();
  }
  const double bytes = 2.0 * static_cast<double>(count) * sizeof(float);
  const double iterations = static_cast<double>(state.iterations());
  state.counters["bytes"] = bytes;
  state.counters["GB/s"] = benchmark::Counter(bytes * iterations, benchmark::Counter::kIsRate);
  state.counters["elem/s"] = benchmark::Counter(static_cast<double>(count) * iterations,
                                                benchmark::Counter::kIsRate);
}

// ---- what was registered, and what it measured -----------------------------------------------

struct Entry {
  std::string name;       // the benchmark's name
  Operation operation;
  Layout layout;
  std::string shape, impl;
  double x_and_y_bytes;   // compared with the last-level cache
};

struct Measurement {
  double seconds = 0;     // CPU time per call
  double gbps = 0;        // compulsory traffic over that time
  bool median = false;    // from the median aggregate of repetitions
};
using Measurements = std::map<std::string, Measurement>;

// The console output as usual, and every run's time and bandwidth kept for the summary: the
// median aggregate when there are repetitions, the single run otherwise.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;
  Measurements measurements;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate;
      if (median && run.aggregate_name != "median") continue;
      Measurement& slot = measurements[run.run_name.str()];
      if (slot.median && !median) continue;
      slot.median = median;
      slot.seconds = run.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
      const auto rate = run.counters.find("GB/s");  // bytes per second
      slot.gbps = rate == run.counters.end() ? 0 : rate->second.value / 1e9;
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

// ---- the summary -----------------------------------------------------------------------------

struct CacheSize {
  double bytes;
  std::string source;
};

// sysconf's L3 size, 32 MiB where it gives none. Where the kernel's own cache description says
// less, that wins: some virtual machines pass the whole host's L3 through sysconf, while the
// cores they run on share only one slice of it.
CacheSize last_level_cache() {
  const long reported = sysconf(_SC_LEVEL3_CACHE_SIZE);
  CacheSize size{reported > 0 ? static_cast<double>(reported) : 32 * mib,
                 reported > 0 ? "sysconf" : "default; sysconf gives none"};
  std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index3/size");
  std::string text;
  if (file >> text) {
    double value = std::atof(text.c_str());
    const char suffix = text.back();
    value *= suffix == 'K' ? 1024.0 : suffix == 'M' ? mib : suffix == 'G' ? 1024.0 * mib : 1.0;
    if (value > 0 && value < size.bytes) {
      size = {value, "/sys/devices/system/cpu/cpu0/cache/index3; sysconf says " +
                         std::to_string(static_cast<long>(size.bytes / mib)) + " MiB"};
    }
  }
  return size;
}

std::string fixed(double value, int decimals) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(decimals);
  out << value;
  return out.str();
}

double geometric_mean(const std::vector<double>& values) {
  double log_sum = 0;
  for (double value : values) log_sum += std::log(value);
  return std::exp(log_sum / static_cast<double>(values.size()));
}

const char* verdict(bool passed) { return passed ? "PASS" : "FAIL"; }

// Implementations in the order the summary lists them: openmp first, naive left out.
std::vector<std::string> compared_with_naive(const std::vector<std::string>& impls) {
  std::vector<std::string> order;
  if (std::count(impls.begin(), impls.end(), "openmp")) order.push_back("openmp");
  for (const auto& impl : impls) {
    if (impl != "openmp" && impl != "naive") order.push_back(impl);
  }
  return order;
}

std::string display_name(const std::string& impl) {
  return impl == "openmp" ? "openmp at 1 thread" : impl;
}

void print_summary(std::ostream& out, const std::vector<Entry>& entries,
                   const std::vector<std::string>& impls, const Measurements& measured,
                   const std::string& repetitions) {
  auto measurement = [&](const std::string& name) -> const Measurement* {
    const auto it = measured.find(name);
    return it == measured.end() ? nullptr : &it->second;
  };
  auto entry_for = [&](Operation operation, Layout layout, const std::string& shape,
                       const std::string& impl) -> const Entry* {
    for (const auto& entry : entries) {
      if (entry.operation == operation && entry.layout == layout && entry.shape == shape &&
          entry.impl == impl) {
        return &entry;
      }
    }
    return nullptr;
  };
  std::vector<std::string> shape_order;
  for (const auto& entry : entries) {
    if (std::find(shape_order.begin(), shape_order.end(), entry.shape) == shape_order.end()) {
      shape_order.push_back(entry.shape);
    }
  }
  const bool have_openmp = std::count(impls.begin(), impls.end(), "openmp") > 0;
  const bool have_naive = std::count(impls.begin(), impls.end(), "naive") > 0;

  out << "\n==== summary: " << (repetitions == "1" ? "one run" : "medians of " + repetitions + " repetitions")
      << " per benchmark, CPU time, f32, Params::threads = 1 ====\n";
  if (!have_openmp) {
    out << "No implementation named 'openmp' is registered; the targets below are openmp's, so they\n"
           "get no PASS/FAIL, and every registered implementation is compared with naive.\n";
  }

  // Speed-up over naive.
  out << "\nSpeed-up over naive: geometric mean over shapes of naive time / implementation time.\n";
  if (!have_naive) out << "  no implementation named 'naive' is registered: nothing to compare with\n";
  const auto compared = compared_with_naive(impls);
  for (Operation operation : bnh::all_operations) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      if (!have_naive) break;
      std::ostringstream block;
      bool any = false;
      for (const auto& impl : compared) {
        std::vector<double> ratios;
        for (const auto& shape : shape_order) {
          const Entry* base = entry_for(operation, layout, shape, "naive");
          const Entry* other = entry_for(operation, layout, shape, impl);
          if (base == nullptr || other == nullptr) continue;
          const Measurement* base_time = measurement(base->name);
          const Measurement* other_time = measurement(other->name);
          if (base_time == nullptr || other_time == nullptr || other_time->seconds <= 0) continue;
          ratios.push_back(base_time->seconds / other_time->seconds);
        }
        if (ratios.empty()) continue;
        any = true;
        const double speedup = geometric_mean(ratios);
        block << "    " << display_name(impl) << " vs naive: " << fixed(speedup, 2) << "x";
        if (ratios.size() != shape_order.size()) {
          block << " (" << ratios.size() << " of " << shape_order.size() << " shapes)";
        }
        if (impl == "openmp") block << "   target >= 2x: " << verdict(speedup >= 2);
        block << "\n";
      }
      if (any) {
        out << "  " << bnh::to_string(operation) << " " << bnh::to_string(layout) << ":\n"
            << block.str();
      }
    }
  }

  // Bandwidth of the training forward on shapes that do not fit the last-level cache.
  const CacheSize cache = last_level_cache();
  out << "\nTraining-forward bandwidth as a fraction of stream_copy's, on shapes whose x + y exceed\n"
         "the last-level cache ("
      << fixed(cache.bytes / mib, 0) << " MiB, " << cache.source << "):\n";
  const Measurement* copy = measurement("stream_copy");
  if (copy == nullptr || copy->gbps <= 0) {
    out << "  stream_copy was not measured in this run: not evaluated\n";
    return;
  }
  out << "  stream_copy: " << fixed(copy->gbps, 1) << " GB/s (read + write)\n";
  std::vector<std::string> bandwidth_order = compared;
  if (have_naive) bandwidth_order.push_back("naive");
  bool any_shape = false;
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    for (const auto& impl : bandwidth_order) {
      std::vector<double> fractions;
      std::ostringstream detail;
      for (const auto& shape : shape_order) {
        const Entry* entry = entry_for(Operation::bn_forward_train, layout, shape, impl);
        if (entry == nullptr || entry->x_and_y_bytes <= cache.bytes) continue;
        const Measurement* result = measurement(entry->name);
        if (result == nullptr) continue;
        const double fraction = result->gbps / copy->gbps;
        fractions.push_back(fraction);
        detail << (fractions.size() == 1 ? "" : ", ") << shape << " " << fixed(100 * fraction, 0)
               << "%";
      }
      if (fractions.empty()) continue;
      any_shape = true;
      const double mean = geometric_mean(fractions);
      out << "  " << bnh::to_string(layout) << " " << display_name(impl) << ": "
          << fixed(100 * mean, 0) << "% (geometric mean; " << detail.str() << ")";
      if (impl == "openmp") out << "   target >= 70%: " << verdict(mean >= 0.7);
      out << "\n";
    }
  }
  if (!any_shape) {
    out << "  no shape measured in this run has x + y larger than the last-level cache: not "
           "evaluated\n";
  }
}

// ---- command line ----------------------------------------------------------------------------

// The value of the last --benchmark_<flag>=VALUE among args, or "".
std::string last_flag_value(const std::vector<std::string>& args, const std::string& flag) {
  const std::string prefix = "--" + flag + "=";
  std::string value;
  for (const auto& arg : args) {
    if (arg.compare(0, prefix.size(), prefix) == 0) value = arg.substr(prefix.size());
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  // --quick is ours: take it out before benchmark::Initialize sees the arguments.
  bool quick = false;
  std::vector<std::string> user_args;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      if (std::strcmp(argv[i], "--help") == 0) {
        std::cout << "usage: " << argv[0] << " [--quick] [--benchmark_* flags]\n"
                  << "  --quick  3 shapes, 1 repetition, --benchmark_min_time=0.05\n"
                  << "defaults: --benchmark_repetitions=3 --benchmark_min_time=0.2 "
                     "--benchmark_display_aggregates_only=true\n\n";
      }
      user_args.emplace_back(argv[i]);
    }
  }
  // Our defaults first, so that the same flags given on the command line override them.
  std::vector<std::string> args{argv[0],
                                quick ? "--benchmark_repetitions=1" : "--benchmark_repetitions=3",
                                quick ? "--benchmark_min_time=0.05" : "--benchmark_min_time=0.2",
                                "--benchmark_display_aggregates_only=true"};
  args.insert(args.end(), user_args.begin(), user_args.end());
  const std::string repetitions = last_flag_value(args, "benchmark_repetitions");
  if (std::atoi(repetitions.c_str()) > 1 && std::atoi(repetitions.c_str()) % 2 == 0) {
    std::cerr << "warning: an even --benchmark_repetitions; benchmark 1.7.1's median of an even "
                 "count is not the median\n";
  }
  std::vector<char*> pointers;
  for (auto& arg : args) pointers.push_back(arg.data());
  int count = static_cast<int>(pointers.size());
  benchmark::Initialize(&count, pointers.data());
  if (benchmark::ReportUnrecognizedArguments(count, pointers.data())) return 2;

  // Every implementation, made once and kept for the whole run.
  std::vector<std::unique_ptr<Implementation>> implementations;
  std::vector<std::string> impl_names;
  for (const auto& registered : bnh::registered_implementations()) {
    implementations.push_back(registered.make());
    impl_names.push_back(registered.name);
  }

  benchmark::RegisterBenchmark("stream_copy", stream_copy)->Unit(benchmark::kMillisecond);
  std::vector<Entry> entries;
  // Shape by shape, so that one shape's tensors serve all of its benchmarks.
  for (const Shape& shape : shapes(quick)) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      const TensorDesc desc{shape.n, shape.c, shape.h, shape.w, layout, DType::f32};
      for (Operation operation : bnh::all_operations) {
        for (std::size_t i = 0; i < implementations.size(); ++i) {
          Entry entry{std::string(bnh::to_string(operation)) + "/" + bnh::to_string(layout) + "/" +
                          shape.label() + "/" + impl_names[i],
                      operation, layout, shape.label(), impl_names[i],
                      2.0 * static_cast<double>(desc.elements()) * sizeof(float)};
          Implementation* impl = implementations[i].get();
          benchmark::RegisterBenchmark(entry.name.c_str(),
                                       [impl, operation, desc](benchmark::State& state) {
                                         operation_benchmark(state, impl, operation, desc);
                                       })
              ->Unit(benchmark::kMicrosecond);
          entries.push_back(std::move(entry));
        }
      }
    }
  }

  CollectingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                    : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (!reporter.measurements.empty()) {
    print_summary(std::cout, entries, impl_names, reporter.measurements, repetitions);
  }
  std::cout.flush();
  benchmark::Shutdown();
  return 0;  // a measurement, not a test: the targets' verdicts are in the summary
}
