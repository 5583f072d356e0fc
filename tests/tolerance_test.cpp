// The tolerance model for every dtype (properties/tolerance.hpp, docs/tolerances.md): unit
// roundoffs and underflow steps, how each output is judged (its buffer's dtype, f32 working
// precision for bf16 and f16 data, pure mode's rounded statistics), the rounding judgement of
// bf16 and f16 outputs with f16's overflow, and the reference agreement of an implementation
// that rounds the exact answers correctly against ones that truncate or round twice.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "bnh/implementation.hpp"
#include "properties/case.hpp"
#include "properties/reference_agreement.hpp"
#include "properties/tolerance.hpp"
#include "reference/reference.hpp"

namespace bnh {
namespace {

TEST(Tolerance, UnitRoundoffAndUnderflowOfEveryDtype) {
  EXPECT_EQ(unit_roundoff(DType::f64), 0x1p-53);
  EXPECT_EQ(unit_roundoff(DType::f32), 0x1p-24);
  EXPECT_EQ(unit_roundoff(DType::f16), 0x1p-11);
  EXPECT_EQ(unit_roundoff(DType::bf16), 0x1p-8);
  EXPECT_EQ(underflow_step(DType::f64), 0x1p-1074);
  EXPECT_EQ(underflow_step(DType::f32), 0x1p-149);
  EXPECT_EQ(underflow_step(DType::f16), 0x1p-24);
  EXPECT_EQ(underflow_step(DType::bf16), 0x1p-133);
  EXPECT_EQ(working_dtype(DType::bf16), DType::f32);
  EXPECT_EQ(working_dtype(DType::f16), DType::f32);
  EXPECT_EQ(working_dtype(DType::f64), DType::f64);
}

Case case_of(DType data, std::optional<DType> stats, std::int64_t n = 64) {
  TensorDesc desc{n, 3, 2, 2, Layout::nchw, data};
  desc.stats = stats;
  return random_case(desc, 7);
}

TEST(Tolerance, EachOutputHasItsBuffersDtype) {
  const TensorDesc pure = case_of(DType::f16, DType::f16).desc;
  const TensorDesc mixed = case_of(DType::bf16, std::nullopt).desc;
  EXPECT_EQ(output_dtype(mixed, Output::y), DType::bf16);
  EXPECT_EQ(output_dtype(mixed, Output::dx), DType::bf16);
  for (Output output : {Output::save_mean, Output::save_invstd, Output::r, Output::d, Output::running_mean,
                        Output::running_var, Output::dgamma, Output::dbeta}) {
    EXPECT_EQ(output_dtype(mixed, output), DType::f32);
    EXPECT_EQ(output_dtype(pure, output), DType::f16);
  }
}

TEST(Tolerance, F32AndF64AreJudgedAsBefore) {
  for (DType dtype : {DType::f32, DType::f64}) {
    const Case tc = case_of(dtype, std::nullopt);
    const Judgement y = judge(tc, Output::y);
    EXPECT_EQ(y.dtype, dtype);
    EXPECT_EQ(y.bound, accumulation_bound(dtype, tc.desc.per_channel()));
    EXPECT_EQ(y.statistics, 0);
    EXPECT_EQ(judge(tc, Output::y, Sums::rounding_only).bound, rounding_bound);
  }
}

// bf16 data with f32 statistics: the statistics are f32 outputs of an f32 computation; y is
// one bf16 rounding after an f32 computation's error, k_f32 u_f32 in units of u_bf16.
TEST(Tolerance, MixedModeAccumulatesInF32AndRoundsOnceToTheOutput) {
  const Case tc = case_of(DType::bf16, std::nullopt);
  const double k32 = accumulation_bound(DType::f32, tc.desc.per_channel());
  const Judgement mean = judge(tc, Output::save_mean);
  EXPECT_EQ(mean.dtype, DType::f32);
  EXPECT_EQ(mean.bound, k32);
  const Judgement y = judge(tc, Output::y);
  EXPECT_EQ(y.dtype, DType::bf16);
  EXPECT_EQ(y.working, DType::f32);
  EXPECT_EQ(y.computation, k32);
  EXPECT_EQ(y.statistics, 0);
  EXPECT_DOUBLE_EQ(y.bound, 1 + k32 * 0x1p-24 / 0x1p-8);
  EXPECT_DOUBLE_EQ(y.before_rounding(2.0), k32 * (0x1p-24 * 2 + 0x1p-149));
  EXPECT_DOUBLE_EQ(judge(case_of(DType::f16, std::nullopt), Output::dx).bound, 1 + k32 * 0x1p-24 / 0x1p-11);
}

// Pure mode: the statistics outputs are one f16 rounding of an f32 computation; what is computed
// from statistics an implementation may hold in f16 (y, dx, r, d, running statistics) carries
// their rounding as well.
TEST(Tolerance, PureModeAddsTheRoundedStatistics) {
  const Case tc = case_of(DType::f16, DType::f16);
  const double k32 = accumulation_bound(DType::f32, tc.desc.per_channel());
  for (Output output : {Output::save_mean, Output::save_invstd, Output::dgamma, Output::dbeta}) {
    const Judgement j = judge(tc, output);
    EXPECT_EQ(j.dtype, DType::f16);
    EXPECT_EQ(j.statistics, 0);
    EXPECT_DOUBLE_EQ(j.bound, 1 + k32 * 0x1p-24 / 0x1p-11);
  }
  for (Output output : {Output::y, Output::dx, Output::r, Output::d, Output::running_mean, Output::running_var}) {
    const Judgement j = judge(tc, output);
    EXPECT_EQ(j.statistics, rounded_statistics_bound);
    EXPECT_DOUBLE_EQ(j.bound, 1 + rounded_statistics_bound + k32 * 0x1p-24 / 0x1p-11);
    EXPECT_DOUBLE_EQ(j.before_rounding(1.0), k32 * (0x1p-24 + 0x1p-149) + rounded_statistics_bound * (0x1p-11 + 0x1p-24));
  }
}

// ---- the rounding judgement -------------------------------------------------------------------

double fraction(double actual, double exact, double error, DType dtype) {
  using reference::Real;
  return rounding_fraction(actual, exact, reference::round_to_dtype(Real(exact), dtype), error, dtype);
}

TEST(RoundingJudgement, TheCorrectRoundingPasses) {
  EXPECT_EQ(fraction(1.0, 1 + 0x1p-9, 1e-9, DType::bf16), 0);
  EXPECT_EQ(fraction(1 + 0x1p-7, 1 + 0x1.8p-8, 1e-9, DType::bf16), 0);
  EXPECT_EQ(fraction(NAN, NAN, 1e-9, DType::f16), 0);
}

// Just below a tie, an f32 computation within its error may land above it: both neighbours
// are then a correct answer, and only then.
TEST(RoundingJudgement, TheOtherNeighbourPassesOnlyWithinTheError) {
  const double exact = 1 + 0x1p-8 - 0x1p-20;  // rounds to 1
  EXPECT_EQ(fraction(1 + 0x1p-7, exact, 0x1p-19, DType::bf16), 0.5);  // the midpoint is 2^-20 away
  // Below 1 the spacing halves: the midpoint under 1 is 1 - 2^-9.
  EXPECT_EQ(fraction(1.0, 1 - 0x1p-9 - 0x1p-20, 0x1p-19, DType::bf16), 0.5);
  EXPECT_EQ(fraction(-1.0, -(1 - 0x1p-9 - 0x1p-20), 0x1p-19, DType::bf16), 0.5);
  EXPECT_GT(fraction(1 + 0x1p-7, exact, 0x1p-21, DType::bf16), 1);
  EXPECT_GT(fraction(1 - 0x1p-8, exact, 0x1p-19, DType::bf16), 1);  // two units away: never
}

// Truncation instead of rounding to nearest is one unit off wherever the dropped bits exceed
// half a unit: caught, however small the computation's error.
TEST(RoundingJudgement, TruncationIsCaught) {
  const double exact = 1 + 0.9 * 0x1p-7;
  EXPECT_GT(fraction(1.0, exact, 1e-6, DType::bf16), 1);
  EXPECT_EQ(fraction(1 + 0x1p-7, exact, 1e-6, DType::bf16), 0);
  const double negative = -(3 + 0.75 * 0x1p-9);
  EXPECT_GT(fraction(-3.0, negative, 1e-6, DType::f16), 1);
}

TEST(RoundingJudgement, SubnormalsRoundOnTheLeastSubnormalsGrid) {
  const double exact = 1.4 * 0x1p-24;
  EXPECT_EQ(fraction(0x1p-24, exact, 0x1p-40, DType::f16), 0);
  EXPECT_GT(fraction(0.0, exact, 0x1p-40, DType::f16), 1);
  EXPECT_GT(fraction(0x1p-23, exact, 0x1p-40, DType::f16), 1);
  EXPECT_EQ(fraction(0x1p-133, 0.7 * 0x1p-133, 0x1p-150, DType::bf16), 0);
}

// f16: the correct answer for an exact value from 65520 on is infinity of its sign; a finite
// answer fails, and so does an infinity where the exact value rounds to a finite one, unless the
// computation's error reaches the threshold.
TEST(RoundingJudgement, F16OverflowIsJudgedOnInfinity) {
  EXPECT_EQ(fraction(HUGE_VAL, 70000, 1e-3, DType::f16), 0);
  EXPECT_EQ(fraction(-HUGE_VAL, -65520, 1e-3, DType::f16), 0);
  EXPECT_GT(fraction(65504, 70000, 1e-3, DType::f16), 1);
  EXPECT_GT(fraction(-HUGE_VAL, 70000, 1e-3, DType::f16), 1);
  EXPECT_GT(fraction(HUGE_VAL, 65000, 1e-3, DType::f16), 1);
  EXPECT_GT(fraction(HUGE_VAL, 65519.9, 1e-3, DType::f16), 1);
  EXPECT_EQ(fraction(65504, 65519.9, 1e-3, DType::f16), 0);
  EXPECT_NEAR(fraction(HUGE_VAL, 65519.9, 0.2, DType::f16), 0.5, 1e-9);  // within the error of 65520
  EXPECT_TRUE(std::isinf(fraction(NAN, 1.0, 1e-3, DType::f16)));
}

// Two computations compared where one overflowed: the other must be near the threshold.
TEST(ScaledError, AnF16InfinityStandsForEveryValueFrom65520) {
  EXPECT_EQ(scaled_error(HUGE_VAL, 66000, 1, DType::f16), 0);
  EXPECT_EQ(scaled_error(-66000, -HUGE_VAL, 1, DType::f16), 0);
  EXPECT_DOUBLE_EQ(scaled_error(HUGE_VAL, 65500, 1e4, DType::f16), 20 / (0x1p-11 * 1e4 + 0x1p-24));
  EXPECT_GT(scaled_error(-HUGE_VAL, 66000, 1e4, DType::f16), 1e3);
  EXPECT_TRUE(std::isinf(scaled_error(HUGE_VAL, 66000, 1, DType::f32)));
  EXPECT_TRUE(std::isinf(scaled_error(NAN, 1, 1, DType::f16)));
}

// ---- agreement of an implementation that computes exactly and stores in one of three ways ----

enum class Store { nearest, truncate, through_bf16 };

// Every output the reference's, stored once with round to nearest even (correct), truncated,
// or rounded to bf16 before its own dtype (statistics kept in bf16: wrong in mixed mode).
class ReferenceBacked final : public UniformImplementation {
 public:
  explicit ReferenceBacked(Store store) : store_(store) {}
  std::string name() const override { return "reference_backed"; }
  std::string description() const override { return "the reference, stored"; }
  bool supports(const TensorDesc&) const override { return true; }
  bool supports(Operation) const override { return true; }

  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    using reference::Real;
    const OperationSpec& spec = operation_spec(operation);
    std::map<std::string, std::vector<Real>> in;
    for (std::size_t k = 0; k < spec.count; ++k) {
      if (spec.buffers[k].role == BufferRole::output || buffers[k] == nullptr) continue;
      std::vector<double> values(static_cast<std::size_t>(values_in(spec.buffers[k].extent, desc)));
      load_values(dtype_of(spec.buffers[k].extent, desc), buffers[k], values.size(), values.data());
      in[spec.buffers[k].name] = reference::to_number<Real>(values);
    }
    std::map<std::string, std::vector<Real>> out;
    if (operation == Operation::bn_forward_infer) {
      out["y"] = reference::bn_forward_infer(desc, params, in["x"], in["gamma"], in["beta"], in["running_mean"],
                                             in["running_var"]);
    } else if (operation == Operation::bn_forward_train || operation == Operation::renorm_forward_train) {
      const auto r = operation == Operation::bn_forward_train
                         ? reference::bn_forward_train(desc, params, in["x"], in["gamma"], in["beta"],
                                                       in["running_mean"], in["running_var"])
                         : reference::renorm_forward_train(desc, params, in["x"], in["gamma"], in["beta"],
                                                           in["running_mean"], in["running_var"]);
      out = {{"y", r.y}, {"save_mean", r.save_mean}, {"save_invstd", r.save_invstd}, {"r", r.r}, {"d", r.d},
             {"running_mean", r.running_mean}, {"running_var", r.running_var}};
    } else {
      const auto r = operation == Operation::bn_backward
                         ? reference::bn_backward(desc, params, in["dy"], in["x"], in["gamma"], in["save_mean"],
                                                  in["save_invstd"])
                         : reference::renorm_backward(desc, params, in["dy"], in["x"], in["gamma"], in["save_mean"],
                                                      in["save_invstd"], in["r"], in["d"]);
      out = {{"dx", r.dx}, {"dgamma", r.dgamma}, {"dbeta", r.dbeta}};
    }
    for (std::size_t k = 0; k < spec.count; ++k) {
      if (spec.buffers[k].role == BufferRole::input || buffers[k] == nullptr) continue;
      const DType dtype = dtype_of(spec.buffers[k].extent, desc);
      std::vector<double> values;
      for (const Real& value : out[spec.buffers[k].name]) values.push_back(stored(value, dtype));
      store_values(dtype, values.data(), values.size(), buffers[k]);
    }
  }

 private:
  double stored(const reference::Real& value, DType dtype) const {
    const double nearest = reference::round_to_dtype(value, dtype);
    if (store_ == Store::through_bf16) return round_to_dtype(reference::round_to_dtype(value, DType::bf16), dtype);
    if (store_ == Store::nearest || !std::isfinite(nearest)) return nearest;
    // Towards zero on the dtype's grid: the spacing at the value's binade, subnormals included.
    const double exact = reference::round_to<double>(value);
    const FloatFormat format = format_of(dtype);
    int exponent = 0;
    std::frexp(exact, &exponent);
    const double quantum = std::ldexp(1.0, std::max(exponent, format.min_exponent) - format.digits);
    return std::trunc(exact / quantum) * quantum;
  }
  Store store_;
};

std::vector<Case> cases_of(DType data, std::optional<DType> stats) {
  std::vector<Case> cases;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    TensorDesc desc{8, 3, 4, 5, seed % 2 ? Layout::nchw : Layout::nhwc, data};
    desc.stats = stats;
    Params params;
    params.rmax = 1.5;
    params.dmax = 0.5;
    cases.push_back(random_case(desc, seed, params));
  }
  return cases;
}

const Operation all_operations[] = {Operation::bn_forward_train, Operation::bn_forward_infer, Operation::bn_backward,
                                    Operation::renorm_forward_train, Operation::renorm_backward};

struct DtypePair {
  DType data;
  std::optional<DType> stats;
};
const DtypePair reduced_pairs[] = {{DType::bf16, std::nullopt}, {DType::bf16, DType::bf16},
                                   {DType::f16, std::nullopt}, {DType::f16, DType::f16}};

TEST(ReducedAgreement, CorrectRoundingPassesWithNoErrorAtAll) {
  ReferenceBacked exact(Store::nearest);
  for (const auto& [data, stats] : reduced_pairs) {
    for (const Case& tc : cases_of(data, stats)) {
      for (Operation op : all_operations) {
        const AgreementResult result = check_reference_agreement(exact, tc, op);
        ASSERT_TRUE(result.supported);
        EXPECT_TRUE(result.passed()) << tc.desc.to_string() << " " << result.describe();
        for (const auto& output : result.outputs) {
          EXPECT_EQ(output.max_ulp_error, 0) << tc.desc.to_string() << " " << output.output;
          EXPECT_EQ(output.max_scaled_error, 0) << tc.desc.to_string() << " " << output.output;
        }
      }
    }
  }
}

// In mixed mode y and dx show it. In pure mode y and dx may legitimately be a few units off
// (computed from rounded statistics), and the statistics themselves show it.
TEST(ReducedAgreement, TruncationFails) {
  ReferenceBacked truncating(Store::truncate);
  for (const auto& [data, stats] : reduced_pairs) {
    bool statistics_failed = false;
    for (const Case& tc : cases_of(data, stats)) {
      for (Operation op : {Operation::bn_forward_train, Operation::bn_backward}) {
        const AgreementResult result = check_reference_agreement(truncating, tc, op);
        for (const auto& output : result.outputs) {
          const bool tensor = output.output == "y" || output.output == "dx";
          if (tensor && !stats) {
            EXPECT_FALSE(output.passed()) << tc.desc.to_string() << " " << output.output;
          }
          if (!tensor && !output.passed()) statistics_failed = true;
        }
      }
    }
    if (stats) {
      EXPECT_TRUE(statistics_failed) << to_string(data);
    }
  }
}

// Statistics kept in bf16 where the statistics dtype is f32 lose 16 bits: far beyond f32's bound.
TEST(ReducedAgreement, StatisticsRoundedToBf16FailInMixedMode) {
  ReferenceBacked through_bf16(Store::through_bf16);
  for (const Case& tc : cases_of(DType::f16, std::nullopt)) {
    const AgreementResult result = check_reference_agreement(through_bf16, tc, Operation::bn_forward_train);
    for (const auto& output : result.outputs) {
      if (output.output != "y") {
        EXPECT_FALSE(output.passed()) << output.output;
      }
    }
  }
}

}  // namespace
}  // namespace bnh
