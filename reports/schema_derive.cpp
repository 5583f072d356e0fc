// The figures a report derives from its measurements, computed here and nowhere else.
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "bnh/types.hpp"
#include "reports/schema.hpp"

namespace bnh::reports {

namespace {

// A ratio of two times, or none when it is not a finite positive number.
std::optional<double> ratio(double numerator, double denominator) {
  const double value = numerator / denominator;
  if (!std::isfinite(value) || !(value > 0)) return std::nullopt;
  return value;
}

// The benchmarks that compete: same operation, layout, dtype, shape and thread count.
using Group = std::tuple<std::string, std::string, std::string, std::vector<std::int64_t>, int>;
Group group_of(const Benchmark& entry) {
  return {entry.operation, entry.layout, entry.dtype, entry.shape, entry.threads};
}

const BandwidthProbe* probe_at(const std::vector<BandwidthProbe>& probes, int threads) {
  for (const auto& probe : probes) {
    if (probe.threads == threads) return &probe;
  }
  return nullptr;
}

}  // namespace

std::size_t element_bytes(const std::string& dtype) {
  try {
    return element_size(parse_dtype(dtype.substr(0, dtype.find(':'))));
  } catch (const Error&) {
    return 4;
  }
}

std::string fastest_built_in(const std::vector<Benchmark>& benchmarks) {
  std::map<Group, double> fastest;  // the least built-in time per group
  for (const auto& entry : benchmarks) {
    if (entry.role != Role::built_in) continue;
    auto [slot, fresh] = fastest.emplace(group_of(entry), entry.timing.median_s);
    if (!fresh) slot->second = std::min(slot->second, entry.timing.median_s);
  }
  // Each built-in's geometric mean of its time over the fastest's, over the groups it ran in.
  std::map<std::string, std::pair<double, int>> log_ratios;
  for (const auto& entry : benchmarks) {
    if (entry.role != Role::built_in) continue;
    const auto value = ratio(entry.timing.median_s, fastest.at(group_of(entry)));
    if (!value) continue;
    auto& [sum, count] = log_ratios[entry.implementation];
    sum += std::log(*value);
    ++count;
  }
  std::string best;
  double best_mean = std::numeric_limits<double>::infinity();
  for (const auto& [name, sums] : log_ratios) {
    const double mean = sums.first / sums.second;
    if (mean < best_mean) {
      best = name;
      best_mean = mean;
    }
  }
  return best;
}

void derive(Report& report) {
  std::map<Group, double> baseline;
  std::map<Group, const Benchmark*> best_peer;
  for (const auto& entry : report.benchmarks) {
    const Group group = group_of(entry);
    if (entry.role == Role::baseline) baseline[group] = entry.timing.median_s;
    if (entry.role == Role::peer) {
      const auto found = best_peer.find(group);
      if (found == best_peer.end() || entry.timing.median_s < found->second->timing.median_s) {
        best_peer[group] = &entry;
      }
    }
  }
  std::map<std::string, const BoundMeasurement*> bounds;
  std::map<std::tuple<std::string, std::vector<std::int64_t>, int>, const BoundMeasurement*> copies;
  for (const auto& bound : report.bounds) {
    bounds[bound.id] = &bound;
    if (bound.kind == "copy") copies[{bound.dtype, bound.shape, bound.threads}] = &bound;
  }
  // Each implementation's f32 time, for its reduced dtypes' speed-up.
  using Twin = std::tuple<std::string, std::string, std::string, std::vector<std::int64_t>, int>;
  auto twin_of = [](const Benchmark& entry) {
    return Twin{entry.implementation, entry.operation, entry.layout, entry.shape, entry.threads};
  };
  std::map<Twin, double> f32_time;
  for (const auto& entry : report.benchmarks) {
    if (entry.dtype == "f32") f32_time[twin_of(entry)] = entry.timing.median_s;
  }
  // The peers' figures are read while they are written: take the peers' times first.
  std::map<Group, std::pair<double, std::string>> peer_time;
  for (const auto& [group, peer] : best_peer) peer_time[group] = {peer->timing.median_s, peer->implementation};

  for (auto& entry : report.benchmarks) {
    const Group group = group_of(entry);
    const double median = entry.timing.median_s;
    const auto base = baseline.find(group);
    entry.speedup_vs_naive = base == baseline.end() ? std::nullopt : ratio(base->second, median);
    const auto peer = peer_time.find(group);
    entry.speedup_vs_best_peer = peer == peer_time.end() ? std::nullopt : ratio(peer->second.first, median);
    entry.best_peer = peer == peer_time.end() ? std::nullopt : std::optional<std::string>(peer->second.second);
    const auto f32 = f32_time.find(twin_of(entry));
    const bool reduced = entry.data_dtype() == "bf16" || entry.data_dtype() == "f16";
    entry.speedup_vs_f32 = !reduced || f32 == f32_time.end() ? std::nullopt : ratio(f32->second, median);
    const BandwidthProbe* probe = probe_at(report.machine.bandwidth, entry.threads);
    entry.roofline_fraction = probe == nullptr ? std::nullopt : ratio(entry.gbps, probe->copy_gbps);
    const auto copy = copies.find({entry.dtype, entry.shape, entry.threads});
    entry.copy_fraction = copy == copies.end() ? std::nullopt : ratio(entry.gbps, copy->second->gbps);
    const auto bound = entry.bound ? bounds.find(*entry.bound) : bounds.end();
    entry.bound_fraction = bound == bounds.end() ? std::nullopt : ratio(bound->second->timing.median_s, median);
  }
  if (report.focus.empty()) report.focus = fastest_built_in(report.benchmarks);
}

bool is_accuracy_report(const Report& report) {
  return report.suite.name == "accuracy" && report.benchmarks.empty();
}

std::string suite_description(const Report& report) {
  const Suite& suite = report.suite;
  auto number = [](double value) { return safe_dump(nlohmann::json(value)); };
  if (is_accuracy_report(report)) {
    return "accuracy sweep, " + std::to_string(suite.cases.value_or(0)) + " cases per point, " +
           std::to_string(suite.channels.value_or(0)) + " channels, seed " + std::to_string(suite.seed.value_or(0));
  }
  std::string text = suite.name;
  if (suite.n) text += ", N = " + std::to_string(*suite.n);
  text += ", " + std::to_string(suite.repetitions) + " repetitions of at least " + number(suite.min_time) + " s";
  if (suite.quick && suite.name != "quick") text += ", quick timings";
  return text;
}

}  // namespace bnh::reports
