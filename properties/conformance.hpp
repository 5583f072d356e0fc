// The conformance runner: the whole property catalogue on one implementation, under a budget,
// with rapidcheck generating and shrinking the cases. ctest and `bnh check` both call it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/properties.hpp"

namespace bnh {

struct ConformanceOptions {
  int cases = 100;                      // generated cases per property
  std::int64_t max_elements = 4096;     // largest tensor generated
  std::uint64_t seed = 0;               // 0: rapidcheck's own (RC_PARAMS seed=..., else random)
  bool shrink = true;
  std::vector<std::string> properties;  // empty: the whole catalogue
  std::vector<DType> dtypes{DType::f32, DType::f64};
  std::vector<Layout> layouts{Layout::nchw, Layout::nhwc};
};

struct PropertyResult {
  enum class Status { passed, failed, skipped };
  std::string property, targets;
  Status status = Status::passed;
  int cases = 0;                        // cases that passed before the verdict
  double worst_bound_fraction = 0;      // largest error / its bound over the cases (1: at it)
  std::string counterexample;           // the shrunk failing case, one line
  std::string failure;                  // what broke, on the shrunk case
  std::string reproduce;                // the RC_PARAMS value that replays the failure
  double seconds = 0;
};

struct ConformanceResult {
  std::string implementation;
  std::uint64_t seed = 0;
  std::vector<PropertyResult> properties;
  bool passed() const;
  std::vector<std::string> failed_properties() const;
};

PropertyResult run_property(Implementation& implementation, const Property& property,
                            const ConformanceOptions& options);

ConformanceResult run_conformance(
    Implementation& implementation, const ConformanceOptions& options,
    const std::function<void(const PropertyResult&)>& on_property = {});

}  // namespace bnh
