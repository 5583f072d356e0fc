#include "reports/render_markdown.hpp"
#include "reports/report.hpp"

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
std::string cell(std::string text) {
  std::string escaped;
  for (char ch : text) {
    if (ch == '|') escaped += "\\|";
    else if (ch == '\n' || ch == '\r') escaped += ' ';
    else escaped += ch;
  }
  return escaped;
}

std::string optional_number(const nlohmann::json& entry, const char* key, int significant = 3) {
  const auto found = entry.find(key);
  if (found == entry.end() || !found->is_number()) return "-";
  return format_number(found->get<double>(), significant);
}

void header(std::ostringstream& out, const nlohmann::json& report) {
  const auto& machine = report.value("machine", nlohmann::json::object());
  const auto& build = report.value("build", nlohmann::json::object());
  const auto& suite = report.value("suite", nlohmann::json::object());
  out << (is_accuracy_report(report) ? "# bnharness accuracy\n\n" : "# bnharness benchmarks\n\n");
  out << "- **created** " << text_of(report, "created") << ", revision `" << text_of(build, "git_revision")
      << "`, " << text_of(build, "compiler") << " `" << text_of(build, "flags", "") << "`\n";
  out << "- **machine** " << text_of(machine, "cpu") << ", " << text_of(machine, "cores") << " cores";
  if (machine.contains("caches") && machine["caches"].is_object()) {
    for (const auto& [level, size] : machine["caches"].items()) {
      if (size.is_number() && size.get<double>() > 0) out << ", " << level << " " << format_bytes(size.get<double>());
    }
  }
  out << "\n";
  if (machine.contains("bandwidth") && machine["bandwidth"].is_array()) {
    for (const auto& probe : machine["bandwidth"]) {
      out << "- **streaming bandwidth** at " << text_of(probe, "threads") << " thread(s): copy "
          << optional_number(probe, "copy_gbps") << " GB/s, triad " << optional_number(probe, "triad_gbps")
          << " GB/s\n";
    }
  }
  if (suite.is_object() && !suite.empty()) {
    out << "- **suite** " << suite_description(report);
    if (!is_accuracy_report(report)) out << ", " << report["benchmarks"].size() << " benchmarks";
    out << "\n";
    if (suite.contains("slowdown") && suite["slowdown"].is_number() && suite["slowdown"].get<double>() > 1) {
      out << "- **deliberately slowed** by BNH_BENCH_SLOWDOWN = " << suite["slowdown"].get<double>()
          << ": not a measurement of the implementations\n";
    }
  }
  if (build.contains("libraries") && build["libraries"].is_object()) {
    out << "- **libraries**";
    bool first = true;
    for (const auto& [name, version] : build["libraries"].items()) {
      out << (first ? " " : ", ") << name << " " << (version.is_string() ? version.get<std::string>() : safe_dump(version));
      first = false;
    }
    out << "\n";
  }
  out << "\n";
}

void summary_table(std::ostringstream& out, const nlohmann::json& report) {
  const auto rows = summarize(report);
  out << "## Summary\n\n";
  if (rows.empty()) {
    out << "No benchmark was measured.\n\n";
    return;
  }
  out << "Geometric means over the shapes of the medians. *vs naive* and *vs best peer*: how many times "
         "faster `openmp` is (peers: `onednn`, `aten`). *Bandwidth*: `openmp`'s compulsory traffic over "
         "its time, as a fraction of the bandwidth probe's streaming copy, over all shapes and over the "
         "shapes whose x + y exceed the last-level cache; *copy (> LLC)*: the same large shapes against "
         "a streaming copy of each shape's own x, measured in the same rounds (side by side).\n\n";
  out << "| operation | layout | dtype | threads | fastest | openmp vs naive | openmp vs best peer | "
         "bandwidth (all) | bandwidth (> LLC) | copy (> LLC) |\n";
  out << "|---|---|---|--:|---|--:|--:|--:|--:|--:|\n";
  for (const auto& row : rows) {
    std::string peer = format_ratio(row.openmp_vs_best_peer);
    if (row.openmp_vs_best_peer && !row.best_peer.empty()) peer += " (" + row.best_peer + ")";
    out << "| " << row.operation << " | " << row.layout << " | " << row.dtype << " | " << row.threads
        << " | " << (row.best.empty() ? "-" : "`" + row.best + "`") << " | " << format_ratio(row.openmp_vs_naive)
        << " | " << peer << " | " << format_percent(row.openmp_fraction) << " | "
        << format_percent(row.openmp_fraction_large) << " | " << format_percent(row.openmp_copy_fraction_large)
        << " |\n";
  }
  out << "\n";
}

void accuracy_table(std::ostringstream& out, const nlohmann::json& report) {
  if (!report.contains("accuracy") || !report["accuracy"].is_array() || report["accuracy"].empty()) {
    out << "## Accuracy\n\nNot measured in this run.\n\n";
    return;
  }
  // Columns: the normal regime, then the large-mean kappas in increasing order.
  std::set<double> kappas;
  for (const auto& entry : report["accuracy"]) {
    if (entry.value("regime", "") == "large-mean" && entry.contains("kappa") && entry["kappa"].is_number()) {
      kappas.insert(entry["kappa"].get<double>());
    }
  }
  // implementation, operation order, dtype, M (a column only when the sweep has several M)
  using Key = std::tuple<std::string, int, std::string, std::int64_t>;
  std::map<Key, std::map<std::string, const nlohmann::json*>> rows;
  std::set<std::int64_t> sizes;
  std::map<std::string, int> operation_order{{"bn_forward_train", 0}, {"bn_forward_infer", 1}, {"bn_backward", 2},
                                             {"renorm_forward_train", 3}, {"renorm_backward", 4}};
  std::map<int, std::string> operation_name;
  for (const auto& entry : report["accuracy"]) {
    const std::string operation = entry.value("operation", "");
    const int order = operation_order.count(operation) ? operation_order[operation] : 5;
    operation_name[order] = operation;
    std::string column = entry.value("regime", "");
    if (column == "large-mean" && entry.contains("kappa") && entry["kappa"].is_number()) {
      column = format_kappa(entry["kappa"].get<double>());
    }
    const auto m = entry.value("m", std::int64_t{0});
    sizes.insert(m);
    rows[{entry.value("implementation", ""), order, entry.value("dtype", ""), m}][column] = &entry;
  }
  int failing = 0;
  out << "## Accuracy against conditioning\n\n"
         "Worst error against the 50-digit reference, in the tolerance model's units (u x scale, "
         "[docs/tolerances.md](../docs/tolerances.md)), over every output; columns: standard-normal "
         "data, then channels whose mean is kappa times their standard deviation. A value beyond "
         "its bound is marked **FAIL**.\n\n";
  const bool by_size = sizes.size() > 1;
  out << "| implementation | operation | dtype |" << (by_size ? " M |" : "") << " normal |";
  for (double kappa : kappas) out << " kappa " << format_kappa(kappa) << " |";
  out << "\n|---|---|---|" << (by_size ? "--:|" : "") << "--:|";
  for (std::size_t i = 0; i < kappas.size(); ++i) out << "--:|";
  out << "\n";
  for (const auto& [key, columns] : rows) {
    const auto& [impl, order, dtype, m] = key;
    out << "| `" << impl << "` | " << operation_name[order] << " | " << dtype << " |";
    if (by_size) out << " " << m << " |";
    std::vector<std::string> names{"normal"};
    for (double kappa : kappas) names.push_back(format_kappa(kappa));
    for (const auto& name : names) {
      const auto found = columns.find(name);
      if (found == columns.end()) {
        out << " - |";
        continue;
      }
      const nlohmann::json& entry = *found->second;
      const bool failed = entry.value("failed_cases", 0) > 0 || entry.contains("error");
      failing += failed ? 1 : 0;
      std::string value = entry.contains("max_scaled_error") && entry["max_scaled_error"].is_number()
                              ? format_number(entry["max_scaled_error"].get<double>(), 2)
                              : std::string("inf");
      if (entry.contains("error")) value = "rejected";
      out << " " << (failed ? "**FAIL** " : "") << value << " |";
    }
    out << "\n";
  }
  out << "\n";
  if (failing > 0) out << failing << " cell(s) exceed their bound.\n\n";
}

void errors(std::ostringstream& out, const nlohmann::json& report) {
  if (!report.contains("errors") || !report["errors"].is_array() || report["errors"].empty()) return;
  out << "## Refused calls\n\n";
  for (const auto& error : report["errors"]) {
    out << "- `" << text_of(error, "id") << "`: " << cell(text_of(error, "error")) << "\n";
  }
  out << "\n";
}

void all_benchmarks(std::ostringstream& out, const nlohmann::json& report) {
  if (report["benchmarks"].empty()) return;
  out << "<details><summary>All " << report["benchmarks"].size() << " benchmarks</summary>\n\n";
  out << "| benchmark | median | min | GB/s | of copy | vs naive | vs best peer |\n";
  out << "|---|--:|--:|--:|--:|--:|--:|\n";
  for (const auto& entry : report["benchmarks"]) {
    out << "| `" << entry["id"].get<std::string>() << "` | " << format_seconds(entry["median_s"].get<double>())
        << " | " << (entry.contains("min_s") && entry["min_s"].is_number() ? format_seconds(entry["min_s"].get<double>()) : "-")
        << " | " << optional_number(entry, "gbps") << " | "
        << (entry.contains("roofline_fraction") && entry["roofline_fraction"].is_number()
                ? format_percent(entry["roofline_fraction"].get<double>())
                : "-")
        << " | " << optional_number(entry, "speedup_vs_naive") << " | " << optional_number(entry, "speedup_vs_best_peer")
        << " |\n";
  }
  out << "\n</details>\n\n";
}

}  // namespace

std::string render_markdown(const nlohmann::json& report) {
  std::ostringstream out;
  header(out, report);
  if (!is_accuracy_report(report)) summary_table(out, report);
  accuracy_table(out, report);
  errors(out, report);
  all_benchmarks(out, report);
  return out.str();
}

}  // namespace bnh::reports
