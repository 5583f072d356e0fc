#include <iostream>

#include "bnh/types.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "reports/compare.hpp"
#include "reports/schema.hpp"

namespace bnh::cli {

namespace {

constexpr const char* compare_usage = R"(usage: bnh compare BASE.json NEW.json [--threshold F] [--alpha P]

Compares two reports of bnh bench. Benchmarks are matched by id; for each, the ratio of the
medians NEW / BASE and a two-sided Mann-Whitney U test on the repetition times (exact for
small samples without ties, normal approximation with tie correction otherwise); then the
geometric mean of the ratios. A benchmark regressed when it is slower by more than the
threshold with p < alpha. The test needs at least 2 repetitions on each side (otherwise the
benchmark is reported, not gated) and has little power below 9: with 3 against 3 no p-value
can be below 0.1. See docs/benchmarks.md.

options:
  --threshold F   slow-down that counts, as a fraction (default: 0.05, i.e. 5%)
  --alpha P       significance level (default: 0.05)
  --help          this text

A report whose times are zero, negative or not finite is refused: it is not a measurement.

Exit status: 0 no significant regression, 1 a significant regression, 2 bad usage or a file
that is not a bnharness report (or whose times are not positive and finite).
)";

}  // namespace

int run_compare(const std::vector<std::string>& words) {
  std::vector<std::string> positionals;
  const auto parsed = arguments_or_help("compare", words, {"--threshold", "--alpha"}, {}, compare_usage, &positionals);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;
  reports::CompareOptions options;
  options.threshold = arguments.real("--threshold", 0.05, -1);
  if (options.threshold < 0) throw UsageError("bnh compare: --threshold must be >= 0");
  options.alpha = arguments.real("--alpha", 0.05, 0);
  if (options.alpha >= 1) throw UsageError("bnh compare: --alpha must be below 1");
  if (positionals.size() != 2) {
    throw UsageError("bnh compare: expected two reports, BASE.json and NEW.json, got " +
                     std::to_string(positionals.size()) + " (see bnh compare --help)");
  }
  const reports::Report base = reports::read_report(positionals[0]);
  const reports::Report newer = reports::read_report(positionals[1]);
  // Named by their files: the message says which report holds a time that is no measurement.
  reports::check_times(base, positionals[0]);
  reports::check_times(newer, positionals[1]);
  const reports::Comparison comparison = reports::compare_reports(base, newer, options);
  std::cout << reports::format_comparison(comparison, options);
  return comparison.regression() ? exit_status::check_failed : exit_status::success;
}

}  // namespace bnh::cli
