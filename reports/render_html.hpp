// A report as one self-contained HTML page: inline CSS and inline SVG charts
// (reports/svg_chart.hpp), no scripts, no external fonts or files. Charts (each an
// <svg class="chart KIND" id="KIND-...">), coloured by role, the report's focus first:
//   bandwidth  effective bandwidth per shape and implementation, against the streaming copy
//              and triad of the bandwidth probe (one chart per operation, layout, dtype, threads)
//   bound      the bound's time over the implementation's, per shape (where bounds were measured)
//   speedup    speed-up against the best peer when a peer was measured, and against the
//              baseline, per shape
//   scaling    speed-up over the fewest threads measured, per implementation (when the report
//              holds more than one thread count)
//   accuracy   worst scaled error against the reference versus kappa, per implementation, with
//              the bound (one chart per operation and dtype)
// The sections are reports/html_*.cpp.
#pragma once

#include <string>

#include "reports/schema.hpp"

namespace bnh::reports {

std::string render_html(const Report& report);

}  // namespace bnh::reports
