// bnh: verify and measure batch normalization and batch renormalization implementations.
#include <iostream>
#include <string>
#include <vector>

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
Exit status: 0 success, 1 a check failed, 2 bad usage or bad input.
)";

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty()) {
    std::cerr << usage;
    return 2;
  }
  const std::string& command = words.front();
  const std::vector<std::string> rest(words.begin() + 1, words.end());
  try {
    if (command == "--help" || command == "-h" || command == "help") {
      std::cout << usage;
      return 0;
    }
    if (command == "list") return bnh::cli::run_list(rest);
    if (command == "check") return bnh::cli::run_check(rest);
    if (command == "gradcheck") return bnh::cli::run_gradcheck(rest);
    if (command == "accuracy") return bnh::cli::run_accuracy(rest);
    if (command == "bench") return bnh::cli::run_bench(rest);
    if (command == "report") return bnh::cli::run_report(rest);
    if (command == "compare") return bnh::cli::run_compare(rest);
    if (command.rfind("-", 0) == 0) {
      std::cerr << "bnh: unknown option '" << command << "' (see bnh --help)\n";
    } else {
      std::cerr << "bnh: unknown command '" << command << "' (see bnh --help)\n";
    }
    return 2;
  } catch (const bnh::cli::UsageError& error) {
    std::cerr << error.what() << '\n';
    return 2;
  } catch (const bnh::Error& error) {
    std::cerr << "bnh " << command << ": " << error.what() << '\n';
    return 2;
  }
}
