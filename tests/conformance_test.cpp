// The conformance suite as ctest runs it: one test per built-in implementation and property,
// with the budget of CI. RC_PARAMS is honoured (seed=..., reproduce=..., noshrink=1).
#include <gtest/gtest.h>

#include <iostream>

#include "bnh/registry.hpp"
#include "properties/conformance.hpp"

namespace bnh {
namespace {

struct Subject {
  std::string implementation, property;
};

std::vector<Subject> subjects() {
  std::vector<Subject> all;
  for (const auto& name : registered_names()) {
    for (const auto& property : property_catalogue()) all.push_back({name, property.name});
  }
  return all;
}

void PrintTo(const Subject& subject, std::ostream* out) {
  *out << subject.implementation << " / " << subject.property;
}

class Conformance : public testing::TestWithParam<Subject> {};

TEST_P(Conformance, PropertyHolds) {
  const auto impl = make_implementation(GetParam().implementation);
  ConformanceOptions options;
  options.cases = 200;
  options.max_elements = 2048;
  const PropertyResult result = run_property(*impl, find_property(GetParam().property), options);
  std::cout << "  " << result.cases << " cases, " << result.seconds << " s\n";
  EXPECT_NE(result.status, PropertyResult::Status::failed)
      << result.property << " failed after " << result.cases << " cases\n"
      << "counterexample: " << result.counterexample << "\n"
      << result.failure << "\n"
      << "reproduce: RC_PARAMS=\"" << result.reproduce << "\" " << testing::internal::GetArgvs()[0]
      << " --gtest_filter='*" << GetParam().implementation << "_" << GetParam().property << "'";
}

INSTANTIATE_TEST_SUITE_P(Builtin, Conformance, testing::ValuesIn(subjects()),
                         [](const auto& info) { return info.param.implementation + "_" + info.param.property; });

}  // namespace
}  // namespace bnh
