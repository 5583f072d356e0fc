#include "reports/render_markdown.hpp"

#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "reports/summary.hpp"

namespace bnh::reports {

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  std::ostringstream out;
  if (bytes == std::floor(bytes)) {
    out << static_cast<long long>(bytes) << " " << units[unit];
  } else {
    out << format_number(bytes) << " " << units[unit];
  }
  return out.str();
}

std::string format_number(double value, int significant) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  std::ostringstream out;
  if (value == 0) return "0";
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e6 || magnitude < 1e-3) {
    out << std::setprecision(significant) << value;
    return out.str();
  }
  const int digits = static_cast<int>(std::floor(std::log10(magnitude))) + 1;
  out << std::fixed << std::setprecision(std::max(0, significant - digits)) << value;
  return out.str();
}

std::string format_seconds(double seconds) {
  if (seconds >= 1) return format_number(seconds) + " s";
  if (seconds >= 1e-3) return format_number(seconds * 1e3) + " ms";
  if (seconds >= 1e-6) return format_number(seconds * 1e6) + " us";
  return format_number(seconds * 1e9) + " ns";
}

std::string caches_text(const CacheFacts& caches) {
  std::string text;
  const std::pair<const char*, std::int64_t> levels[] = {
      {"l1d", caches.l1d}, {"l2", caches.l2}, {"last level", caches.last_level}};
  for (const auto& [level, bytes] : levels) {
    const bool repeated = level == std::string("last level") && bytes == caches.l2;  // no L3
    if (bytes > 0 && !repeated) text += std::string(", ") + level + " " + format_bytes(static_cast<double>(bytes));
  }
  return text;
}

std::string format_kappa(double kappa) {
  if (kappa >= 10) {
    const double exponent = std::log10(kappa);
    if (std::fabs(exponent - std::round(exponent)) < 1e-9) {
      return "1e" + std::to_string(static_cast<int>(std::round(exponent)));
    }
  }
  if (kappa == std::floor(kappa) && kappa < 1e6) return std::to_string(static_cast<long long>(kappa));
  return format_number(kappa, 2);
}


namespace {

// Markdown table cells may not hold '|' nor a line break.
std::string cell(const std::string& text) {
  std::string escaped;
  for (char ch : text) {
    if (ch == '|') escaped += "\\|";
    else if (ch == '\n' || ch == '\r') escaped += ' ';
    else escaped += ch;
  }
  return escaped;
}

std::string number_or_dash(const std::optional<double>& value) { return value ? format_number(*value) : "-"; }

void header(std::ostringstream& out, const Report& report) {
  const auto& machine = report.machine;
  const auto& build = report.build;
  out << (is_accuracy_report(report) ? "# bnharness accuracy\n\n" : "# bnharness benchmarks\n\n");
  out << "- **created** " << report.created << ", revision `" << build.git_revision << "`, " << build.compiler
      << " `" << build.flags << "`\n";
  out << "- **machine** " << cell(machine.cpu) << ", " << machine.cores << " cores" << caches_text(machine.caches)
      << "\n";
  for (const auto& probe : machine.bandwidth) {
    out << "- **streaming bandwidth** at " << probe.threads << " thread(s): copy " << format_number(probe.copy_gbps)
        << " GB/s, triad " << format_number(probe.triad_gbps) << " GB/s\n";
  }
  if (!report.suite.name.empty()) {
    out << "- **suite** " << suite_description(report);
    if (!is_accuracy_report(report)) out << ", " << report.benchmarks.size() << " benchmarks";
    out << "\n";
  }
  if (!report.focus.empty()) out << "- **focus** `" << cell(report.focus) << "`\n";
  if (!build.libraries.empty()) {
    out << "- **libraries**";
    bool first = true;
    for (const auto& [name, version] : build.libraries) {
      out << (first ? " " : ", ") << name << " " << version;
      first = false;
    }
    out << "\n";
  }
  out << "\n";
}

void summary_table(std::ostringstream& out, const Report& report) {
  const Summary summary = summarize(report);
  out << "## Summary\n\n";
  if (summary.rows.empty()) {
    out << "No benchmark was measured.\n\n";
    return;
  }
  const std::string focus = "`" + cell(summary.focus.empty() ? "?" : summary.focus) + "`";
  const std::string baseline = summary.baseline.empty() ? "the baseline" : "`" + cell(summary.baseline) + "`";
  out << "Geometric means over the shapes of the medians, about the focus, " << focus << ". *vs " << baseline
      << "* and *vs best peer*: how many times faster it is. *Bandwidth*: its compulsory traffic over its "
         "time, as a fraction of the bandwidth probe's streaming copy, over all shapes and over the shapes "
         "whose x + y exceed the last-level cache; *of bound*: the time of its bound (the operation's "
         "unavoidable traffic done by plain kernels on the same tensors, in the same rounds) over its time";
  if (summary.reduced_vs_f32) out << "; *vs f32*, for bf16 and f16: its own f32 time over its time";
  out << ".\n\n";
  const bool vs_f32 = summary.reduced_vs_f32;
  out << "| operation | layout | dtype | threads | fastest | vs " << baseline
      << " | vs best peer | bandwidth (all) | bandwidth (> LLC) | of bound (all) | of bound (> LLC) |"
      << (vs_f32 ? " vs f32 (all) | vs f32 (> LLC) |" : "") << "\n";
  out << "|---|---|---|--:|---|--:|--:|--:|--:|--:|--:|" << (vs_f32 ? "--:|--:|" : "") << "\n";
  for (const auto& row : summary.rows) {
    std::string peer = format_ratio(row.vs_best_peer);
    if (row.vs_best_peer && !row.best_peer.empty()) peer += " (" + cell(row.best_peer) + ")";
    out << "| " << row.operation << " | " << row.layout << " | " << row.dtype << " | " << row.threads << " | "
        << (row.fastest.empty() ? "-" : "`" + cell(row.fastest) + "`") << " | " << format_ratio(row.vs_baseline)
        << " | " << peer << " | " << format_percent(row.bandwidth) << " | " << format_percent(row.bandwidth_large)
        << " | " << format_percent(row.bound) << " | " << format_percent(row.bound_large) << " |";
    if (vs_f32) out << " " << format_ratio(row.vs_f32) << " | " << format_ratio(row.vs_f32_large) << " |";
    out << "\n";
  }
  out << "\n";
}

void accuracy_table(std::ostringstream& out, const Report& report) {
  if (report.accuracy.empty()) {
    out << "## Accuracy\n\nNot measured in this run.\n\n";
    return;
  }
  // Columns: the normal regime, then the large-mean kappas in increasing order.
  std::set<double> kappas;
  std::set<std::int64_t> sizes;
  for (const auto& point : report.accuracy) {
    if (point.regime == AccuracyRegime::large_mean) kappas.insert(point.kappa);
    sizes.insert(point.m);
  }
  std::vector<std::string> columns{"normal"};
  for (double kappa : kappas) columns.push_back(format_kappa(kappa));
  // implementation, operation, dtype, M (a column only when the sweep has several M)
  using Key = std::tuple<std::string, Operation, std::string, std::int64_t>;
  std::map<Key, std::map<std::string, const AccuracyPoint*>> rows;
  for (const auto& point : report.accuracy) {
    const std::string column = point.regime == AccuracyRegime::normal ? "normal" : format_kappa(point.kappa);
    rows[{point.implementation, point.operation, point.dtypes(), point.m}][column] = &point;
  }
  out << "## Accuracy against conditioning\n\n"
         "Worst error against the 50-digit reference, in the tolerance model's units (u x scale, "
         "[docs/tolerances.md](../docs/tolerances.md)), over every output; columns: standard-normal "
         "data, then channels whose mean is kappa times their standard deviation. A value beyond "
         "its bound is marked **FAIL**.\n\n";
  const bool by_size = sizes.size() > 1;
  out << "| implementation | operation | dtype |" << (by_size ? " M |" : "");
  for (const auto& column : columns) out << (column == "normal" ? " normal |" : " kappa " + column + " |");
  out << "\n|---|---|---|" << (by_size ? "--:|" : "");
  for (std::size_t i = 0; i < columns.size(); ++i) out << "--:|";
  out << "\n";
  int failing = 0;
  for (const auto& [key, cells] : rows) {
    const auto& [implementation, operation, dtype, m] = key;
    out << "| `" << cell(implementation) << "` | " << to_string(operation) << " | " << dtype << " |";
    if (by_size) out << " " << m << " |";
    for (const auto& column : columns) {
      const auto found = cells.find(column);
      if (found == cells.end()) {
        out << " - |";
        continue;
      }
      const AccuracyPoint& point = *found->second;
      failing += point.failed() ? 1 : 0;
      const std::string value = point.error.empty() ? format_number(point.max_scaled_error, 2) : "rejected";
      out << " " << (point.failed() ? "**FAIL** " : "") << value << " |";
    }
    out << "\n";
  }
  out << "\n";
  if (failing > 0) out << failing << " cell(s) exceed their bound.\n\n";
}

void errors(std::ostringstream& out, const Report& report) {
  if (report.errors.empty()) return;
  out << "## Refused calls\n\n";
  for (const auto& error : report.errors) out << "- `" << cell(error.id) << "`: " << cell(error.error) << "\n";
  out << "\n";
}

void all_benchmarks(std::ostringstream& out, const Report& report) {
  if (report.benchmarks.empty()) return;
  out << "<details><summary>All " << report.benchmarks.size() << " benchmarks</summary>\n\n";
  out << "| benchmark | median | min | GB/s | bw | of bound | vs baseline | vs best peer | vs f32 |\n";
  out << "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const auto& benchmark : report.benchmarks) {
    const Timing& timing = benchmark.timing;
    out << "| `" << cell(benchmark.id) << "` | " << format_seconds(timing.median_s) << " | "
        << (timing.min_s > 0 ? format_seconds(timing.min_s) : "-") << " | " << format_number(benchmark.gbps) << " | "
        << format_percent(benchmark.roofline_fraction) << " | " << format_percent(benchmark.bound_fraction) << " | "
        << number_or_dash(benchmark.speedup_vs_naive) << " | " << number_or_dash(benchmark.speedup_vs_best_peer)
        << " | " << number_or_dash(benchmark.speedup_vs_f32) << " |\n";
  }
  out << "\n</details>\n\n";
}

}  // namespace

std::string render_markdown(const Report& report) {
  std::ostringstream out;
  header(out, report);
  if (!is_accuracy_report(report)) summary_table(out, report);
  accuracy_table(out, report);
  errors(out, report);
  all_benchmarks(out, report);
  return out.str();
}

}  // namespace bnh::reports
