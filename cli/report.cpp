#include <iostream>

#include "bnh/types.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output_files.hpp"
#include "reports/render_html.hpp"
#include "reports/render_markdown.hpp"
#include "reports/report.hpp"

namespace bnh::cli {

namespace {

constexpr const char* report_usage = R"(usage: bnh report REPORT.json [--html PATH] [--markdown PATH]

Renders a report written by bnh bench: a self-contained HTML page with inline SVG charts
(bandwidth against the streaming probe, speed-ups against the best peer and against naive,
thread scaling, accuracy against conditioning) and a Markdown summary fit for a CI job summary.

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
  if (words.size() == 1 && (words[0] == "--help" || words[0] == "-h")) {
    std::cout << report_usage;
    return 0;
  }
  const std::set<std::string> value_flags{"--html", "--markdown"};
  std::vector<std::string> flags = words;
  const auto positionals = take_positionals(flags, value_flags);
  Arguments arguments("report", flags, value_flags, {"--help"});
  if (arguments.has("--help")) {
    std::cout << report_usage;
    return 0;
  }
  if (positionals.size() != 1) {
    throw UsageError(std::string("bnh report: expected one report file, got ") +
                     (positionals.empty() ? "none" : std::to_string(positionals.size())) + " (see bnh report --help)");
  }
  const std::string& input = positionals.front();
  const nlohmann::json report = reports::read_report(input);
  const std::string html = arguments.value("--html", sibling(input, ".html"));
  const std::string markdown = arguments.value("--markdown", sibling(input, ".md"));
  if (html == input || markdown == input) throw UsageError("bnh report: an output would overwrite the report itself");
  if (html == markdown) throw UsageError("bnh report: --html and --markdown name the same file");
  // Both outputs are checked before either is written: no half of a rendering is left behind.
  check_writable(html);
  check_writable(markdown);
  std::string html_text, markdown_text;
  try {
    html_text = reports::render_html(report);
    markdown_text = reports::render_markdown(report);
  } catch (const nlohmann::json::exception& error) {  // a value of an unexpected type
    throw Error(input + ": malformed report: " + error.what());
  }
  write_file(html, html_text);
  write_file(markdown, markdown_text);
  std::cout << "wrote " << html << " and " << markdown << '\n';
  return 0;
}

}  // namespace bnh::cli
