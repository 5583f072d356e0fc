#include "reports/render_html.hpp"

#include <sstream>

#include "reports/html_sections.hpp"
#include "reports/svg_chart.hpp"

namespace bnh::reports {

namespace {

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

std::string render_html(const Report& report) {
  const html::Palette palette(report);
  const std::vector<html::Group> groups = html::groups_of(report, palette);
  const bool accuracy_only = is_accuracy_report(report);
  const std::string title = accuracy_only ? "bnharness accuracy" : "bnharness benchmarks";
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>" << title << " " << svg::escape(report.created) << "</title>\n<style>" << style
      << "</style>\n</head>\n<body>\n<h1>" << title << "</h1>\n";
  out << html::header_section(report);
  if (!accuracy_only) out << html::summary_section(report);
  if (!groups.empty()) {
    out << html::bandwidth_section(report, groups, palette);
    out << html::speedup_section(report, groups, palette);
    out << html::scaling_section(report, palette);
  }
  out << html::accuracy_section(report, palette);
  if (!accuracy_only) out << html::tables_section(report);
  out << "</body>\n</html>\n";
  return out.str();
}

}  // namespace bnh::reports
