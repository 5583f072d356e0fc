// Comparison of two reports (docs/benchmarks.md, "Comparing two reports"): benchmarks are
// matched by id; for each, the ratio of medians NEW / BASE and a two-sided Mann-Whitney U test
// on the repetition times; then the geometric mean of the ratios. A regression is a benchmark
// significantly slower (p < alpha) by more than the threshold.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "reports/schema.hpp"

namespace bnh::reports {

struct MannWhitney {
  double u = 0;           // U of the first sample: pairs (a, b) with a > b, ties counting 1/2
  double p_value = 1;     // two-sided
  bool exact = false;     // the exact null distribution (no ties, small samples), else normal
};
// Exact when there are no ties and neither sample has more than 50 values, else the normal
// approximation (always, with force_normal). Throws bnh::Error when either sample is empty.
MannWhitney mann_whitney(const std::vector<double>& a, const std::vector<double>& b,
                         bool force_normal = false);
// The smallest two-sided p-value the exact test can give with samples of n and m: 2 / C(n+m, n).
double smallest_exact_p(std::size_t n, std::size_t m);

struct CompareOptions {
  double threshold = 0.05;   // slower by more than this fraction counts
  double alpha = 0.05;       // significance level
};

struct BenchmarkComparison {
  std::string id;
  double base_median = 0, new_median = 0;
  double ratio = 0;                  // new / base
  std::optional<double> p_value;     // none: not enough repetitions
  std::size_t base_repetitions = 0, new_repetitions = 0;
  enum class Verdict { same, faster, slower, not_enough_repetitions } verdict = Verdict::same;
  std::string note;                  // why "same": "not significant", "within threshold"
};

struct Comparison {
  std::vector<BenchmarkComparison> benchmarks;   // in the new report's order
  std::vector<std::string> only_in_base, only_in_new;
  std::optional<double> geometric_mean;          // of the ratios; none without a match
  std::vector<std::string> warnings;
  int regressions = 0;
  bool regression() const { return regressions > 0; }
};

const char* to_string(BenchmarkComparison::Verdict verdict);

// Throws bnh::Error ("NAME: benchmarks[3] (ID) has a repetition time of -0.001 s: times must
// be positive and finite") when a benchmark's repetition times or median are zero, negative or
// not finite: a ratio or a rank test on such times would call a broken run faster.
void check_times(const Report& report, const std::string& name);

// Checks both reports' times first (check_times, naming them "the base report", "the new
// report").
Comparison compare_reports(const Report& base, const Report& newer,
                           const CompareOptions& options = {});

// The table `bnh compare` prints: one line per benchmark, then the geometric mean and the
// verdict.
std::string format_comparison(const Comparison& comparison, const CompareOptions& options);

}  // namespace bnh::reports
