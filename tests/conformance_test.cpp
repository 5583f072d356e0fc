// The conformance suite as ctest runs it: one test per built-in implementation and property,
// with the budget of CI. RC_PARAMS is honoured (seed=..., reproduce=..., noshrink=1). Then the
// runner's verdicts (docs/verdicts.md), on naive behind a hook that acts as a plugin would.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <set>

#include "bnh/operations.hpp"
#include "bnh/registry.hpp"
#include "properties/conformance.hpp"
#include "properties/generators.hpp"

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
  // As bnh check by default: small cases of 16-bit data with f32 statistics beside f32 and
  // f64, realistic sizes in f32 and f64. The peers' 16-bit findings are their own
  // (docs/peers.md): they run in f32 and f64 here.
  if (registered_role(GetParam().implementation) != Role::peer) {
    options.dtypes = {DType::f32, DType::f64, DType::bf16, DType::f16};
    options.realistic_dtypes = {DType::f32, DType::f64};
  }
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

// ---- verdicts (docs/verdicts.md) ------------------------------------------------------------

// naive, with a hook before every call that may throw as a plugin would, or answer without
// calling naive at all (return true): accepting the call and leaving the outputs as they are.
class Hooked : public UniformImplementation {
 public:
  using Hook = std::function<bool(Operation, const TensorDesc&, const Params&)>;
  explicit Hooked(Hook hook, std::string name = "hooked")
      : inner_(make_implementation("naive")), hook_(std::move(hook)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return "naive behind a hook"; }
  bool supports(const TensorDesc& desc) const override { return inner_->supports(desc); }
  bool supports(Operation operation) const override { return inner_->supports(operation); }
  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    if (hook_(operation, desc, params)) return;
    call(*inner_, operation, desc, params, buffers);
    if (operation == Operation::bn_forward_train) after_forward(desc, buffers[3]);  // y
  }
  // A wrong forward: y off by a relative 1e-13 per element of the tensor (f64), so that the
  // error against the bound is smaller on smaller cases.
  bool skewed = false;

 private:
  void after_forward(const TensorDesc& desc, void* y) {
    if (!skewed || desc.dtype != DType::f64) return;
    auto* values = static_cast<double*>(y);
    for (std::int64_t i = 0; i < desc.elements(); ++i) values[i] *= 1 + 1e-13 * desc.elements();
  }
  std::unique_ptr<Implementation> inner_;
  Hook hook_;
  std::string name_;
};

bool no_hook(Operation, const TensorDesc&, const Params&) { return false; }

ConformanceOptions quick() {
  ConformanceOptions options;
  options.cases = 40;
  options.seed = 17;
  options.realistic = false;
  return options;
}

TEST(ConformanceVerdicts, RefusedValidShapesAreSetAsideAndListed) {
  Hooked impl([](Operation op, const TensorDesc& desc, const Params&) {
    if (desc.n == 1) throw PluginRefusal(std::string("hooked rejected ") + to_string(op) + ": N = 1 is not supported");
    return false;
  });
  const auto result = run_property(impl, find_property("agreement_bn_forward_train"), quick());
  EXPECT_EQ(result.status, PropertyResult::Status::passed) << result.failure;
  EXPECT_EQ(result.cases, 40);  // the full count, refusals aside
  EXPECT_GT(result.refusals, 0);
  EXPECT_EQ(CaseSpec::parse(result.first_refused_case).desc.n, 1) << result.first_refused_case;
  EXPECT_EQ(result.refusal_reason, "hooked rejected bn_forward_train: N = 1 is not supported");
}

TEST(ConformanceVerdicts, ABuiltInErrorOnAValidCallIsAFailure) {
  Hooked impl([](Operation, const TensorDesc& desc, const Params&) {
    if (desc.n == 1) throw Error("N = 1 is not supported");
    return false;
  });
  const auto result = run_property(impl, find_property("agreement_bn_forward_train"), quick());
  EXPECT_EQ(result.status, PropertyResult::Status::failed);
  EXPECT_NE(result.failure.find("N = 1 is not supported"), std::string::npos) << result.failure;
  EXPECT_EQ(result.refusals, 0);
}

TEST(ConformanceVerdicts, AFaultOnAValidCallIsAFailureEvenWhenThePropertyCatchesIt) {
  Hooked impl([](Operation, const TensorDesc& desc, const Params&) {
    if (desc.c >= 2) throw PluginFault("hooked bn_forward_train crashed with SIGSEGV");
    return false;
  });
  for (const char* name : {"agreement_bn_forward_train", "gradient_matches_finite_differences", "determinism"}) {
    const auto result = run_property(impl, find_property(name), quick());
    EXPECT_EQ(result.status, PropertyResult::Status::failed) << name;
    EXPECT_NE(result.failure.find("crashed with SIGSEGV"), std::string::npos) << name << ": " << result.failure;
  }
}

TEST(ConformanceVerdicts, RefusingEverythingIsNothingChecked) {
  Hooked impl([](Operation op, const TensorDesc&, const Params&) -> bool {
    throw PluginRefusal(std::string("hooked rejected ") + to_string(op) + ": no");
  });
  ConformanceOptions options = quick();
  options.properties = {"agreement_bn_forward_train", "determinism", "bad_input_refused"};
  const auto result = run_conformance(impl, options);
  ASSERT_EQ(result.properties.size(), 3u);
  for (const auto& property : result.properties) {
    if (!property.generated) continue;
    EXPECT_EQ(property.status, PropertyResult::Status::skipped) << property.property;
    EXPECT_EQ(property.failure, "every case refused");
    EXPECT_EQ(property.cases, 0);
  }
  EXPECT_TRUE(result.passed());
  EXPECT_EQ(result.nothing_checked(), "every property was skipped (every case refused)");
  // Input validation passed (every bad input refused), but it says nothing of the numbers.
  ASSERT_NE(result.input_validation(), nullptr);
  EXPECT_EQ(result.input_validation()->status, PropertyResult::Status::passed);
}

TEST(ConformanceVerdicts, OnlyDtypesNotAskedForIsNothingChecked) {
  const auto impl = make_implementation("naive");
  ConformanceOptions options = quick();
  options.properties = {"agreement_bn_forward_infer"};
  EXPECT_TRUE(run_conformance(*impl, options).nothing_checked().empty());
  options.dtypes.clear();  // as a plugin with f32 only, asked for f64
  EXPECT_EQ(run_conformance(*impl, options).nothing_checked(),
            "every property was skipped (no requested dtype and layout is supported)");
}

// A list of dtype choices: each case is one of them, the statistics dtype included; a choice the
// implementation lacks is left out, and one it has alone runs.
TEST(ConformanceVerdicts, CasesAreOfTheDtypesAskedFor) {
  const auto impl = make_implementation("naive");
  ConformanceOptions options = quick();
  options.cases = 20;
  options.dtypes = {{DType::bf16, DType::bf16}, {DType::f16}};
  std::set<std::string> labels;
  Hooked observed([&](Operation, const TensorDesc& desc, const Params&) {
    labels.insert(dtypes_label(desc));
    return false;
  });
  if (!impl->supports(TensorDesc{2, 1, 1, 1, Layout::nchw, DType::bf16})) GTEST_SKIP() << "naive has no bf16";
  const auto result = run_property(observed, find_property("agreement_bn_forward_train"), options);
  EXPECT_EQ(result.status, PropertyResult::Status::passed) << result.failure;
  EXPECT_EQ(labels, (std::set<std::string>{"bf16:bf16", "f16"}));
}

// Accepts momentum outside [0, 1] in the training forward without a word.
bool lax_momentum(Operation op, const TensorDesc&, const Params& params) {
  return op == Operation::bn_forward_train && !(params.momentum >= 0 && params.momentum <= 1);
}

TEST(ConformanceVerdicts, InputValidationFailsOnAcceptedBadInputOnlyWhenStrict) {
  Hooked impl(lax_momentum);
  ConformanceOptions options = quick();
  const auto strict = run_property(impl, find_property("bad_input_refused"), options);
  EXPECT_EQ(strict.status, PropertyResult::Status::failed);
  EXPECT_EQ(strict.failure, "accepted bad input: bn_forward_train: momentum = -0.1, momentum = 1.5, momentum = nan");
  options.strict_input = false;
  const auto lenient = run_property(impl, find_property("bad_input_refused"), options);
  EXPECT_EQ(lenient.status, PropertyResult::Status::passed) << lenient.failure;
  ASSERT_EQ(lenient.accepted_bad_input.size(), 3u);
  EXPECT_EQ(lenient.accepted_bad_input[0].input, "momentum = -0.1");
  EXPECT_TRUE(lenient.faulted_bad_input.empty());
  // The catalogue's own check is the strict one.
  EXPECT_THROW(find_property("bad_input_refused").check(impl, Case{}), PropertyFailure);
}

TEST(ConformanceVerdicts, MisbehaviourOnBadInputAlwaysFails) {
  Hooked impl([](Operation op, const TensorDesc&, const Params& params) {
    if (std::isnan(params.eps)) throw PluginFault(std::string("hooked ") + to_string(op) + " crashed with SIGSEGV");
    return false;
  });
  for (bool strict : {true, false}) {
    ConformanceOptions options = quick();
    options.strict_input = strict;
    const auto result = run_property(impl, find_property("bad_input_refused"), options);
    EXPECT_EQ(result.status, PropertyResult::Status::failed) << "strict " << strict;
    EXPECT_NE(result.failure.find("misbehaved on bad input: bn_forward_train: eps = nan"), std::string::npos) << result.failure;
    EXPECT_NE(result.failure.find("crashed with SIGSEGV"), std::string::npos) << result.failure;
    EXPECT_FALSE(result.faulted_bad_input.empty());
  }
}

TEST(ConformanceVerdicts, BuiltInsRefuseEveryBadInput) {
  const auto impl = make_implementation("naive");
  const InputValidation validation = check_input_validation(*impl);
  EXPECT_TRUE(validation.clean()) << by_operation(validation.accepted);
  EXPECT_GT(validation.presented, 100);
}

TEST(ConformanceVerdicts, AFailedPropertyCountsItsFailingCase) {
  Hooked impl([](Operation, const TensorDesc&, const Params&) -> bool { throw Error("broken"); });
  const auto result = run_property(impl, find_property("agreement_bn_forward_train"), quick());
  EXPECT_EQ(result.status, PropertyResult::Status::failed);
  EXPECT_EQ(result.cases, 1);  // no case passed; the failing one was run
}

TEST(ConformanceVerdicts, WorstBoundIsTheCounterexamples) {
  Hooked impl(no_hook);
  impl.skewed = true;
  ConformanceOptions options = quick();
  options.dtypes = {DType::f64};
  const Property& property = find_property("agreement_bn_forward_train");
  const auto result = run_property(impl, property, options);
  ASSERT_EQ(result.status, PropertyResult::Status::failed);
  EXPECT_GE(result.cases, 1);
  // Replayed by hand, the counterexample's own worst error against its bound.
  const CaseSpec spec = CaseSpec::parse(result.counterexample.substr(0, result.counterexample.find(" | ")));
  double replayed = 0;
  try {
    property.check(impl, make_case(spec));
    ADD_FAILURE() << "the counterexample passed when replayed";
  } catch (const PropertyFailure& failure) {
    replayed = failure.bound_fraction().worst();
  }
  EXPECT_GT(replayed, 1);
  EXPECT_DOUBLE_EQ(result.worst_bound_fraction, replayed) << result.counterexample;
}

// A property that counts its cases, and fails from the `fail_after`-th on.
int counted_cases = 0, fail_after = 0;
BoundFraction counting_check(Implementation&, const Case&) {
  ++counted_cases;
  if (fail_after > 0 && counted_cases > fail_after) throw PropertyFailure("failed on purpose");
  return {};
}
const Property counting{"counting", "nothing", {Operation::bn_forward_train}, counting_check, true, false, 3};

TEST(ConformanceVerdicts, RealisticCasesRunPerDtypeAndLayoutAfterTheSmallOnes) {
  const auto impl = make_implementation("naive");
  ConformanceOptions options = quick();
  options.cases = 10;
  options.dtypes = {DType::f64};
  counted_cases = fail_after = 0;
  EXPECT_EQ(run_property(*impl, counting, options).cases, 10);  // realistic = false
  options.realistic = true;
  counted_cases = 0;
  const auto result = run_property(*impl, counting, options);
  EXPECT_EQ(result.status, PropertyResult::Status::passed);
  EXPECT_EQ(result.cases, 10 + 3 * 2);  // f64 in nchw and nhwc
  EXPECT_EQ(counted_cases, 16);
}

TEST(ConformanceVerdicts, RealisticCasesRunOnlyForTheRealisticDtypes) {
  const auto impl = make_implementation("naive");
  ConformanceOptions options = quick();
  options.cases = 10;
  options.dtypes = {DType::f32, DType::f64};
  options.realistic = true;
  options.realistic_dtypes = {DType::f64, DType::bf16};  // bf16 is not among the dtypes
  counted_cases = fail_after = 0;
  const auto result = run_property(*impl, counting, options);
  EXPECT_EQ(result.cases, 10 + 3 * 2);  // f64 in nchw and nhwc
}

TEST(ConformanceVerdicts, ARealisticCaseThatFailsIsReportedLikeAnyFailure) {
  const auto impl = make_implementation("naive");
  ConformanceOptions options = quick();
  options.cases = 10;
  options.realistic = true;
  counted_cases = 0;
  fail_after = 10;  // the small cases pass, the first realistic one fails
  const auto result = run_property(*impl, counting, options);
  fail_after = 0;
  EXPECT_EQ(result.status, PropertyResult::Status::failed);
  EXPECT_EQ(result.cases, 11);
  EXPECT_EQ(result.failure, "failed on purpose");
  EXPECT_FALSE(result.reproduce.empty());
}

}  // namespace
}  // namespace bnh
