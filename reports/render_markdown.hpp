// A report as Markdown, short enough for a CI job summary: where and how it was measured, the
// summary table (reports/summary.hpp), the accuracy table, and every benchmark in a collapsed
// section.
#pragma once

#include <string>

#include "reports/schema.hpp"

namespace bnh::reports {

std::string render_markdown(const Report& report);

// Shared with the HTML rendering.
std::string format_bytes(double bytes);        // "32 KiB", "1 MiB"
std::string format_seconds(double seconds);    // "1.23 ms"
std::string format_number(double value, int significant = 3);
std::string format_kappa(double kappa);        // "1e4", "0.31"
// ", l1d 32 KiB, l2 1 MiB, last level 32 MiB" (sizes of 0 left out; "" for none)
std::string caches_text(const CacheFacts& caches);

}  // namespace bnh::reports
