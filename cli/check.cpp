#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "bnh/plugin_loader.hpp"
#include "bnh/registry.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "properties/agreement_suite.hpp"

namespace bnh::cli {

namespace {

constexpr const char* check_usage = R"(usage: bnh check [--impl NAME[,NAME...]] [--plugin PATH.so] [options]

Compares implementations with the 50-digit reference on every operation (batch-norm training
forward, inference forward, backward; renorm training forward, backward), both dtypes and both
layouts, over fixed edge shapes and random ones. Errors are reported as the worst fraction of
the documented bound (docs/tolerances.md) and in ULPs.

options:
  --impl NAMES      built-in implementations to check (default: all; see bnh list)
  --plugin PATH     check the implementation in this shared library (SPEC C ABI 1)
  --dtype LIST      f32,f64 (default: both)
  --layout LIST     nchw,nhwc (default: both)
  --ops LIST        operations to check (default: all five)
  --seed N          seed of the generated data (default: 1)
  --cases N         random shapes in addition to the edge shapes (default: 8)
  --help            this text

Exit status: 0 every check passed, 1 a check failed, 2 bad usage.
)";

std::string format_number(double value, int precision) {
  std::ostringstream out;
  out << std::setprecision(precision) << value;
  return out.str();
}

}  // namespace

int run_check(const std::vector<std::string>& words) {
  if (words.size() == 1 && (words[0] == "--help" || words[0] == "-h")) {
    std::cout << check_usage;
    return 0;
  }
  Arguments arguments("check", words,
                      {"--impl", "--plugin", "--dtype", "--layout", "--ops", "--seed", "--cases"},
                      {"--help"});
  if (arguments.has("--help")) {
    std::cout << check_usage;
    return 0;
  }

  AgreementSuiteOptions options;
  options.seed = arguments.unsigned_integer("--seed", 1);
  options.random_shapes = static_cast<int>(arguments.integer("--cases", 8, 0));
  options.dtypes.clear();
  for (const auto& name : arguments.list("--dtype", {"f32", "f64"})) options.dtypes.push_back(parse_dtype(name));
  options.layouts.clear();
  for (const auto& name : arguments.list("--layout", {"nchw", "nhwc"})) options.layouts.push_back(parse_layout(name));
  if (arguments.has("--ops")) {
    options.operations.clear();
    for (const auto& name : arguments.list("--ops", {})) options.operations.push_back(parse_operation(name));
  }

  std::vector<std::unique_ptr<Implementation>> implementations;
  if (arguments.has("--plugin")) implementations.push_back(load_plugin(arguments.value("--plugin", "")));
  if (arguments.has("--impl") || !arguments.has("--plugin")) {
    for (const auto& name : arguments.list("--impl", registered_names())) {
      implementations.push_back(make_implementation(name));
    }
  }

  bool all_passed = true;
  std::cout << std::left << std::setw(10) << "impl" << std::setw(22) << "operation" << std::setw(5)
            << "type" << std::setw(6) << "layout" << std::right << std::setw(7) << "cases"
            << std::setw(14) << "worst/bound" << std::setw(12) << "worst ulp" << "  verdict\n";
  std::vector<std::string> failures;
  for (auto& implementation : implementations) {
    // Progress on a terminal rewrites one line; in a log it is one line per implementation.
    const bool terminal = isatty(fileno(stderr)) != 0;
    if (!terminal) std::cerr << "checking " << implementation->name() << "...\n";
    const auto summaries = run_agreement_suite(*implementation, options, [terminal](const std::string& step) {
      if (terminal) std::cerr << "\r\033[K  checking " << step << std::flush;
    });
    if (terminal) std::cerr << "\r\033[K" << std::flush;
    for (const auto& summary : summaries) {
      const bool passed = summary.failures == 0;
      all_passed = all_passed && passed;
      std::cout << std::left << std::setw(10) << implementation->name() << std::setw(22)
                << to_string(summary.operation) << std::setw(5) << to_string(summary.dtype)
                << std::setw(6) << to_string(summary.layout) << std::right;
      if (!summary.supported) {
        std::cout << std::setw(7) << "-" << std::setw(14) << "-" << std::setw(12) << "-"
                  << "  unsupported\n";
        continue;
      }
      std::cout << std::setw(7) << summary.cases << std::setw(14)
                << format_number(summary.worst_bound_fraction, 3) << std::setw(12)
                << format_number(summary.worst_ulp_error, 3) << "  "
                << (passed ? "pass" : "FAIL (" + std::to_string(summary.failures) + " cases)") << '\n';
      if (!passed) {
        failures.push_back(implementation->name() + " " + summary.first_failure);
      }
    }
  }
  for (const auto& failure : failures) std::cout << "\nfirst failure of " << failure << '\n';
  std::cout << (all_passed ? "\nall checks passed\n" : "\nsome checks FAILED\n");
  return all_passed ? 0 : 1;
}

}  // namespace bnh::cli
