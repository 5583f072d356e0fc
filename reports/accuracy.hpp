// Accuracy against conditioning, for the report's "accuracy" entries: every implementation's
// every operation, per dtype, on generated cases whose channels have a chosen ratio of mean to
// standard deviation (kappa), compared with the 50-digit reference under the tolerance model
// (properties/reference_agreement.hpp, docs/tolerances.md). Small shapes and a few cases: it
// runs inside `bnh bench` in seconds.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bnh/types.hpp"
#include "properties/case.hpp"
#include "properties/generators.hpp"

namespace bnh::reports {

// The case of `spec` (its regime is replaced by standard normal data) with every channel of x
// shifted so that its mean is exactly kappa times its standard deviation (before x is rounded
// to the dtype), alternately positive and negative; the running mean moves with it, so that
// renorm's r and d stay what they were. kappa = 0 leaves the data centred.
Case make_conditioned_case(const CaseSpec& spec, double kappa);

// The largest |mean| / standard deviation over the channels of a case's x.
double condition_of(const Case& test_case);

struct AccuracyOptions {
  std::vector<std::string> implementations;   // empty: every registered implementation
  std::vector<Operation> operations;          // empty: all five
  std::vector<DType> dtypes{DType::f32, DType::f64};
  std::vector<double> kappas{1, 1e2, 1e4, 1e6, 1e8};   // the large-mean points
  int cases = 4;                              // per point; layouts alternate NCHW, NHWC
  TensorDesc shape{16, 4, 8, 8};              // M = 1024 per channel
  std::uint64_t seed = 1;
};

// One entry per implementation x operation x dtype x (regime, kappa): the "normal" regime
// (make_case's standard-normal data, kappa its measured condition) and the "large-mean" regime
// at each of options.kappas. Unsupported combinations are left out. `progress` is called after
// each implementation x operation x dtype with (done, total).
nlohmann::json measure_accuracy(const AccuracyOptions& options,
                                const std::function<void(int, int)>& progress = {});

}  // namespace bnh::reports
