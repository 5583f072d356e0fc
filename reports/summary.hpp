// The figures a reader looks at first, computed from a report: per operation, layout, dtype and
// thread count, the fastest implementation, openmp against naive and against the best peer,
// and openmp's fraction of the streaming bandwidth. Used by `bnh bench`'s closing summary, the
// Markdown and the HTML renderings, and bnh_bench_implementations.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bnh::reports {

struct SummaryRow {
  std::string operation, layout, dtype;
  int threads = 1;
  int shapes = 0;                               // shapes measured in this group
  std::string best;                             // fastest: least geometric mean of time
  std::optional<double> openmp_vs_naive;        // geometric mean over shapes of naive / openmp
  std::optional<double> openmp_vs_best_peer;    // ... of best peer / openmp (> 1: openmp faster)
  std::string best_peer;                        // the peer fastest most often, "" without one
  std::optional<double> openmp_fraction;        // geometric mean of openmp's roofline_fraction
  std::optional<double> openmp_fraction_large;  // ... over shapes whose x + y exceed the LLC
  // The same against the streaming copy of each shape's own x, measured in the same rounds
  // (copy_fraction): side by side, so the machine's moods cancel.
  std::optional<double> openmp_copy_fraction, openmp_copy_fraction_large;
};

// The implementation the summary is about: the project's parallel kernels.
inline constexpr const char* focus_implementation = "openmp";

std::vector<SummaryRow> summarize(const nlohmann::json& report);

double geometric_mean(const std::vector<double>& values);

// "2.41x", "-" for none
std::string format_ratio(const std::optional<double>& ratio);
// "73%", "-" for none
std::string format_percent(const std::optional<double>& fraction);

// The plain-text table `bnh bench` prints at the end.
std::string format_summary_text(const nlohmann::json& report);

}  // namespace bnh::reports
