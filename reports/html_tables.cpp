// The page's tables: where and how it was measured, the summary, every benchmark, every accuracy
// point, and the refused calls.
#include <sstream>

#include "reports/html_sections.hpp"
#include "reports/render_markdown.hpp"
#include "reports/summary.hpp"
#include "reports/svg_chart.hpp"

namespace bnh::reports::html {

namespace {

using svg::escape;

std::string cell(const std::string& text, bool numeric = false) {
  return std::string(numeric ? "<td class=\"n\">" : "<td>") + escape(text) + "</td>";
}

std::string seconds_or_dash(double seconds) { return seconds > 0 ? format_seconds(seconds) : "-"; }

std::string number_or_dash(const std::optional<double>& value) { return value ? format_number(*value) : "-"; }

}  // namespace

std::string header_section(const Report& report) {
  std::ostringstream out;
  out << "<table class=\"meta\">\n";
  auto row = [&](const std::string& name, const std::string& value) {
    out << "<tr><th>" << escape(name) << "</th>" << cell(value) << "</tr>\n";
  };
  const auto& build = report.build;
  const auto& machine = report.machine;
  row("created", report.created);
  row("revision", build.git_revision);
  row("compiler", build.compiler + " " + build.flags + " (" + build.build_type + ")");
  row("machine", machine.cpu + ", " + std::to_string(machine.cores) + " cores" + caches_text(machine.caches));
  for (const auto& probe : machine.bandwidth) {
    row("bandwidth, " + std::to_string(probe.threads) + " thread(s)",
        "copy " + format_number(probe.copy_gbps) + " GB/s, triad " + format_number(probe.triad_gbps) + " GB/s");
  }
  if (!report.suite.name.empty()) row("suite", suite_description(report));
  if (!report.focus.empty()) row("focus", report.focus);
  if (!build.libraries.empty()) {
    std::string libraries;
    for (const auto& [name, version] : build.libraries) libraries += (libraries.empty() ? "" : ", ") + name + " " + version;
    row("libraries", libraries);
  }
  out << "</table>\n";
  return out.str();
}

std::string summary_section(const Report& report) {
  const Summary summary = summarize(report);
  const std::string focus = escape(summary.focus.empty() ? "?" : summary.focus);
  const std::string baseline = escape(summary.baseline.empty() ? "the baseline" : summary.baseline);
  std::ostringstream out;
  out << "<section id=\"summary\">\n<h2>Summary</h2>\n<p>Geometric means over the shapes, about the focus, <code>"
      << focus << "</code>: <em>vs " << baseline << "</em> and <em>vs best peer</em> are how many times faster "
      << "it is; <em>bandwidth</em> is its fraction of the probe's streaming copy, over all shapes and over those "
         "whose x + y exceed the last-level cache; <em>of bound</em> is the time of its bound (the "
         "operation's unavoidable traffic done by plain kernels on the same tensors, in the same rounds) over "
         "its time" << (summary.reduced_vs_f32 ? "; <em>vs f32</em>, for bf16 and f16, is its own f32 time over its "
                                                "time (its speed-up from the halved bytes)" : "")
      << ".</p>\n"
         "<table class=\"summary\"><thead><tr><th>operation</th><th>layout</th><th>dtype</th><th>threads</th>"
         "<th>fastest</th><th>vs "
      << baseline
      << "</th><th>vs best peer</th><th>bandwidth (all)</th><th>bandwidth (&gt; LLC)</th><th>of bound (all)</th>"
         "<th>of bound (&gt; LLC)</th>"
      << (summary.reduced_vs_f32 ? "<th>vs f32 (all)</th><th>vs f32 (&gt; LLC)</th>" : "") << "</tr></thead><tbody>\n";
  for (const auto& row : summary.rows) {
    std::string peer = format_ratio(row.vs_best_peer);
    if (row.vs_best_peer && !row.best_peer.empty()) peer += " (" + row.best_peer + ")";
    out << "<tr>" << cell(row.operation) << cell(row.layout) << cell(row.dtype)
        << cell(std::to_string(row.threads), true) << cell(row.fastest) << cell(format_ratio(row.vs_baseline), true)
        << cell(peer, true) << cell(format_percent(row.bandwidth), true)
        << cell(format_percent(row.bandwidth_large), true) << cell(format_percent(row.bound), true)
        << cell(format_percent(row.bound_large), true);
    if (summary.reduced_vs_f32) out << cell(format_ratio(row.vs_f32), true) << cell(format_ratio(row.vs_f32_large), true);
    out << "</tr>\n";
  }
  out << "</tbody></table>\n</section>\n";
  return out.str();
}

std::string tables_section(const Report& report) {
  std::ostringstream out;
  out << "<section id=\"tables\">\n<details><summary>All " << report.benchmarks.size()
      << " benchmarks</summary>\n<table class=\"all\"><thead><tr><th>benchmark</th><th>role</th><th>median</th>"
         "<th>min</th><th>stddev</th><th>GB/s</th><th>bw</th><th>of bound</th><th>vs baseline</th>"
         "<th>vs best peer</th><th>vs f32</th></tr></thead><tbody>\n";
  for (const auto& benchmark : report.benchmarks) {
    const Timing& timing = benchmark.timing;
    out << "<tr><td><code>" << escape(benchmark.id) << "</code></td>" << cell(to_string(benchmark.role))
        << cell(seconds_or_dash(timing.median_s), true) << cell(seconds_or_dash(timing.min_s), true)
        << cell(seconds_or_dash(timing.stddev_s), true) << cell(format_number(benchmark.gbps), true)
        << cell(format_percent(benchmark.roofline_fraction), true)
        << cell(format_percent(benchmark.bound_fraction), true) << cell(number_or_dash(benchmark.speedup_vs_naive), true)
        << cell(number_or_dash(benchmark.speedup_vs_best_peer), true)
        << cell(number_or_dash(benchmark.speedup_vs_f32), true) << "</tr>\n";
  }
  out << "</tbody></table>\n</details>\n";
  if (!report.accuracy.empty()) {
    out << "<details><summary>Accuracy entries</summary>\n<table class=\"all\"><thead><tr><th>implementation</th>"
           "<th>operation</th><th>dtype</th><th>regime</th><th>kappa</th><th>M</th><th>scaled error</th>"
           "<th>bound</th><th>ulp</th><th>worst output</th><th>cases</th><th>rejected</th></tr></thead><tbody>\n";
    for (const auto& point : report.accuracy) {
      out << "<tr" << (point.failed() ? " class=\"fail\"" : "") << ">" << cell(point.implementation)
          << cell(to_string(point.operation)) << cell(point.dtypes()) << cell(to_string(point.regime))
          << cell(format_kappa(point.kappa), true) << cell(std::to_string(point.m), true)
          << cell(format_number(point.max_scaled_error), true) << cell(format_number(point.bound), true)
          << cell(format_number(point.max_ulp_error), true) << cell(point.worst_output)
          << cell(std::to_string(point.cases), true) << cell(point.error) << "</tr>\n";
    }
    out << "</tbody></table>\n</details>\n";
  }
  if (!report.errors.empty()) {
    out << "<h2>Refused calls</h2>\n<ul>\n";
    for (const auto& error : report.errors) {
      out << "<li><code>" << escape(error.id) << "</code>: " << escape(error.error) << "</li>\n";
    }
    out << "</ul>\n";
  }
  out << "</section>\n";
  return out.str();
}

}  // namespace bnh::reports::html
