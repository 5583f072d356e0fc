// The conformance runner: the whole property catalogue on one implementation, under a budget,
// with rapidcheck generating and shrinking the cases. ctest and `bnh check` both call it.
//
// A verdict says what was checked. A valid call that a plugin refuses (bnh::PluginRefusal) sets
// its case aside and is listed, not failed; a plugin that misbehaves (bnh::PluginFault) fails.
// Bad input a plugin accepts silently is its own verdict (input validation), a failure only
// when strict. docs/verdicts.md says what each outcome means.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/bad_input.hpp"
#include "properties/properties.hpp"

namespace bnh {

struct ConformanceOptions {
  int cases = 100;                      // generated cases per property
  std::int64_t max_elements = 4096;     // largest tensor of the small cases
  std::uint64_t seed = 0;               // 0: rapidcheck's own (RC_PARAMS seed=..., else random)
  bool shrink = true;
  std::vector<std::string> properties;  // empty: the whole catalogue
  // Data dtypes, each with its statistics dtype ("bf16:bf16"); the small cases are spread over
  // them, the realistic ones run for each. bnh check has a default of its own (cli/check.cpp).
  std::vector<DTypeChoice> dtypes{DType::f32, DType::f64};
  std::vector<Layout> layouts{Layout::nchw, Layout::nhwc};
  // false: bad input accepted silently is reported, not failed (plugins, unless --strict).
  // Misbehaviour on bad input fails either way.
  bool strict_input = true;
  // Property::realistic_cases cases of realistic size per dtype and layout, after the small ones,
  // for the dtypes of realistic_dtypes that are among `dtypes` (empty: all of `dtypes`).
  bool realistic = true;
  std::vector<DTypeChoice> realistic_dtypes;
  // Synchronized runs (properties/sync_conformance.hpp): the ranks the cases' shard splits are
  // drawn for, or the split forced on every case (ShapeLimits), and a call made with each case
  // before its check (it sets the implementation's split).
  int ranks = 1;
  std::vector<std::int64_t> forced_shards;
  std::function<void(const Case&)> prepare_case;
};

struct PropertyResult {
  enum class Status { passed, failed, skipped };
  std::string property, targets;
  Status status = Status::passed;
  bool generated = true;                // false: input validation, run once
  int cases = 0;                        // cases run: those that passed, plus the failing one
  double worst_bound_fraction = 0;      // largest error / its bound (1: at it); of the
                                        // counterexample when the property failed
  std::string counterexample;           // the shrunk failing case, one line
  std::string failure;                  // what broke, on the shrunk case; why it was skipped
  std::string reproduce;                // the RC_PARAMS value that replays the failure
  double seconds = 0;
  // Valid cases the implementation refused (bnh::PluginRefusal): set aside, not failures.
  int refusals = 0;
  std::string first_refused_case;       // its case spec
  std::string refusal_reason;           // what the implementation said
  // Input validation only: bad input run without a refusal, and misbehaviour on bad input.
  std::vector<BadInputFinding> accepted_bad_input, faulted_bad_input;
};

struct ConformanceResult {
  std::string implementation;
  std::uint64_t seed = 0;
  bool strict_input = true;
  std::vector<PropertyResult> properties;
  bool passed() const;                  // no property failed
  std::vector<std::string> failed_properties() const;
  // Empty when something was checked; otherwise why nothing was: every property that runs on
  // generated cases was skipped (every one, when none of those was asked for).
  std::string nothing_checked() const;
  const PropertyResult* input_validation() const;  // nullptr when it did not run
};

PropertyResult run_property(Implementation& implementation, const Property& property,
                            const ConformanceOptions& options);

ConformanceResult run_conformance(
    Implementation& implementation, const ConformanceOptions& options,
    const std::function<void(const PropertyResult&)>& on_property = {});
// The same on a given list of properties (the catalogue and more), those options.properties
// names when it names any.
ConformanceResult run_properties(
    Implementation& implementation, const std::vector<Property>& properties,
    const ConformanceOptions& options, const std::function<void(const PropertyResult&)>& on_property = {});

// One property on one given case (the replay of a counterexample), with the runner's rules
// for refusals and faults.
struct CaseVerdict {
  enum class Outcome { held, failed, does_not_apply, refused };
  CaseVerdict() = default;
  CaseVerdict(Outcome outcome, std::string message, BoundFraction bound_fraction = {})
      : outcome(outcome), message(std::move(message)), bound_fraction(bound_fraction) {}
  Outcome outcome = Outcome::held;
  std::string message;
  // The check's largest error as a fraction of its bound (held or failed; properties.hpp).
  BoundFraction bound_fraction;
};
CaseVerdict check_case(Implementation& implementation, const Property& property,
                       const Case& test_case, const ConformanceOptions& options);

}  // namespace bnh
