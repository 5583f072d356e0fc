// bnh bench --sync: the scaling of a synchronized implementation over MPI ranks. The command a
// user types launches `mpirun -np K` of this same executable once per rank count K, in a worker
// mode (--mpi --sync-worker FILE) whose rank 0 writes its measurements to FILE; it then combines
// the runs into efficiencies, prints the table and writes the JSON file.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench/sync_scaling.hpp"
#include "bnh/communicator.hpp"
#include "bnh/sync_implementation.hpp"
#include "bnh/text.hpp"
#include "cli/arguments.hpp"
#include "cli/bench.hpp"
#include "cli/commands.hpp"
#include "cli/output_files.hpp"
#include "core/machine.hpp"

namespace bnh::cli {

namespace {

constexpr const char* sync_usage = R"(usage: bnh bench --sync [--ranks LIST] [--suite NAME] [options]

Measures a synchronized batch norm (default: the built-in sync) under MPI: for each rank count
K it runs `mpirun -np K` of bnh itself, and reports per operation and shape the time per call
(median over the repetitions, wall clock on rank 0, the ranks started together by a barrier),
the share of it spent inside the collectives, and the weak-scaling efficiency (every rank holds
the whole batch: T(1) / T(K)) and strong-scaling efficiency (the batch split over the ranks:
T(1) / (K T(K))). Prints a table and writes a JSON file. Needs Open MPI's mpirun on PATH (run as
root, it is given --allow-run-as-root; with more ranks than cores, --oversubscribe). See
docs/benchmarks.md, "Synchronized batch norm: scaling".

options:
  --ranks LIST         rank counts (default: 1,2; 1 is always measured: the baseline)
  --impl NAME          synchronized implementation (default: sync; see bnh list)
  --suite NAME         resnet50 (default), mlp, small-batch, cache-sweep, quick
  --n N                batch of the resnet50 and quick suites (default: 16)
  --shapes LIST        only these shapes of the suite (16x64x56x56, 4096x1024)
  --ops LIST           operations (default: every one the implementation provides)
  --dtype NAME         f32 (default) or f64
  --layout NAME        nchw (default) or nhwc
  --threads T          OpenMP threads per rank (default: 1)
  --repetitions N      repetitions per job, odd, at most 999 (default: 5)
  --rounds R           runs through the rank counts, odd, at most 99 (default: 1): with more
                       than one, the jobs alternate (1, 2, 1, 2, ...) and each figure is the
                       median of all its rounds' repetitions, so that a busy moment of a
                       shared machine falls on every rank count alike
  --min-time SECONDS   least time per repetition (default: 0.1, at most 3600)
  --timeout SECONDS    a collective that waits longer ends the job (default: 300)
  --output PATH        the JSON file (default: out/sync-scaling.json, its folder created if
                       missing); checked to be writable before the run
  --help               this text

Exit status: 0 the table and the file were written; 1 a run under mpirun failed; 2 bad usage,
no mpirun, or a bnh built without MPI.
)";

constexpr std::int64_t max_repetitions = 999;
constexpr double max_min_time = 3600;
constexpr std::int64_t max_rounds = 99;

// The options a worker is given exactly as the user gave them.
const char* const forwarded_flags[] = {"--impl",    "--suite",       "--n",        "--shapes",  "--ops",
                                       "--dtype",   "--layout",      "--threads",  "--min-time",
                                       "--timeout", "--repetitions"};

bench::SyncScalingConfig sync_config(const Arguments& arguments) {
  bench::SyncScalingConfig config;
  const std::string suite = arguments.value("--suite", "resnet50");
  config.shapes = chosen_shapes(arguments, suite, arguments.integer("--n", 16, 1));
  for (const auto& name : arguments.list("--ops", {})) config.operations.push_back(parse_operation(name));
  config.dtype = parse_dtype(arguments.value("--dtype", "f32"));
  config.layout = parse_layout(arguments.value("--layout", "nchw"));
  config.threads = static_cast<int>(arguments.integer("--threads", 1, 1, thread_limit()));
  config.repetitions = static_cast<int>(arguments.integer("--repetitions", 5, 1, max_repetitions));
  if (config.repetitions % 2 == 0) {
    throw UsageError("bnh bench: --repetitions must be odd (the median of an even count is not a "
                     "measurement), got " + std::to_string(config.repetitions));
  }
  config.min_time = arguments.real("--min-time", 0.1, 0);
  if (config.min_time > max_min_time) {
    throw UsageError("bnh bench: --min-time must be at most 3600 seconds, got " + arguments.value("--min-time", ""));
  }
  return config;
}

double collective_timeout(const Arguments& arguments) { return arguments.real("--timeout", 300, 0); }

// Rank 0 of the MPI job measures and writes its measurements to `path`; the others only join.
int run_worker(const Arguments& arguments, const std::string& path) {
  const bench::SyncScalingConfig config = sync_config(arguments);
  const auto implementation = make_sync_implementation(arguments.value("--impl", "sync"));
  const auto ranks = mpi_ranks(collective_timeout(arguments));
  const int size = ranks->size();
  const auto measurements = bench::measure_sync_scaling(*implementation, *ranks, config, [size](const auto& m) {
    std::cerr << "[" << size << " rank" << (size > 1 ? "s" : "") << "] " << to_string(m.operation) << ' '
              << m.shape.label() << ' ' << to_string(m.scaling) << ": " << std::fixed << std::setprecision(3)
              << m.median_s * 1e3 << " ms, " << std::setprecision(1) << m.communication_share * 100
              << "% in collectives" << std::defaultfloat << '\n';
  });
  const auto local = ranks->local_ranks();
  if (std::find(local.begin(), local.end(), 0) == local.end()) return exit_status::success;
  nlohmann::json measured = nlohmann::json::array();
  for (const auto& m : measurements) measured.push_back(bench::to_json(m));
  write_file(path, nlohmann::json{{"measurements", measured}}.dump());
  return exit_status::success;
}

// The file `program` names on PATH, or "" when there is none.
std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream folders(path != nullptr ? path : "");
  for (std::string folder; std::getline(folders, folder, ':');) {
    const std::string candidate = (folder.empty() ? "." : folder) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs `argv` (argv[0] a path) and returns its exit status; 127 when it could not start,
// 128 + N when signal N ended it.
int run_program(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const auto& word : argv) pointers.push_back(const_cast<char*>(word.c_str()));
  pointers.push_back(nullptr);
  std::cout.flush();
  const pid_t child = fork();
  if (child < 0) throw Error("cannot start " + argv.front() + ": fork failed");
  if (child == 0) {
    execv(pointers[0], pointers.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw Error("cannot wait for " + argv.front());
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// `mpirun -np K` of this executable in worker mode, writing to `result`.
std::vector<std::string> worker_command(const std::string& mpirun, const Arguments& arguments, int ranks,
                                        int threads, const std::string& result) {
  std::vector<std::string> argv{mpirun};
  if (geteuid() == 0) argv.push_back("--allow-run-as-root");
  if (ranks > machine().cores) argv.push_back("--oversubscribe");
  if (threads > 1) argv.insert(argv.end(), {"--bind-to", "none"});  // Open MPI binds a rank to one core
  // More threads than cores: OpenMP's spinning threads would take the core another rank needs.
  if (ranks * threads > machine().cores && std::getenv("OMP_WAIT_POLICY") == nullptr) {
    argv.insert(argv.end(), {"-x", "OMP_WAIT_POLICY=passive"});
  }
  argv.insert(argv.end(), {"-np", std::to_string(ranks), std::filesystem::read_symlink("/proc/self/exe").string(),
                           "bench", "--sync", "--mpi", "--sync-worker", result});
  for (const char* flag : forwarded_flags) {
    if (arguments.has(flag)) argv.insert(argv.end(), {flag, arguments.value(flag, "")});
  }
  return argv;
}

std::vector<bench::SyncMeasurement> read_measurements(const std::string& path) {
  std::ifstream in(path);
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded() || !json.contains("measurements")) throw Error("the worker's results " + path + " are unreadable");
  std::vector<bench::SyncMeasurement> measurements;
  for (const auto& entry : json.at("measurements")) measurements.push_back(bench::sync_measurement_from_json(entry));
  return measurements;
}

std::vector<int> rank_counts(const Arguments& arguments) {
  std::vector<int> counts{1};
  for (std::int64_t k : arguments.integer_list("--ranks", {1, 2}, 1, 1024)) counts.push_back(static_cast<int>(k));
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  return counts;
}

nlohmann::json scaling_file(const Arguments& arguments, const bench::SyncScalingConfig& config,
                            int rounds, const std::vector<int>& ranks, const std::vector<bench::SyncMeasurement>& measurements) {
  const Machine& host = machine();
  nlohmann::json measured = nlohmann::json::array();
  for (const auto& m : measurements) measured.push_back(bench::to_json(m));
  return {{"schema", "bnh-sync-scaling"},
          {"version", 1},
          {"implementation", arguments.value("--impl", "sync")},
          {"machine",
           {{"cpu_model", host.cpu_model},
            {"cores", host.cores},
            {"compiled_isa", to_string(host.compiled_isa)},
            {"cpu_has_avx512f", host.cpu_has_avx512f}}},
          {"suite", arguments.value("--suite", "resnet50")},
          {"dtype", to_string(config.dtype)},
          {"layout", to_string(config.layout)},
          {"threads_per_rank", config.threads},
          {"repetitions", config.repetitions},
          {"rounds", rounds},
          {"min_time", config.min_time},
          {"clock", "wall time on rank 0"},
          {"ranks", ranks},
          {"measurements", measured}};
}

// Removes the file when it goes out of scope.
struct TemporaryFile {
  std::string path;
  ~TemporaryFile() { std::remove(path.c_str()); }
};

}  // namespace

int run_bench_sync(const std::vector<std::string>& words) {
  std::vector<std::string> forwarded_flag_names(std::begin(forwarded_flags), std::end(forwarded_flags));
  std::set<std::string> value_flags(forwarded_flag_names.begin(), forwarded_flag_names.end());
  value_flags.insert({"--ranks", "--rounds", "--output", "--sync-worker"});
  const auto parsed = arguments_or_help("bench", words, value_flags, {"--sync", "--mpi"}, sync_usage);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;
  if (arguments.has("--sync-worker")) {
    if (!arguments.has("--mpi")) throw UsageError("bnh bench: --sync-worker runs only under mpirun, with --mpi");
    return run_worker(arguments, arguments.value("--sync-worker", ""));
  }
  if (arguments.has("--mpi")) {
    throw UsageError("bnh bench: --sync starts mpirun itself, once per rank count: run it without mpirun and --mpi");
  }
  const bench::SyncScalingConfig config = sync_config(arguments);
  const std::vector<int> ranks = rank_counts(arguments);
  const int rounds = static_cast<int>(arguments.integer("--rounds", 1, 1, max_rounds));
  if (rounds % 2 == 0) throw UsageError("bnh bench: --rounds must be odd (medians are taken over them), got " +
                                        std::to_string(rounds));
  collective_timeout(arguments);  // refused here rather than in every rank
  make_sync_implementation(arguments.value("--impl", "sync"));  // an unknown name: refused here, once
  if (!built_with_mpi()) {
    throw UsageError("bnh bench: --sync runs its ranks under MPI, and this bnh was built without MPI "
                     "(Debian: libopenmpi-dev)");
  }
  const std::string mpirun = find_on_path("mpirun");
  if (mpirun.empty()) throw UsageError("bnh bench: --sync needs Open MPI's mpirun on PATH (Debian: openmpi-bin)");
  double largest = 0;  // x, dy and y of the largest shape on every rank (weak scaling)
  for (const auto& shape : config.shapes) largest = std::max(largest, static_cast<double>(shape.elements()));
  require_memory("bench", "--sync at " + std::to_string(ranks.back()) + " ranks",
                 3 * largest * static_cast<double>(element_size(config.dtype)) * ranks.back());
  const std::string output = output_path(arguments, "out/sync-scaling.json");

  std::vector<bench::SyncMeasurement> measurements;
  for (int round = 0; round < rounds; ++round) {
    for (int k : ranks) {
      TemporaryFile result{output + ".ranks-" + std::to_string(k) + ".part"};
      const int status = run_program(worker_command(mpirun, arguments, k, config.threads, result.path));
      if (status != 0) {
        std::cerr << "bnh bench: the run at " << k << " rank(s) under mpirun failed (exit status " << status << ")\n";
        return status == exit_status::bad_usage ? exit_status::bad_usage : exit_status::check_failed;
      }
      bench::pool_rounds(measurements, read_measurements(result.path));
    }
  }
  bench::derive_efficiencies(measurements);
  write_file(output, scaling_file(arguments, config, rounds, ranks, measurements).dump(2) + "\n");
  const Machine& host = machine();
  std::cout << "synchronized batch norm " << printable(arguments.value("--impl", "sync")) << ", "
            << to_string(config.dtype) << ' ' << to_string(config.layout) << ", " << config.threads
            << " thread(s) per rank, " << host.cores << " cores, " << to_string(host.compiled_isa)
            << " build; medians of " << config.repetitions * rounds << " repetitions"
            << (rounds > 1 ? " in " + std::to_string(rounds) + " alternating rounds" : std::string())
            << ", wall time on rank 0\n\n"
            << bench::format_sync_table(measurements) << "\nwrote " << output << '\n';
  return exit_status::success;
}

}  // namespace bnh::cli
