#include <iomanip>
#include <iostream>

#include "bnh/registry.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"

namespace bnh::cli {

namespace {

constexpr const char* list_usage = R"(usage: bnh list

Prints each built-in implementation: its name, a one-line description, its role in a benchmark
(baseline, built-in or peer), the dtypes and layouts it supports and the operations it provides.
)";

std::string capabilities(const Implementation& implementation) {
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

std::string operations(const Implementation& implementation) {
  std::string text;
  for (Operation operation : all_operations) {
    if (implementation.supports(operation)) text += (text.empty() ? "" : " ") + std::string(to_string(operation));
  }
  return text.empty() ? "none" : text;
}

}  // namespace

int run_list(const std::vector<std::string>& words) {
  if (!arguments_or_help("list", words, {}, {}, list_usage)) return exit_status::success;
  for (const auto& entry : registered_implementations()) {
    const auto implementation = entry.make();
    std::cout << std::left << std::setw(10) << implementation->name() << ' '
              << implementation->description() << '\n'
              << std::setw(10) << "" << " role:         " << to_string(entry.role) << '\n'
              << std::setw(10) << "" << " dtype/layout: " << capabilities(*implementation) << '\n'
              << std::setw(10) << "" << " operations:   " << operations(*implementation) << '\n';
  }
  return exit_status::success;
}

}  // namespace bnh::cli
