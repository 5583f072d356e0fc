#include "reports/render_html.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "reports/report.hpp"
#include "reports/render_markdown.hpp"
#include "reports/summary.hpp"

namespace bnh::reports {

namespace {

// ---- text ------------------------------------------------------------------------------------

std::string escape(const std::string& text) {
  std::string escaped;
  for (char ch : text) {
    switch (ch) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&#39;"; break;
      default: escaped += ch;
    }
  }
  return escaped;
}

// Ids and classes: letters, digits, '-'.
std::string slug(const std::string& text) {
  std::string result;
  for (char ch : text) {
    const bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    result += plain ? ch : '-';
  }
  return result;
}

std::string px(double value) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << value;
  return out.str();
}

std::optional<double> positive(const nlohmann::json& entry, const char* key) {
  const auto found = entry.find(key);
  if (found == entry.end() || !found->is_number()) return std::nullopt;
  const double value = found->get<double>();
  if (!std::isfinite(value) || value <= 0) return std::nullopt;
  return value;
}

std::string shape_label(const nlohmann::json& shape) {
  std::string label;
  for (const auto& dim : shape) label += (label.empty() ? "" : "x") + std::to_string(dim.get<long long>());
  return label;
}

// ---- colours ---------------------------------------------------------------------------------

std::string colour_of(const std::string& implementation) {
  static const std::map<std::string, std::string> known{
      {"naive", "#7f7f7f"}, {"eigen", "#9467bd"}, {"blocked", "#2ca02c"}, {"openmp", "#1f77b4"},
      {"onednn", "#d62728"}, {"aten", "#ff7f0e"}};
  static const std::vector<std::string> others{"#17becf", "#bcbd22", "#8c564b", "#e377c2", "#393b79", "#637939"};
  const auto found = known.find(implementation);
  if (found != known.end()) return found->second;
  std::size_t hash = 0;
  for (char ch : implementation) hash = hash * 31 + static_cast<unsigned char>(ch);
  return others[hash % others.size()];
}

// ---- scales and ticks ------------------------------------------------------------------------

struct Scale {
  double lo = 0, hi = 1;
  bool log = false;
  double from = 0, to = 1;  // pixels
  double operator()(double value) const {
    double t;
    if (log) {
      value = std::max(value, lo);
      t = (std::log10(value) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    } else {
      t = (value - lo) / (hi - lo);
    }
    return from + t * (to - from);
  }
};

double nice_step(double range, int count) {
  const double raw = range / std::max(1, count);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (factor * power >= raw) return factor * power;
  }
  return 10 * power;
}

std::vector<double> ticks_of(const Scale& scale) {
  std::vector<double> ticks;
  if (scale.log) {
    const int first = static_cast<int>(std::ceil(std::log10(scale.lo) - 1e-9));
    const int last = static_cast<int>(std::floor(std::log10(scale.hi) + 1e-9));
    const int stride = std::max(1, (last - first + 1 + 7) / 8);
    for (int e = first; e <= last; e += stride) ticks.push_back(std::pow(10.0, e));
    if (ticks.size() < 2) {  // a narrow range: 1-2-5 steps
      ticks.clear();
      for (int e = first - 1; e <= last; ++e) {
        for (double m : {1.0, 2.0, 5.0}) {
          const double value = m * std::pow(10.0, e);
          if (value >= scale.lo * 0.999 && value <= scale.hi * 1.001) ticks.push_back(value);
        }
      }
    }
    return ticks;
  }
  const double step = nice_step(scale.hi - scale.lo, 5);
  for (double value = std::ceil(scale.lo / step) * step; value <= scale.hi + step * 1e-9; value += step) {
    ticks.push_back(std::fabs(value) < step * 1e-9 ? 0 : value);
  }
  return ticks;
}

std::string tick_label(double value, bool log) {
  if (log && value > 0) {
    const double exponent = std::log10(value);
    if (std::fabs(exponent - std::round(exponent)) < 1e-9 && (exponent >= 4 || exponent <= -3)) {
      return "1e" + std::to_string(static_cast<int>(std::round(exponent)));
    }
  }
  std::ostringstream out;
  out << std::setprecision(4) << value;  // shortest form: 20, 2.5, 0.05
  return out.str();
}

// ---- the SVG canvas --------------------------------------------------------------------------

constexpr double width = 780, height = 330;
constexpr double left = 72, right = 160, top = 34, bottom = 78;
constexpr double plot_right = width - right, plot_bottom = height - bottom;

class Svg {
 public:
  Svg(const std::string& id, const std::string& kind, const std::string& title) {
    out_ << "<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" << escape(id) << "\" class=\"chart "
         << escape(kind) << "\" viewBox=\"0 0 " << width << " " << height << "\" width=\"" << width
         << "\" height=\"" << height << "\" role=\"img\" aria-label=\"" << escape(title) << "\">\n"
         << "<title>" << escape(title) << "</title>\n"
         << "<text class=\"chart-title\" x=\"" << left << "\" y=\"20\">" << escape(title) << "</text>\n";
  }
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double stroke_width = 1,
            const std::string& dash = "", const std::string& tip = "") {
    out_ << "<line x1=\"" << px(x1) << "\" y1=\"" << px(y1) << "\" x2=\"" << px(x2) << "\" y2=\"" << px(y2)
         << "\" stroke=\"" << stroke << "\" stroke-width=\"" << stroke_width << "\"";
    if (!dash.empty()) out_ << " stroke-dasharray=\"" << dash << "\"";
    if (tip.empty()) {
      out_ << "/>\n";
    } else {
      out_ << "><title>" << escape(tip) << "</title></line>\n";
    }
  }
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& tip,
            const std::string& cls = "bar") {
    out_ << "<rect class=\"" << cls << "\" x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(std::max(w, 0.5))
         << "\" height=\"" << px(std::max(h, 0.5)) << "\" fill=\"" << fill << "\"><title>" << escape(tip)
         << "</title></rect>\n";
  }
  void circle(double x, double y, double r, const std::string& colour, bool hollow, const std::string& tip) {
    out_ << "<circle class=\"point\" cx=\"" << px(x) << "\" cy=\"" << px(y) << "\" r=\"" << r << "\" fill=\""
         << (hollow ? "white" : colour) << "\" stroke=\"" << colour << "\" stroke-width=\"1.5\"><title>"
         << escape(tip) << "</title></circle>\n";
  }
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& colour,
                const std::string& dash = "") {
    if (points.size() < 2) return;
    out_ << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\"";
    if (!dash.empty()) out_ << " stroke-dasharray=\"" << dash << "\"";
    out_ << " points=\"";
    for (const auto& [x, y] : points) out_ << px(x) << "," << px(y) << " ";
    out_ << "\"/>\n";
  }
  void text(double x, double y, const std::string& content, const std::string& anchor = "start",
            const std::string& extra = "") {
    out_ << "<text x=\"" << px(x) << "\" y=\"" << px(y) << "\" text-anchor=\"" << anchor << "\"" << extra << ">"
         << escape(content) << "</text>\n";
  }
  void y_axis(const Scale& scale, const std::string& label) {
    for (double tick : ticks_of(scale)) {
      const double y = scale(tick);
      line(left, y, plot_right, y, "#e5e5e5");
      text(left - 6, y + 4, tick_label(tick, scale.log), "end");
    }
    line(left, top, left, plot_bottom, "#444");
    text(16, (top + plot_bottom) / 2, label, "middle",
         " transform=\"rotate(-90 16 " + px((top + plot_bottom) / 2) + ")\"");
  }
  void x_axis(const Scale& scale, const std::string& label) {
    for (double tick : ticks_of(scale)) {
      const double x = scale(tick);
      line(x, top, x, plot_bottom, "#efefef");
      text(x, plot_bottom + 16, tick_label(tick, scale.log), "middle");
    }
    line(left, plot_bottom, plot_right, plot_bottom, "#444");
    text((left + plot_right) / 2, height - 12, label, "middle");
  }
  void legend(const std::vector<std::pair<std::string, std::string>>& entries) {
    double y = top + 6;
    for (const auto& [name, colour] : entries) {
      out_ << "<rect x=\"" << px(plot_right + 14) << "\" y=\"" << px(y - 9) << "\" width=\"12\" height=\"12\" fill=\""
           << colour << "\"/>\n";
      text(plot_right + 32, y + 1, name);
      y += 18;
    }
  }
  void legend_line(double y, const std::string& name, const std::string& colour, const std::string& dash) {
    line(plot_right + 12, y - 3, plot_right + 28, y - 3, colour, 2, dash);
    text(plot_right + 32, y + 1, name);
  }
  std::string finish(const std::string& caption) {
    out_ << "</svg>\n";
    if (!caption.empty()) out_ << "<figcaption>" << escape(caption) << "</figcaption>\n";
    out_ << "</figure>\n";
    return out_.str();
  }

 private:
  std::ostringstream out_;
};

// ---- grouping --------------------------------------------------------------------------------

struct Group {
  std::string operation, layout, dtype;
  int threads = 1;
  std::vector<const nlohmann::json*> entries;
  std::vector<std::string> shapes;            // in the order of the report
  std::vector<std::string> implementations;   // in order of first appearance
};

int operation_order(const std::string& name) {
  static const std::vector<std::string> order{"bn_forward_train", "bn_forward_infer", "bn_backward",
                                              "renorm_forward_train", "renorm_backward"};
  const auto found = std::find(order.begin(), order.end(), name);
  return static_cast<int>(found - order.begin());
}

std::vector<Group> groups_of(const nlohmann::json& report) {
  using Key = std::tuple<int, std::string, std::string, int>;
  std::map<Key, Group> groups;
  for (const auto& entry : report["benchmarks"]) {
    const std::string operation = entry["operation"].get<std::string>();
    Key key{operation_order(operation), entry["layout"].get<std::string>(), entry["dtype"].get<std::string>(),
            entry["threads"].get<int>()};
    Group& group = groups[key];
    group.operation = operation;
    group.layout = std::get<1>(key);
    group.dtype = std::get<2>(key);
    group.threads = std::get<3>(key);
    group.entries.push_back(&entry);
    const std::string shape = shape_label(entry["shape"]);
    if (std::find(group.shapes.begin(), group.shapes.end(), shape) == group.shapes.end()) group.shapes.push_back(shape);
    const std::string impl = entry["implementation"].get<std::string>();
    if (std::find(group.implementations.begin(), group.implementations.end(), impl) == group.implementations.end()) {
      group.implementations.push_back(impl);
    }
  }
  std::vector<Group> result;
  for (auto& [key, group] : groups) result.push_back(std::move(group));
  return result;
}

const nlohmann::json* find_entry(const Group& group, const std::string& shape, const std::string& impl) {
  for (const nlohmann::json* entry : group.entries) {
    if (shape_label((*entry)["shape"]) == shape && (*entry)["implementation"].get<std::string>() == impl) return entry;
  }
  return nullptr;
}

std::string group_title(const Group& group) {
  return group.operation + ", " + group.layout + ", " + group.dtype + ", " + std::to_string(group.threads) +
         (group.threads == 1 ? " thread" : " threads");
}

std::string group_id(const Group& group) {
  return slug(group.operation + "-" + group.layout + "-" + group.dtype + "-t" + std::to_string(group.threads));
}

// ---- charts ----------------------------------------------------------------------------------

struct Reference {
  std::string label;
  double value;
  std::string colour, dash;
};

// Bars per category (shape) and series (implementation). log_from_one: a log axis with bars
// growing from 1 (speed-ups); otherwise a linear axis from 0.
std::string bar_chart(const std::string& id, const std::string& kind, const std::string& title,
                      const std::string& y_label, const Group& group,
                      const std::function<std::optional<double>(const nlohmann::json&)>& value_of,
                      const std::function<std::string(const nlohmann::json&, double)>& tip_of,
                      const std::vector<Reference>& references, bool log_from_one, const std::string& caption) {
  double lo = log_from_one ? 1 : 0, hi = log_from_one ? 1 : 0;
  std::vector<std::string> series;
  for (const auto& impl : group.implementations) {
    bool any = false;
    for (const auto& shape : group.shapes) {
      const nlohmann::json* entry = find_entry(group, shape, impl);
      if (entry == nullptr) continue;
      if (const auto value = value_of(*entry)) {
        any = true;
        lo = std::min(lo, *value);
        hi = std::max(hi, *value);
      }
    }
    if (any) series.push_back(impl);
  }
  for (const auto& reference : references) hi = std::max(hi, reference.value);
  Scale y;
  y.log = log_from_one;
  y.from = plot_bottom;
  y.to = top;
  if (log_from_one) {
    y.lo = lo / 1.3;
    y.hi = hi * 1.3;
  } else {
    y.lo = 0;
    y.hi = hi > 0 ? hi * 1.08 : 1;
  }
  Svg svg(id, kind, title);
  svg.y_axis(y, y_label);
  svg.line(left, plot_bottom, plot_right, plot_bottom, "#444");
  const double slot = (plot_right - left) / static_cast<double>(std::max<std::size_t>(1, group.shapes.size()));
  const double bar = std::min(22.0, slot * 0.8 / static_cast<double>(std::max<std::size_t>(1, series.size())));
  for (std::size_t s = 0; s < group.shapes.size(); ++s) {
    const double centre = left + slot * (static_cast<double>(s) + 0.5);
    const double first = centre - bar * static_cast<double>(series.size()) / 2;
    for (std::size_t k = 0; k < series.size(); ++k) {
      const nlohmann::json* entry = find_entry(group, group.shapes[s], series[k]);
      if (entry == nullptr) continue;
      const auto value = value_of(*entry);
      if (!value) continue;
      const double base = y(log_from_one ? 1.0 : 0.0), end = y(*value);
      svg.rect(first + bar * static_cast<double>(k), std::min(base, end), bar * 0.92, std::fabs(base - end),
               colour_of(series[k]), tip_of(*entry, *value));
    }
    const double label_y = plot_bottom + 14;
    svg.text(centre, label_y, group.shapes[s], "end",
             " class=\"category\" transform=\"rotate(-25 " + px(centre) + " " + px(label_y) + ")\"");
  }
  std::vector<std::pair<std::string, std::string>> legend;
  for (const auto& impl : series) legend.emplace_back(impl, colour_of(impl));
  svg.legend(legend);
  double legend_y = top + 6 + 18 * static_cast<double>(legend.size()) + 6;
  for (const auto& reference : references) {
    const double yy = y(reference.value);
    svg.line(left, yy, plot_right, yy, reference.colour, 1.6, reference.dash,
             reference.label + ": " + format_number(reference.value));
    svg.legend_line(legend_y, reference.label, reference.colour, reference.dash);
    legend_y += 18;
  }
  if (series.empty()) svg.text((left + plot_right) / 2, (top + plot_bottom) / 2, "nothing to show", "middle");
  return svg.finish(caption);
}

struct LineSeries {
  std::string name, colour;
  std::vector<std::pair<double, double>> points;
  std::vector<std::string> tips;
  std::vector<bool> hollow;
};

std::string line_chart(const std::string& id, const std::string& kind, const std::string& title,
                       const std::string& x_label, const std::string& y_label,
                       const std::vector<LineSeries>& series, bool x_log, bool y_log,
                       const std::vector<Reference>& references, const std::vector<std::pair<double, double>>& diagonal,
                       const std::string& caption) {
  double x_lo = 1e300, x_hi = -1e300, y_lo = 1e300, y_hi = -1e300;
  for (const auto& line : series) {
    for (const auto& [x, y] : line.points) {
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  }
  for (const auto& reference : references) {
    y_lo = std::min(y_lo, reference.value);
    y_hi = std::max(y_hi, reference.value);
  }
  for (const auto& [x, y] : diagonal) {
    y_lo = std::min(y_lo, y);
    y_hi = std::max(y_hi, y);
  }
  if (x_lo > x_hi) x_lo = x_hi = 1;
  if (y_lo > y_hi) y_lo = y_hi = 1;
  Scale xs{x_lo, x_hi, x_log, left + 12, plot_right - 12};
  Scale ys{y_lo, y_hi, y_log, plot_bottom, top};
  if (x_log) {
    xs.lo = x_lo / 2;
    xs.hi = x_hi * 2;
  } else if (x_hi == x_lo) {
    xs.lo = x_lo - 1;
    xs.hi = x_hi + 1;
  } else {
    xs.lo = x_lo;
    xs.hi = x_hi;
  }
  if (y_log) {
    ys.lo = y_lo / 2;
    ys.hi = y_hi * 2;
  } else {
    ys.lo = std::min(0.0, y_lo);
    ys.hi = y_hi * 1.1 + (y_hi == ys.lo ? 1 : 0);
  }
  Svg svg(id, kind, title);
  svg.y_axis(ys, y_label);
  svg.x_axis(xs, x_label);
  if (diagonal.size() >= 2) {
    std::vector<std::pair<double, double>> points;
    for (const auto& [x, y] : diagonal) points.emplace_back(xs(x), ys(y));
    svg.polyline(points, "#999", "4 3");
  }
  std::vector<std::pair<std::string, std::string>> legend;
  for (std::size_t k = 0; k < series.size(); ++k) {
    const LineSeries& line = series[k];
    // Series a few pixels apart, so that equal values stay visible side by side.
    const double offset = 2.5 * (static_cast<double>(k) - static_cast<double>(series.size() - 1) / 2);
    std::vector<std::pair<double, double>> points;
    for (const auto& [x, y] : line.points) points.emplace_back(xs(x) + offset, ys(y));
    svg.polyline(points, line.colour);
    for (std::size_t i = 0; i < points.size(); ++i) {
      svg.circle(points[i].first, points[i].second, 3.5, line.colour, i < line.hollow.size() && line.hollow[i],
                 i < line.tips.size() ? line.tips[i] : line.name);
    }
    legend.emplace_back(line.name, line.colour);
  }
  svg.legend(legend);
  double legend_y = top + 6 + 18 * static_cast<double>(legend.size()) + 6;
  if (diagonal.size() >= 2) {
    svg.legend_line(legend_y, "ideal", "#999", "4 3");
    legend_y += 18;
  }
  for (const auto& reference : references) {
    const double yy = ys(reference.value);
    svg.line(left, yy, plot_right, yy, reference.colour, 1.4, reference.dash,
             reference.label + ": " + format_number(reference.value));
    svg.legend_line(legend_y, reference.label, reference.colour, reference.dash);
    legend_y += 18;
  }
  if (series.empty()) svg.text((left + plot_right) / 2, (top + plot_bottom) / 2, "nothing to show", "middle");
  return svg.finish(caption);
}

// ---- sections --------------------------------------------------------------------------------

const nlohmann::json* probe_at(const nlohmann::json& report, int threads) {
  if (!report.contains("machine") || !report["machine"].contains("bandwidth")) return nullptr;
  for (const auto& probe : report["machine"]["bandwidth"]) {
    if (probe.value("threads", 0) == threads) return &probe;
  }
  return nullptr;
}

std::string tip(const nlohmann::json& entry, const std::string& what) {
  return entry["id"].get<std::string>() + "\n" + what + "\nmedian " + format_seconds(entry["median_s"].get<double>());
}

std::string bandwidth_section(const nlohmann::json& report, const std::vector<Group>& groups) {
  std::ostringstream out;
  out << "<section id=\"bandwidth\">\n<h2>Effective bandwidth</h2>\n"
         "<p>Compulsory traffic (docs/benchmarks.md) over the median time, per shape and implementation; the "
         "lines are the streaming copy and triad of the bandwidth probe at the same thread count. Shapes that "
         "fit a cache can exceed them.</p>\n";
  for (const Group& group : groups) {
    std::vector<Reference> references;
    if (const nlohmann::json* probe = probe_at(report, group.threads)) {
      if (const auto copy = positive(*probe, "copy_gbps")) references.push_back({"stream copy", *copy, "#000", "6 3"});
      if (const auto triad = positive(*probe, "triad_gbps")) references.push_back({"stream triad", *triad, "#666", "2 3"});
    }
    out << bar_chart(
        "bandwidth-" + group_id(group), "bandwidth", "Bandwidth: " + group_title(group), "GB/s", group,
        [](const nlohmann::json& entry) { return positive(entry, "gbps"); },
        [](const nlohmann::json& entry, double value) {
          std::string text = format_number(value) + " GB/s";
          if (const auto fraction = positive(entry, "roofline_fraction")) text += ", " + format_percent(*fraction) + " of copy";
          return tip(entry, text);
        },
        references, false, "");
  }
  out << "</section>\n";
  return out.str();
}

std::string speedup_section(const std::vector<Group>& groups) {
  std::ostringstream out;
  bool any_peer = false;
  for (const Group& group : groups) {
    for (const auto* entry : group.entries) any_peer = any_peer || positive(*entry, "speedup_vs_best_peer").has_value();
  }
  out << "<section id=\"speedup\">\n<h2>Speed-up against the best peer</h2>\n";
  if (any_peer) {
    out << "<p>Time of the fastest peer (onednn, aten) on the same shape over the implementation's time: above 1 "
           "is faster than every peer.</p>\n";
    for (const Group& group : groups) {
      bool has = false;
      for (const auto* entry : group.entries) has = has || positive(*entry, "speedup_vs_best_peer").has_value();
      if (!has) continue;
      out << bar_chart(
          "speedup-peer-" + group_id(group), "speedup speedup-peer", "Speed-up vs best peer: " + group_title(group),
          "x (log)", group, [](const nlohmann::json& entry) { return positive(entry, "speedup_vs_best_peer"); },
          [](const nlohmann::json& entry, double value) {
            return tip(entry, format_number(value) + "x the best peer (" + text_of(entry, "best_peer") + ")");
          },
          {{"same speed", 1, "#000", "4 3"}}, true, "");
    }
  } else {
    out << "<p class=\"note\">No peer (onednn, aten) was measured in this run.</p>\n";
  }
  out << "<h2>Speed-up against naive</h2>\n<p>Time of <code>naive</code> on the same shape over the "
         "implementation's time.</p>\n";
  bool any_naive = false;
  for (const Group& group : groups) {
    bool has = false;
    for (const auto* entry : group.entries) has = has || positive(*entry, "speedup_vs_naive").has_value();
    if (!has) continue;
    any_naive = true;
    out << bar_chart(
        "speedup-naive-" + group_id(group), "speedup speedup-naive", "Speed-up vs naive: " + group_title(group),
        "x (log)", group, [](const nlohmann::json& entry) { return positive(entry, "speedup_vs_naive"); },
        [](const nlohmann::json& entry, double value) { return tip(entry, format_number(value) + "x naive"); },
        {{"naive", 1, "#000", "4 3"}}, true, "");
  }
  if (!any_naive) out << "<p class=\"note\">naive was not measured in this run.</p>\n";
  out << "</section>\n";
  return out.str();
}

std::string scaling_section(const nlohmann::json& report) {
  std::set<int> threads;
  for (const auto& entry : report["benchmarks"]) threads.insert(entry["threads"].get<int>());
  if (threads.size() < 2) return "";
  std::ostringstream out;
  out << "<section id=\"scaling\">\n<h2>Thread scaling</h2>\n<p>Per implementation, the geometric mean over "
         "shapes of its time at the fewest threads measured over its time at each thread count; the dashed "
         "line is perfect scaling.</p>\n";
  // (operation, layout, dtype) -> implementation -> threads -> shape -> median
  using Key = std::tuple<int, std::string, std::string>;
  std::map<Key, std::map<std::string, std::map<int, std::map<std::string, double>>>> data;
  std::map<Key, std::string> names;
  for (const auto& entry : report["benchmarks"]) {
    const std::string operation = entry["operation"].get<std::string>();
    Key key{operation_order(operation), entry["layout"].get<std::string>(), entry["dtype"].get<std::string>()};
    names[key] = operation;
    data[key][entry["implementation"].get<std::string>()][entry["threads"].get<int>()][shape_label(entry["shape"])] =
        entry["median_s"].get<double>();
  }
  const int fewest = *threads.begin();
  for (const auto& [key, per_impl] : data) {
    std::vector<LineSeries> series;
    for (const auto& [impl, per_threads] : per_impl) {
      const auto base = per_threads.find(fewest);
      if (base == per_threads.end() || per_threads.size() < 2) continue;
      LineSeries line{impl, colour_of(impl), {}, {}, {}};
      for (const auto& [count, shapes] : per_threads) {
        std::vector<double> ratios;
        for (const auto& [shape, median] : shapes) {
          const auto reference = base->second.find(shape);
          if (reference != base->second.end() && median > 0) ratios.push_back(reference->second / median);
        }
        if (ratios.empty()) continue;
        const double speedup = geometric_mean(ratios);
        line.points.emplace_back(count, speedup);
        line.tips.push_back(impl + " at " + std::to_string(count) + " threads: " + format_number(speedup) + "x");
        line.hollow.push_back(false);
      }
      if (!line.points.empty()) series.push_back(line);
    }
    if (series.empty()) continue;
    std::vector<std::pair<double, double>> ideal;
    for (int count : threads) ideal.emplace_back(count, static_cast<double>(count) / fewest);
    const std::string title = "Thread scaling: " + names[key] + ", " + std::get<1>(key) + ", " + std::get<2>(key);
    out << line_chart("scaling-" + slug(names[key] + "-" + std::get<1>(key) + "-" + std::get<2>(key)), "scaling", title,
                      "threads", "speed-up over " + std::to_string(fewest) + " thread(s)", series, false, false, {},
                      ideal, "");
  }
  out << "</section>\n";
  return out.str();
}

std::string accuracy_section(const nlohmann::json& report) {
  std::ostringstream out;
  out << "<section id=\"accuracy\">\n<h2>Accuracy against conditioning</h2>\n";
  if (!report.contains("accuracy") || !report["accuracy"].is_array() || report["accuracy"].empty()) {
    out << "<p class=\"note\">Accuracy was not measured in this run.</p>\n</section>\n";
    return out.str();
  }
  out << "<p>Worst error against the 50-digit reference over every output, in the tolerance model's units "
         "(u &#215; scale, docs/tolerances.md), versus kappa, the ratio of a channel's mean to its standard "
         "deviation. Hollow points: standard-normal data (kappa measured); filled: channels shifted to the "
         "given kappa. Errors of 0 (every output correctly rounded) are drawn at the bottom of the axis; "
         "dashed lines are the bounds.</p>\n";
  using Key = std::tuple<int, std::string>;
  std::map<Key, std::vector<const nlohmann::json*>> charts;
  std::map<Key, std::string> names;
  for (const auto& entry : report["accuracy"]) {
    const std::string operation = entry.value("operation", "");
    Key key{operation_order(operation), entry.value("dtype", "")};
    names[key] = operation;
    charts[key].push_back(&entry);
  }
  constexpr double floor = 1e-2;
  for (const auto& [key, entries] : charts) {
    // A line per implementation, or per implementation and M when the sweep has several M
    // (`bnh accuracy`), told apart by colour.
    std::set<std::int64_t> sizes;
    for (const auto* entry : entries) sizes.insert(entry->value("m", std::int64_t{0}));
    std::map<std::pair<std::string, std::int64_t>, std::vector<const nlohmann::json*>> per_line;
    std::set<double> bounds;
    for (const auto* entry : entries) {
      per_line[{entry->value("implementation", ""), entry->value("m", std::int64_t{0})}].push_back(entry);
      if (const auto bound = positive(*entry, "bound")) bounds.insert(*bound);
    }
    static const std::vector<std::string> palette{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                  "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    std::vector<LineSeries> series;
    for (auto& [line_key, list] : per_line) {
      const auto& [impl, m] = line_key;
      std::sort(list.begin(), list.end(), [](const auto* a, const auto* b) {
        return a->value("kappa", 0.0) < b->value("kappa", 0.0);
      });
      const bool by_size = sizes.size() > 1;
      LineSeries line{by_size ? impl + ", M " + std::to_string(m) : impl,
                      by_size ? palette[series.size() % palette.size()] : colour_of(impl), {}, {}, {}};
      for (const auto* entry : list) {
        const double kappa = std::max(entry->value("kappa", 0.0), 1e-3);
        static const nlohmann::json missing;
        const auto found = entry->find("max_scaled_error");
        const nlohmann::json& error_value = found == entry->end() ? missing : *found;
        const double error = error_value.is_number() ? std::max(error_value.get<double>(), floor) : 1e300;
        if (error >= 1e300) continue;  // infinite: listed in the table, not drawn
        line.points.emplace_back(kappa, error);
        line.hollow.push_back(entry->value("regime", "") == "normal");
        line.tips.push_back(line.name + ", " + entry->value("regime", "") + ", kappa " + format_kappa(kappa) +
                            ": scaled error " + (error_value.is_number() ? format_number(error_value.get<double>()) : "inf") +
                            " (bound " + text_of(*entry, "bound") + ", worst output " + text_of(*entry, "worst_output") +
                            "), " + text_of(*entry, "max_ulp_error") + " ulp");
      }
      if (!line.points.empty()) series.push_back(line);
    }
    std::vector<Reference> references;
    for (double bound : bounds) references.push_back({"bound " + format_number(bound), bound, "#b00", "6 3"});
    const std::string id = "accuracy-" + slug(names[key] + "-" + std::get<1>(key));
    out << line_chart(id, "accuracy", "Accuracy: " + names[key] + ", " + std::get<1>(key), "kappa = |mean| / std (log)",
                      "worst scaled error (log)", series, true, true, references, {}, "");
  }
  out << "</section>\n";
  return out.str();
}

std::string summary_section(const nlohmann::json& report) {
  std::ostringstream out;
  out << "<section id=\"summary\">\n<h2>Summary</h2>\n<p>Geometric means over the shapes; <em>vs naive</em> and "
         "<em>vs best peer</em> are how many times faster <code>openmp</code> is; bandwidth is openmp's fraction "
         "of the probe's streaming copy, over all shapes and over those whose x + y exceed the last-level cache; "
         "<em>copy (&gt; LLC)</em> sets those large shapes against a streaming copy of each shape's own x measured "
         "in the same rounds.</p>\n"
         "<table class=\"summary\"><thead><tr><th>operation</th><th>layout</th><th>dtype</th><th>threads</th>"
         "<th>fastest</th><th>openmp vs naive</th><th>openmp vs best peer</th><th>bandwidth (all)</th>"
         "<th>bandwidth (&gt; LLC)</th><th>copy (&gt; LLC)</th></tr></thead><tbody>\n";
  for (const auto& row : summarize(report)) {
    std::string peer = format_ratio(row.openmp_vs_best_peer);
    if (row.openmp_vs_best_peer && !row.best_peer.empty()) peer += " (" + row.best_peer + ")";
    out << "<tr><td>" << escape(row.operation) << "</td><td>" << escape(row.layout) << "</td><td>" << escape(row.dtype)
        << "</td><td class=\"n\">" << row.threads << "</td><td>" << escape(row.best) << "</td><td class=\"n\">"
        << format_ratio(row.openmp_vs_naive) << "</td><td class=\"n\">" << escape(peer) << "</td><td class=\"n\">"
        << format_percent(row.openmp_fraction) << "</td><td class=\"n\">" << format_percent(row.openmp_fraction_large)
        << "</td><td class=\"n\">" << format_percent(row.openmp_copy_fraction_large) << "</td></tr>\n";
  }
  out << "</tbody></table>\n</section>\n";
  return out.str();
}

std::string header_section(const nlohmann::json& report) {
  const auto machine = report.value("machine", nlohmann::json::object());
  const auto build = report.value("build", nlohmann::json::object());
  const auto suite = report.value("suite", nlohmann::json::object());
  std::ostringstream out;
  out << "<table class=\"meta\">\n";
  auto row = [&](const std::string& name, const std::string& value) {
    out << "<tr><th>" << escape(name) << "</th><td>" << escape(value) << "</td></tr>\n";
  };
  row("created", text_of(report, "created"));
  row("revision", text_of(build, "git_revision"));
  row("compiler", text_of(build, "compiler") + " " + text_of(build, "flags", "") + " (" + text_of(build, "build_type", "") + ")");
  std::string caches;
  if (machine.contains("caches") && machine["caches"].is_object()) {
    for (const auto& [level, size] : machine["caches"].items()) {
      if (size.is_number() && size.get<double>() > 0) caches += (caches.empty() ? "" : ", ") + level + " " + format_bytes(size.get<double>());
    }
  }
  row("machine", text_of(machine, "cpu") + ", " + text_of(machine, "cores") + " cores" + (caches.empty() ? "" : ", " + caches));
  if (machine.contains("bandwidth")) {
    for (const auto& probe : machine["bandwidth"]) {
      const auto copy = positive(probe, "copy_gbps"), triad = positive(probe, "triad_gbps");
      row("bandwidth, " + text_of(probe, "threads") + " thread(s)",
          "copy " + (copy ? format_number(*copy) : std::string("?")) + " GB/s, triad " +
              (triad ? format_number(*triad) : std::string("?")) + " GB/s");
    }
  }
  if (!suite.empty()) {
    row("suite", suite_description(report));
    if (suite.contains("slowdown") && suite["slowdown"].is_number() && suite["slowdown"].get<double>() > 1) {
      row("deliberately slowed", "BNH_BENCH_SLOWDOWN = " + format_number(suite["slowdown"].get<double>()));
    }
  }
  if (build.contains("libraries") && build["libraries"].is_object()) {
    std::string libraries;
    for (const auto& [name, version] : build["libraries"].items()) {
      libraries += (libraries.empty() ? "" : ", ") + name + " " + (version.is_string() ? version.get<std::string>() : safe_dump(version));
    }
    row("libraries", libraries);
  }
  out << "</table>\n";
  return out.str();
}

std::string tables_section(const nlohmann::json& report) {
  std::ostringstream out;
  out << "<section id=\"tables\">\n<details><summary>All " << report["benchmarks"].size()
      << " benchmarks</summary>\n<table class=\"all\"><thead><tr><th>benchmark</th><th>median</th><th>min</th>"
         "<th>stddev</th><th>GB/s</th><th>of copy</th><th>vs naive</th><th>vs best peer</th></tr></thead><tbody>\n";
  for (const auto& entry : report["benchmarks"]) {
    auto number = [&](const char* key) {
      const auto value = positive(entry, key);
      return value ? format_number(*value) : std::string("-");
    };
    const auto fraction = positive(entry, "roofline_fraction");
    out << "<tr><td><code>" << escape(entry["id"].get<std::string>()) << "</code></td><td class=\"n\">"
        << format_seconds(entry["median_s"].get<double>()) << "</td><td class=\"n\">"
        << (positive(entry, "min_s") ? format_seconds(*positive(entry, "min_s")) : "-") << "</td><td class=\"n\">"
        << (positive(entry, "stddev_s") ? format_seconds(*positive(entry, "stddev_s")) : "-") << "</td><td class=\"n\">"
        << number("gbps") << "</td><td class=\"n\">" << (fraction ? format_percent(*fraction) : "-")
        << "</td><td class=\"n\">" << number("speedup_vs_naive") << "</td><td class=\"n\">"
        << number("speedup_vs_best_peer") << "</td></tr>\n";
  }
  out << "</tbody></table>\n</details>\n";
  if (report.contains("accuracy") && report["accuracy"].is_array() && !report["accuracy"].empty()) {
    out << "<details><summary>Accuracy entries</summary>\n<table class=\"all\"><thead><tr><th>implementation</th>"
           "<th>operation</th><th>dtype</th><th>regime</th><th>kappa</th><th>scaled error</th><th>bound</th>"
           "<th>ulp</th><th>worst output</th><th>cases</th></tr></thead><tbody>\n";
    for (const auto& entry : report["accuracy"]) {
      const bool failed = entry.value("failed_cases", 0) > 0 || entry.contains("error");
      out << "<tr" << (failed ? " class=\"fail\"" : "") << "><td>" << escape(text_of(entry, "implementation")) << "</td><td>"
          << escape(text_of(entry, "operation")) << "</td><td>" << escape(text_of(entry, "dtype")) << "</td><td>"
          << escape(text_of(entry, "regime")) << "</td><td class=\"n\">"
          << (entry.contains("kappa") && entry["kappa"].is_number() ? format_kappa(entry["kappa"].get<double>()) : "?")
          << "</td><td class=\"n\">" << escape(text_of(entry, "max_scaled_error", "inf")) << "</td><td class=\"n\">"
          << escape(text_of(entry, "bound")) << "</td><td class=\"n\">" << escape(text_of(entry, "max_ulp_error", "inf"))
          << "</td><td>" << escape(text_of(entry, "worst_output", "")) << "</td><td class=\"n\">"
          << escape(text_of(entry, "cases")) << "</td></tr>\n";
    }
    out << "</tbody></table>\n</details>\n";
  }
  if (report.contains("errors") && report["errors"].is_array() && !report["errors"].empty()) {
    out << "<h2>Refused calls</h2>\n<ul>\n";
    for (const auto& error : report["errors"]) {
      out << "<li><code>" << escape(text_of(error, "id")) << "</code>: " << escape(text_of(error, "error")) << "</li>\n";
    }
    out << "</ul>\n";
  }
  out << "</section>\n";
  return out.str();
}

constexpr const char* style = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1100px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 8px; border-bottom: 1px solid #eee;
  text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.meta th { color: #555; font-weight: normal; } tr.fail td { background: #fde0e0; }
figure { margin: 12px 0; } svg.chart { max-width: 100%; height: auto; font-size: 11px; background: #fff; }
svg .chart-title { font-size: 13px; font-weight: 600; } .note { color: #666; font-style: italic; }
code { font: 12px ui-monospace, Menlo, Consolas, monospace; }
)";

}  // namespace

std::string render_html(const nlohmann::json& report) {
  const std::vector<Group> groups = groups_of(report);
  const bool accuracy_only = is_accuracy_report(report);
  const std::string title = accuracy_only ? "bnharness accuracy" : "bnharness benchmarks";
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>" << title << " " << escape(text_of(report, "created", "")) << "</title>\n<style>" << style
      << "</style>\n</head>\n<body>\n<h1>" << title << "</h1>\n";
  out << header_section(report);
  if (!accuracy_only) out << summary_section(report);
  if (!groups.empty()) {
    out << bandwidth_section(report, groups);
    out << speedup_section(groups);
    out << scaling_section(report);
  }
  out << accuracy_section(report);
  if (!accuracy_only) out << tables_section(report);
  out << "</body>\n</html>\n";
  return out.str();
}

}  // namespace bnh::reports
