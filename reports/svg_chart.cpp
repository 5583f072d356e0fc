#include "reports/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <utility>

namespace bnh::reports::svg {

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

std::string slug(const std::string& text) {
  std::string result;
  for (char ch : text) {
    const bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    result += plain ? ch : '-';
  }
  return result;
}

double Scale::operator()(double value) const {
  double t;
  if (log) {
    value = std::max(value, lo);
    t = (std::log10(value) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  } else {
    t = (value - lo) / (hi - lo);
  }
  return from + t * (to - from);
}

namespace {

// The least of 1, 2, 2.5, 5 times a power of ten that cuts `range` into at most `count` steps.
double round_step(double range, int count) {
  const double raw = range / std::max(1, count);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 2.5, 5.0}) {
    if (factor * power >= raw) return factor * power;
  }
  return 10 * power;
}

}  // namespace

std::vector<double> Scale::ticks() const {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || (log && !(lo > 0))) return ticks;
  if (log) {
    const int first = static_cast<int>(std::ceil(std::log10(lo) - 1e-9));
    const int last = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
    const int stride = std::max(1, (last - first + 1 + 7) / 8);  // at most about 8 labels
    for (int e = first; e <= last; e += stride) ticks.push_back(std::pow(10.0, e));
    if (ticks.size() >= 2) return ticks;
    ticks.clear();  // less than a decade: 1-2-5 steps
    for (int e = first - 1; e <= last; ++e) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double value = m * std::pow(10.0, e);
        if (value >= lo * 0.999 && value <= hi * 1.001) ticks.push_back(value);
      }
    }
    return ticks;
  }
  const double step = round_step(hi - lo, 5);
  for (double value = std::ceil(lo / step) * step; value <= hi + step * 1e-9; value += step) {
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

std::string palette_colour(std::size_t index) {
  static const std::vector<std::string> palette{"#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd",
                                                "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#393b79"};
  return palette[index % palette.size()];
}

namespace {

constexpr double width = 780, height = 330;
constexpr double left = 72, right = 160, top = 34, bottom = 78;
constexpr double plot_right = width - right, plot_bottom = height - bottom;
constexpr double legend_row = 18;

std::string px(double value) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << value;
  return out.str();
}

std::string number(double value) {
  std::ostringstream out;
  out << std::setprecision(3) << value;
  return out.str();
}

bool placeable(double value, bool log) { return std::isfinite(value) && (!log || value > 0); }

// An <svg> under construction: the frame, the axes, the legend, then the marks.
class Canvas {
 public:
  Canvas(const std::string& id, const std::string& kind, const std::string& title) {
    out_ << "<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" << escape(id) << "\" class=\"chart "
         << escape(kind) << "\" viewBox=\"0 0 " << width << " " << height << "\" width=\"" << width
         << "\" height=\"" << height << "\" role=\"img\" aria-label=\"" << escape(title) << "\">\n"
         << "<title>" << escape(title) << "</title>\n"
         << "<text class=\"chart-title\" x=\"" << left << "\" y=\"20\">" << escape(title) << "</text>\n";
  }

  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double stroke_width = 1,
            const std::string& dash = "", const std::string& tip = "") {
    out_ << "<line x1=\"" << px(x1) << "\" y1=\"" << px(y1) << "\" x2=\"" << px(x2) << "\" y2=\"" << px(y2)
         << "\" stroke=\"" << escape(stroke) << "\" stroke-width=\"" << stroke_width << "\"";
    if (!dash.empty()) out_ << " stroke-dasharray=\"" << escape(dash) << "\"";
    if (tip.empty()) {
      out_ << "/>\n";
    } else {
      out_ << "><title>" << escape(tip) << "</title></line>\n";
    }
  }

  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& tip) {
    out_ << "<rect class=\"bar\" x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(std::max(w, 0.5))
         << "\" height=\"" << px(std::max(h, 0.5)) << "\" fill=\"" << escape(fill) << "\"><title>" << escape(tip)
         << "</title></rect>\n";
  }

  void circle(double x, double y, const std::string& colour, bool hollow, const std::string& tip) {
    out_ << "<circle class=\"point\" cx=\"" << px(x) << "\" cy=\"" << px(y) << "\" r=\"3.5\" fill=\""
         << (hollow ? "white" : escape(colour)) << "\" stroke=\"" << escape(colour)
         << "\" stroke-width=\"1.5\"><title>" << escape(tip) << "</title></circle>\n";
  }

  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& colour,
                const std::string& dash = "") {
    if (points.size() < 2) return;
    out_ << "<polyline fill=\"none\" stroke=\"" << escape(colour) << "\" stroke-width=\"1.8\"";
    if (!dash.empty()) out_ << " stroke-dasharray=\"" << escape(dash) << "\"";
    out_ << " points=\"";
    for (const auto& [x, y] : points) out_ << px(x) << "," << px(y) << " ";
    out_ << "\"/>\n";
  }

  void text(double x, double y, const std::string& content, const std::string& anchor = "start",
            const std::string& attributes = "") {
    out_ << "<text x=\"" << px(x) << "\" y=\"" << px(y) << "\" text-anchor=\"" << anchor << "\"" << attributes
         << ">" << escape(content) << "</text>\n";
  }

  void y_axis(const Scale& scale, const std::string& label) {
    for (double tick : scale.ticks()) {
      const double y = scale(tick);
      line(left, y, plot_right, y, "#e5e5e5");
      text(left - 6, y + 4, tick_label(tick, scale.log), "end");
    }
    line(left, top, left, plot_bottom, "#444");
    const double middle = (top + plot_bottom) / 2;
    text(16, middle, label, "middle", " transform=\"rotate(-90 16 " + px(middle) + ")\"");
  }

  void x_axis(const Scale& scale, const std::string& label) {
    for (double tick : scale.ticks()) {
      const double x = scale(tick);
      line(x, top, x, plot_bottom, "#efefef");
      text(x, plot_bottom + 16, tick_label(tick, scale.log), "middle");
    }
    text((left + plot_right) / 2, height - 12, label, "middle");
  }

  void legend_box(const std::string& name, const std::string& colour) {
    out_ << "<rect x=\"" << px(plot_right + 14) << "\" y=\"" << px(legend_y_ - 9)
         << "\" width=\"12\" height=\"12\" fill=\"" << escape(colour) << "\"/>\n";
    text(plot_right + 32, legend_y_ + 1, name);
    legend_y_ += legend_row;
  }

  void legend_line(const std::string& name, const std::string& colour, const std::string& dash) {
    line(plot_right + 12, legend_y_ - 3, plot_right + 28, legend_y_ - 3, colour, 2, dash);
    text(plot_right + 32, legend_y_ + 1, name);
    legend_y_ += legend_row;
  }

  void legend_gap() { legend_y_ += legend_row / 3; }

  void references(const std::vector<ReferenceLine>& lines, const Scale& y) {
    for (const auto& reference : lines) {
      if (!placeable(reference.value, y.log)) continue;
      const double at = y(reference.value);
      line(left, at, plot_right, at, reference.colour, 1.5, reference.dash,
           reference.label + ": " + number(reference.value));
      legend_line(reference.label, reference.colour, reference.dash);
    }
  }

  std::string finish(bool empty, const std::string& caption) {
    line(left, plot_bottom, plot_right, plot_bottom, "#444");
    if (empty) text((left + plot_right) / 2, (top + plot_bottom) / 2, "nothing to show", "middle");
    out_ << "</svg>\n";
    if (!caption.empty()) out_ << "<figcaption>" << escape(caption) << "</figcaption>\n";
    out_ << "</figure>\n";
    return out_.str();
  }

 private:
  std::ostringstream out_;
  double legend_y_ = top + 6;
};

// Widens [lo, hi] to take `value` when it can be placed.
void widen(double& lo, double& hi, double value, bool log) {
  if (!placeable(value, log)) return;
  lo = std::min(lo, value);
  hi = std::max(hi, value);
}

// The value range of an axis with margins: a factor of `log_margin` either side on a log axis;
// on a linear one from min(0, lo) to hi plus `linear_margin` of it.
Scale axis(double lo, double hi, bool log, double log_margin, double linear_margin, double from, double to) {
  Scale scale;
  scale.log = log;
  scale.from = from;
  scale.to = to;
  if (lo > hi) lo = hi = 1;  // nothing to place
  if (log) {
    scale.lo = lo / log_margin;
    scale.hi = hi * log_margin;
  } else {
    scale.lo = std::min(0.0, lo);
    scale.hi = hi > scale.lo ? hi + (hi - scale.lo) * linear_margin : scale.lo + 1;
  }
  return scale;
}

}  // namespace

std::string render(const BarChart& chart) {
  const bool log = chart.log_from_one;
  const double base = log ? 1 : 0;
  double lo = base, hi = base;
  std::vector<const BarSeries*> shown;  // the series with a bar that can be drawn
  for (const auto& series : chart.series) {
    bool any = false;
    for (const auto& bar : series.bars) {
      if (!bar || !placeable(bar->value, log)) continue;
      widen(lo, hi, bar->value, log);
      any = true;
    }
    if (any) shown.push_back(&series);
  }
  for (const auto& reference : chart.references) widen(lo, hi, reference.value, log);
  const Scale y = axis(lo, hi, log, 1.3, 0.08, plot_bottom, top);

  Canvas canvas(chart.id, chart.kind, chart.title);
  canvas.y_axis(y, chart.y_label);
  const auto categories = static_cast<double>(std::max<std::size_t>(1, chart.categories.size()));
  const double slot = (plot_right - left) / categories;
  const double bar_width = std::min(22.0, slot * 0.8 / static_cast<double>(std::max<std::size_t>(1, shown.size())));
  for (std::size_t c = 0; c < chart.categories.size(); ++c) {
    const double centre = left + slot * (static_cast<double>(c) + 0.5);
    const double first = centre - bar_width * static_cast<double>(shown.size()) / 2;
    for (std::size_t s = 0; s < shown.size(); ++s) {
      const auto& bars = shown[s]->bars;
      if (c >= bars.size() || !bars[c] || !placeable(bars[c]->value, log)) continue;
      const double from = y(base), to = y(bars[c]->value);
      canvas.rect(first + bar_width * static_cast<double>(s), std::min(from, to), bar_width * 0.92,
                  std::fabs(from - to), shown[s]->colour, bars[c]->tip);
    }
    const double label_y = plot_bottom + 14;
    canvas.text(centre, label_y, chart.categories[c], "end",
                " class=\"category\" transform=\"rotate(-25 " + px(centre) + " " + px(label_y) + ")\"");
  }
  for (const auto* series : shown) canvas.legend_box(series->name, series->colour);
  canvas.legend_gap();
  canvas.references(chart.references, y);
  return canvas.finish(shown.empty(), chart.caption);
}

std::string render(const LineChart& chart) {
  constexpr double none = HUGE_VAL;
  double x_lo = none, x_hi = -none, y_lo = none, y_hi = -none;
  auto placed = [&](const Point& point) { return placeable(point.x, chart.x_log) && placeable(point.y, chart.y_log); };
  for (const auto& series : chart.series) {
    for (const auto& point : series.points) {
      if (!placed(point)) continue;
      widen(x_lo, x_hi, point.x, chart.x_log);
      widen(y_lo, y_hi, point.y, chart.y_log);
    }
  }
  for (const auto& reference : chart.references) widen(y_lo, y_hi, reference.value, chart.y_log);
  for (const auto& point : chart.ideal) {
    if (placed(point)) widen(y_lo, y_hi, point.y, chart.y_log);
  }
  Scale x = axis(x_lo, x_hi, chart.x_log, 2, 0, left + 12, plot_right - 12);
  if (!chart.x_log && x_lo <= x_hi) {  // a linear x axis spans the points (thread counts)
    x.lo = x_lo == x_hi ? x_lo - 1 : x_lo;
    x.hi = x_lo == x_hi ? x_hi + 1 : x_hi;
  }
  const Scale y = axis(y_lo, y_hi, chart.y_log, 2, 0.1, plot_bottom, top);

  Canvas canvas(chart.id, chart.kind, chart.title);
  canvas.y_axis(y, chart.y_label);
  canvas.x_axis(x, chart.x_label);
  std::vector<std::pair<double, double>> ideal;
  for (const auto& point : chart.ideal) {
    if (placed(point)) ideal.emplace_back(x(point.x), y(point.y));
  }
  canvas.polyline(ideal, "#999", "4 3");
  bool empty = true;
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const LineSeries& series = chart.series[k];
    // Series a few pixels apart, so that equal values stay visible side by side.
    const double offset = 2.5 * (static_cast<double>(k) - static_cast<double>(chart.series.size() - 1) / 2);
    std::vector<std::pair<double, double>> pixels;
    std::vector<const Point*> points;
    for (const auto& point : series.points) {
      if (!placed(point)) continue;
      pixels.emplace_back(x(point.x) + offset, y(point.y));
      points.push_back(&point);
    }
    if (points.empty()) continue;
    empty = false;
    canvas.polyline(pixels, series.colour);
    for (std::size_t i = 0; i < points.size(); ++i) {
      canvas.circle(pixels[i].first, pixels[i].second, series.colour, points[i]->hollow,
                    points[i]->tip.empty() ? series.name : points[i]->tip);
    }
    canvas.legend_box(series.name, series.colour);
  }
  canvas.legend_gap();
  if (ideal.size() >= 2) canvas.legend_line("ideal", "#999", "4 3");
  canvas.references(chart.references, y);
  return canvas.finish(empty, chart.caption);
}

}  // namespace bnh::reports::svg
