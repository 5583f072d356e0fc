#include <iomanip>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "bnh/registry.hpp"
#include "bnh/sync_implementation.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"

namespace bnh::cli {

namespace {

constexpr const char* list_usage = R"(usage: bnh list

Prints each built-in implementation: its name, a one-line description, its role in a benchmark
(baseline, built-in or peer), the dtypes it supports and those it lacks, and the operations it
provides. A dtype is the data's, with the statistics dtype after a colon when it is not the
default (bf16:bf16 is pure bf16; bf16 alone has f32 statistics); one supported in a single layout
only is followed by it (bf16/nhwc); the others are supported in nchw and nhwc.
Then the built-in synchronized implementations, whose batch is split across ranks (role
synchronized; `bnh check --impl NAME --ranks K` checks one).
)";

// Every valid (data, statistics) pair: each dtype with its default statistics dtype, and the
// reduced ones also with statistics in the data dtype (the pure mode).
std::vector<TensorDesc> dtype_pairs() {
  std::vector<TensorDesc> pairs;
  for (DType dtype : all_dtypes) {
    TensorDesc desc;
    desc.dtype = dtype;
    pairs.push_back(desc);
    if (is_reduced(dtype)) {
      desc.stats = dtype;
      pairs.push_back(desc);
    }
  }
  return pairs;
}

// What an implementation supports, asked of it for every pair and layout: the pairs it
// supports in every layout by their label ("bf16:bf16"), those in some layouts only with them
// ("bf16/nhwc"), and apart, the pairs it lacks.
template <typename AnyImplementation>
std::pair<std::string, std::string> capabilities(const AnyImplementation& implementation) {
  std::string supported, lacking;
  for (TensorDesc desc : dtype_pairs()) {
    std::vector<Layout> layouts;
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      desc.layout = layout;
      if (implementation.supports(desc)) layouts.push_back(layout);
    }
    std::string& line = layouts.empty() ? lacking : supported;
    if (layouts.size() == 1) {
      line += (line.empty() ? "" : " ") + dtypes_label(desc) + "/" + to_string(layouts.front());
    } else {
      line += (line.empty() ? "" : " ") + dtypes_label(desc);
    }
  }
  return {supported.empty() ? "none" : supported, lacking.empty() ? "none" : lacking};
}

template <typename AnyImplementation>
std::string operations(const AnyImplementation& implementation) {
  std::string text;
  for (Operation operation : all_operations) {
    if (implementation.supports(operation)) text += (text.empty() ? "" : " ") + std::string(to_string(operation));
  }
  return text.empty() ? "none" : text;
}

// What `bnh list` says of one implementation, single-process or synchronized.
template <typename AnyImplementation>
void print_entry(const AnyImplementation& implementation, const char* role) {
  const auto [supported, lacking] = capabilities(implementation);
  std::cout << std::left << std::setw(10) << implementation.name() << ' ' << implementation.description() << '\n'
            << std::setw(10) << "" << " role:         " << role << '\n'
            << std::setw(10) << "" << " dtypes:       " << supported << '\n'
            << std::setw(10) << "" << " lacks:        " << lacking << '\n'
            << std::setw(10) << "" << " operations:   " << operations(implementation) << '\n';
}

}  // namespace

int run_list(const std::vector<std::string>& words) {
  if (!arguments_or_help("list", words, {}, {}, list_usage)) return exit_status::success;
  for (const auto& entry : registered_implementations()) print_entry(*entry.make(), to_string(entry.role));
  for (const auto& name : registered_sync_names()) print_entry(*make_sync_implementation(name), "synchronized");
  return exit_status::success;
}

}  // namespace bnh::cli
