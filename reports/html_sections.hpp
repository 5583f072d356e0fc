// The sections of the HTML page (reports/render_html.hpp puts them together), and what they
// share: the benchmarks grouped per chart, and one colour per implementation.
#pragma once

#include <string>
#include <vector>

#include "reports/schema.hpp"

namespace bnh::reports::html {

// One colour per implementation for the whole page, by role and order rather than by name: the
// report's focus first and strongest, then implementations under test, built-ins and peers in
// the order the report lists them; the baseline grey. The legend follows the same order.
class Palette {
 public:
  explicit Palette(const Report& report);
  std::string colour(const std::string& implementation) const;
  // The position in the legend's order; names the report does not hold come last.
  std::size_t rank(const std::string& implementation) const;

 private:
  std::vector<std::string> order_;
  std::vector<std::string> colours_;
};

// The benchmarks of one operation, layout, dtype and thread count: one chart each.
struct Group {
  std::string operation, layout, dtype;
  int threads = 1;
  std::vector<const Benchmark*> benchmarks;
  std::vector<std::string> shapes;           // labels, in the order of the report
  std::vector<std::string> implementations;  // in the palette's order

  const Benchmark* find(const std::string& shape, const std::string& implementation) const;
  std::string title() const;  // "bn_backward, nchw, f32, 2 threads"
  std::string id() const;     // "bn-backward-nchw-f32-t2"
};

// Groups in the order of the operations (include/bnh/types.hpp), then layout, dtype, threads.
std::vector<Group> groups_of(const Report& report, const Palette& palette);

// The sections, each a <section> (header_section: a table) of the page.
std::string header_section(const Report& report);
std::string summary_section(const Report& report);
std::string bandwidth_section(const Report& report, const std::vector<Group>& groups, const Palette& palette);
std::string speedup_section(const Report& report, const std::vector<Group>& groups, const Palette& palette);
std::string scaling_section(const Report& report, const Palette& palette);
std::string accuracy_section(const Report& report, const Palette& palette);
std::string tables_section(const Report& report);

}  // namespace bnh::reports::html
