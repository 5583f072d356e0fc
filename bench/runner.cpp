#include "bench/runner.hpp"

#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <random>

#include "bench/bandwidth.hpp"
#include "bench/traffic.hpp"
#include "bnh/registry.hpp"

namespace bnh::bench {

bool is_peer(const std::string& implementation) {
  return implementation == "onednn" || implementation == "aten";
}

Clock parse_clock(const std::string& text) {
  if (text == "auto") return Clock::automatic;
  if (text == "cpu") return Clock::cpu;
  if (text == "real") return Clock::real;
  throw Error("unknown clock '" + text + "' (auto, cpu, real)");
}

const char* to_string(Clock clock) {
  switch (clock) {
    case Clock::automatic: return "auto";
    case Clock::cpu: return "cpu";
    case Clock::real: return "real";
  }
  return "auto";
}

double slowdown_from_environment() {
  const char* text = std::getenv("BNH_BENCH_SLOWDOWN");
  if (text == nullptr || *text == '\0') return 1.0;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(value) || value < 1.0) {
    throw Error(std::string("BNH_BENCH_SLOWDOWN must be a number >= 1, got '") + text + "'");
  }
  return value;
}

std::string benchmark_id(Operation operation, Layout layout, DType dtype, const Shape& shape,
                         int threads, const std::string& implementation) {
  return std::string(to_string(operation)) + "/" + to_string(layout) + "/" + to_string(dtype) +
         "/" + shape.label() + "/t" + std::to_string(threads) + "/" + implementation;
}

std::string copy_id(DType dtype, const Shape& shape, int threads) {
  return std::string("copy/") + to_string(dtype) + "/" + shape.label() + "/t" + std::to_string(threads);
}

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

// ---- tensors ---------------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(void* pointer) const { std::free(pointer); }
};
using Buffer = std::unique_ptr<unsigned char[], FreeDeleter>;

// 64-byte aligned, and written once so that page faults stay out of the timings.
Buffer allocate(std::int64_t count, DType dtype, double value) {
  const std::size_t size = element_size(dtype);
  const std::size_t bytes = (static_cast<std::size_t>(count) * size + 63) / 64 * 64;
  auto* pointer = static_cast<unsigned char*>(std::aligned_alloc(64, bytes));
  if (pointer == nullptr) throw std::bad_alloc();
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    std::fill(reinterpret_cast<T*>(pointer), reinterpret_cast<T*>(pointer) + count, static_cast<T>(value));
  });
  return Buffer(pointer);
}

void fill_normal(Buffer& buffer, std::int64_t count, DType dtype, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* values = reinterpret_cast<T*>(buffer.get());
    for (std::int64_t i = 0; i < count; ++i) values[i] = static_cast<T>(normal(engine));
  });
}

// The tensors of one shape and dtype. I.i.d. random data is the same in either layout, so one
// workspace serves both; it is rebuilt when the shape or dtype changes (the benchmarks are
// registered shape by shape).
struct Workspace {
  std::int64_t elements = -1, channels = -1;
  DType dtype = DType::f32;
  Buffer x, dy, out;                               // out: y or dx
  Buffer gamma, beta, running_mean, running_var;   // per channel
  Buffer save_mean, save_invstd, r, d, dgamma, dbeta;

  void prepare(const TensorDesc& desc) {
    if (elements == desc.elements() && channels == desc.c && dtype == desc.dtype) return;
    *this = Workspace{};  // free the previous shape's tensors first
    x = allocate(desc.elements(), desc.dtype, 0);
    dy = allocate(desc.elements(), desc.dtype, 0);
    out = allocate(desc.elements(), desc.dtype, 0);
    fill_normal(x, desc.elements(), desc.dtype, 42);
    fill_normal(dy, desc.elements(), desc.dtype, 43);
    gamma = allocate(desc.c, desc.dtype, 1.5);
    beta = allocate(desc.c, desc.dtype, 0.25);
    running_mean = allocate(desc.c, desc.dtype, 0);
    running_var = allocate(desc.c, desc.dtype, 1);
    for (Buffer* vector : {&save_mean, &save_invstd, &r, &d, &dgamma, &dbeta}) {
      *vector = allocate(desc.c, desc.dtype, 0);
    }
    elements = desc.elements();
    channels = desc.c;
    dtype = desc.dtype;
  }

  void reset_running_statistics() {
    dispatch_dtype(dtype, [&](auto zero) {
      using T = decltype(zero);
      std::fill_n(reinterpret_cast<T*>(running_mean.get()), channels, T(0));
      std::fill_n(reinterpret_cast<T*>(running_var.get()), channels, T(1));
    });
  }
};

void call(Implementation& impl, Operation operation, const TensorDesc& desc, const Params& params,
          Workspace& ws) {
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

// The clock a benchmark's busy wait follows: the one its time is taken from.
double now(bool cpu) {
  if (cpu) {
    timespec spec{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec);
    return static_cast<double>(spec.tv_sec) + 1e-9 * static_cast<double>(spec.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Planned {
  std::string id;
  Implementation* impl;  // nullptr: the streaming copy of the shape's x into y
  Operation operation;
  TensorDesc desc;
  Shape shape;
  int threads;
  bool cpu_clock;
  double copy_gbps;      // the bandwidth probe's copy at this thread count, 0 without one
  std::int64_t bytes;    // moved per call: the operation's compulsory traffic, or the copy's

  bool is_copy() const { return impl == nullptr; }
};

// x's bytes read and as many written.
std::int64_t copy_bytes(const TensorDesc& desc) {
  return 2 * (desc.elements() * static_cast<std::int64_t>(element_size(desc.dtype)) / 16 * 16);
}

// The shape's x copied into y with the probe's streaming copy: the bar the operations are set
// against, measured on the same tensors in the same rounds.
void copy_benchmark(benchmark::State& state, const Planned& plan, Workspace& ws) {
  ws.prepare(plan.desc);
  streaming_copy(ws.out.get(), ws.x.get(), plan.bytes / 2, plan.threads);  // warm-up
  for (auto _ : state) {
    streaming_copy(ws.out.get(), ws.x.get(), plan.bytes / 2, plan.threads);
    benchmark::ClobberMemory();
  }
  state.counters["bytes"] = static_cast<double>(plan.bytes);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(plan.bytes) * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
}

void operation_benchmark(benchmark::State& state, const Planned& plan, Workspace& ws, double slowdown) {
  Params params;
  params.threads = plan.threads;
  omp_set_num_threads(plan.threads);  // for implementations that take OpenMP's default team
  try {
    ws.prepare(plan.desc);
    // The saved statistics (and r, d) a backward pass reads come from this implementation's
    // own forward pass; every benchmark starts from running statistics 0 / 1.
    const bool renorm = plan.operation == Operation::renorm_forward_train ||
                        plan.operation == Operation::renorm_backward;
    ws.reset_running_statistics();
    call(*plan.impl, renorm ? Operation::renorm_forward_train : Operation::bn_forward_train,
         plan.desc, params, ws);
    ws.reset_running_statistics();
    call(*plan.impl, plan.operation, plan.desc, params, ws);  // warm-up, and a refusal if any
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return;
  }
  if (slowdown > 1.0) {
    for (auto _ : state) {
      const double start = now(plan.cpu_clock);
      call(*plan.impl, plan.operation, plan.desc, params, ws);
      benchmark::ClobberMemory();
      const double until = start + (now(plan.cpu_clock) - start) * slowdown;
      while (now(plan.cpu_clock) < until) {
      }
    }
  } else {
    for (auto _ : state) {
      call(*plan.impl, plan.operation, plan.desc, params, ws);
      benchmark::ClobberMemory();
    }
  }
  const double iterations = static_cast<double>(state.iterations());
  const double bytes = static_cast<double>(compulsory_bytes(plan.operation, plan.desc));
  state.counters["bytes"] = bytes;
  state.counters["GB/s"] = benchmark::Counter(bytes * iterations, benchmark::Counter::kIsRate);
  state.counters["elem/s"] = benchmark::Counter(static_cast<double>(plan.desc.elements()) * iterations,
                                                benchmark::Counter::kIsRate);
  if (plan.copy_gbps > 0) {  // the fraction of the streaming copy's bandwidth
    state.counters["of copy"] =
        benchmark::Counter(bytes * iterations / (plan.copy_gbps * 1e9), benchmark::Counter::kIsRate);
  }
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

// "16x64x56x56" from [16, 64, 56, 56], as Shape::label writes it.
std::string shape_label(const nlohmann::json& dims) {
  std::string label;
  for (const auto& dim : dims) label += (label.empty() ? "" : "x") + std::to_string(dim.get<std::int64_t>());
  return label;
}

nlohmann::json null_or(double value) {
  return std::isfinite(value) && value > 0 ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

RunOutput run_benchmarks(const RunConfig& config, const std::vector<BandwidthResult>& bandwidth,
                         const std::function<void(const Progress&)>& progress,
                         benchmark::BenchmarkReporter* display) {
  if (config.repetitions < 1 || config.repetitions % 2 == 0) {
    throw Error("repetitions must be odd (the median of an even count is not one of the "
                "measurements, and benchmark 1.7.1 computes it wrongly), got " +
                std::to_string(config.repetitions));
  }
  if (!(config.min_time > 0)) throw Error("the minimum time must be positive");
  if (!(config.slowdown >= 1.0)) throw Error("the slowdown must be >= 1");
  for (int threads : config.threads) {
    if (threads < 1) throw Error("thread counts must be >= 1, got " + std::to_string(threads));
  }

  std::vector<std::unique_ptr<Implementation>> implementations;
  for (const auto& name : config.implementations.empty() ? registered_names() : config.implementations) {
    implementations.push_back(make_implementation(name));
  }
  std::vector<Operation> operations = config.operations;
  if (operations.empty()) operations.assign(std::begin(all_operations), std::end(all_operations));

  auto uses_cpu_clock = [&](int threads) {
    return config.clock == Clock::cpu || (config.clock == Clock::automatic && threads == 1);
  };
  // Planned benchmarks, in the order they run: dtype, shape, layout, operation, threads,
  // implementation, so that one shape's tensors serve all of its benchmarks.
  std::vector<Planned> plans;
  for (DType dtype : config.dtypes) {
    for (const Shape& shape : config.shapes) {
      for (Layout layout : config.layouts) {
        const TensorDesc desc{shape.n, shape.c, shape.h, shape.w, layout, dtype};
        for (Operation operation : operations) {
          for (int threads : config.threads) {
            for (auto& impl : implementations) {
              if (!impl->supports(desc) || !impl->supports(operation)) continue;  // not offered
              const bool cpu = uses_cpu_clock(threads);
              const BandwidthResult* probe = bandwidth_at(bandwidth, threads);
              plans.push_back({benchmark_id(operation, layout, dtype, shape, threads, impl->name()),
                               impl.get(), operation, desc, shape, threads, cpu,
                               probe != nullptr ? probe->copy_gbps : 0.0, compulsory_bytes(operation, desc)});
            }
          }
        }
      }
      // The streaming copy of this shape at each thread count (the layout does not matter).
      const TensorDesc desc{shape.n, shape.c, shape.h, shape.w, Layout::nchw, dtype};
      for (int threads : config.threads) {
        const bool cpu = uses_cpu_clock(threads);
        plans.push_back({copy_id(dtype, shape, threads), nullptr, Operation::bn_forward_train, desc, shape, threads,
                         cpu, 0.0, copy_bytes(desc)});
      }
    }
  }

  initialize_benchmark_library();
  benchmark::ClearRegisteredBenchmarks();
  const int default_team = omp_get_max_threads();  // the benchmarks set it; restored below
  Workspace workspace;
  const double slowdown = config.slowdown;
  std::map<std::string, const Planned*> by_id;
  for (const Planned& plan : plans) {
    by_id[plan.id] = &plan;
    const Planned* planned = &plan;
    Workspace* ws = &workspace;
    auto* registered = benchmark::RegisterBenchmark(
        plan.id.c_str(), [planned, ws, slowdown](benchmark::State& state) {
          if (planned->is_copy()) {
            copy_benchmark(state, *planned, *ws);
          } else {
            operation_benchmark(state, *planned, *ws, slowdown);
          }
        });
    registered->Repetitions(1)->MinTime(config.min_time)->Unit(benchmark::kMicrosecond);
    if (plan.cpu_clock) {
      registered->MeasureProcessCPUTime();
    } else {
      registered->UseRealTime();
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
    if (found == reporter.collected.end()) continue;  // filtered out
    const auto& collected = found->second;
    if (!collected.error.empty() || collected.seconds.empty()) {
      output.errors.push_back({{"id", plan.id}, {"error", collected.error.empty() ? "no measurement" : collected.error}});
      continue;
    }
    const Statistics stats = statistics_of(collected.seconds);
    const std::int64_t bytes = plan.bytes;
    const double gbps = static_cast<double>(bytes) / stats.median / 1e9;
    if (plan.is_copy()) {
      output.copies.push_back({{"id", plan.id}, {"dtype", to_string(plan.desc.dtype)}, {"shape", plan.shape.dims()},
                               {"threads", plan.threads}, {"repetitions", collected.seconds},
                               {"clock", plan.cpu_clock ? "cpu" : "real"}, {"median_s", stats.median},
                               {"min_s", stats.min}, {"stddev_s", stats.stddev}, {"bytes", bytes}, {"gbps", gbps}});
      continue;
    }
    nlohmann::json entry = {
        {"id", plan.id},
        {"implementation", plan.impl->name()},
        {"operation", to_string(plan.operation)},
        {"dtype", to_string(plan.desc.dtype)},
        {"layout", to_string(plan.desc.layout)},
        {"shape", plan.shape.dims()},
        {"threads", plan.threads},
        {"repetitions", collected.seconds},
        {"iterations", collected.iterations},
        {"clock", plan.cpu_clock ? "cpu" : "real"},
        {"median_s", stats.median},
        {"min_s", stats.min},
        {"stddev_s", stats.stddev},
        {"bytes", bytes},
        {"gbps", gbps},
        {"roofline_fraction", nullptr},
        {"elements_per_second", static_cast<double>(plan.desc.elements()) / stats.median},
        {"peer", is_peer(plan.impl->name())},
    };
    output.benchmarks.push_back(std::move(entry));
  }
  add_speedups(output.benchmarks);
  add_roofline_fractions(output.benchmarks, bandwidth);
  add_copy_fractions(output.benchmarks, output.copies);
  return output;
}

void add_copy_fractions(nlohmann::json& benchmarks, const nlohmann::json& copies) {
  std::map<std::string, double> copy_gbps;  // by dtype/shape/threads
  for (const auto& copy : copies) {
    const std::string id = copy.at("id").get<std::string>();
    copy_gbps[id.substr(id.find('/') + 1)] = copy.at("gbps").get<double>();
  }
  for (auto& entry : benchmarks) {
    const std::string key = entry.at("dtype").get<std::string>() + "/" + shape_label(entry.at("shape")) + "/t" +
                            std::to_string(entry.at("threads").get<int>());
    const auto found = copy_gbps.find(key);
    entry["copy_fraction"] = found == copy_gbps.end() || !(found->second > 0)
                                 ? nlohmann::json(nullptr)
                                 : null_or(entry.at("gbps").get<double>() / found->second);
  }
}

void add_roofline_fractions(nlohmann::json& benchmarks, const std::vector<BandwidthResult>& bandwidth) {
  for (auto& entry : benchmarks) {
    const BandwidthResult* probe = bandwidth_at(bandwidth, entry.at("threads").get<int>());
    entry["roofline_fraction"] = probe != nullptr && probe->copy_gbps > 0
                                     ? null_or(entry.at("gbps").get<double>() / probe->copy_gbps)
                                     : nlohmann::json(nullptr);
  }
}

std::vector<BandwidthResult> best_of(const std::vector<BandwidthResult>& first,
                                     const std::vector<BandwidthResult>& second) {
  std::vector<BandwidthResult> best = first;
  for (auto& result : best) {
    if (const BandwidthResult* other = bandwidth_at(second, result.threads)) {
      result.copy_gbps = std::max(result.copy_gbps, other->copy_gbps);
      result.triad_gbps = std::max(result.triad_gbps, other->triad_gbps);
    }
  }
  return best;
}

void add_speedups(nlohmann::json& benchmarks) {
  // Group: everything in the id but the implementation.
  auto group_of = [](const nlohmann::json& entry) {
    const std::string id = entry.at("id").get<std::string>();
    return id.substr(0, id.rfind('/'));
  };
  std::map<std::string, double> naive;
  std::map<std::string, std::pair<double, std::string>> best_peer;
  for (const auto& entry : benchmarks) {
    const std::string group = group_of(entry);
    const std::string impl = entry.at("implementation").get<std::string>();
    const double median = entry.at("median_s").get<double>();
    if (impl == "naive") naive[group] = median;
    if (is_peer(impl)) {
      const auto found = best_peer.find(group);
      if (found == best_peer.end() || median < found->second.first) best_peer[group] = {median, impl};
    }
  }
  for (auto& entry : benchmarks) {
    const std::string group = group_of(entry);
    const double median = entry.at("median_s").get<double>();
    const auto base = naive.find(group);
    entry["speedup_vs_naive"] = base == naive.end() ? nlohmann::json(nullptr) : null_or(base->second / median);
    const auto peer = best_peer.find(group);
    entry["speedup_vs_best_peer"] =
        peer == best_peer.end() ? nlohmann::json(nullptr) : null_or(peer->second.first / median);
    entry["best_peer"] = peer == best_peer.end() ? nlohmann::json(nullptr) : nlohmann::json(peer->second.second);
  }
}

}  // namespace bnh::bench
