// The page's accuracy section: worst scaled error against conditioning (kappa), per operation
// and dtype, with the bounds.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "reports/html_sections.hpp"
#include "reports/render_markdown.hpp"
#include "reports/svg_chart.hpp"

namespace bnh::reports::html {

namespace {

// Errors of 0 (every output correctly rounded) are drawn at the bottom of the log axis.
constexpr double error_floor = 1e-2;
constexpr double kappa_floor = 1e-3;

std::string point_tip(const std::string& line, const AccuracyPoint& point) {
  return line + ", " + to_string(point.regime) + ", kappa " + format_kappa(point.kappa) + ": scaled error " +
         format_number(point.max_scaled_error) + " (bound " + format_number(point.bound) + ", worst output " +
         (point.worst_output.empty() ? "?" : point.worst_output) + "), " + format_number(point.max_ulp_error) +
         " ulp";
}

}  // namespace

std::string accuracy_section(const Report& report, const Palette& palette) {
  std::ostringstream out;
  out << "<section id=\"accuracy\">\n<h2>Accuracy against conditioning</h2>\n";
  if (report.accuracy.empty()) {
    out << "<p class=\"note\">Accuracy was not measured in this run.</p>\n</section>\n";
    return out.str();
  }
  out << "<p>Worst error against the 50-digit reference over every output, in the tolerance model's units "
         "(u &#215; scale, docs/tolerances.md), versus kappa, the ratio of a channel's mean to its standard "
         "deviation. Hollow points: standard-normal data (kappa measured); filled: channels shifted to the "
         "given kappa. Errors of 0 (every output correctly rounded) are drawn at the bottom of the axis, "
         "infinite ones only in the table; dashed lines are the bounds.</p>\n";
  // One chart per operation and dtype.
  std::map<std::pair<int, std::string>, std::vector<const AccuracyPoint*>> charts;
  for (const auto& point : report.accuracy) {
    charts[{static_cast<int>(point.operation), point.dtypes()}].push_back(&point);
  }
  for (const auto& [key, points] : charts) {
    const std::string operation = to_string(points.front()->operation), dtype = key.second;
    // A line per implementation, or per implementation and M when the sweep has several M
    // (`bnh accuracy`), told apart by colour.
    std::set<std::int64_t> sizes;
    std::set<double> bounds;
    std::map<std::pair<std::size_t, std::int64_t>, std::vector<const AccuracyPoint*>> lines;
    std::map<std::size_t, std::string> names;  // palette rank -> implementation
    for (const auto* point : points) {
      sizes.insert(point->m);
      if (std::isfinite(point->bound) && point->bound > 0) bounds.insert(point->bound);
      const std::size_t rank = palette.rank(point->implementation);
      names[rank] = point->implementation;
      lines[{rank, point->m}].push_back(point);
    }
    const bool by_size = sizes.size() > 1;
    svg::LineChart chart;
    for (auto& [line_key, list] : lines) {
      const std::string& implementation = names[line_key.first];
      std::sort(list.begin(), list.end(), [](const auto* a, const auto* b) { return a->kappa < b->kappa; });
      svg::LineSeries line{by_size ? implementation + ", M " + std::to_string(line_key.second) : implementation,
                           by_size ? svg::palette_colour(chart.series.size()) : palette.colour(implementation), {}};
      for (const auto* point : list) {
        // An infinite error is skipped by the chart: it is listed in the table.
        line.points.push_back({std::max(point->kappa, kappa_floor), std::max(point->max_scaled_error, error_floor),
                               point_tip(line.name, *point), point->regime == AccuracyRegime::normal});
      }
      chart.series.push_back(std::move(line));
    }
    for (double bound : bounds) chart.references.push_back({"bound " + format_number(bound), bound, "#b00", "6 3"});
    chart.id = "accuracy-" + svg::slug(operation + "-" + dtype);
    chart.kind = "accuracy";
    chart.title = "Accuracy: " + operation + ", " + dtype;
    chart.x_label = "kappa = |mean| / std (log)";
    chart.y_label = "worst scaled error (log)";
    chart.x_log = chart.y_log = true;
    out << svg::render(chart);
  }
  out << "</section>\n";
  return out.str();
}

}  // namespace bnh::reports::html
