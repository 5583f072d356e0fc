// Inline SVG charts for the HTML report: bars per category and series, and lines through
// points, on linear or log axes, with a legend and dashed reference lines. Knows nothing about
// reports: a chart is built from names, numbers and tooltips, and rendered as one <figure>.
//
// Values a chart cannot place are skipped, never drawn at a made-up position: non-finite ones
// always, and zero or negative ones on a log axis.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace bnh::reports::svg {

// Text for XML content and attribute values: & < > " ' escaped.
std::string escape(const std::string& text);
// An id or class: letters and digits kept, everything else '-'.
std::string slug(const std::string& text);

// A map from data values in [lo, hi] to pixels in [from, to] (from > to for a y axis, whose
// pixels grow downwards). On a log axis lo must be > 0; values below lo are drawn at lo.
struct Scale {
  double lo = 0, hi = 1;
  bool log = false;
  double from = 0, to = 1;

  double operator()(double value) const;
  // Round values inside [lo, hi]: 1-2-2.5-5 steps on a linear axis, powers of ten on a log
  // axis (1-2-5 steps when the range spans less than one decade).
  std::vector<double> ticks() const;
};

// "20", "2.5", "0.05"; on a log axis, powers of ten from 1e4 up and 1e-3 down as "1e4".
std::string tick_label(double value, bool log);

// The series colours, in the order series are given: the first (the report's focus) the
// strongest, then distinct hues; cycles after its length.
std::string palette_colour(std::size_t index);
// Grey: for a baseline every other series is measured against.
inline constexpr const char* baseline_colour = "#7f7f7f";

// A horizontal line across the plot at `value`, in the legend under `label`.
struct ReferenceLine {
  std::string label;
  double value = 0;
  std::string colour = "#000";
  std::string dash = "6 3";
};

struct Bar {
  double value = 0;
  std::string tip;  // the tooltip
};

struct BarSeries {
  std::string name, colour;
  std::vector<std::optional<Bar>> bars;  // one per category; none: not measured there
};

// Bars grouped by category (along x), one per series within a group.
struct BarChart {
  std::string id, kind, title, y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  std::vector<ReferenceLine> references;
  // A log axis with bars growing up or down from 1 (ratios); otherwise linear from 0.
  bool log_from_one = false;
  std::string caption;
};

struct Point {
  double x = 0, y = 0;
  std::string tip;
  bool hollow = false;
};

struct LineSeries {
  std::string name, colour;
  std::vector<Point> points;  // drawn in the order given
};

struct LineChart {
  std::string id, kind, title, x_label, y_label;
  bool x_log = false, y_log = false;
  std::vector<LineSeries> series;
  std::vector<ReferenceLine> references;
  // A dashed grey line through these points, "ideal" in the legend (perfect scaling).
  std::vector<Point> ideal;
  std::string caption;
};

// One <figure> holding an <svg class="chart KIND" id="ID"> and, when given, a <figcaption>.
// A chart with nothing to draw says so in its plot area.
std::string render(const BarChart& chart);
std::string render(const LineChart& chart);

}  // namespace bnh::reports::svg
