// Transitional: the accuracy sweep lives in properties/accuracy_sweep.hpp; these wrappers give
// its points as the report's JSON "accuracy" entries until the report schema writes them.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "properties/accuracy_sweep.hpp"

namespace bnh::reports {

using bnh::AccuracyOptions;
using bnh::AccuracyProgress;
using bnh::condition_of;
using bnh::make_conditioned_case;
using bnh::shape_with_m;

// The points as the report's "accuracy" entries (docs/report-schema.md).
nlohmann::json accuracy_entries(const std::vector<AccuracyPoint>& points);

// The options by non-const reference, so that an unqualified call with an lvalue under `using
// namespace bnh::reports` picks these over bnh::measure_accuracy (found by argument lookup).
nlohmann::json measure_accuracy(const std::vector<Implementation*>& implementations, AccuracyOptions& options,
                                const AccuracyProgress& progress = {});
nlohmann::json measure_accuracy(AccuracyOptions& options, const AccuracyProgress& progress = {});

}  // namespace bnh::reports
