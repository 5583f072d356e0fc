#include <algorithm>
#include <map>
#include <tuple>

#include "reports/html_sections.hpp"
#include "reports/summary.hpp"
#include "reports/svg_chart.hpp"

namespace bnh::reports::html {

namespace {

// Legend order of the roles after the focus: what is being developed first, what it is
// measured against after.
int role_rank(Role role) {
  switch (role) {
    case Role::under_test: return 0;
    case Role::built_in: return 1;
    case Role::peer: return 2;
    case Role::baseline: return 3;
  }
  return 4;
}

}  // namespace

Palette::Palette(const Report& report) {
  struct Seen {
    std::string name;
    Role role;
    std::size_t first;
  };
  std::vector<Seen> seen;
  auto note = [&](const std::string& name, Role role) {
    const bool known = std::any_of(seen.begin(), seen.end(), [&](const Seen& s) { return s.name == name; });
    if (!known) seen.push_back({name, role, seen.size()});
  };
  for (const auto& benchmark : report.benchmarks) note(benchmark.implementation, benchmark.role);
  for (const auto& point : report.accuracy) note(point.implementation, Role::built_in);
  std::stable_sort(seen.begin(), seen.end(), [&](const Seen& a, const Seen& b) {
    const bool a_focus = a.name == report.focus, b_focus = b.name == report.focus;
    if (a_focus != b_focus) return a_focus;
    return role_rank(a.role) < role_rank(b.role);
  });
  std::size_t next = report.focus.empty() ? 0 : 1;  // palette colour 0 is the focus's alone
  for (const auto& implementation : seen) {
    order_.push_back(implementation.name);
    if (implementation.name == report.focus) {
      colours_.push_back(svg::palette_colour(0));
    } else if (implementation.role == Role::baseline) {
      colours_.push_back(svg::baseline_colour);
    } else {
      colours_.push_back(svg::palette_colour(next++));
    }
  }
}

std::size_t Palette::rank(const std::string& implementation) const {
  return static_cast<std::size_t>(std::find(order_.begin(), order_.end(), implementation) - order_.begin());
}

std::string Palette::colour(const std::string& implementation) const {
  const std::size_t at = rank(implementation);
  return at < colours_.size() ? colours_[at] : svg::baseline_colour;
}

const Benchmark* Group::find(const std::string& shape, const std::string& implementation) const {
  for (const Benchmark* benchmark : benchmarks) {
    if (benchmark->implementation == implementation && shape_label(benchmark->shape) == shape) return benchmark;
  }
  return nullptr;
}

std::string Group::title() const {
  return operation + ", " + layout + ", " + dtype + ", " + std::to_string(threads) +
         (threads == 1 ? " thread" : " threads");
}

std::string Group::id() const {
  return svg::slug(operation + "-" + layout + "-" + dtype + "-t" + std::to_string(threads));
}

std::vector<Group> groups_of(const Report& report, const Palette& palette) {
  using Key = std::tuple<int, std::string, std::string, int>;
  std::map<Key, Group> groups;
  for (const auto& benchmark : report.benchmarks) {
    Group& group = groups[{operation_rank(benchmark.operation), benchmark.layout, benchmark.dtype, benchmark.threads}];
    group.operation = benchmark.operation;
    group.layout = benchmark.layout;
    group.dtype = benchmark.dtype;
    group.threads = benchmark.threads;
    group.benchmarks.push_back(&benchmark);
    const std::string shape = shape_label(benchmark.shape);
    if (std::find(group.shapes.begin(), group.shapes.end(), shape) == group.shapes.end()) group.shapes.push_back(shape);
    auto& names = group.implementations;
    if (std::find(names.begin(), names.end(), benchmark.implementation) == names.end()) {
      names.push_back(benchmark.implementation);
    }
  }
  std::vector<Group> result;
  for (auto& [key, group] : groups) {
    std::stable_sort(group.implementations.begin(), group.implementations.end(),
                     [&](const std::string& a, const std::string& b) { return palette.rank(a) < palette.rank(b); });
    result.push_back(std::move(group));
  }
  return result;
}

}  // namespace bnh::reports::html
