// The reference's rounding of its 50-digit results to each dtype: once, to nearest even,
// straight from the full value (never through double first), with f16's subnormals and
// overflow and bf16's range.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "reference/reference.hpp"

namespace bnh {
namespace {

namespace ref = reference;
using ref::Real;

TEST(ReferencePrecision, RoundingToFloatIsCorrectNotDouble) {
  // 1 + 2^-24 + 2^-60 lies just above the midpoint between 1 and the next float: correct
  // rounding goes up, while rounding to double first lands on the midpoint and ties to even.
  const Real value = Real(1) + pow(Real(2), -24) + pow(Real(2), -60);
  EXPECT_EQ(ref::round_to<float>(value), 1.0f + 0x1p-23f);
  EXPECT_EQ(static_cast<float>(ref::round_to<double>(value)), 1.0f);
}

// ---- rounding to bf16 and f16 ----------------------------------------------------------------

Real two_to(int exponent) { return pow(Real(2), exponent); }

template <typename T>
double rounded(const Real& value) { return static_cast<float>(ref::round_to<T>(value)); }

TEST(ReferenceRounding, Bf16TiesGoToEven) {
  EXPECT_EQ(rounded<bfloat16>(1 + two_to(-8)), 1.0);                   // between 1 and 1 + 2^-7
  EXPECT_EQ(rounded<bfloat16>(1 + 3 * two_to(-8)), 1 + 0x1p-6);         // between 1 + 2^-7 and 1 + 2^-6
  EXPECT_EQ(rounded<bfloat16>(-(1 + two_to(-8))), -1.0);
  EXPECT_EQ(rounded<bfloat16>(1 + two_to(-8) + two_to(-100)), 1 + 0x1p-7);  // just above the tie
  EXPECT_EQ(rounded<bfloat16>(Real(1) / 3), 0x1.56p-2);                // 1.0101010|101... x 2^-2 rounds up
}

TEST(ReferenceRounding, F16TiesGoToEven) {
  EXPECT_EQ(rounded<float16>(1 + two_to(-11)), 1.0);
  EXPECT_EQ(rounded<float16>(1 + 3 * two_to(-11)), 1 + 0x1p-9);
  EXPECT_EQ(rounded<float16>(2049 + Real(0)), 2048.0);  // 2048 + 1: a tie at spacing 2
  EXPECT_EQ(rounded<float16>(2051 + Real(0)), 2052.0);
}

// Rounding to double first, then to the 16-bit format, lands on a tie the full value is above.
TEST(ReferenceRounding, NoDoubleRounding) {
  const Real bf16_case = 1 + two_to(-8) + two_to(-60);
  EXPECT_EQ(rounded<bfloat16>(bf16_case), 1 + 0x1p-7);
  EXPECT_EQ(static_cast<float>(bfloat16(ref::round_to<double>(bf16_case))), 1.0f);
  const Real f16_case = 1 + two_to(-11) + two_to(-70);
  EXPECT_EQ(rounded<float16>(f16_case), 1 + 0x1p-10);
  EXPECT_EQ(static_cast<float>(float16(ref::round_to<double>(f16_case))), 1.0f);
  // Through float the same: 1 + 2^-8 + 2^-30 is 1 + 2^-8 in f32.
  EXPECT_EQ(rounded<bfloat16>(1 + two_to(-8) + two_to(-30)), 1 + 0x1p-7);
  EXPECT_EQ(static_cast<float>(bfloat16(ref::round_to<float>(1 + two_to(-8) + two_to(-30)))), 1.0f);
}

TEST(ReferenceRounding, F16Subnormals) {
  EXPECT_EQ(rounded<float16>(two_to(-24)), 0x1p-24);                 // the least subnormal
  EXPECT_EQ(rounded<float16>(two_to(-25)), 0.0);                     // half of it: a tie, to 0
  EXPECT_EQ(rounded<float16>(two_to(-25) + two_to(-90)), 0x1p-24);
  EXPECT_EQ(rounded<float16>(3 * two_to(-25)), 0x1p-23);             // 1.5 units: a tie, to 2
  EXPECT_EQ(rounded<float16>(5 * two_to(-25)), 0x1p-23);             // 2.5 units: to 2
  EXPECT_EQ(rounded<float16>(1000 * two_to(-24) + two_to(-26)), 1000 * 0x1p-24);
  // Halfway between the largest subnormal (1023 units) and the least normal: to the even one.
  EXPECT_EQ(rounded<float16>(two_to(-14) - two_to(-25)), 0x1p-14);
  EXPECT_TRUE(std::signbit(rounded<float16>(-two_to(-26))));         // -0
  EXPECT_EQ(ref::round_to<float16>(-two_to(-26)).bits(), 0x8000);
  EXPECT_EQ(ref::round_to<float16>(3 * two_to(-24)).bits(), 0x0003);
}

TEST(ReferenceRounding, Bf16Subnormals) {
  EXPECT_EQ(rounded<bfloat16>(two_to(-133)), 0x1p-133);
  EXPECT_EQ(rounded<bfloat16>(two_to(-134)), 0.0);
  EXPECT_EQ(rounded<bfloat16>(two_to(-134) + two_to(-200)), 0x1p-133);
  EXPECT_EQ(rounded<bfloat16>(3 * two_to(-134)), 0x1p-132);
  EXPECT_EQ(ref::round_to<bfloat16>(two_to(-133)).bits(), 0x0001);
}

TEST(ReferenceRounding, F16OverflowsToInfinityFrom65520) {
  EXPECT_EQ(rounded<float16>(Real(65504)), 65504.0);
  EXPECT_EQ(rounded<float16>(65520 - two_to(-40)), 65504.0);  // below the midpoint
  EXPECT_EQ(rounded<float16>(Real(65520)), HUGE_VAL);          // the midpoint: infinity
  EXPECT_EQ(rounded<float16>(Real(-65520)), -HUGE_VAL);
  EXPECT_EQ(rounded<float16>(Real("1e10")), HUGE_VAL);
  EXPECT_EQ(rounded<float16>(Real("1e400")), HUGE_VAL);
  EXPECT_EQ(ref::round_to<float16>(Real(65520)).bits(), 0x7c00);
  EXPECT_EQ(ref::round_to<float16>(Real(-65520)).bits(), 0xfc00);
}

TEST(ReferenceRounding, Bf16OverflowsToInfinityPastItsLargest) {
  const Real largest = Real(0x1.fep127);
  EXPECT_EQ(rounded<bfloat16>(largest), 0x1.fep127);
  EXPECT_EQ(rounded<bfloat16>(largest + two_to(119) - two_to(80)), 0x1.fep127);
  EXPECT_EQ(rounded<bfloat16>(largest + two_to(119)), HUGE_VAL);  // the midpoint: odd, rounds up
  EXPECT_EQ(rounded<bfloat16>(Real("-1e60")), -HUGE_VAL);
  EXPECT_EQ(rounded<bfloat16>(Real("1e38")), 0x1.2cp126);  // f32's range is bf16's
}

TEST(ReferenceRounding, NonFiniteAndZeroPassThrough) {
  EXPECT_TRUE(std::isnan(rounded<bfloat16>(Real(std::nan("")))));
  EXPECT_TRUE(std::isnan(rounded<float16>(Real(std::nan("")))));
  EXPECT_EQ(rounded<float16>(Real(-HUGE_VAL)), -HUGE_VAL);
  EXPECT_TRUE(std::signbit(rounded<bfloat16>(-Real(0))));
}

// Every dtype by name, agreeing with bnh::round_to_dtype on values a double holds exactly.
TEST(ReferenceRounding, RoundToDtypeMatchesTheStorageTypes) {
  std::mt19937_64 engine(5);
  std::normal_distribution<double> normal(0, 1000);
  for (int i = 0; i < 2000; ++i) {
    const double value = normal(engine) * std::ldexp(1.0, i % 40 - 30);
    for (DType dtype : all_dtypes) {
      EXPECT_EQ(ref::round_to_dtype(Real(value), dtype), round_to_dtype(value, dtype)) << value;
    }
  }
  const std::vector<Real> values{Real(1) + two_to(-8), Real(65520)};
  EXPECT_EQ(ref::round_to_dtype(values, DType::bf16), (std::vector<double>{1.0, 65536.0}));
  EXPECT_EQ(ref::round_to_dtype(values, DType::f16), (std::vector<double>{1 + 0x1p-8, HUGE_VAL}));
}

}  // namespace
}  // namespace bnh
