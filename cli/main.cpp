// bnh: verify and measure batch normalization and batch renormalization implementations.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/text.hpp"
#include "bnh/types.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"

namespace {

constexpr const char* usage = R"(usage: bnh <command> [options]

Verifies batch normalization and batch renormalization implementations against a
50-digit reference.

commands:
  list       the built-in implementations and what they support
  check      run the conformance suite (every property) on implementations
  gradcheck  check a backward against finite differences of its own forward
  accuracy   error against the reference as the conditioning and M grow
  bench      benchmark implementations, write a JSON report (docs/benchmarks.md)
  report     render a report as an HTML page and a Markdown summary
  compare    compare two reports: ratios, significance, exit 1 on a regression

Run 'bnh <command> --help' for a command's options.
Exit status: 0 success, 1 a check failed (a plugin that crashed or hung included),
2 bad usage or bad input, 3 nothing was checked, 4 an internal error (docs/conventions.md).
)";

namespace exit_status = bnh::cli::exit_status;

int run(const std::string& command, const std::vector<std::string>& rest) {
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << usage;
    return exit_status::success;
  }
  if (command == "list") return bnh::cli::run_list(rest);
  if (command == "check") return bnh::cli::run_check(rest);
  if (command == "gradcheck") return bnh::cli::run_gradcheck(rest);
  if (command == "accuracy") return bnh::cli::run_accuracy(rest);
  if (command == "bench") return bnh::cli::run_bench(rest);
  if (command == "report") return bnh::cli::run_report(rest);
  if (command == "compare") return bnh::cli::run_compare(rest);
  const std::string kind = command.rfind("-", 0) == 0 ? "option" : "command";
  std::cerr << "bnh: unknown " << kind << " '" << bnh::printable(command) << "' (see bnh --help)\n";
  return exit_status::bad_usage;
}

// With --mpi among a command's arguments this process is one rank of an MPI job (mpirun -np K
// bnh ... --mpi): MPI is up before the command runs and finalized on every way out. Rank 0
// alone writes to stdout, so the job prints one verdict; every rank keeps stderr for its errors.
// The commands themselves accept --mpi as their flag.
class MpiJob {
 public:
  MpiJob(int* argc, char*** argv) {
    bnh::mpi_initialize(argc, argv);
    if (bnh::mpi_ranks()->local_ranks().front() != 0) silence_stdout();
  }
  ~MpiJob() { bnh::mpi_finalize(); }
  MpiJob(const MpiJob&) = delete;
  MpiJob& operator=(const MpiJob&) = delete;

 private:
  static void silence_stdout() {
    std::cout.flush();
    std::fflush(stdout);
    const int null = open("/dev/null", O_WRONLY);
    if (null < 0) return;
    dup2(null, STDOUT_FILENO);
    close(null);
  }
};

}  // namespace

// Whatever escapes a subcommand ends here as one line and a documented status: no path ends in
// std::terminate.
int main(int argc, char** argv) {
  const std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty()) {
    std::cerr << usage;
    return exit_status::bad_usage;
  }
  const std::string& command = words.front();
  const std::string prefix = "bnh " + bnh::printable(command) + ": ";
  std::optional<MpiJob> mpi_job;  // outlives the try: MPI is finalized after the error, too
  try {
    if (std::find(words.begin(), words.end(), "--mpi") != words.end()) mpi_job.emplace(&argc, &argv);
    return run(command, std::vector<std::string>(words.begin() + 1, words.end()));
  } catch (const bnh::cli::UsageError& error) {  // already "bnh <command>: ..."
    std::cerr << bnh::printable(error.what()) << '\n';
    return exit_status::bad_usage;
  } catch (const bnh::PluginFault& fault) {  // a plugin that crashed or hung while loading
    std::cerr << prefix << bnh::printable(fault.what()) << '\n';
    return exit_status::check_failed;
  } catch (const bnh::Error& error) {
    std::cerr << prefix << bnh::printable(error.what()) << '\n';
    return exit_status::bad_usage;
  } catch (const std::bad_alloc&) {
    std::cerr << prefix << "out of memory: the run needs more than this machine or its limits (ulimit -v) allow\n";
    return exit_status::internal_error;
  } catch (const std::exception& error) {
    std::cerr << prefix << "internal error: " << bnh::printable(error.what()) << '\n';
    return exit_status::internal_error;
  } catch (...) {
    std::cerr << prefix << "internal error: an exception that is not a std::exception\n";
    return exit_status::internal_error;
  }
}
