#include "reports/summary.hpp"

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <tuple>

#include "bnh/types.hpp"
#include "reports/report.hpp"

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

std::optional<double> number(const nlohmann::json& entry, const char* key) {
  const auto found = entry.find(key);
  if (found == entry.end() || !found->is_number()) return std::nullopt;
  const double value = found->get<double>();
  if (!std::isfinite(value) || value <= 0) return std::nullopt;
  return value;
}

std::optional<double> mean_of(const std::vector<double>& values) {
  if (values.empty()) return std::nullopt;
  return geometric_mean(values);
}

std::string shape_key(const nlohmann::json& entry) { return safe_dump(entry.at("shape")); }

std::int64_t elements_of(const nlohmann::json& entry) {
  std::int64_t elements = 1;
  for (const auto& dim : entry.at("shape")) elements *= dim.get<std::int64_t>();
  return elements;
}

}  // namespace

std::vector<SummaryRow> summarize(const nlohmann::json& report) {
  // Groups in a stable order: operation (canonical), layout, dtype, threads.
  struct Key {
    int operation;
    std::string layout, dtype;
    int threads;
    bool operator<(const Key& other) const {
      return std::tie(operation, layout, dtype, threads) <
             std::tie(other.operation, other.layout, other.dtype, other.threads);
    }
  };
  auto operation_index = [](const std::string& name) {
    for (int i = 0; i < 5; ++i) {
      if (name == to_string(all_operations[i])) return i;
    }
    return 5;
  };
  std::map<Key, std::vector<const nlohmann::json*>> groups;
  for (const auto& entry : report.at("benchmarks")) {
    groups[{operation_index(entry.at("operation").get<std::string>()), entry.at("layout").get<std::string>(),
            entry.at("dtype").get<std::string>(), entry.at("threads").get<int>()}]
        .push_back(&entry);
  }
  double last_level = 0;
  if (report.contains("machine") && report["machine"].contains("caches")) {
    const auto& caches = report["machine"]["caches"];
    for (const char* level : {"l3", "l2"}) {
      if (last_level <= 0 && caches.contains(level) && caches[level].is_number()) {
        last_level = caches[level].get<double>();
      }
    }
  }

  std::vector<SummaryRow> rows;
  for (const auto& [key, entries] : groups) {
    SummaryRow row;
    row.operation = entries.front()->at("operation").get<std::string>();
    row.layout = key.layout;
    row.dtype = key.dtype;
    row.threads = key.threads;
    std::map<std::string, std::vector<double>> times;   // implementation -> medians
    std::map<std::string, int> peer_wins;
    std::map<std::string, bool> shapes;
    std::vector<double> vs_naive, vs_peer, fraction, fraction_large, copy_fraction, copy_fraction_large;
    for (const nlohmann::json* entry : entries) {
      const std::string impl = entry->at("implementation").get<std::string>();
      shapes[shape_key(*entry)] = true;
      times[impl].push_back(entry->at("median_s").get<double>());
      if (const auto peer = entry->find("best_peer"); peer != entry->end() && peer->is_string() &&
                                                      peer->get<std::string>() == impl) {
        ++peer_wins[impl];
      }
      if (impl != focus_implementation) continue;
      if (const auto value = number(*entry, "speedup_vs_naive")) vs_naive.push_back(*value);
      if (const auto value = number(*entry, "speedup_vs_best_peer")) vs_peer.push_back(*value);
      const double x_and_y = 2.0 * static_cast<double>(elements_of(*entry)) *
                             (entry->at("dtype").get<std::string>() == "f64" ? 8 : 4);
      const bool large = last_level > 0 && x_and_y > last_level;
      if (const auto value = number(*entry, "roofline_fraction")) {
        fraction.push_back(*value);
        if (large) fraction_large.push_back(*value);
      }
      if (const auto value = number(*entry, "copy_fraction")) {
        copy_fraction.push_back(*value);
        if (large) copy_fraction_large.push_back(*value);
      }
    }
    row.shapes = static_cast<int>(shapes.size());
    // The fastest among the implementations measured on every shape of the group.
    double best_time = 0;
    for (const auto& [impl, medians] : times) {
      if (static_cast<int>(medians.size()) != row.shapes) continue;
      const double mean = geometric_mean(medians);
      if (row.best.empty() || mean < best_time) {
        row.best = impl;
        best_time = mean;
      }
    }
    int most = 0;
    for (const auto& [impl, wins] : peer_wins) {
      if (wins > most) {
        most = wins;
        row.best_peer = impl;
      }
    }
    row.openmp_vs_naive = mean_of(vs_naive);
    row.openmp_vs_best_peer = mean_of(vs_peer);
    row.openmp_fraction = mean_of(fraction);
    row.openmp_fraction_large = mean_of(fraction_large);
    row.openmp_copy_fraction = mean_of(copy_fraction);
    row.openmp_copy_fraction_large = mean_of(copy_fraction_large);
    rows.push_back(row);
  }
  return rows;
}

std::string format_summary_text(const nlohmann::json& report) {
  const auto rows = summarize(report);
  std::ostringstream out;
  out << "summary: geometric means over shapes of the medians; openmp's bandwidth as a fraction of the\n"
         "probe's streaming copy (bw) and of the streaming copy of each shape's x measured in the same\n"
         "rounds (copy), over all shapes and over the shapes whose x + y exceed the last-level cache\n\n";
  out << std::left << std::setw(22) << "operation" << std::setw(7) << "layout" << std::setw(6) << "dtype"
      << std::setw(4) << "t" << std::setw(10) << "fastest" << std::right << std::setw(10) << "vs naive"
      << std::setw(15) << "vs best peer" << std::setw(9) << "bw all" << std::setw(9) << "bw >LLC" << std::setw(10) << "copy all"
      << std::setw(11) << "copy >LLC" << '\n';
  for (const auto& row : rows) {
    std::string peer = format_ratio(row.openmp_vs_best_peer);
    if (row.openmp_vs_best_peer && !row.best_peer.empty()) peer += " " + row.best_peer;
    out << std::left << std::setw(22) << row.operation << std::setw(7) << row.layout << std::setw(6)
        << row.dtype << std::setw(4) << row.threads << std::setw(10) << row.best << std::right
        << std::setw(10) << format_ratio(row.openmp_vs_naive) << std::setw(15) << peer << std::setw(9)
        << format_percent(row.openmp_fraction) << std::setw(9) << format_percent(row.openmp_fraction_large)
        << std::setw(10) << format_percent(row.openmp_copy_fraction) << std::setw(11)
        << format_percent(row.openmp_copy_fraction_large) << '\n';
  }
  if (rows.empty()) out << "  (no benchmark measured)\n";
  return out.str();
}

}  // namespace bnh::reports
