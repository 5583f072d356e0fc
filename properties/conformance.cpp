#include "properties/conformance.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

#include <rapidcheck.h>

#include "properties/generators.hpp"

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
  return has(options.dtypes, desc.dtype) && has(options.layouts, desc.layout) && impl.supports(desc);
}

}  // namespace

PropertyResult run_property(Implementation& impl, const Property& property,
                            const ConformanceOptions& options) {
  PropertyResult result;
  result.property = property.name;
  result.targets = property.targets;
  const auto start = std::chrono::steady_clock::now();
  take_worst_bound_fraction();
  auto finish = [&] {
    result.worst_bound_fraction = take_worst_bound_fraction();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  if (!provides(impl, property)) {
    result.status = PropertyResult::Status::skipped;
    result.failure = "the implementation does not provide the operations it needs";
    return finish();
  }
  if (!property.generated) {
    try {
      property.check(impl, Case{});
      result.cases = 1;
    } catch (const PropertyFailure& failure) {
      result.status = PropertyResult::Status::failed;
      result.failure = failure.what();
    }
    return finish();
  }
  bool any_shape = false;
  for (DType dtype : options.dtypes) {
    for (Layout layout : options.layouts) {
      any_shape = any_shape || wanted(TensorDesc{2, 1, 1, 1, layout, dtype}, options, impl);
    }
  }
  if (!any_shape) {
    result.status = PropertyResult::Status::skipped;
    result.failure = "no requested dtype and layout is supported";
    return finish();
  }

  ShapeLimits limits;
  limits.max_elements = options.max_elements;
  const auto specs = rc::gen::suchThat(gen_case_spec(limits), [&](const CaseSpec& spec) {
    return wanted(spec.desc, options, impl);
  });
  const auto testable = [&] {
    const CaseSpec spec = *specs;
    const Case test_case = make_case(spec);
    try {
      property.check(impl, test_case);
    } catch (const Unsupported&) {
      RC_DISCARD("case does not apply");
    } catch (const PropertyFailure& failure) {
      RC_FAIL(describe_case(test_case) + "\n" + failure.what());
    } catch (const std::exception& error) {
      RC_FAIL(describe_case(test_case) + "\nthe implementation failed on a valid call: " + error.what());
    }
  };

  rc::detail::TestMetadata metadata;
  metadata.id = impl.name() + "/" + property.name;
  metadata.description = metadata.id;
  const auto& configuration = quiet_configuration();
  rc::detail::TestParams params = configuration.testParams;
  params.maxSuccess = options.cases;
  params.maxSize = 100;
  params.maxDiscardRatio = 20;
  params.disableShrinking = params.disableShrinking || !options.shrink;
  if (options.seed != 0) params.seed = options.seed;
  QuietListener listener;
  const auto outcome = rc::detail::checkProperty(rc::detail::toProperty(testable), metadata, params,
                                                 listener, configuration.reproduce);

  rc::detail::SuccessResult success;
  rc::detail::FailureResult failure;
  rc::detail::GaveUpResult gave_up;
  rc::detail::Error error;
  if (outcome.match(success)) {
    result.cases = success.numSuccess;
  } else if (outcome.match(failure)) {
    result.status = PropertyResult::Status::failed;
    result.cases = failure.numSuccess;
    // rapidcheck puts the failing assertion's location first; the message follows a blank line.
    std::string message = failure.description;
    if (const auto blank = message.find("\n\n"); message.find("RC_FAIL(") != std::string::npos &&
                                                  blank != std::string::npos) {
      message = message.substr(blank + 2);
    }
    const auto newline = message.find('\n');
    result.counterexample = message.substr(0, newline);
    result.failure = newline == std::string::npos ? message : message.substr(newline + 1);
    rc::detail::Configuration replay;
    replay.reproduce[metadata.id] = failure.reproduce;
    result.reproduce = rc::detail::configToMinimalString(replay);
  } else if (outcome.match(gave_up)) {
    // Every generated case was one the property does not apply to.
    result.cases = gave_up.numSuccess;
    if (gave_up.numSuccess == 0) {
      result.status = PropertyResult::Status::skipped;
      result.failure = "no generated case applied";
    }
  } else if (outcome.match(error)) {
    result.status = PropertyResult::Status::failed;
    result.failure = "property runner error: " + error.description;
  }
  return finish();
}

ConformanceResult run_conformance(Implementation& impl, const ConformanceOptions& options,
                                  const std::function<void(const PropertyResult&)>& on_property) {
  ConformanceResult result;
  result.implementation = impl.name();
  ConformanceOptions fixed = options;
  // One seed for the whole run, so that the report can say how to reproduce it.
  if (fixed.seed == 0) {
    fixed.seed = quiet_configuration().testParams.seed;
    if (fixed.seed == 0) fixed.seed = std::random_device{}() | 1;
  }
  result.seed = fixed.seed;
  for (const auto& property : property_catalogue()) {
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
