#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "bnh/types.hpp"

namespace bnh {
namespace {

TEST(TensorDesc, OffsetsFollowTheLayout) {
  TensorDesc nchw{2, 3, 4, 5, Layout::nchw, DType::f32};
  EXPECT_EQ(nchw.offset(0, 0, 1), 1);          // spatial is innermost
  EXPECT_EQ(nchw.offset(0, 1, 0), 20);         // then channels
  EXPECT_EQ(nchw.offset(1, 0, 0), 60);         // then samples
  TensorDesc nhwc{2, 3, 4, 5, Layout::nhwc, DType::f32};
  EXPECT_EQ(nhwc.offset(0, 1, 0), 1);          // channels are innermost
  EXPECT_EQ(nhwc.offset(0, 0, 1), 3);          // then spatial
  EXPECT_EQ(nhwc.offset(1, 0, 0), 60);         // then samples
  EXPECT_EQ(nchw.per_channel(), 40);
  EXPECT_EQ(nchw.elements(), 120);
}

TEST(TensorDesc, TwoDimensionalLayoutsAreTheSameBytes) {
  TensorDesc nchw{7, 5, 1, 1, Layout::nchw, DType::f64};
  TensorDesc nhwc{7, 5, 1, 1, Layout::nhwc, DType::f64};
  for (std::int64_t n = 0; n < 7; ++n) {
    for (std::int64_t c = 0; c < 5; ++c) EXPECT_EQ(nchw.offset(n, c, 0), nhwc.offset(n, c, 0));
  }
}

TEST(TensorDesc, RoundTripsThroughTheCAbi) {
  TensorDesc desc{2, 3, 4, 5, Layout::nhwc, DType::f64};
  const TensorDesc back = TensorDesc::from_c(desc.to_c());
  EXPECT_EQ(back.to_string(), "f64 nhwc 2x3x4x5");
  EXPECT_EQ(desc.to_c().layout, BNH_NHWC);
  EXPECT_EQ(desc.to_c().dtype, BNH_F64);
  Params params{1e-3, 0.25, 2.0, 1.5, 3};
  const Params again = Params::from_c(params.to_c());
  EXPECT_EQ(again.eps, 1e-3);
  EXPECT_EQ(again.momentum, 0.25);
  EXPECT_EQ(again.rmax, 2.0);
  EXPECT_EQ(again.dmax, 1.5);
  EXPECT_EQ(again.threads, 3);
}

TEST(Parse, NamesRoundTripAndUnknownNamesAreRefused) {
  for (Operation operation : all_operations) {
    EXPECT_EQ(parse_operation(to_string(operation)), operation);
  }
  EXPECT_EQ(parse_dtype("f32"), DType::f32);
  EXPECT_EQ(parse_layout("NHWC"), Layout::nhwc);
  EXPECT_EQ(parse_dtype("bf16"), DType::bf16);
  EXPECT_EQ(parse_dtype("f16"), DType::f16);
  EXPECT_THROW(parse_dtype("f8"), Error);
  EXPECT_THROW(parse_layout("chwn"), Error);
  EXPECT_THROW(parse_operation("forward"), Error);
}

TEST(ShapeLabel, JoinsTheExtentsWithX) {
  EXPECT_EQ(shape_label({16, 64, 56, 56}), "16x64x56x56");
  EXPECT_EQ(shape_label({4096, 1024}), "4096x1024");
  EXPECT_EQ(shape_label({}), "");
  EXPECT_EQ((TensorDesc{2, 3, 4, 5, Layout::nhwc, DType::f64}).to_string(), "f64 nhwc 2x3x4x5");
}

TEST(RoundToDtype, F32RoundsToTheNearestFloatAndF64KeepsTheValue) {
  const double between = 1.0 + 0x1p-30;
  EXPECT_EQ(round_to_dtype(between, DType::f32), 1.0);
  EXPECT_EQ(round_to_dtype(between, DType::f64), between);
  EXPECT_EQ(round_to_dtype(1e300, DType::f32), HUGE_VAL);
}

TEST(ForEachInChannel, VisitsTheChannelsOffsetsInSampleThenPositionOrder) {
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    const TensorDesc desc{2, 3, 2, 1, layout, DType::f32};
    std::vector<std::int64_t> visited;
    desc.for_each_in_channel(1, [&](std::int64_t i) { visited.push_back(i); });
    const std::vector<std::int64_t> expected =
        layout == Layout::nchw ? std::vector<std::int64_t>{2, 3, 8, 9} : std::vector<std::int64_t>{1, 4, 7, 10};
    EXPECT_EQ(visited, expected) << to_string(layout);
  }
}

}  // namespace
}  // namespace bnh
