#include "reports/compare.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "bnh/types.hpp"

namespace bnh::reports {

// The Mann-Whitney U test (Mann and Whitney, Ann. Math. Statist. 18 (1947) 50-60; the form
// below follows Hollander, Wolfe and Chicken, Nonparametric Statistical Methods, 3rd ed., 2014,
// section 4.1, and Conover, Practical Nonparametric Statistics, 3rd ed., 1999, section 5.1).
//
// Rank the n + m pooled observations, ties getting the mean of the ranks they span, and let R
// be the sum of the first sample's ranks. Then
//
//     U = R - n (n + 1) / 2,
//
// the number of pairs (a_i, b_j) with a_i > b_j, ties counting 1/2. Under the null hypothesis
// (both samples from one distribution) U has mean n m / 2.
//
// Exact distribution (no ties): every one of the C(n+m, n) ways to choose which ranks belong to
// the first sample is equally likely; with c(n, m, u) the number of them giving U = u,
//
//     c(n, m, u) = c(n - 1, m, u - m) + c(n, m - 1, u),   c(0, m, 0) = c(n, 0, 0) = 1,
//
// (the largest observation belongs either to the first sample, beating all m of the second, or
// to the second), and the two-sided p-value is 2 min(P(U <= u), P(U >= u)), at most 1.
//
// Normal approximation (ties, or larger samples): with N = n + m and t_k the sizes of the tie
// groups,
//
//     var U = n m / 12 * ((N + 1) - sum_k (t_k^3 - t_k) / (N (N - 1))),
//     z = (|U - n m / 2| - 1/2) / sqrt(var U),   p = 2 (1 - Phi(z)) = erfc(z / sqrt 2),
//
// with the continuity correction 1/2.

namespace {

constexpr std::size_t exact_limit = 50;  // each sample; the recurrence is O(n m (n + m))

// Counts c(n, m, u) for u = 0 .. n m by the recurrence above, as doubles (C(100, 50) ~ 1e29).
std::vector<double> u_counts(std::size_t n, std::size_t m) {
  // table[i][j] is the vector for (i, j); built row by row, keeping two rows.
  std::vector<std::vector<double>> previous(m + 1), current(m + 1);
  for (std::size_t j = 0; j <= m; ++j) previous[j] = {1.0};  // i = 0: U = 0 only
  for (std::size_t i = 1; i <= n; ++i) {
    current[0] = {1.0};  // j = 0: U = 0 only
    for (std::size_t j = 1; j <= m; ++j) {
      std::vector<double> counts(i * j + 1, 0.0);
      const auto& without_first = previous[j];   // (i - 1, j), shifted by j
      const auto& without_second = current[j - 1];  // (i, j - 1)
      for (std::size_t u = 0; u < without_first.size(); ++u) counts[u + j] += without_first[u];
      for (std::size_t u = 0; u < without_second.size(); ++u) counts[u] += without_second[u];
      current[j] = std::move(counts);
    }
    std::swap(previous, current);
  }
  return previous[m];
}

}  // namespace

double smallest_exact_p(std::size_t n, std::size_t m) {
  if (n == 0 || m == 0) return 1.0;
  // 2 / C(n + m, n)
  double log_choose = std::lgamma(static_cast<double>(n + m + 1)) - std::lgamma(static_cast<double>(n + 1)) -
                      std::lgamma(static_cast<double>(m + 1));
  return std::min(1.0, 2.0 * std::exp(-log_choose));
}

MannWhitney mann_whitney(const std::vector<double>& a, const std::vector<double>& b, bool force_normal) {
  if (a.empty() || b.empty()) throw Error("the Mann-Whitney test needs two non-empty samples");
  const std::size_t n = a.size(), m = b.size(), total = n + m;
  std::vector<std::pair<double, int>> pooled;
  pooled.reserve(total);
  for (double value : a) pooled.emplace_back(value, 0);
  for (double value : b) pooled.emplace_back(value, 1);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& left, const auto& right) { return left.first < right.first; });
  double rank_sum = 0, tie_term = 0;
  bool ties = false;
  for (std::size_t i = 0; i < total;) {
    std::size_t j = i;
    while (j < total && pooled[j].first == pooled[i].first) ++j;
    const double group = static_cast<double>(j - i);
    const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k) {
      if (pooled[k].second == 0) rank_sum += mean_rank;
    }
    if (j - i > 1) {
      ties = true;
      tie_term += group * group * group - group;
    }
    i = j;
  }
  const double dn = static_cast<double>(n), dm = static_cast<double>(m), dt = static_cast<double>(total);
  MannWhitney result;
  result.u = rank_sum - dn * (dn + 1) / 2;
  if (!force_normal && !ties && n <= exact_limit && m <= exact_limit) {
    const auto counts = u_counts(n, m);
    double all = 0, at_most = 0, at_least = 0;
    const auto u = static_cast<std::size_t>(std::llround(result.u));
    for (std::size_t k = 0; k < counts.size(); ++k) {
      all += counts[k];
      if (k <= u) at_most += counts[k];
      if (k >= u) at_least += counts[k];
    }
    result.exact = true;
    result.p_value = std::min(1.0, 2 * std::min(at_most, at_least) / all);
    return result;
  }
  const double variance = dn * dm / 12 * ((dt + 1) - tie_term / (dt * (dt - 1)));
  if (!(variance > 0)) {  // every observation equal: no evidence of a difference
    result.p_value = 1;
    return result;
  }
  const double z = std::max(0.0, std::fabs(result.u - dn * dm / 2) - 0.5) / std::sqrt(variance);
  result.p_value = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return result;
}

const char* to_string(BenchmarkComparison::Verdict verdict) {
  switch (verdict) {
    case BenchmarkComparison::Verdict::same: return "same";
    case BenchmarkComparison::Verdict::faster: return "faster";
    case BenchmarkComparison::Verdict::slower: return "SLOWER";
    case BenchmarkComparison::Verdict::not_enough_repetitions: return "not enough repetitions";
  }
  return "same";
}

void check_times(const Report& report, const std::string& name) {
  for (std::size_t i = 0; i < report.benchmarks.size(); ++i) {
    const Benchmark& benchmark = report.benchmarks[i];
    auto require_positive = [&](double seconds, const std::string& what) {
      if (seconds > 0 && std::isfinite(seconds)) return;
      std::ostringstream value;
      value << seconds;
      throw Error(name + ": benchmarks[" + std::to_string(i) + "] (" + benchmark.id + ") has " + what + " of " +
                  value.str() + " s: times must be positive and finite");
    };
    for (double seconds : benchmark.timing.repetitions) require_positive(seconds, "a repetition time");
    require_positive(benchmark.timing.median_s, "a median time");
  }
}

Comparison compare_reports(const Report& base, const Report& newer,
                           const CompareOptions& options) {
  if (!(options.threshold >= 0)) throw Error("the threshold must be >= 0");
  if (!(options.alpha > 0 && options.alpha < 1)) throw Error("alpha must be between 0 and 1");
  check_times(base, "the base report");
  check_times(newer, "the new report");
  Comparison result;
  std::map<std::string, const Benchmark*> base_by_id;
  for (const auto& benchmark : base.benchmarks) base_by_id[benchmark.id] = &benchmark;
  std::map<std::string, bool> matched;
  double log_sum = 0;
  std::size_t ratios = 0, fewest = SIZE_MAX;
  for (const auto& benchmark : newer.benchmarks) {
    const std::string& id = benchmark.id;
    const auto found = base_by_id.find(id);
    if (found == base_by_id.end()) {
      result.only_in_new.push_back(id);
      continue;
    }
    matched[id] = true;
    BenchmarkComparison row;
    row.id = id;
    const Timing& base_timing = found->second->timing;
    const std::vector<double>& base_times = base_timing.repetitions;
    const std::vector<double>& new_times = benchmark.timing.repetitions;
    row.base_repetitions = base_times.size();
    row.new_repetitions = new_times.size();
    row.base_median = base_timing.median_s;
    row.new_median = benchmark.timing.median_s;
    row.ratio = row.base_median > 0 ? row.new_median / row.base_median : 0;
    if (row.ratio > 0 && std::isfinite(row.ratio)) {
      log_sum += std::log(row.ratio);
      ++ratios;
    }
    if (base_times.size() < 2 || new_times.size() < 2) {
      row.verdict = BenchmarkComparison::Verdict::not_enough_repetitions;
    } else {
      fewest = std::min({fewest, base_times.size(), new_times.size()});
      const MannWhitney test = mann_whitney(new_times, base_times);
      row.p_value = test.p_value;
      const bool significant = test.p_value < options.alpha;
      if (significant && row.ratio > 1 + options.threshold) {
        row.verdict = BenchmarkComparison::Verdict::slower;
        ++result.regressions;
      } else if (significant && row.ratio < 1 / (1 + options.threshold)) {
        row.verdict = BenchmarkComparison::Verdict::faster;
      } else {
        row.note = significant ? "within threshold" : "not significant";
      }
    }
    result.benchmarks.push_back(row);
  }
  for (const auto& [id, unused] : base_by_id) {
    if (!matched.count(id)) result.only_in_base.push_back(id);
  }
  if (ratios > 0) result.geometric_mean = std::exp(log_sum / static_cast<double>(ratios));

  const auto not_enough = std::count_if(result.benchmarks.begin(), result.benchmarks.end(), [](const auto& row) {
    return row.verdict == BenchmarkComparison::Verdict::not_enough_repetitions;
  });
  if (not_enough > 0) {
    result.warnings.push_back(std::to_string(not_enough) +
                              " benchmark(s) have fewer than 2 repetitions on a side: not tested, not gated");
  }
  if (fewest != SIZE_MAX && fewest < 9) {
    std::ostringstream warning;
    warning << "fewer than 9 repetitions on a side (" << fewest
            << "): the test has little power and may miss a real regression";
    const double floor = smallest_exact_p(fewest, fewest);
    if (floor >= options.alpha) {
      warning << "; with " << fewest << " against " << fewest << " the smallest possible p-value is "
              << std::setprecision(3) << floor << ", so nothing can be significant at alpha "
              << options.alpha;
    }
    result.warnings.push_back(warning.str());
  }
  if (result.benchmarks.empty()) result.warnings.push_back("the two reports have no benchmark id in common");
  return result;
}

namespace {

std::string duration(double seconds) {
  std::ostringstream out;
  out << std::fixed;
  if (seconds >= 1) out << std::setprecision(3) << seconds << " s";
  else if (seconds >= 1e-3) out << std::setprecision(3) << seconds * 1e3 << " ms";
  else out << std::setprecision(2) << seconds * 1e6 << " us";
  return out.str();
}

}  // namespace

std::string format_comparison(const Comparison& comparison, const CompareOptions& options) {
  std::ostringstream out;
  std::size_t width = 9;
  for (const auto& row : comparison.benchmarks) width = std::max(width, row.id.size());
  out << std::left << std::setw(static_cast<int>(width)) << "benchmark" << std::right << std::setw(12)
      << "base" << std::setw(12) << "new" << std::setw(8) << "ratio" << std::setw(9) << "p-value"
      << "  verdict\n";
  for (const auto& row : comparison.benchmarks) {
    out << std::left << std::setw(static_cast<int>(width)) << row.id << std::right << std::setw(12)
        << duration(row.base_median) << std::setw(12) << duration(row.new_median) << std::setw(8)
        << std::fixed << std::setprecision(3) << row.ratio << std::setw(9);
    if (row.p_value) {
      out << std::setprecision(4) << *row.p_value;
    } else {
      out << "-";
    }
    out << std::defaultfloat << "  " << to_string(row.verdict);
    if (!row.note.empty()) out << " (" << row.note << ")";
    if (row.verdict == BenchmarkComparison::Verdict::not_enough_repetitions) {
      out << " (" << row.base_repetitions << " and " << row.new_repetitions << ")";
    }
    out << '\n';
  }
  for (const auto& id : comparison.only_in_base) out << "only in BASE: " << id << '\n';
  for (const auto& id : comparison.only_in_new) out << "only in NEW: " << id << '\n';
  for (const auto& warning : comparison.warnings) out << "warning: " << warning << '\n';
  if (comparison.geometric_mean) {
    out << "geometric mean of NEW/BASE over " << comparison.benchmarks.size()
        << " benchmarks: " << std::fixed << std::setprecision(3) << *comparison.geometric_mean
        << std::defaultfloat << '\n';
  }
  if (comparison.regression()) {
    out << comparison.regressions << " significant regression(s): slower by more than "
        << options.threshold * 100 << "% with p < " << options.alpha << '\n';
  } else {
    out << "no significant regression (threshold " << options.threshold * 100 << "%, alpha "
        << options.alpha << ")\n";
  }
  return out.str();
}

}  // namespace bnh::reports
