#include "properties/conformance.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <random>

#include <rapidcheck.h>

#include "properties/generators.hpp"
#include "properties/observed_implementation.hpp"

namespace bnh {

bool ConformanceResult::passed() const {
  for (const auto& property : properties) {
    if (property.status == PropertyResult::Status::failed) return false;
  }
  return true;
}

std::vector<std::string> ConformanceResult::failed_properties() const {
  std::vector<std::string> names;
  for (const auto& property : properties) {
    if (property.status == PropertyResult::Status::failed) names.push_back(property.property);
  }
  return names;
}

std::string ConformanceResult::nothing_checked() const {
  // Input validation alone does not say whether the numbers are right: it counts only when it
  // is all that was asked for.
  const bool numbers_asked = std::any_of(properties.begin(), properties.end(),
                                         [](const PropertyResult& p) { return p.generated; });
  std::vector<std::string> reasons;
  for (const auto& property : properties) {
    if (numbers_asked && !property.generated) continue;
    if (property.status != PropertyResult::Status::skipped) return {};
    if (std::find(reasons.begin(), reasons.end(), property.failure) == reasons.end()) reasons.push_back(property.failure);
  }
  std::string text = "every property was skipped (";
  for (std::size_t i = 0; i < reasons.size(); ++i) text += (i == 0 ? "" : "; ") + reasons[i];
  return reasons.empty() ? "no property was run" : text + ")";
}

const PropertyResult* ConformanceResult::input_validation() const {
  for (const auto& property : properties) {
    if (property.property == bad_input_property && property.status != PropertyResult::Status::skipped) return &property;
  }
  return nullptr;
}

namespace {

// The runner reports results itself; rapidcheck's own progress output would interleave.
class QuietListener final : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

// rapidcheck reads RC_PARAMS on first use and announces it on stderr; the runner reports the
// seed it uses itself.
const rc::detail::Configuration& quiet_configuration() {
  std::streambuf* saved = std::cerr.rdbuf(nullptr);
  const auto& configuration = rc::detail::configuration();
  std::cerr.rdbuf(saved);
  return configuration;
}

bool provides(Implementation& impl, const Property& property) {
  if (property.any_operation) {
    return std::any_of(property.operations.begin(), property.operations.end(),
                       [&](Operation op) { return impl.supports(op); });
  }
  return std::all_of(property.operations.begin(), property.operations.end(),
                     [&](Operation op) { return impl.supports(op); });
}

bool wanted(const TensorDesc& desc, const ConformanceOptions& options, Implementation& impl) {
  const auto has = [](const auto& list, auto value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  return has(options.dtypes, DTypeChoice::of(desc)) && has(options.layouts, desc.layout) && impl.supports(desc);
}

// A fault anywhere in the case fails it; otherwise a refusal anywhere sets it aside.
CaseVerdict judge(Observed& observed, const Property& property, const Case& test_case,
                  const ConformanceOptions& options) {
  using Outcome = CaseVerdict::Outcome;
  observed.forget();
  CaseVerdict verdict;
  try {
    if (options.prepare_case) options.prepare_case(test_case);
    verdict.bound_fraction = property.check(observed, test_case);
  } catch (const Unsupported& why) {
    verdict = {Outcome::does_not_apply, why.what()};
  } catch (const PropertyFailure& failure) {
    verdict = {Outcome::failed, failure.what(), failure.bound_fraction()};
  } catch (const std::exception& error) {
    verdict = {Outcome::failed, std::string("the implementation failed on a valid call: ") + error.what()};
  }
  if (!observed.fault.empty()) return {Outcome::failed, "the implementation failed on a valid call: " + observed.fault};
  if (!observed.refusal.empty()) return {Outcome::refused, observed.refusal};
  return verdict;
}

bool is_input_validation(const Property& property) { return property.name == std::string(bad_input_property); }

// Input validation: its own verdict, a failure on misbehaviour, and on silent acceptance only
// when strict.
void validate_input(Implementation& impl, const ConformanceOptions& options, PropertyResult& result) {
  const InputValidation validation = check_input_validation(impl);
  result.cases = validation.presented;
  result.accepted_bad_input = validation.accepted;
  result.faulted_bad_input = validation.faulted;
  result.failure = input_validation_failure(validation, options.strict_input);
  if (!result.failure.empty()) {
    result.status = PropertyResult::Status::failed;
  } else if (validation.presented == 0) {
    result.status = PropertyResult::Status::skipped;
    result.failure = "no operation to present bad input to";
  }
}

// What the cases of one property came to, over its rapidcheck runs.
struct Tally {
  int refused_in_run = 0, accepted_in_run = 0;
  bool searching = true;      // false once a case failed: what follows is shrinking
  CaseSpec failing;           // the last case that failed: the shrunk counterexample
  bool failed = false;
  BoundFraction bound_fraction;  // over the cases that held before any failed
};

// One rapidcheck run of `property` on cases drawn from `specs`; returns how many passed, and
// fills `result` on a failure.
int run_cases(Observed& observed, const Property& property, const rc::Gen<CaseSpec>& specs,
              const std::string& id, int cases, std::uint64_t seed, const ConformanceOptions& options,
              Tally& tally, PropertyResult& result) {
  using Outcome = CaseVerdict::Outcome;
  tally.refused_in_run = tally.accepted_in_run = 0;
  // A plugin that has refused every case so far is not asked again: the rest of the run's
  // draws are set aside unseen, so refusing everything costs little.
  const int refusal_limit = std::max(cases, 5);
  const auto testable = [&] {
    const CaseSpec spec = *specs;
    if (tally.accepted_in_run == 0 && tally.refused_in_run >= refusal_limit) RC_DISCARD("every case refused");
    const Case test_case = make_case(spec);
    const CaseVerdict verdict = judge(observed, property, test_case, options);
    switch (verdict.outcome) {
      case Outcome::held:
        if (tally.searching) {
          ++tally.accepted_in_run;
          tally.bound_fraction.note(verdict.bound_fraction);
        }
        return;
      case Outcome::does_not_apply:
        RC_DISCARD("case does not apply");
      case Outcome::refused:
        if (tally.searching && tally.refused_in_run++ == 0 && result.refusals == 0) {
          result.first_refused_case = spec.to_string();
          result.refusal_reason = verdict.message;
        }
        if (tally.searching) ++result.refusals;
        RC_DISCARD("refused by the implementation");
      case Outcome::failed:
        tally.searching = false;
        tally.failed = true;
        tally.failing = spec;
        RC_FAIL(describe_case(test_case) + "\n" + verdict.message);
    }
  };

  rc::detail::TestMetadata metadata;
  metadata.id = id;
  metadata.description = id;
  const auto& configuration = quiet_configuration();
  rc::detail::TestParams params = configuration.testParams;
  params.maxSuccess = cases;
  params.maxSize = 100;
  // Generous, so that a plugin refusing a kind of shape (every N = 1, say) still gets its full
  // count of cases; one refusing everything is cut short above.
  params.maxDiscardRatio = 100;
  params.disableShrinking = params.disableShrinking || !options.shrink;
  params.seed = seed;
  QuietListener listener;
  const auto outcome = rc::detail::checkProperty(rc::detail::toProperty(testable), metadata, params,
                                                 listener, configuration.reproduce);

  rc::detail::SuccessResult success;
  rc::detail::FailureResult failure;
  rc::detail::GaveUpResult gave_up;
  rc::detail::Error error;
  if (outcome.match(success)) return success.numSuccess;
  if (outcome.match(gave_up)) return gave_up.numSuccess;  // the rest were set aside
  result.status = PropertyResult::Status::failed;
  if (outcome.match(error)) {
    result.failure = "property runner error: " + error.description;
    return 0;
  }
  outcome.match(failure);
  // rapidcheck puts the failing assertion's location first; the message follows a blank line.
  std::string message = failure.description;
  if (const auto blank = message.find("\n\n");
      message.find("RC_FAIL(") != std::string::npos && blank != std::string::npos) {
    message = message.substr(blank + 2);
  }
  const auto newline = message.find('\n');
  result.counterexample = message.substr(0, newline);
  result.failure = newline == std::string::npos ? message : message.substr(newline + 1);
  rc::detail::Configuration replay;
  replay.reproduce[metadata.id] = failure.reproduce;
  result.reproduce = rc::detail::configToMinimalString(replay);
  return failure.numSuccess;
}

}  // namespace

CaseVerdict check_case(Implementation& impl, const Property& property, const Case& test_case,
                       const ConformanceOptions& options) {
  using Outcome = CaseVerdict::Outcome;
  if (!provides(impl, property)) return {Outcome::does_not_apply, "the implementation does not provide the operations it needs"};
  if (is_input_validation(property)) {
    PropertyResult result;
    validate_input(impl, options, result);
    if (result.status == PropertyResult::Status::failed) return {Outcome::failed, result.failure};
    if (!result.accepted_bad_input.empty()) return {Outcome::held, "accepted bad input (not strict): " + by_operation(result.accepted_bad_input)};
    return {result.status == PropertyResult::Status::skipped ? Outcome::does_not_apply : Outcome::held, result.failure};
  }
  Observed observed(impl);
  return judge(observed, property, test_case, options);
}

PropertyResult run_property(Implementation& impl, const Property& property,
                            const ConformanceOptions& options) {
  PropertyResult result;
  result.property = property.name;
  result.targets = property.targets;
  result.generated = property.generated;
  const auto start = std::chrono::steady_clock::now();
  auto finish = [&] {
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  if (!provides(impl, property)) {
    result.status = PropertyResult::Status::skipped;
    result.failure = "the implementation does not provide the operations it needs";
    return finish();
  }
  if (is_input_validation(property)) {
    validate_input(impl, options, result);
    return finish();
  }
  if (!property.generated) {  // once, on no generated case
    Observed observed(impl);
    const CaseVerdict verdict = judge(observed, property, Case{}, options);
    using Outcome = CaseVerdict::Outcome;
    result.status = verdict.outcome == Outcome::held     ? PropertyResult::Status::passed
                    : verdict.outcome == Outcome::failed ? PropertyResult::Status::failed
                                                         : PropertyResult::Status::skipped;
    result.cases = result.status == PropertyResult::Status::skipped ? 0 : 1;
    result.failure = verdict.message;
    return finish();
  }
  std::vector<TensorDesc> kinds;  // the requested dtypes and layouts the implementation has
  std::vector<DTypeChoice> dtypes;  // those dtypes, once each
  for (const DTypeChoice& choice : options.dtypes) {
    for (Layout layout : options.layouts) {
      TensorDesc kind{2, 1, 1, 1, layout};
      choice.apply(kind);
      if (!wanted(kind, options, impl)) continue;
      kinds.push_back(kind);
      if (std::find(dtypes.begin(), dtypes.end(), choice) == dtypes.end()) dtypes.push_back(choice);
    }
  }
  if (kinds.empty()) {
    result.status = PropertyResult::Status::skipped;
    result.failure = "no requested dtype and layout is supported";
    return finish();
  }

  const auto& configuration = quiet_configuration();
  const std::uint64_t seed = options.seed != 0 ? options.seed : configuration.testParams.seed;
  const std::string id = impl.name() + "/" + property.name;
  Observed observed(impl);
  Tally tally;

  // The small cases: shapes a counterexample can shrink to, capped by max_elements.
  ShapeLimits limits;
  limits.max_elements = options.max_elements;
  limits.dtypes = dtypes;
  limits.ranks = options.ranks;
  limits.forced_shards = options.forced_shards;
  const auto split = rc::gen::map(gen_case_spec(limits), [limits](const CaseSpec& spec) { return with_shards(spec, limits); });
  const auto specs = rc::gen::suchThat(split, [&](const CaseSpec& spec) { return wanted(spec.desc, options, impl); });
  int passed = run_cases(observed, property, specs, id, options.cases, seed, options, tally, result);
  bool accepted_any = passed > 0;

  // Realistic sizes, per dtype and layout (large by design: max_elements does not apply),
  // unless the plugin has refused every case so far.
  const bool all_refused = passed == 0 && result.refusals > 0;
  if (options.realistic && property.realistic_cases > 0 && !tally.failed && !all_refused) {
    ShapeLimits realistic_limits;
    realistic_limits.max_elements = std::numeric_limits<std::int64_t>::max();
    realistic_limits.ranks = options.ranks;
    realistic_limits.forced_shards = options.forced_shards;
    std::uint64_t run = 0;
    for (const TensorDesc& kind : kinds) {
      if (tally.failed) break;
      const auto& only = options.realistic_dtypes;
      if (!only.empty() && std::find(only.begin(), only.end(), DTypeChoice::of(kind)) == only.end()) continue;
      const auto realistic = rc::gen::map(gen_realistic_case_spec(realistic_limits), [kind, realistic_limits](CaseSpec spec) {
        DTypeChoice::of(kind).apply(spec.desc);
        spec.desc.layout = kind.layout;
        return with_shards(spec, realistic_limits);
      });
      const std::string kind_id = id + "/realistic " + dtypes_label(kind) + " " + to_string(kind.layout);
      const int ran = run_cases(observed, property, realistic, kind_id, property.realistic_cases,
                                seed + 0x9e3779b97f4a7c15ull * ++run, options, tally, result);
      passed += ran;
      accepted_any = accepted_any || ran > 0;
    }
  }
  result.cases = passed;

  if (tally.failed) {
    // The counterexample's own error against its bound, and the failing case counted.
    result.cases = passed + 1;
    result.worst_bound_fraction = judge(observed, property, make_case(tally.failing), options).bound_fraction.worst();
    return finish();
  }
  result.worst_bound_fraction = tally.bound_fraction.worst();
  if (result.status == PropertyResult::Status::passed && !accepted_any) {
    result.status = PropertyResult::Status::skipped;
    result.failure = result.refusals > 0 ? "every case refused" : "no generated case applied";
  }
  return finish();
}

ConformanceResult run_conformance(Implementation& impl, const ConformanceOptions& options,
                                  const std::function<void(const PropertyResult&)>& on_property) {
  return run_properties(impl, property_catalogue(), options, on_property);
}

ConformanceResult run_properties(Implementation& impl, const std::vector<Property>& properties,
                                 const ConformanceOptions& options,
                                 const std::function<void(const PropertyResult&)>& on_property) {
  ConformanceResult result;
  result.implementation = impl.name();
  result.strict_input = options.strict_input;
  ConformanceOptions fixed = options;
  // One seed for the whole run, so that the report can say how to reproduce it.
  if (fixed.seed == 0) {
    fixed.seed = quiet_configuration().testParams.seed;
    if (fixed.seed == 0) fixed.seed = std::random_device{}() | 1;
  }
  result.seed = fixed.seed;
  for (const auto& property : properties) {
    if (!options.properties.empty() &&
        std::find(options.properties.begin(), options.properties.end(), property.name) ==
            options.properties.end()) {
      continue;
    }
    result.properties.push_back(run_property(impl, property, fixed));
    if (on_property) on_property(result.properties.back());
  }
  return result;
}

}  // namespace bnh
