// The two 16-bit floating-point formats, as storage: bfloat16 (1 sign, 8 exponent, 7 fraction
// bits: binary32's range at 8 bits of precision) and float16 (IEEE binary16: 5 exponent, 10
// fraction bits, largest finite 65504, subnormals down to 2^-24).
//
// Each converts from any arithmetic value by rounding to nearest, ties to even, straight from
// the value given (a double is not rounded to float first, which could round twice), with
// float16's gradual underflow and its overflow to infinity. Each widens to float exactly and
// implicitly, so that kernels written for float and double read them as numbers. Arithmetic
// happens in float or wider; storing back rounds once.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace bnh {

// A binary floating-point format with `digits` bits of precision (the implicit bit included),
// normal numbers from 2^(min_exponent - 1) and `largest` the greatest finite value.
struct FloatFormat {
  int digits;
  int min_exponent;  // as std::numeric_limits<T>::min_exponent: the least normal is 2^(min_exponent - 1)
  double largest;
};
inline constexpr FloatFormat bfloat16_format{8, -125, 0x1.fep127};
inline constexpr FloatFormat float16_format{11, -13, 65504.0};
inline constexpr FloatFormat float32_format{24, -125, 0x1.fffffep127};

// `value` rounded to the nearest number of `format`, ties to even; beyond the largest finite
// number after rounding, infinity of value's sign. Subnormals keep the spacing of the least
// normal binade. NaN and infinities pass through. Independent of the FPU's rounding mode.
inline double round_to_format(double value, const FloatFormat& format) {
  if (!std::isfinite(value) || value == 0) return value;
  int exponent = 0;
  std::frexp(value, &exponent);  // |value| in [2^(exponent - 1), 2^exponent)
  const int quantum = (exponent < format.min_exponent ? format.min_exponent : exponent) - format.digits;
  const double scaled = std::ldexp(value, -quantum);  // |scaled| < 2^digits: exact
  double whole = std::floor(scaled);
  const double fraction = scaled - whole;
  if (fraction > 0.5 || (fraction == 0.5 && std::fmod(whole, 2.0) != 0)) whole += 1;
  const double rounded = std::copysign(std::ldexp(whole, quantum), value);
  if (std::fabs(rounded) > format.largest) return std::copysign(std::numeric_limits<double>::infinity(), value);
  return rounded;
}

class bfloat16 {
 public:
  bfloat16() = default;
  template <typename Number, typename = std::enable_if_t<std::is_arithmetic_v<Number>>>
  bfloat16(Number value) : bits_(encode(static_cast<double>(value))) {}  // NOLINT: converts like float
  operator float() const {  // NOLINT: exact, so implicit
    const std::uint32_t wide = static_cast<std::uint32_t>(bits_) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof value);
    return value;
  }
  static bfloat16 from_bits(std::uint16_t bits) {
    bfloat16 value;
    value.bits_ = bits;
    return value;
  }
  std::uint16_t bits() const { return bits_; }

 private:
  static std::uint16_t encode(double value) {
    if (std::isnan(value)) return std::signbit(value) ? 0xffc0 : 0x7fc0;
    // Rounded to 8 bits of precision the value is a float exactly: its upper half is bf16.
    const float exact = static_cast<float>(round_to_format(value, bfloat16_format));
    std::uint32_t wide;
    std::memcpy(&wide, &exact, sizeof wide);
    return static_cast<std::uint16_t>(wide >> 16);
  }
  std::uint16_t bits_;
};

class float16 {
 public:
  float16() = default;
  template <typename Number, typename = std::enable_if_t<std::is_arithmetic_v<Number>>>
  float16(Number value) : bits_(encode(static_cast<double>(value))) {}  // NOLINT: converts like float
  operator float() const { return static_cast<float>(decode(bits_)); }  // NOLINT: exact, so implicit
  static float16 from_bits(std::uint16_t bits) {
    float16 value;
    value.bits_ = bits;
    return value;
  }
  std::uint16_t bits() const { return bits_; }

 private:
  static constexpr int bias = 15, fraction_bits = 10;

  static std::uint16_t encode(double value) {
    const std::uint16_t sign = std::signbit(value) ? 0x8000 : 0;
    if (std::isnan(value)) return sign | 0x7e00;
    const double magnitude = std::fabs(round_to_format(value, float16_format));
    if (std::isinf(magnitude)) return sign | 0x7c00;
    if (magnitude < 0x1p-14) {  // subnormal or zero: the fraction counts units of 2^-24
      return sign | static_cast<std::uint16_t>(std::ldexp(magnitude, 24));
    }
    int exponent = 0;
    const double significand = std::frexp(magnitude, &exponent);  // [0.5, 1)
    const auto fraction = static_cast<std::uint16_t>(std::ldexp(significand, fraction_bits + 1)) & 0x3ff;
    return sign | static_cast<std::uint16_t>((exponent - 1 + bias) << fraction_bits) | fraction;
  }

  static double decode(std::uint16_t bits) {
    const double sign = (bits & 0x8000) != 0 ? -1.0 : 1.0;
    const int exponent = (bits >> fraction_bits) & 0x1f;
    const int fraction = bits & 0x3ff;
    if (exponent == 0x1f) return fraction == 0 ? sign * std::numeric_limits<double>::infinity()
                                               : std::numeric_limits<double>::quiet_NaN();
    if (exponent == 0) return sign * std::ldexp(fraction, -24);
    return sign * std::ldexp(1024 + fraction, exponent - bias - fraction_bits);
  }
  std::uint16_t bits_;
};

static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16>);
static_assert(sizeof(float16) == 2 && std::is_trivially_copyable_v<float16>);

}  // namespace bnh
