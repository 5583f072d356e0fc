// The row view's column statistics (impls/tiles/rows.hpp): the shifts are the values nearest a
// target, column by column; and the short sums of a column do not depend on where the column
// sits in the row, whether it is summed in a strip as wide as a cache line, alone in a vector,
// or past the last whole vector.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "bnh/reduced_float.hpp"
#include "impls/tiles/rows.hpp"

namespace bnh::tiles {
namespace {

template <typename T>
std::vector<T> random_tile(std::int64_t rows, std::int64_t channels, unsigned seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> value(-3.0f, 5.0f);
  std::vector<T> tile(static_cast<std::size_t>(rows * channels));
  for (T& element : tile) element = T(value(engine));
  return tile;
}

std::uint64_t bits_of(double value) {
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Columns as many as three strips of a cache line, one vector more and a few single columns, so
// that every path of short_column_sums runs; rows enough for eight- and four-row partial sums
// and a remainder.
template <typename T>
void expect_column_sums_independent_of_position() {
  constexpr std::int64_t line = std::max<std::int64_t>(1, line_elements<T> / lanes) * lanes;
  const std::int64_t channels = 3 * line + lanes + 5, rows = 8 + 4 + 3;
  const std::vector<T> tile = random_tile<T>(rows, channels, 11);
  std::vector<float> shift(static_cast<std::size_t>(channels));
  for (std::int64_t k = 0; k < channels; ++k) shift[k] = widened(tile[static_cast<std::size_t>((k % rows) * channels + k)]);
  std::vector<double> first(channels), second(channels);
  const char* ahead = nullptr;
  short_column_sums(tile.data(), rows, channels, shift.data(), first.data(), second.data(), ahead, nullptr);

  // Each vector of columns, and each column past the last, alone in a tile of its own.
  const std::int64_t whole = channels / lanes * lanes;
  for (std::int64_t begin = 0; begin < channels;) {
    const std::int64_t width = begin < whole ? lanes : 1;
    std::vector<T> part(static_cast<std::size_t>(rows * width));
    for (std::int64_t row = 0; row < rows; ++row) {
      for (std::int64_t k = 0; k < width; ++k) part[row * width + k] = tile[row * channels + begin + k];
    }
    std::vector<double> part_first(width), part_second(width);
    short_column_sums(part.data(), rows, width, shift.data() + begin, part_first.data(), part_second.data(), ahead,
                      nullptr);
    for (std::int64_t k = 0; k < width; ++k) {
      EXPECT_EQ(bits_of(first[begin + k]), bits_of(part_first[k])) << "column " << begin + k;
      EXPECT_EQ(bits_of(second[begin + k]), bits_of(part_second[k])) << "column " << begin + k;
      // And the sums are those of the deviations, to f32's accuracy over a few roundings.
      double exact_first = 0, exact_second = 0;
      for (std::int64_t row = 0; row < rows; ++row) {
        const double d = static_cast<double>(widened(tile[row * channels + begin + k])) - shift[begin + k];
        exact_first += d;
        exact_second += d * d;
      }
      EXPECT_NEAR(first[begin + k], exact_first, 1e-5 * (exact_second + 1)) << "column " << begin + k;
      EXPECT_NEAR(second[begin + k], exact_second, 1e-5 * exact_second) << "column " << begin + k;
    }
    begin += width;
  }
}

TEST(RowSums, ColumnSumsDoNotDependOnWhereTheColumnSits) {
  expect_column_sums_independent_of_position<float>();
}
TEST(RowSums, ColumnSumsOfBfloat16DoNotDependOnWhereTheColumnSits) {
  expect_column_sums_independent_of_position<bfloat16>();
}
TEST(RowSums, ColumnSumsOfFloat16DoNotDependOnWhereTheColumnSits) {
  expect_column_sums_independent_of_position<float16>();
}

// choose_column_shifts is value_nearest, column by column: the first of equally near values,
// the first row's value when the target or every distance is NaN, infinities as far away.
template <typename T>
void expect_shifts_are_the_nearest_values() {
  const std::int64_t channels = 2 * lanes + 3, rows = 9;
  std::vector<T> tile = random_tile<T>(rows, channels, 5);
  std::vector<double> target(static_cast<std::size_t>(channels));
  std::mt19937 engine(3);
  std::uniform_real_distribution<double> near(-2.0, 4.0);
  for (double& t : target) t = near(engine);
  const float inf = std::numeric_limits<float>::infinity();
  tile[0 * channels + 1] = T(inf);                    // an infinity first: anything finite is nearer
  tile[3 * channels + 2] = T(std::nanf(""));          // a NaN: never nearer
  target[4] = std::numeric_limits<double>::quiet_NaN();  // no value is nearer than the first
  for (std::int64_t row = 0; row < rows; ++row) tile[row * channels + 5] = T(10.0f);
  tile[2 * channels + 5] = T(1.0f);                   // ties: the first of them
  tile[6 * channels + 5] = T(3.0f);
  target[5] = 2.0;
  tile[1 * channels + 6] = T(-inf);                   // an infinity later: never nearer
  std::vector<float> shift(static_cast<std::size_t>(channels));
  choose_column_shifts(tile.data(), rows, channels, target.data(), shift.data());
  for (std::int64_t k = 0; k < channels; ++k) {
    const float expected = value_nearest(tile.data() + k, rows, channels, target[k]);
    EXPECT_EQ(bits_of(expected), bits_of(shift[k])) << "column " << k << ": " << expected << " against " << shift[k];
  }
  EXPECT_EQ(shift[4], static_cast<float>(widened(tile[4])));
  EXPECT_EQ(shift[5], 1.0f);
}

TEST(RowSums, ShiftsAreTheNearestValues) { expect_shifts_are_the_nearest_values<float>(); }
TEST(RowSums, ShiftsOfBfloat16AreTheNearestValues) { expect_shifts_are_the_nearest_values<bfloat16>(); }

}  // namespace
}  // namespace bnh::tiles
