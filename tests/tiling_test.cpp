// The tiling of the tiled kernels (impls/tiles/): the run blocks, row tiles and stretches cover
// every element of a tensor exactly once, whatever the shape and whatever the caches say;
// short_sums_hold draws its lines where moments.hpp says; and the vector conversions of bf16 and
// f16 (conversions.hpp) round exactly as bnh::bfloat16 and bnh::float16 do.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "impls/tiles/conversions.hpp"
#include "impls/tiles/geometry.hpp"
#include "impls/tiles/moments.hpp"
#include "impls/tiles/simd.hpp"
#include "impls/tiles/team_passes.hpp"

namespace bnh::tiles {
namespace {

constexpr std::int64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

// The shapes the tiling finds awkward: one channel, primes, H*W = 1, runs and rows whose tails
// are not whole vectors, more channels than a group holds, and a channel larger than L2.
const std::vector<std::vector<std::int64_t>> shapes = {
    {2, 1, 5, 5},    {7, 1, 1, 1},     {3, 7, 11, 13}, {5, 13, 1, 1},   {1, 1, 1, 2},
    {2, 3, 17, 1},   {4, 97, 3, 3},    {2, 130, 7, 7}, {3, 2, 33, 31},  {1, 5, 1, 4099},
    {16, 64, 7, 7},  {2, 1, 300, 301}, {8, 19, 1, 1},  {6, 17, 5, 1},   {1, 1024, 1, 3}};

const std::vector<CacheSizes> caches = {
    {1 * KiB, 4 * KiB, 8 * KiB, false},            // tiny: every budget at its floor
    {0, 0, 0, false},                              // nothing known
    {32 * KiB, 1 * MiB, 32 * MiB, true},           // a server core
    {48 * KiB, 2 * MiB, 4 * MiB, true},            // a large L2 next to a small L3
    {1 * GiB, 1 * GiB, 1 * GiB, false},            // huge: one group, one tile
    {3 * KiB + 7, 10 * KiB + 1, 100 * KiB + 3, false}};  // sizes that are not powers of two

std::string describe(const std::vector<std::int64_t>& dims, Layout layout, const CacheSizes& c) {
  return shape_label(dims) + " " + to_string(layout) + ", L1 " + std::to_string(c.l1_data) + ", L2 " + std::to_string(c.l2);
}

TensorDesc desc_of(const std::vector<std::int64_t>& dims, Layout layout) {
  return TensorDesc{dims[0], dims[1], dims[2], dims[3], layout, DType::f32, {}};
}

// Every element counted once, and once only.
void expect_each_once(const std::vector<int>& seen, const std::string& what) {
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i], 1) << what << ": element " << i;
  }
}

// Counts the elements of a run block twice over: as the statistics passes read it (channel by
// channel, run by run) and as the output passes write it (for_each_block_stretch).
void count_block(const Geometry& g, const RunBlock& block, std::vector<int>& read, std::vector<int>& written) {
  for (std::int64_t run = block.first_run; run < block.end_run; ++run) {
    for (std::int64_t c = block.first_channel; c < block.end_channel; ++c) {
      const std::int64_t start = (run * g.channels + c) * g.run_length;  // as run_start places it
      for (std::int64_t p = block.first_position; p < block.end_position; ++p) ++read[start + p];
    }
  }
  for_each_block_stretch(g, block, [&](std::int64_t first, std::int64_t end) {
    for (std::int64_t i = first; i < end; ++i) ++written[i];
  });
}

TEST(Tiling, RunBlocksCoverEveryElementOnce) {
  for (const auto& dims : shapes) {
    for (const CacheSizes& c : caches) {
      const Geometry g = geometry_of(desc_of(dims, Layout::nchw));
      if (g.by_rows) continue;  // H = W = 1 with C > 1 is the row view
      for (int touched : {1, 2, 3}) {
        const std::string what = describe(dims, Layout::nchw, c) + ", " + std::to_string(touched) + " tensors";
        // Group by group, as whole channels per thread are run.
        const RunBlocks groups(g, sizeof(float), touched, 1, c);
        ASSERT_GE(groups.channels_per_group, 1) << what;
        ASSERT_LE(groups.channels_per_group, max_channels_per_group) << what;
        std::vector<int> read(g.elements), written(g.elements);
        for (std::int64_t group = 0; group < g.channels; group += groups.channels_per_group) {
          const std::int64_t end = std::min(g.channels, group + groups.channels_per_group);
          for (std::int64_t index = 0; index < groups.blocks_per_group; ++index) {
            count_block(g, groups.block(group, end, index), read, written);
          }
        }
        expect_each_once(read, what + ", groups read");
        expect_each_once(written, what + ", groups written");
        // Channel by channel, its blocks shared out between threads.
        for (int parts : {2, 3, 7}) {
          const RunBlocks shared(g, sizeof(float), touched, parts, c);
          std::vector<int> shared_read(g.elements), shared_written(g.elements);
          for (std::int64_t channel = 0; channel < g.channels; ++channel) {
            for (int part = 0; part < parts; ++part) {
              const Share mine = share(shared.blocks_per_group, part, parts);
              for (std::int64_t index = mine.begin; index < mine.end; ++index) {
                count_block(g, shared.block(channel, channel + 1, index), shared_read, shared_written);
              }
            }
          }
          expect_each_once(shared_read, what + ", shared by " + std::to_string(parts));
          expect_each_once(shared_written, what + ", shared by " + std::to_string(parts));
        }
      }
    }
  }
}

TEST(Tiling, RowTilesCoverEveryRowOnce) {
  for (const auto& dims : shapes) {
    for (const CacheSizes& c : caches) {
      for (std::size_t element_size : {sizeof(float), sizeof(double)}) {
        const Geometry g = geometry_of(desc_of(dims, Layout::nhwc));
        const std::string what = describe(dims, Layout::nhwc, c);
        const RowTiles tiles(g, element_size, c);
        ASSERT_GE(tiles.rows_per_tile, 1) << what;
        ASSERT_EQ(tiles.first_row(0), 0) << what;
        ASSERT_EQ(tiles.first_row(tiles.count), g.rows) << what;
        std::vector<int> seen(g.rows);
        for (std::int64_t t = 0; t < tiles.count; ++t) {
          ASSERT_LT(tiles.first_row(t), tiles.first_row(t + 1)) << what << ": tile " << t << " is empty";
          for (std::int64_t row = tiles.first_row(t); row < tiles.first_row(t + 1); ++row) ++seen[row];
        }
        expect_each_once(seen, what);
      }
    }
  }
}

// The stretches of the output passes, over each thread's share of the elements (as the
// inference pass cuts them): each element once, with its own channel's coefficient.
TEST(Tiling, StretchesCoverEveryElementOnceWithItsChannel) {
  for (const auto& dims : shapes) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      const Geometry g = geometry_of(desc_of(dims, layout));
      std::vector<float> output(g.elements + line_elements<float>);
      // Output starting off a cache line, so that the row view's line ends fall mid-row.
      const float* out = output.data() + 3;
      for (int parts : {1, 2, 5}) {
        const std::string what = describe(dims, layout, caches[0]) + ", " + std::to_string(parts) + " parts";
        std::vector<int> seen(g.elements);
        for (int part = 0; part < parts; ++part) {
          const Share mine = share(g.elements, part, parts, line_elements<float>);
          std::int64_t expected_offset = 0;
          for_each_stretch(g, mine.begin, mine.end - mine.begin, out,
                           [&](std::int64_t offset, std::int64_t n, std::int64_t index) {
                             ASSERT_EQ(offset, expected_offset) << what;
                             ASSERT_GE(n, 1) << what;
                             expected_offset += n;
                             if (g.by_rows) {
                               ASSERT_LE(index + n, g.coefficient_count()) << what;
                             }
                             for (std::int64_t k = 0; k < n; ++k) {
                               const std::int64_t element = mine.begin + offset + k;
                               const std::int64_t channel =
                                   g.by_rows ? element % g.channels : element / g.run_length % g.channels;
                               const std::int64_t coefficient_channel = g.by_rows ? (index + k) % g.channels : index;
                               ASSERT_EQ(coefficient_channel, channel) << what << ": element " << element;
                               ++seen[element];
                             }
                           });
          ASSERT_EQ(expected_offset, mine.end - mine.begin) << what;
        }
        expect_each_once(seen, what);
      }
    }
  }
}

TEST(Tiling, VectorWidthFollowsTheTarget) {
#if defined(__AVX512F__)
  EXPECT_EQ(lanes, 16);
#elif defined(__AVX__)
  EXPECT_EQ(lanes, 8);
#else
  EXPECT_EQ(lanes, 4);
#endif
  EXPECT_EQ(2 * double_lanes, lanes);
  EXPECT_EQ(line_elements<float> % vector_elements<float>, 0);
}

// S2 <= 2 m2 is 2 S1^2 <= count S2: holds exactly on the line, fails just past it.
TEST(ShortSumsHold, AtTheShiftWithinOneStandardDeviation) {
  const double count = 8, second = 4;
  const double first = 4;  // 2 * 16 = 8 * 4
  EXPECT_TRUE(short_sums_hold(first, second, count));
  EXPECT_TRUE(short_sums_hold(-first, second, count));
  EXPECT_FALSE(short_sums_hold(std::nextafter(first, 8.0), second, count));
  EXPECT_FALSE(short_sums_hold(-std::nextafter(first, 8.0), second, count));
  EXPECT_TRUE(short_sums_hold(first, std::nextafter(second, 8.0), count));
  EXPECT_FALSE(short_sums_hold(first, std::nextafter(second, 0.0), count));
}

// S2 must stay clear of f32's subnormal squares: count * 2^-100 is the last value that holds.
TEST(ShortSumsHold, AtTheSubnormalThreshold) {
  const double count = 12;
  const double threshold = count * 0x1p-100;
  EXPECT_TRUE(short_sums_hold(0, threshold, count));
  EXPECT_FALSE(short_sums_hold(0, std::nextafter(threshold, 0.0), count));
  EXPECT_TRUE(short_sums_hold(0, 0, count));  // every d is 0: exact
  EXPECT_FALSE(short_sums_hold(0x1p-200, 0, count));
}

TEST(ShortSumsHold, NotOnOverflowOrNaN) {
  constexpr double largest = std::numeric_limits<double>::max();
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(short_sums_hold(0, largest, 4));
  EXPECT_FALSE(short_sums_hold(0, inf, 4));
  EXPECT_FALSE(short_sums_hold(inf, inf, 4));
  EXPECT_FALSE(short_sums_hold(-inf, 1, 4));
  EXPECT_FALSE(short_sums_hold(nan, 1, 4));
  EXPECT_FALSE(short_sums_hold(0, nan, 4));
}

// ---------------------------------------------------------------------------------------------
// Conversions: every path (the target's vector conversion, the integer rounding of bf16, one
// element at a time, a store, a streaming store) against bnh::bfloat16 and bnh::float16.

float float_of_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// deviation(x, -s) stands for x - s in every sum of deviations: it must agree bit for bit,
// signed zeros, subnormals, infinities and NaN included (x - s is x + (-s) in IEEE 754).
TEST(Tiling, DeviationIsTheDifferenceBitForBit) {
  const float inf = std::numeric_limits<float>::infinity(), tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> values = {0.0f,  -0.0f, 1.0f,  -1.0f, 1.5f,     3.0e38f,  -3.0e38f, 1.0e-40f,
                                     tiny, -tiny, 1.0e-38f, 16777217.0f, 0.1f, inf, -inf, std::nanf("")};
  std::mt19937 engine(7);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  std::vector<float> cases = values;
  for (int k = 0; k < 4096; ++k) cases.push_back(float_of_bits(any_bits(engine)));
  for (std::size_t i = 0; i + lanes <= cases.size(); i += lanes) {
    for (const float shift : values) {
      const std::vector<float> shifts(lanes, shift);  // not broadcast(), which turns -0 into +0
      const Floats x = load_vector(cases.data() + i), s = load_vector(shifts.data());
      const Floats got = deviation(x, -s), expected = x - s;
      for (std::int64_t lane = 0; lane < lanes; ++lane) {
        if (std::isnan(expected[lane])) {
          EXPECT_TRUE(std::isnan(got[lane])) << cases[i + lane] << " - " << shift;
        } else {
          EXPECT_EQ(bits_of(got[lane]), bits_of(expected[lane])) << cases[i + lane] << " - " << shift;
        }
      }
    }
  }
}

// The f32 values the narrowing is tried on: for every 16-bit upper half, the values at, just
// around and halfway to the next bf16 (the ties of bf16); every f16, the values halfway to the
// next f16 and either side of that (the ties of f16, its subnormals and, past 65504, its
// overflow); and random bit patterns, and random values in f16's range.
std::vector<float> narrowing_cases() {
  std::vector<float> values;
  for (std::uint32_t upper = 0; upper < 0x10000; ++upper) {
    for (std::uint32_t lower : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) {
      values.push_back(float_of_bits(upper << 16 | lower));
    }
  }
  for (std::uint16_t bits = 0; bits < 0x7c00; ++bits) {
    const float value = float16::from_bits(bits);
    const int exponent = std::max(bits >> 10, 1);
    const float half_ulp = std::ldexp(1.0f, exponent - 15 - 11);  // half the spacing at that exponent
    for (float v : {value, value + half_ulp}) {
      for (float w : {v, std::nextafter(v, 0.0f), std::nextafter(v, 1e6f)}) {
        values.push_back(w);
        values.push_back(-w);
      }
    }
  }
  std::mt19937 random(20240611);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  std::uniform_real_distribution<float> significand(1.0f, 2.0f);
  std::uniform_int_distribution<int> exponent(-27, 16);
  for (int i = 0; i < (1 << 18); ++i) {
    values.push_back(float_of_bits(any_bits(random)));
    values.push_back(std::ldexp(significand(random), exponent(random)) * (i % 2 == 0 ? 1.0f : -1.0f));
  }
  values.resize((values.size() + 2 * lanes - 1) / (2 * lanes) * (2 * lanes), 1.0f);
  // Pairs of vectors with one f32 subnormal in either vector only, the other all normal.
  for (std::int64_t at : {std::int64_t{1}, lanes + 1}) {
    for (std::int64_t l = 0; l < 2 * lanes; ++l) values.push_back(l == at ? 0x1.8p-130f : 1.0f + 0x1p-9f * l);
  }
  return values;
}

// Whether `bits` of a format with `exponent_mask` and `quiet` bit is what narrowing `value`
// should give, `expected` being bnh's own: the same bits, or for NaN a quiet NaN of its sign.
bool narrowed_as_expected(std::uint16_t bits, std::uint16_t expected, float value, std::uint16_t exponent_mask,
                          std::uint16_t quiet) {
  if (!std::isnan(value)) return bits == expected;
  const bool nan = (bits & exponent_mask) == exponent_mask && (bits & ~exponent_mask & 0x7fff) != 0;
  return nan && (bits & quiet) != 0 && (bits & 0x8000) == (std::signbit(value) ? 0x8000 : 0);
}

template <typename Reduced>
void expect_narrowing_as_bnh(std::uint16_t exponent_mask, std::uint16_t quiet) {
  const std::vector<float> values = narrowing_cases();
  alignas(64) Reduced stored[2 * lanes], streamed[2 * lanes], paired[2 * lanes], paired_streamed[2 * lanes];
  std::int64_t failures = 0;
  for (std::size_t at = 0; at < values.size() && failures < 10; at += 2 * lanes) {
    Floats vectors[2];
    std::memcpy(vectors, values.data() + at, sizeof vectors);
    const Halfwords converted = narrow<Reduced>(vectors[0]);
    store_narrowed(stored, vectors[0]);
    store_narrowed(stored + lanes, vectors[1]);
    stream_narrowed(streamed, vectors[0]);
    stream_narrowed(streamed + lanes, vectors[1]);
    store_narrowed_pair(paired, vectors[0], vectors[1]);
    stream_narrowed_pair(paired_streamed, vectors[0], vectors[1]);
    finish_streaming();
    for (std::int64_t l = 0; l < 2 * lanes; ++l) {
      const float value = values[at + l];
      const std::uint16_t expected = Reduced(value).bits();
      std::vector<std::uint16_t> got = {stored[l].bits(), streamed[l].bits(), paired[l].bits(),
                                        paired_streamed[l].bits(), narrowed<Reduced>(value).bits()};
      if (l < lanes) got.push_back(converted[l]);
      if constexpr (std::is_same_v<Reduced, bfloat16>) {
        if (l < lanes) got.push_back(narrow_bfloat16_by_integers(vectors[0])[l]);
      }
      for (std::uint16_t bits : got) {
        if (narrowed_as_expected(bits, expected, value, exponent_mask, quiet)) continue;
        ADD_FAILURE() << "f32 bits " << std::hex << bits_of(value) << ": got " << bits << ", expected " << expected;
        ++failures;
      }
    }
  }
}

TEST(Conversions, NarrowingToBfloat16RoundsAsBnhDoes) { expect_narrowing_as_bnh<bfloat16>(0x7f80, 0x0040); }
TEST(Conversions, NarrowingToFloat16RoundsAsBnhDoes) { expect_narrowing_as_bnh<float16>(0x7c00, 0x0200); }

// Every one of the 65536 values of either format widens to the same f32 (NaN to a NaN).
template <typename Reduced>
void expect_widening_as_bnh() {
  std::vector<Reduced> all(0x10000);
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) all[bits] = Reduced::from_bits(static_cast<std::uint16_t>(bits));
  for (std::size_t at = 0; at < all.size(); at += lanes) {
    const Floats vector = load_widened(all.data() + at);
    for (std::int64_t l = 0; l < lanes; ++l) {
      const float expected = static_cast<float>(all[at + l]);
      for (float value : {vector[l], widened(all[at + l])}) {
        if (std::isnan(expected)) {
          ASSERT_TRUE(std::isnan(value)) << std::hex << all[at + l].bits();
        } else {
          ASSERT_EQ(bits_of(value), bits_of(expected)) << std::hex << all[at + l].bits();
        }
      }
    }
  }
}

// load_widened_pair takes bf16 as even and odd elements, the other types as two vectors in turn.
template <typename T>
void expect_pairs_widened_in_their_order() {
  std::vector<T> data(2 * lanes);
  for (std::int64_t i = 0; i < 2 * lanes; ++i) data[i] = T(static_cast<float>(i + 1));
  Vector<Compute<T>> first, second;
  load_widened_pair(data.data(), first, second);
  for (std::int64_t l = 0; l < lanes; ++l) {
    const bool interleaved = std::is_same_v<T, bfloat16>;
    EXPECT_EQ(first[l], interleaved ? 2 * l + 1 : l + 1) << l;
    EXPECT_EQ(second[l], interleaved ? 2 * l + 2 : lanes + l + 1) << l;
  }
}

TEST(Conversions, PairsWidenInTheirDocumentedOrder) {
  expect_pairs_widened_in_their_order<bfloat16>();
  expect_pairs_widened_in_their_order<float16>();
  expect_pairs_widened_in_their_order<float>();
}

TEST(Conversions, WideningFromBfloat16IsExact) { expect_widening_as_bnh<bfloat16>(); }
TEST(Conversions, WideningFromFloat16IsExact) { expect_widening_as_bnh<float16>(); }

}  // namespace
}  // namespace bnh::tiles
