// Runs reference agreement over a set of shapes, dtypes, layouts and operations for one
// implementation, and summarizes the worst errors per (operation, dtype, layout).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/reference_agreement.hpp"

namespace bnh {

struct AgreementSuiteOptions {
  std::uint64_t seed = 1;
  int random_shapes = 8;   // in addition to the fixed edge shapes
  std::vector<DType> dtypes{DType::f32, DType::f64};
  std::vector<Layout> layouts{Layout::nchw, Layout::nhwc};
  std::vector<Operation> operations{std::begin(all_operations), std::end(all_operations)};
};

struct AgreementSummary {
  Operation operation;
  DType dtype;
  Layout layout;
  bool supported = true;
  int cases = 0, failures = 0;
  double worst_bound_fraction = 0;   // max over cases and outputs of scaled error / bound
  double worst_ulp_error = 0;
  std::string first_failure;         // case summary and what failed
};

// The shapes every run covers: M = 2, C = 1, a 2-D input, sizes that are no multiple of any
// vector width.
std::vector<TensorDesc> edge_shapes();

std::vector<AgreementSummary> run_agreement_suite(
    Implementation& implementation, const AgreementSuiteOptions& options,
    const std::function<void(const std::string&)>& progress = {});

}  // namespace bnh
