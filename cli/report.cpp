#include <iostream>

#include "bnh/types.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output_files.hpp"
#include "reports/render_html.hpp"
#include "reports/render_markdown.hpp"
#include "reports/schema.hpp"

namespace bnh::cli {

namespace {

constexpr const char* report_usage = R"(usage: bnh report REPORT.json [--html PATH] [--markdown PATH]

Renders a report written by bnh bench or bnh accuracy: a self-contained HTML page with inline
SVG charts (bandwidth against the streaming probe, the fraction of each benchmark's bound,
speed-ups against the best peer and against the baseline, thread scaling, accuracy against
conditioning) and a Markdown summary fit for a CI job summary. Both are about the report's
focus (bnh bench --focus): it leads the summary and every legend.

options:
  --html PATH       the HTML page (default: REPORT with .html for .json)
  --markdown PATH   the Markdown summary (default: REPORT with .md for .json)
  --help            this text

Both outputs are checked to be writable (their folders must exist) before either is written.

Exit status: 0 both were written, 2 bad usage, a file that is not a bnharness report, or an
output that cannot be written.
)";

std::string sibling(const std::string& path, const std::string& extension) {
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash + 1)) {
    return path.substr(0, dot) + extension;
  }
  return path + extension;
}

}  // namespace

int run_report(const std::vector<std::string>& words) {
  std::vector<std::string> positionals;
  const auto parsed = arguments_or_help("report", words, {"--html", "--markdown"}, {}, report_usage, &positionals);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;
  if (positionals.size() != 1) {
    throw UsageError(std::string("bnh report: expected one report file, got ") +
                     (positionals.empty() ? "none" : std::to_string(positionals.size())) + " (see bnh report --help)");
  }
  const std::string& input = positionals.front();
  reports::Report report = reports::read_report(input);
  // A report written before the focus existed is about the fastest built-in, as bnh bench's are
  // by default.
  if (report.focus.empty()) report.focus = reports::fastest_built_in(report.benchmarks);
  const std::string html = arguments.value("--html", sibling(input, ".html"));
  const std::string markdown = arguments.value("--markdown", sibling(input, ".md"));
  if (html == input || markdown == input) throw UsageError("bnh report: an output would overwrite the report itself");
  if (html == markdown) throw UsageError("bnh report: --html and --markdown name the same file");
  // Both outputs are checked before either is written: no half of a rendering is left behind.
  check_writable(html);
  check_writable(markdown);
  write_file(html, reports::render_html(report));
  write_file(markdown, reports::render_markdown(report));
  std::cout << "wrote " << html << " and " << markdown << '\n';
  return exit_status::success;
}

}  // namespace bnh::cli
