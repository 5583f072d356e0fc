// The figures a reader looks at first, computed from a report: per operation, layout, dtype and
// thread count, the fastest implementation, and the report's focus (`bnh bench --focus`)
// against the baseline and the best peer, with its fractions of the streaming bandwidth and of
// its bound. Used by `bnh bench`'s closing summary and the Markdown and HTML renderings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "reports/schema.hpp"

namespace bnh::reports {

// Geometric means over the shapes of the group; none where the focus has no such figure.
struct SummaryRow {
  std::string operation, layout, dtype;
  int threads = 1;
  int shapes = 0;                             // shapes measured in this group
  std::string fastest;                        // least geometric mean of time, over every shape
  std::optional<double> vs_baseline;          // baseline / focus (> 1: the focus is faster)
  std::optional<double> vs_best_peer;         // best peer / focus
  std::string best_peer;                      // the peer fastest most often, "" without one
  std::optional<double> bandwidth;            // the focus's roofline_fraction
  std::optional<double> bandwidth_large;      // ... over shapes whose x + y exceed the LLC
  // The bound's time over the focus's (bound_fraction): measured side by side in the same
  // rounds, so the machine's moods cancel.
  std::optional<double> bound, bound_large;
  // bf16 and f16: the focus's own f32 time over its time (speedup_vs_f32), over all shapes and
  // over the shapes whose x + y exceed the LLC in this dtype.
  std::optional<double> vs_f32, vs_f32_large;
};

struct Summary {
  std::string focus;     // the report's focus
  std::string baseline;  // the implementation with the baseline role, "" without one
  std::vector<SummaryRow> rows;
  bool reduced_vs_f32 = false;  // some row has vs_f32
};

// x read and y written, in the benchmark's dtype, exceed `last_level` bytes: the shape streams
// from memory. False when the cache size is not known.
bool exceeds_last_level(const Benchmark& benchmark, std::int64_t last_level);

Summary summarize(const Report& report);

// The position of an operation's name among the five (include/bnh/types.hpp); unknown names
// last. Tables and charts list operations in this order.
int operation_rank(const std::string& operation);

// exp of the mean of the logarithms; 0 for none.
double geometric_mean(const std::vector<double>& values);

// "2.41x", "-" for none
std::string format_ratio(const std::optional<double>& ratio);
// "73%", "-" for none
std::string format_percent(const std::optional<double>& fraction);

// The plain-text table `bnh bench` prints at the end.
std::string format_summary_text(const Report& report);

}  // namespace bnh::reports
