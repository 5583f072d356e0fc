// The page's performance sections: bandwidth and the fraction of the bound per shape, speed-ups
// against the best peer, of bf16 and f16 against f32, and against the baseline, and thread
// scaling.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "reports/html_sections.hpp"
#include "reports/render_markdown.hpp"
#include "reports/summary.hpp"
#include "reports/svg_chart.hpp"

namespace bnh::reports::html {

namespace {

using ValueOf = std::function<std::optional<double>(const Benchmark&)>;
using TipOf = std::function<std::string(const Benchmark&, double)>;

// A bar per shape and implementation of the group; no bar where `value_of` has none. The chart
// is <svg class="chart KIND" id="NAME-GROUP">.
svg::BarChart bars_of(const Group& group, const Palette& palette, const ValueOf& value_of, const TipOf& tip_of,
                      const std::string& name, const std::string& kind, const std::string& title) {
  svg::BarChart chart;
  chart.id = name + "-" + group.id();
  chart.kind = kind;
  chart.title = title + ": " + group.title();
  chart.categories = group.shapes;
  for (const auto& implementation : group.implementations) {
    svg::BarSeries series{implementation, palette.colour(implementation), {}};
    for (const auto& shape : group.shapes) {
      const Benchmark* benchmark = group.find(shape, implementation);
      const auto value = benchmark ? value_of(*benchmark) : std::nullopt;
      series.bars.push_back(value ? std::optional<svg::Bar>(svg::Bar{*value, tip_of(*benchmark, *value)})
                                  : std::nullopt);
    }
    chart.series.push_back(std::move(series));
  }
  return chart;
}

std::string tip(const Benchmark& benchmark, const std::string& what) {
  return benchmark.id + "\n" + what + "\nmedian " + format_seconds(benchmark.timing.median_s);
}

// Bars of a speed-up on a log axis, growing from the line of equal speed.
std::string speedup_chart(const Group& group, const Palette& palette, const ValueOf& value_of, const TipOf& tip_of,
                          const std::string& against, const std::string& title, const std::string& equal_speed) {
  svg::BarChart chart =
      bars_of(group, palette, value_of, tip_of, "speedup-" + against, "speedup speedup-" + against, title);
  chart.y_label = "x (log)";
  chart.log_from_one = true;
  chart.references.push_back({equal_speed, 1, "#000", "4 3"});
  return svg::render(chart);
}

std::optional<double> positive(double value) { return value > 0 ? std::optional<double>(value) : std::nullopt; }

bool any_of(const Group& group, const ValueOf& value_of) {
  for (const Benchmark* benchmark : group.benchmarks) {
    if (value_of(*benchmark)) return true;
  }
  return false;
}

const BandwidthProbe* probe_at(const Report& report, int threads) {
  for (const auto& probe : report.machine.bandwidth) {
    if (probe.threads == threads) return &probe;
  }
  return nullptr;
}

std::string baseline_of(const Report& report) {
  for (const auto& benchmark : report.benchmarks) {
    if (benchmark.role == Role::baseline) return benchmark.implementation;
  }
  return "";
}

}  // namespace

std::string bandwidth_section(const Report& report, const std::vector<Group>& groups, const Palette& palette) {
  std::ostringstream out;
  out << "<section id=\"bandwidth\">\n<h2>Effective bandwidth</h2>\n"
         "<p>Compulsory traffic (docs/benchmarks.md) over the median time, per shape and implementation; the "
         "lines are the streaming copy and triad of the bandwidth probe at the same thread count. Shapes that "
         "fit a cache can exceed them. Below each, the fraction of the bound: the time of plain kernels doing "
         "the operation's unavoidable traffic on the same tensors, in the same rounds, over the "
         "implementation's time.</p>\n";
  const ValueOf bound_fraction = [](const Benchmark& b) { return b.bound_fraction; };
  for (const Group& group : groups) {
    svg::BarChart chart = bars_of(
        group, palette, [](const Benchmark& b) { return positive(b.gbps); },
        [](const Benchmark& b, double gbps) {
          std::string text = format_number(gbps) + " GB/s";
          if (b.roofline_fraction) text += ", " + format_percent(b.roofline_fraction) + " of the probe's copy bandwidth";
          return tip(b, text);
        },
        "bandwidth", "bandwidth", "Bandwidth");
    chart.y_label = "GB/s";
    if (const BandwidthProbe* probe = probe_at(report, group.threads)) {
      if (probe->copy_gbps > 0) chart.references.push_back({"stream copy", probe->copy_gbps, "#000", "6 3"});
      if (probe->triad_gbps > 0) chart.references.push_back({"stream triad", probe->triad_gbps, "#666", "2 3"});
    }
    out << svg::render(chart);
    if (!any_of(group, bound_fraction)) continue;
    svg::BarChart bound = bars_of(
        group, palette, bound_fraction,
        [](const Benchmark& b, double fraction) {
          return tip(b, format_percent(fraction) + " of its bound (" + b.bound.value_or("?") + ")");
        },
        "bound", "bound", "Fraction of the bound");
    bound.y_label = "bound time / time";
    bound.references.push_back({"bound", 1, "#000", "4 3"});
    out << svg::render(bound);
  }
  out << "</section>\n";
  return out.str();
}

std::string speedup_section(const Report& report, const std::vector<Group>& groups, const Palette& palette) {
  std::ostringstream out;
  const ValueOf vs_peer = [](const Benchmark& b) { return b.speedup_vs_best_peer; };
  const ValueOf vs_baseline = [](const Benchmark& b) { return b.speedup_vs_naive; };
  out << "<section id=\"speedup\">\n<h2>Speed-up against the best peer</h2>\n";
  bool any_peer = false;
  for (const Group& group : groups) {
    if (!any_of(group, vs_peer)) continue;
    if (!any_peer) {
      out << "<p>Time of the fastest peer (an adapter of an outside library) on the same shape over the "
             "implementation's time: above 1 is faster than every peer.</p>\n";
    }
    any_peer = true;
    const TipOf peer_tip = [](const Benchmark& b, double ratio) {
      return tip(b, format_number(ratio) + "x the best peer (" + b.best_peer.value_or("?") + ")");
    };
    out << speedup_chart(group, palette, vs_peer, peer_tip, "peer", "Speed-up vs best peer", "same speed");
  }
  if (!any_peer) out << "<p class=\"note\">No peer was measured in this run.</p>\n";

  const ValueOf vs_f32 = [](const Benchmark& b) { return b.speedup_vs_f32; };
  bool any_reduced = false;
  for (const Group& group : groups) {
    if (!any_of(group, vs_f32)) continue;
    if (!any_reduced) {
      out << "<h2>bf16 and f16 against f32</h2>\n<p>Each implementation's own f32 time on the same operation, "
             "layout, shape and thread count over its time in the reduced dtype, measured in the same rounds: "
             "half the bytes, so a shape that streams from memory can approach 2.</p>\n";
    }
    any_reduced = true;
    const TipOf f32_tip = [](const Benchmark& b, double ratio) {
      return tip(b, format_number(ratio) + "x its own f32");
    };
    out << speedup_chart(group, palette, vs_f32, f32_tip, "f32", "Speed-up over f32", "f32");
  }

  const std::string baseline = baseline_of(report);
  out << "<h2>Speed-up against the baseline</h2>\n";
  if (baseline.empty()) {
    out << "<p class=\"note\">No baseline was measured in this run.</p>\n</section>\n";
    return out.str();
  }
  out << "<p>Time of the baseline, <code>" << svg::escape(baseline)
      << "</code>, on the same shape over the implementation's time.</p>\n";
  for (const Group& group : groups) {
    if (!any_of(group, vs_baseline)) continue;
    const TipOf baseline_tip = [&](const Benchmark& b, double ratio) {
      return tip(b, format_number(ratio) + "x " + baseline);
    };
    out << speedup_chart(group, palette, vs_baseline, baseline_tip, "baseline", "Speed-up vs " + baseline, baseline);
  }
  out << "</section>\n";
  return out.str();
}

std::string scaling_section(const Report& report, const Palette& palette) {
  std::set<int> threads;
  for (const auto& benchmark : report.benchmarks) threads.insert(benchmark.threads);
  if (threads.size() < 2) return "";
  std::ostringstream out;
  out << "<section id=\"scaling\">\n<h2>Thread scaling</h2>\n<p>Per implementation, the geometric mean over "
         "shapes of its time at the fewest threads measured over its time at each thread count; the dashed "
         "line is perfect scaling.</p>\n";
  // (operation, layout, dtype) -> implementation -> threads -> shape -> median
  using Key = std::tuple<int, std::string, std::string>;
  std::map<Key, std::map<std::string, std::map<int, std::map<std::string, double>>>> medians;
  std::map<Key, std::string> names;
  for (const auto& benchmark : report.benchmarks) {
    const Key key{operation_rank(benchmark.operation), benchmark.layout, benchmark.dtype};
    names[key] = benchmark.operation;
    medians[key][benchmark.implementation][benchmark.threads][shape_label(benchmark.shape)] = benchmark.timing.median_s;
  }
  const int fewest = *threads.begin();
  for (const auto& [key, per_implementation] : medians) {
    svg::LineChart chart;
    std::vector<std::string> implementations;
    for (const auto& entry : per_implementation) implementations.push_back(entry.first);
    std::stable_sort(implementations.begin(), implementations.end(),
                     [&](const std::string& a, const std::string& b) { return palette.rank(a) < palette.rank(b); });
    for (const auto& implementation : implementations) {
      const auto& per_threads = per_implementation.at(implementation);
      const auto base = per_threads.find(fewest);
      if (base == per_threads.end() || per_threads.size() < 2) continue;
      svg::LineSeries line{implementation, palette.colour(implementation), {}};
      for (const auto& [count, shapes] : per_threads) {
        std::vector<double> ratios;
        for (const auto& [shape, median] : shapes) {
          const auto reference = base->second.find(shape);
          if (reference != base->second.end() && median > 0) ratios.push_back(reference->second / median);
        }
        if (ratios.empty()) continue;
        const double speedup = geometric_mean(ratios);
        line.points.push_back({static_cast<double>(count), speedup,
                               implementation + " at " + std::to_string(count) + " threads: " +
                                   format_number(speedup) + "x",
                               false});
      }
      chart.series.push_back(std::move(line));
    }
    if (chart.series.empty()) continue;
    for (int count : threads) {
      chart.ideal.push_back({static_cast<double>(count), static_cast<double>(count) / fewest, "", false});
    }
    const std::string what = names[key] + ", " + std::get<1>(key) + ", " + std::get<2>(key);
    chart.id = "scaling-" + svg::slug(names[key] + "-" + std::get<1>(key) + "-" + std::get<2>(key));
    chart.kind = "scaling";
    chart.title = "Thread scaling: " + what;
    chart.x_label = "threads";
    chart.y_label = "speed-up over " + std::to_string(fewest) + " thread(s)";
    out << svg::render(chart);
  }
  out << "</section>\n";
  return out.str();
}

}  // namespace bnh::reports::html
