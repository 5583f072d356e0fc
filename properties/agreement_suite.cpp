#include "properties/agreement_suite.hpp"

#include <algorithm>
#include <random>

#include "properties/case.hpp"

namespace bnh {

std::vector<TensorDesc> edge_shapes() {
  return {
      {2, 1, 1, 1},     // M = 2, C = 1: the smallest training batch
      {1, 3, 2, 1},     // N = 1, M = 2
      {64, 16, 1, 1},   // 2-D (N, C)
      {4, 3, 5, 7},
      {3, 17, 9, 11},   // nothing is a multiple of a vector width
      {2, 33, 4, 4},
  };
}

namespace {

std::vector<TensorDesc> random_shapes(std::uint64_t seed, int count) {
  std::mt19937_64 engine(seed ^ 0x5eedULL);
  std::uniform_int_distribution<std::int64_t> batch(1, 8), channels(1, 12), side(1, 9);
  std::vector<TensorDesc> shapes;
  while (static_cast<int>(shapes.size()) < count) {
    TensorDesc desc{batch(engine), channels(engine), side(engine), side(engine)};
    if (desc.per_channel() >= 2) shapes.push_back(desc);
  }
  return shapes;
}

}  // namespace

std::vector<AgreementSummary> run_agreement_suite(
    Implementation& implementation, const AgreementSuiteOptions& options,
    const std::function<void(const std::string&)>& progress) {
  auto shapes = edge_shapes();
  const auto extra = random_shapes(options.seed, options.random_shapes);
  shapes.insert(shapes.end(), extra.begin(), extra.end());

  std::vector<AgreementSummary> summaries;
  for (Operation operation : options.operations) {
    for (DType dtype : options.dtypes) {
      for (Layout layout : options.layouts) {
        AgreementSummary summary;
        summary.operation = operation;
        summary.dtype = dtype;
        summary.layout = layout;
        if (progress) {
          progress(implementation.name() + " " + to_string(operation) + " " + to_string(dtype) +
                   " " + to_string(layout));
        }
        std::uint64_t case_seed = options.seed;
        for (TensorDesc desc : shapes) {
          desc.dtype = dtype;
          desc.layout = layout;
          const Case test_case = random_case(desc, case_seed++);
          const AgreementResult result = check_reference_agreement(implementation, test_case, operation);
          if (!result.supported) {
            summary.supported = false;
            break;
          }
          ++summary.cases;
          for (const auto& output : result.outputs) {
            summary.worst_bound_fraction =
                std::max(summary.worst_bound_fraction, output.max_scaled_error / output.bound);
            summary.worst_ulp_error = std::max(summary.worst_ulp_error, output.max_ulp_error);
          }
          if (!result.passed()) {
            if (summary.failures++ == 0) {
              summary.first_failure = test_case.summary() + " (seed " +
                                      std::to_string(case_seed - 1) + ")\n" + result.describe();
            }
          }
        }
        summaries.push_back(summary);
      }
    }
  }
  return summaries;
}

}  // namespace bnh
