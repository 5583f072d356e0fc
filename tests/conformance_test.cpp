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

// Known findings: properties an outside library (a peer, impls/peers/) fails under the
// tolerance model, with what was measured (docs/peers.md has the counterexamples). They are
// findings about that library, not about the harness: the bound stays as it is, and these pairs
// are reported as skipped here so that CI stays green on what the peers do meet. `bnh check
// --impl onednn,aten` still runs them and shows the failures.
struct KnownFinding {
  const char* implementation;
  const char* property;
  const char* reason;
};

// Two causes, in f32 only (docs/peers.md, "What the checks found"): [sums] the channel
// statistics are summed in f32 arithmetic, whose error grows with M beyond the bound's
// 2 log2(M) (near-constant channels, channels-last kernels most); [overflow] the f32 sum of
// squared deviations overflows on the `huge` regime (|x| up to 1.5e18), so var = inf, invstd = 0
// and y = beta. Figures: the shrunk counterexamples of `bnh check --cases 1000`, seeds 1-16.
const KnownFinding known_findings[] = {
    {"onednn", "agreement_bn_forward_train",
     "[sums] save_mean 16 ulp off: scaled error 25.6 > bound 24.4 (M = 294); [overflow] y = beta"},
    {"onednn", "normalized_output", "[sums] mean of y 1.4e-4, allowed 9.3e-5 (M = 196)"},
    {"onednn", "shift_invariance", "[sums] y after a shift: 30.7 > bound 29.5 (M = 1715)"},
    {"onednn", "layout_equivalence", "[sums] save_mean nhwc against nchw: 56.1 > 51.7 (M = 490)"},
    {"onednn", "four_d_as_two_d", "[sums] save_mean as 2-D: 46.7 > 46.5 (M = 196)"},
    {"onednn", "running_statistics_update", "[sums] running_mean at momentum 1: 31.2 > 22.4 (M = 147)"},
    {"onednn", "scale_invariance", "[overflow] y after x * 4: 0 where 1.56 is expected (6.5e6 > 33)"},
    {"onednn", "inference_matches_training", "[overflow] training y 0 where inference gives -1.65 (M = 441)"},
    {"onednn", "finite_output", "[overflow] running_var = inf from finite input (M = 441)"},
    {"aten", "agreement_bn_forward_train",
     "[sums] save_mean 20 ulp off: scaled error 22.5 > bound 22.3 (M = 144); [overflow] y = beta"},
    {"aten", "normalized_output", "[sums] mean of y 0.139, allowed 0.123 (M = 128)"},
    {"aten", "shift_invariance", "[sums] y after a shift: 26.4 > bound 23.5 (M = 216)"},
    {"aten", "layout_equivalence", "[sums] y nhwc against nchw: 47.8 > 47.6 (M = 240)"},
    {"aten", "four_d_as_two_d", "[sums] y as 2-D: 51.9 > 47.6 (M = 240)"},
    {"aten", "running_statistics_update", "[sums] running_mean at momentum 1: 22.8 > 22.3 (M = 144)"},
    {"aten", "scale_invariance", "[overflow] y after x * 4: 0 where 1.68 is expected (6.9e6 > 33)"},
    {"aten", "inference_matches_training", "[overflow] training y 0 where inference gives -1.65 (M = 441)"},
    {"aten", "finite_output", "[overflow] running_var = inf from finite input (M = 441)"},
};

const KnownFinding* known_finding(const Subject& subject) {
  for (const auto& finding : known_findings) {
    if (subject.implementation == finding.implementation && subject.property == finding.property) {
      return &finding;
    }
  }
  return nullptr;
}

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
  if (const KnownFinding* finding = known_finding(GetParam())) {
    GTEST_SKIP() << "known finding: " << finding->reason;
  }
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

// The table names real properties (its implementations may be peers this build left out).
TEST(KnownFindings, NameCatalogueProperties) {
  for (const auto& finding : known_findings) EXPECT_NO_THROW(find_property(finding.property)) << finding.property;
}

INSTANTIATE_TEST_SUITE_P(Builtin, Conformance, testing::ValuesIn(subjects()),
                         [](const auto& info) { return info.param.implementation + "_" + info.param.property; });

}  // namespace
}  // namespace bnh
