// A report as one self-contained HTML page: inline CSS and inline SVG charts, no scripts, no
// external fonts or files. Charts (each an <svg class="chart KIND" id="KIND-...">):
//   bandwidth  effective bandwidth per shape and implementation, against the streaming copy
//              and triad of the bandwidth probe (one chart per operation, layout, dtype, threads)
//   speedup    speed-up against the best peer (onednn, aten) when a peer was measured, and
//              against naive, per shape
//   scaling    speed-up over the fewest threads measured, per implementation (when the report
//              holds more than one thread count)
//   accuracy   worst scaled error against the reference versus kappa, per implementation, with
//              the bound (one chart per operation and dtype)
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bnh::reports {

std::string render_html(const nlohmann::json& report);

}  // namespace bnh::reports
