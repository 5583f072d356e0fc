#include <iomanip>
#include <iostream>

#include "bnh/registry.hpp"
#include "bnh/sync_implementation.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"

namespace bnh::cli {

namespace {

constexpr const char* list_usage = R"(usage: bnh list

Prints each built-in implementation: its name, a one-line description, its role in a benchmark
(baseline, built-in or peer), the dtypes and layouts it supports and the operations it provides.
Then the built-in synchronized implementations, whose batch is split across ranks (role
synchronized; `bnh check --impl NAME --ranks K` checks one).
)";

template <typename AnyImplementation>
std::string capabilities(const AnyImplementation& implementation) {
  std::string text;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      TensorDesc desc;
      desc.dtype = dtype;
      desc.layout = layout;
      if (implementation.supports(desc)) {
        text += (text.empty() ? "" : " ") + std::string(to_string(dtype)) + "/" + to_string(layout);
      }
    }
  }
  return text.empty() ? "none" : text;
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
  std::cout << std::left << std::setw(10) << implementation.name() << ' ' << implementation.description() << '\n'
            << std::setw(10) << "" << " role:         " << role << '\n'
            << std::setw(10) << "" << " dtype/layout: " << capabilities(implementation) << '\n'
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
