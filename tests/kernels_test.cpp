// The tiled implementations, blocked and openmp (impls/tiles/): openmp repeats itself bit for
// bit at a given thread count, and both agree with the 50-digit reference on the shapes their
// tiles and thread splits make special, on a tensor larger than the last-level cache, and on
// data whose large mean would cancel a careless variance away.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "bnh/registry.hpp"
#include "properties/case.hpp"
#include "properties/reference_agreement.hpp"

namespace bnh {
namespace {

template <typename T>
std::vector<T> as(const std::vector<double>& values) {
  return std::vector<T>(values.begin(), values.end());
}

template <typename T>
void append_bytes(std::vector<unsigned char>& bytes, const std::vector<T>& values) {
  const auto* first = reinterpret_cast<const unsigned char*>(values.data());
  bytes.insert(bytes.end(), first, first + values.size() * sizeof(T));
}

// Runs one operation on the case's data and returns every output, running statistics
// included, as raw bytes.
template <typename T>
std::vector<unsigned char> outputs_of(Implementation& impl, const Case& tc, Operation operation) {
  const TensorDesc& desc = tc.desc;
  const auto x = as<T>(tc.x), dy = as<T>(tc.dy), gamma = as<T>(tc.gamma), beta = as<T>(tc.beta);
  auto running_mean = as<T>(tc.running_mean), running_var = as<T>(tc.running_var);
  // Saved statistics and renorm's r, d for the backward passes: any finite values will do.
  std::vector<T> save_mean(desc.c), save_invstd(desc.c), r(desc.c), d(desc.c);
  for (std::int64_t c = 0; c < desc.c; ++c) {
    save_mean[c] = static_cast<T>(0.1 * static_cast<double>(c % 7) - 0.3);
    save_invstd[c] = static_cast<T>(0.8 + 0.05 * static_cast<double>(c % 5));
    r[c] = static_cast<T>(1.25);
    d[c] = static_cast<T>(-0.5);
  }
  std::vector<T> out(x.size()), channel_a(desc.c), channel_b(desc.c), channel_c(desc.c), channel_d(desc.c);
  switch (operation) {
    case Operation::bn_forward_train:
      impl.bn_forward_train(desc, tc.params, x.data(), gamma.data(), beta.data(), out.data(), channel_a.data(),
                            channel_b.data(), running_mean.data(), running_var.data());
      break;
    case Operation::bn_forward_infer:
      impl.bn_forward_infer(desc, tc.params, x.data(), gamma.data(), beta.data(), running_mean.data(),
                            running_var.data(), out.data());
      break;
    case Operation::bn_backward:
      impl.bn_backward(desc, tc.params, dy.data(), x.data(), gamma.data(), save_mean.data(), save_invstd.data(),
                       out.data(), channel_a.data(), channel_b.data());
      break;
    case Operation::renorm_forward_train:
      impl.renorm_forward_train(desc, tc.params, x.data(), gamma.data(), beta.data(), out.data(), channel_a.data(),
                                channel_b.data(), channel_c.data(), channel_d.data(), running_mean.data(),
                                running_var.data());
      break;
    case Operation::renorm_backward:
      impl.renorm_backward(desc, tc.params, dy.data(), x.data(), gamma.data(), save_mean.data(),
                           save_invstd.data(), r.data(), d.data(), out.data(), channel_a.data(), channel_b.data());
      break;
  }
  std::vector<unsigned char> bytes;
  for (const auto* values : {&out, &channel_a, &channel_b, &channel_c, &channel_d, &running_mean, &running_var}) {
    append_bytes(bytes, *values);
  }
  return bytes;
}

std::vector<unsigned char> outputs_of(Implementation& impl, const Case& tc, Operation operation) {
  std::vector<unsigned char> bytes;
  dispatch_dtype(tc.desc.dtype, [&](auto zero) { bytes = outputs_of<decltype(zero)>(impl, tc, operation); });
  return bytes;
}

Params with_threads(int threads) {
  Params params;
  params.threads = threads;
  return params;
}

// Shapes large enough that openmp starts a team, one per way it splits the work: channels
// fewer than threads (C = 1; C = 3, split inside each channel), whole channels per thread
// (NCHW with C = 32), bands of rows (every NHWC shape, and the 2-D one).
const std::vector<TensorDesc> parallel_shapes{
    {2, 1, 181, 97},
    {4, 3, 61, 59},
    {16, 32, 9, 9},
    {4096, 16, 1, 1},
};

TEST(OpenMP, RepeatsItselfBitForBitAtAGivenThreadCount) {
  const auto impl = make_implementation("openmp");
  for (int threads : {1, 2}) {
    for (TensorDesc desc : parallel_shapes) {
      for (DType dtype : {DType::f32, DType::f64}) {
        for (Layout layout : {Layout::nchw, Layout::nhwc}) {
          desc.dtype = dtype;
          desc.layout = layout;
          const Case test_case = random_case(desc, 31, with_threads(threads));
          for (Operation operation : all_operations) {
            const auto first = outputs_of(*impl, test_case, operation);
            for (int repeat = 0; repeat < 3; ++repeat) {
              const auto again = outputs_of(*impl, test_case, operation);
              ASSERT_EQ(first.size(), again.size());
              EXPECT_EQ(0, std::memcmp(first.data(), again.data(), first.size()))
                  << to_string(operation) << " " << desc.to_string() << " threads=" << threads;
            }
          }
        }
      }
    }
  }
}

void expect_agreement(Implementation& impl, const Case& test_case,
                      const std::vector<Operation>& operations = {std::begin(all_operations),
                                                                  std::end(all_operations)}) {
  for (Operation operation : operations) {
    const auto result = check_reference_agreement(impl, test_case, operation);
    EXPECT_TRUE(result.passed()) << impl.name() << " " << test_case.summary() << " threads="
                                 << test_case.params.threads << "\n" << result.describe();
  }
}

class TiledImplementation : public testing::TestWithParam<std::string> {};

TEST_P(TiledImplementation, AgreesWithTheReferenceOnTileAndThreadEdges) {
  const auto impl = make_implementation(GetParam());
  std::vector<TensorDesc> shapes{
      {2, 1, 1, 1},    // M = 2, C = 1
      {1, 1, 1, 2},    // M = 2 in one sample
      {1, 3, 2, 1},    // M = 2, three channels
      {3, 17, 9, 11},  // no size a multiple of a vector width or tile
      {5, 3, 13, 1},
      {2, 7, 67, 67},  // NCHW runs cut into pieces, the last one short
      {2, 2, 200, 200},  // NCHW channels larger than a block: several blocks merged per channel
      {61, 300, 1, 1}, // 2-D, more channels than the row kernels take at once
  };
  shapes.insert(shapes.end(), parallel_shapes.begin(), parallel_shapes.end());
  std::uint64_t seed = 500;
  for (TensorDesc desc : shapes) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (Layout layout : {Layout::nchw, Layout::nhwc}) {
        desc.dtype = dtype;
        desc.layout = layout;
        // Two threads: more threads than channels in several of these shapes.
        expect_agreement(*impl, random_case(desc, seed++, with_threads(2)));
      }
    }
  }
}

TEST_P(TiledImplementation, AgreesWithTheReferenceWhenTheMeanDwarfsTheSpread) {
  const auto impl = make_implementation(GetParam());
  std::mt19937_64 engine(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (TensorDesc desc : {TensorDesc{4, 3, 61, 59}, TensorDesc{3, 17, 9, 11}, TensorDesc{4096, 16, 1, 1}}) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (Layout layout : {Layout::nchw, Layout::nhwc}) {
        desc.dtype = dtype;
        desc.layout = layout;
        Case test_case = random_case(desc, 9, with_threads(2));
        // x = 1e4 + N(0, 1): a one-pass E[x^2] - E[x]^2 in float would lose every digit of the
        // variance, and in double half of them (too many for f64 data).
        for (double& value : test_case.x) {
          value = round_to_dtype(1e4 + normal(engine), dtype);
        }
        expect_agreement(*impl, test_case);
      }
    }
  }
}

// 16 x 64 x 96 x 96 f32 NHWC is 37.7 MB: larger than a 32 MiB last-level cache, so the
// statistics and normalize passes stream from memory and the outputs go out with streaming
// stores; 8 x 64 x 96 x 96 NCHW is half that, still enough for input and output together to
// stream. 16 x 1024 x 14 x 14 NCHW streams too, but its runs (784 bytes) are not whole cache
// lines, so its forward takes no prefetch. A 2-D (2560, 1024) input (10.5 MB, rows of 4 KiB) is
// streamed in memory order rather than down its columns, as rows wider than 1 KiB are. The
// reference takes seconds per pass at these sizes, so only the training forward and the
// backward pass are checked.
TEST_P(TiledImplementation, AgreesWithTheReferenceOnATensorLargerThanTheCache) {
  const auto impl = make_implementation(GetParam());
  for (const TensorDesc& desc : {TensorDesc{16, 64, 96, 96, Layout::nhwc, DType::f32},
                                 TensorDesc{8, 64, 96, 96, Layout::nchw, DType::f32},
                                 TensorDesc{16, 1024, 14, 14, Layout::nchw, DType::f32},
                                 TensorDesc{2560, 1024, 1, 1, Layout::nhwc, DType::f32}}) {
    expect_agreement(*impl, random_case(desc, 11, with_threads(2)),
                     {Operation::bn_forward_train, Operation::bn_backward});
  }
}

INSTANTIATE_TEST_SUITE_P(Tiled, TiledImplementation, testing::Values("blocked", "openmp"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace bnh
