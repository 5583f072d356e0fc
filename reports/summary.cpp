#include "reports/summary.hpp"

#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "bnh/types.hpp"

namespace bnh::reports {

double geometric_mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double log_sum = 0;
  for (double value : values) log_sum += std::log(value);
  return std::exp(log_sum / static_cast<double>(values.size()));
}

std::string format_ratio(const std::optional<double>& ratio) {
  if (!ratio) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(*ratio >= 100 ? 0 : 2) << *ratio << "x";
  return out.str();
}

std::string format_percent(const std::optional<double>& fraction) {
  if (!fraction) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(0) << 100 * *fraction << "%";
  return out.str();
}

namespace {

// A figure that can enter a geometric mean.
bool usable(const std::optional<double>& value) { return value && *value > 0 && std::isfinite(*value); }

std::optional<double> mean_of(const std::vector<double>& values) {
  if (values.empty()) return std::nullopt;
  return geometric_mean(values);
}

}  // namespace

bool exceeds_last_level(const Benchmark& benchmark, std::int64_t last_level) {
  if (last_level <= 0) return false;
  double elements = 1;
  for (std::int64_t extent : benchmark.shape) elements *= static_cast<double>(extent);
  return 2 * elements * static_cast<double>(element_bytes(benchmark.dtype)) > static_cast<double>(last_level);
}

int operation_rank(const std::string& operation) {
  int rank = 0;
  for (Operation known : all_operations) {
    if (operation == to_string(known)) return rank;
    ++rank;
  }
  return rank;
}

Summary summarize(const Report& report) {
  Summary summary;
  summary.focus = report.focus;
  for (const auto& benchmark : report.benchmarks) {
    if (benchmark.role == Role::baseline) summary.baseline = benchmark.implementation;
  }
  // Groups in a stable order: operation (canonical), layout, dtype, threads.
  using Key = std::tuple<int, std::string, std::string, int>;
  std::map<Key, std::vector<const Benchmark*>> groups;
  for (const auto& benchmark : report.benchmarks) {
    groups[{operation_rank(benchmark.operation), benchmark.layout, benchmark.dtype, benchmark.threads}].push_back(
        &benchmark);
  }
  for (const auto& [key, benchmarks] : groups) {
    SummaryRow row;
    row.operation = benchmarks.front()->operation;
    std::tie(std::ignore, row.layout, row.dtype, row.threads) = key;
    std::map<std::string, std::vector<double>> medians;  // implementation -> per shape
    std::map<std::string, int> peer_wins;
    std::set<std::vector<std::int64_t>> shapes;
    std::vector<double> vs_baseline, vs_best_peer, bandwidth, bandwidth_large, bound, bound_large, vs_f32,
        vs_f32_large;
    for (const Benchmark* benchmark : benchmarks) {
      shapes.insert(benchmark->shape);
      medians[benchmark->implementation].push_back(benchmark->timing.median_s);
      if (benchmark->best_peer == benchmark->implementation) ++peer_wins[benchmark->implementation];
      if (benchmark->implementation != report.focus) continue;
      const bool large = exceeds_last_level(*benchmark, report.machine.caches.last_level);
      if (usable(benchmark->speedup_vs_naive)) vs_baseline.push_back(*benchmark->speedup_vs_naive);
      if (usable(benchmark->speedup_vs_best_peer)) vs_best_peer.push_back(*benchmark->speedup_vs_best_peer);
      if (usable(benchmark->roofline_fraction)) {
        bandwidth.push_back(*benchmark->roofline_fraction);
        if (large) bandwidth_large.push_back(*benchmark->roofline_fraction);
      }
      if (usable(benchmark->bound_fraction)) {
        bound.push_back(*benchmark->bound_fraction);
        if (large) bound_large.push_back(*benchmark->bound_fraction);
      }
      if (usable(benchmark->speedup_vs_f32)) {
        vs_f32.push_back(*benchmark->speedup_vs_f32);
        if (large) vs_f32_large.push_back(*benchmark->speedup_vs_f32);
      }
    }
    row.shapes = static_cast<int>(shapes.size());
    // The fastest among the implementations measured on every shape of the group.
    double best_time = 0;
    for (const auto& [implementation, times] : medians) {
      if (static_cast<int>(times.size()) != row.shapes) continue;
      const double mean = geometric_mean(times);
      if (row.fastest.empty() || mean < best_time) {
        row.fastest = implementation;
        best_time = mean;
      }
    }
    int most = 0;
    for (const auto& [implementation, wins] : peer_wins) {
      if (wins > most) {
        most = wins;
        row.best_peer = implementation;
      }
    }
    row.vs_baseline = mean_of(vs_baseline);
    row.vs_best_peer = mean_of(vs_best_peer);
    row.bandwidth = mean_of(bandwidth);
    row.bandwidth_large = mean_of(bandwidth_large);
    row.bound = mean_of(bound);
    row.bound_large = mean_of(bound_large);
    row.vs_f32 = mean_of(vs_f32);
    row.vs_f32_large = mean_of(vs_f32_large);
    summary.reduced_vs_f32 = summary.reduced_vs_f32 || row.vs_f32.has_value();
    summary.rows.push_back(row);
  }
  return summary;
}

std::string format_summary_text(const Report& report) {
  const Summary summary = summarize(report);
  const std::string focus = summary.focus.empty() ? "?" : summary.focus;
  std::ostringstream out;
  out << "summary of " << focus
      << ": geometric means over shapes of the medians; its bandwidth as a fraction of the\n"
         "probe's streaming copy (bw), and the time of its bound (the unavoidable traffic on the same\n"
         "tensors, in the same rounds) over its time (bound), over all shapes and over the shapes whose\n"
         "x + y exceed the last-level cache";
  if (summary.reduced_vs_f32) out << "; for bf16 and f16, its own f32 time over its time (vs f32)";
  out << "\n\n";
  const std::string vs_baseline = "vs " + (summary.baseline.empty() ? std::string("baseline") : summary.baseline);
  out << std::left << std::setw(22) << "operation" << std::setw(7) << "layout" << std::setw(10) << "dtype"
      << std::setw(4) << "t" << std::setw(12) << "fastest" << std::right << std::setw(12) << vs_baseline
      << std::setw(18) << "vs best peer" << std::setw(9) << "bw all" << std::setw(9) << "bw >LLC" << std::setw(11)
      << "bound all" << std::setw(12) << "bound >LLC";
  if (summary.reduced_vs_f32) out << std::setw(12) << "vs f32 all" << std::setw(13) << "vs f32 >LLC";
  out << '\n';
  for (const auto& row : summary.rows) {
    std::string peer = format_ratio(row.vs_best_peer);
    if (row.vs_best_peer && !row.best_peer.empty()) peer += " " + row.best_peer;
    out << std::left << std::setw(22) << row.operation << std::setw(7) << row.layout << std::setw(10) << row.dtype
        << std::setw(4) << row.threads << std::setw(12) << row.fastest << std::right << std::setw(12)
        << format_ratio(row.vs_baseline) << std::setw(18) << peer << std::setw(9) << format_percent(row.bandwidth)
        << std::setw(9) << format_percent(row.bandwidth_large) << std::setw(11) << format_percent(row.bound)
        << std::setw(12) << format_percent(row.bound_large);
    if (summary.reduced_vs_f32) {
      out << std::setw(12) << format_ratio(row.vs_f32) << std::setw(13) << format_ratio(row.vs_f32_large);
    }
    out << '\n';
  }
  if (summary.rows.empty()) out << "  (no benchmark measured)\n";
  return out.str();
}

}  // namespace bnh::reports
