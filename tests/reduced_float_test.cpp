// bf16 and f16 storage: rounding to nearest even straight from the value, f16's subnormals and
// overflow, exact widening, and the statistics dtype that goes with each data dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "bnh/operations.hpp"
#include "bnh/types.hpp"

namespace bnh {
namespace {

std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

TEST(Bfloat16, RoundsToNearestEvenFromTheFullValue) {
  EXPECT_EQ(bfloat16(1.0f).bits(), 0x3f80);
  EXPECT_EQ(bfloat16(-2.0).bits(), 0xc000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1.
  EXPECT_EQ(static_cast<float>(bfloat16(1.0 + 0x1p-8)), 1.0f);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties go to the even 1 + 2^-6.
  EXPECT_EQ(static_cast<float>(bfloat16(1.0 + 3 * 0x1p-8)), 1.0f + 0x1p-6f);
  // Just above the tie rounds up; a double that would round to the tie as a float does not
  // round twice.
  EXPECT_EQ(static_cast<float>(bfloat16(1.0 + 0x1p-8 + 0x1p-40)), 1.0f + 0x1p-7f);
  EXPECT_EQ(bfloat16(0x1.fep127 * (1 + 0x1p-9)).bits(), 0x7f7f);  // below halfway: the largest finite
  EXPECT_EQ(bfloat16(0x1.ffp127).bits(), 0x7f80);  // halfway, and the largest is odd: infinity
  EXPECT_TRUE(std::isnan(static_cast<float>(bfloat16(std::nan("")))));
  EXPECT_EQ(bfloat16(-0.0).bits(), 0x8000);
}

TEST(Bfloat16, EveryFiniteWordRoundTripsAndMatchesTruncationOfExactValues) {
  for (std::uint32_t word = 0; word < 0x10000; ++word) {
    const bfloat16 value = bfloat16::from_bits(static_cast<std::uint16_t>(word));
    const float wide = value;
    EXPECT_EQ(bits_of(wide) >> 16, word);
    if (!std::isnan(wide)) {
      EXPECT_EQ(bfloat16(wide).bits(), word) << word;
    }
  }
}

TEST(Float16, RoundsWithSubnormalsAndOverflowsToInfinity) {
  EXPECT_EQ(float16(1.0).bits(), 0x3c00);
  EXPECT_EQ(float16(65504.0).bits(), 0x7bff);
  EXPECT_EQ(float16(65519.99).bits(), 0x7bff);  // below halfway to 65536: the largest finite
  EXPECT_EQ(float16(65520.0).bits(), 0x7c00);   // halfway, and 65536 is "even": infinity
  EXPECT_EQ(float16(-1e6).bits(), 0xfc00);
  EXPECT_EQ(float16(0x1p-24).bits(), 0x0001);   // the least subnormal
  EXPECT_EQ(float16(0x1p-25).bits(), 0x0000);   // halfway to it: ties to the even zero
  EXPECT_EQ(float16(0x1.8p-25).bits(), 0x0001);
  EXPECT_EQ(float16(0x1.ff8p-15).bits(), 0x03ff);  // the largest subnormal
  EXPECT_EQ(float16(0x1.ffcp-15).bits(), 0x0400);  // halfway above it: up into the least normal
  EXPECT_EQ(static_cast<float>(float16(1.0 + 0x1p-11)), 1.0f);
  EXPECT_EQ(static_cast<float>(float16(1.0 + 3 * 0x1p-11)), 1.0f + 0x1p-9f);
  EXPECT_TRUE(std::isnan(static_cast<float>(float16::from_bits(0x7e00))));
}

TEST(Float16, EveryFiniteWordRoundTrips) {
  for (std::uint32_t word = 0; word < 0x10000; ++word) {
    const float16 value = float16::from_bits(static_cast<std::uint16_t>(word));
    const float wide = value;
    if (std::isnan(wide)) continue;
    EXPECT_EQ(float16(wide).bits(), word) << word;
  }
}

#if defined(__F16C__)
TEST(Float16, AgreesWithTheProcessorsConversionOnRandomFloats) {
  std::mt19937 random(7);
  std::uniform_int_distribution<std::uint32_t> words;
  for (int k = 0; k < 200000; ++k) {
    std::uint32_t word = words(random);
    word = (word & 0x87ffffffu) | ((0x30u + word % 0x20u) << 24 & 0x7f000000u);  // near f16's range
    float value;
    std::memcpy(&value, &word, sizeof value);
    if (std::isnan(value)) continue;
    const auto expected = static_cast<std::uint16_t>(_cvtss_sh(value, _MM_FROUND_TO_NEAREST_INT));
    ASSERT_EQ(float16(value).bits(), expected) << value;
  }
}
#endif

TEST(RoundToDtype, ReducedDtypesRoundOnceToTheirFormat) {
  EXPECT_EQ(round_to_dtype(1.0 + 0x1p-8 + 0x1p-40, DType::bf16), 1.0 + 0x1p-7);
  EXPECT_EQ(round_to_dtype(70000.0, DType::f16), HUGE_VAL);
  EXPECT_EQ(round_to_dtype(-3e-8, DType::f16), -0x1p-24);
  EXPECT_EQ(round_to_dtype(1e-50, DType::bf16), 0.0);
  for (double value : {0.1, -7.3, 1e-6, 3.0e4, 1e30}) {
    EXPECT_EQ(round_to_dtype(value, DType::bf16), static_cast<double>(static_cast<float>(bfloat16(value))));
    EXPECT_EQ(round_to_dtype(value, DType::f16), static_cast<double>(static_cast<float>(float16(value))));
  }
}

TEST(StatisticsDtype, DefaultsToF32ForReducedDataAndRefusesPairsThatDoNotGo) {
  TensorDesc desc{2, 3, 1, 1, Layout::nchw, DType::bf16};
  EXPECT_EQ(desc.stats_dtype(), DType::f32);
  EXPECT_EQ(desc.to_string(), "bf16 nchw 2x3x1x1");
  desc.stats = DType::bf16;
  EXPECT_EQ(desc.to_string(), "bf16:bf16 nchw 2x3x1x1");
  EXPECT_NO_THROW(validate_dtypes(desc));
  desc.stats = DType::f16;
  EXPECT_THROW(validate_dtypes(desc), Error);
  desc = TensorDesc{2, 3, 1, 1, Layout::nchw, DType::f64};
  EXPECT_EQ(desc.stats_dtype(), DType::f64);
  desc.stats = DType::f32;
  EXPECT_THROW(validate_dtypes(desc), Error);

  const auto [data, stats] = parse_dtypes("f16:f16");
  EXPECT_EQ(data, DType::f16);
  EXPECT_EQ(stats, DType::f16);
  EXPECT_FALSE(parse_dtypes("f16").second.has_value());
}

TEST(StatisticsDtype, TypesTheBuffersByExtent) {
  TensorDesc desc{2, 3, 4, 5, Layout::nhwc, DType::f16};
  EXPECT_EQ(dtype_of(Extent::tensor, desc), DType::f16);
  EXPECT_EQ(dtype_of(Extent::channel, desc), DType::f32);
  EXPECT_EQ(bytes_in(Extent::tensor, desc), 2u * 120u);
  EXPECT_EQ(bytes_in(Extent::channel, desc), 4u * 3u);
  const auto round_trip = TensorDesc::from_c_v2(desc.to_c_v2());
  EXPECT_EQ(round_trip.dtype, DType::f16);
  EXPECT_FALSE(round_trip.stats.has_value());
}

TEST(StoreValues, RoundsEachValueAndLoadsItBackExactly) {
  const std::vector<double> values{1.0 + 0x1p-11, 65536.0, 0.1};
  std::vector<std::uint16_t> words(values.size());
  store_values(DType::f16, values.data(), values.size(), words.data());
  std::vector<double> back(values.size());
  load_values(DType::f16, words.data(), words.size(), back.data());
  EXPECT_EQ(back[0], 1.0);
  EXPECT_EQ(back[1], HUGE_VAL);
  EXPECT_EQ(back[2], round_to_dtype(0.1, DType::f16));
}

}  // namespace
}  // namespace bnh
