#include "reports/accuracy.hpp"

#include <cmath>

namespace bnh::reports {

namespace {

// JSON has no infinity: an infinite error is written as null.
nlohmann::json finite_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json accuracy_entries(const std::vector<AccuracyPoint>& points) {
  nlohmann::json entries = nlohmann::json::array();
  for (const AccuracyPoint& point : points) {
    nlohmann::json entry = {
        {"implementation", point.implementation},
        {"operation", to_string(point.operation)},
        {"dtype", to_string(point.dtype)},
        {"regime", to_string(point.regime)},
        {"kappa", point.kappa},
        {"m", point.m},
        {"shape", point.shape},
        {"max_ulp_error", finite_or_null(point.max_ulp_error)},
        {"max_scaled_error", finite_or_null(point.max_scaled_error)},
        {"bound", point.bound},
        {"worst_output", point.worst_output},
        {"cases", point.cases},
        {"failed_cases", point.failed_cases},
    };
    if (!point.error.empty()) entry["error"] = point.error;
    entries.push_back(std::move(entry));
  }
  return entries;
}

nlohmann::json measure_accuracy(const std::vector<Implementation*>& implementations, AccuracyOptions& options,
                                const AccuracyProgress& progress) {
  return accuracy_entries(bnh::measure_accuracy(implementations, options, progress));
}

nlohmann::json measure_accuracy(AccuracyOptions& options, const AccuracyProgress& progress) {
  return accuracy_entries(bnh::measure_accuracy(options, progress));
}

}  // namespace bnh::reports
