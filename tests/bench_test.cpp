// The benchmark machinery: traffic model, suites, statistics, speed-ups, the runner.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "bench/bounds.hpp"
#include "bench/runner.hpp"
#include "bench/suites.hpp"
#include "bench/traffic.hpp"
#include "bench/workspace.hpp"
#include "bnh/registry.hpp"
#include "reports/schema.hpp"

namespace {

using bnh::DType;
using bnh::Layout;
using bnh::Operation;
using bnh::Role;
using bnh::TensorDesc;
using namespace bnh::bench;

TEST(TrafficModel, CountsTensorsAndVectorsPerOperation) {
  const TensorDesc f32{2, 3, 4, 5, Layout::nchw, DType::f32};  // E = 120, C = 3
  EXPECT_EQ(compulsory_bytes(Operation::bn_forward_train, f32), (2 * 120 + 8 * 3) * 4);
  EXPECT_EQ(compulsory_bytes(Operation::bn_forward_infer, f32), (2 * 120 + 4 * 3) * 4);
  EXPECT_EQ(compulsory_bytes(Operation::bn_backward, f32), (3 * 120 + 5 * 3) * 4);
  EXPECT_EQ(compulsory_bytes(Operation::renorm_forward_train, f32), (2 * 120 + 10 * 3) * 4);
  EXPECT_EQ(compulsory_bytes(Operation::renorm_backward, f32), (3 * 120 + 7 * 3) * 4);
}

TEST(TrafficModel, ScalesWithTheElementSizeNotTheLayout) {
  TensorDesc desc{16, 64, 56, 56, Layout::nchw, DType::f32};
  const auto nchw = compulsory_traffic(Operation::bn_backward, desc);
  desc.layout = Layout::nhwc;
  EXPECT_EQ(compulsory_traffic(Operation::bn_backward, desc).bytes, nchw.bytes);
  desc.dtype = DType::f64;
  EXPECT_EQ(compulsory_traffic(Operation::bn_backward, desc).bytes, 2 * nchw.bytes);
  EXPECT_EQ(nchw.tensor_elements, 3 * desc.elements());
  EXPECT_EQ(nchw.vector_elements, 5 * 64);
}

TEST(TrafficModel, CountsTwoByteTensorsAndTheStatisticsInTheirOwnDtype) {
  TensorDesc mixed{2, 3, 4, 5, Layout::nchw, DType::bf16};  // E = 120, C = 3: f32 statistics
  EXPECT_EQ(compulsory_bytes(Operation::bn_forward_train, mixed), 2 * 120 * 2 + 8 * 3 * 4);
  EXPECT_EQ(compulsory_bytes(Operation::bn_backward, mixed), 3 * 120 * 2 + 5 * 3 * 4);
  TensorDesc pure = mixed;
  pure.stats = DType::bf16;
  EXPECT_EQ(compulsory_bytes(Operation::bn_forward_train, pure), (2 * 120 + 8 * 3) * 2);
  TensorDesc f16{2, 3, 4, 5, Layout::nhwc, DType::f16};
  EXPECT_EQ(compulsory_bytes(Operation::renorm_backward, f16), 3 * 120 * 2 + 7 * 3 * 4);
  EXPECT_EQ(compulsory_traffic(Operation::renorm_backward, f16).tensor_elements, 3 * 120);
}

TEST(Suites, Resnet50HasNineShapesAtTheGivenBatch) {
  const auto shapes = suite_shapes("resnet50");
  ASSERT_EQ(shapes.size(), 9u);
  EXPECT_EQ(shapes.front().label(), "16x64x112x112");
  EXPECT_EQ(shapes.back().label(), "16x2048x7x7");
  SuiteOptions options;
  options.n = 32;
  EXPECT_EQ(suite_shapes("resnet50", options).front().label(), "32x64x112x112");
}

TEST(Suites, MlpShapesAreTwoDimensional) {
  const auto shapes = suite_shapes("mlp");
  ASSERT_EQ(shapes.size(), 3u);
  EXPECT_EQ(shapes[0].label(), "4096x1024");
  EXPECT_EQ(shapes[0].dims(), (std::vector<std::int64_t>{4096, 1024}));
  EXPECT_EQ(shapes[0].h * shapes[0].w, 1);
}

TEST(Suites, SmallBatchUsesBatchesTwoAndFour) {
  std::set<std::int64_t> batches;
  for (const auto& shape : suite_shapes("small-batch")) batches.insert(shape.n);
  EXPECT_EQ(batches, (std::set<std::int64_t>{2, 4}));
}

TEST(Suites, CacheSweepDoublesFromL1ToFourTimesTheLastLevel) {
  SuiteOptions options;
  options.l1_data = 32 << 10;
  options.last_level = 32 << 20;
  const auto shapes = suite_shapes("cache-sweep", options);
  ASSERT_EQ(shapes.size(), 13u);
  EXPECT_EQ(shapes.front().elements() * 4, 32 << 10);
  EXPECT_EQ(shapes.back().elements() * 4, std::int64_t{128} << 20);
  for (std::size_t i = 1; i < shapes.size(); ++i) {
    EXPECT_EQ(shapes[i].elements(), 2 * shapes[i - 1].elements());
    EXPECT_EQ(shapes[i].c, 64);
  }
}

TEST(Suites, QuickIsASubsetOfTheOthers) {
  std::set<std::string> all;
  for (const char* suite : {"resnet50", "mlp", "small-batch"}) {
    for (const auto& shape : suite_shapes(suite)) all.insert(shape.label());
  }
  for (const auto& shape : suite_shapes("quick")) EXPECT_TRUE(all.count(shape.label())) << shape.label();
}

TEST(Suites, UnknownSuiteIsRefused) {
  EXPECT_THROW(suite_shapes("nosuch"), bnh::Error);
}

TEST(Statistics, MedianMinimumAndSampleStandardDeviation) {
  const auto stats = statistics_of({3, 1, 2});
  EXPECT_EQ(stats.median, 2);
  EXPECT_EQ(stats.min, 1);
  EXPECT_DOUBLE_EQ(stats.stddev, 1);
  EXPECT_EQ(statistics_of({5}).stddev, 0);
}

bnh::reports::Benchmark entry(const std::string& impl, bnh::Role role, double median,
                              std::vector<std::int64_t> shape = {2, 3}) {
  bnh::reports::Benchmark benchmark;
  benchmark.implementation = impl;
  benchmark.role = role;
  benchmark.operation = "bn_backward";
  benchmark.layout = "nchw";
  benchmark.dtype = "f32";
  benchmark.shape = std::move(shape);
  benchmark.timing.median_s = median;
  benchmark.gbps = 1 / median;
  return benchmark;
}

TEST(Derive, SpeedupsAgainstTheBaselineAndTheFastestPeerOfTheSameGroup) {
  bnh::reports::Report report;
  report.benchmarks = {entry("naive", Role::baseline, 2.0), entry("openmp", Role::built_in, 0.5),
                       entry("onednn", Role::peer, 1.0), entry("aten", Role::peer, 0.8),
                       entry("openmp", Role::built_in, 1.0, {4, 3}), entry("mine", Role::under_test, 0.4)};
  bnh::reports::derive(report);
  const auto& openmp = report.benchmarks[1];
  EXPECT_DOUBLE_EQ(*openmp.speedup_vs_naive, 4.0);
  EXPECT_DOUBLE_EQ(*openmp.speedup_vs_best_peer, 1.6);
  EXPECT_EQ(openmp.best_peer, "aten");
  EXPECT_DOUBLE_EQ(*report.benchmarks[0].speedup_vs_naive, 1.0);
  EXPECT_DOUBLE_EQ(*report.benchmarks[5].speedup_vs_best_peer, 2.0);  // a plugin is no peer
  EXPECT_FALSE(report.benchmarks[4].speedup_vs_naive);  // another shape: nothing to compare
  EXPECT_FALSE(report.benchmarks[4].speedup_vs_best_peer);
  EXPECT_EQ(report.focus, "openmp");  // the fastest built-in
}

TEST(Derive, TheFocusGivenStays) {
  bnh::reports::Report report;
  report.focus = "mine";
  report.benchmarks = {entry("openmp", Role::built_in, 0.5), entry("mine", Role::under_test, 0.4)};
  bnh::reports::derive(report);
  EXPECT_EQ(report.focus, "mine");
}

TEST(Derive, FastestBuiltInByGeometricMeanOverItsGroups) {
  // blocked is faster on one shape, openmp by more on the other.
  const std::vector<bnh::reports::Benchmark> benchmarks = {
      entry("blocked", Role::built_in, 1.0), entry("openmp", Role::built_in, 1.1),
      entry("blocked", Role::built_in, 4.0, {4, 3}), entry("openmp", Role::built_in, 1.0, {4, 3}),
      entry("naive", Role::baseline, 0.1)};
  EXPECT_EQ(bnh::reports::fastest_built_in(benchmarks), "openmp");
}

TEST(Derive, BoundAndCopyFractionsMatchTheirMeasurement) {
  bnh::reports::Report report;
  auto bound = [](const std::string& kind, std::vector<std::int64_t> shape, int threads, double median) {
    bnh::reports::BoundMeasurement measured;
    measured.id = kind + "/f32/x/t" + std::to_string(threads) + std::to_string(shape.size());
    measured.kind = kind;
    measured.dtype = "f32";
    measured.shape = std::move(shape);
    measured.threads = threads;
    measured.timing.median_s = median;
    measured.gbps = 1 / median;
    return measured;
  };
  report.bounds = {bound("copy", {2, 3}, 1, 0.25), bound("read_copy", {2, 3}, 1, 0.4), bound("copy", {2, 3}, 2, 0.1)};
  report.benchmarks = {entry("openmp", Role::built_in, 0.5), entry("openmp", Role::built_in, 0.5, {4, 3})};
  report.benchmarks[0].bound = report.bounds[1].id;
  bnh::reports::derive(report);
  EXPECT_DOUBLE_EQ(*report.benchmarks[0].bound_fraction, 0.8);  // the bound's time over the operation's
  EXPECT_DOUBLE_EQ(*report.benchmarks[0].copy_fraction, 0.5);   // the copy of the same shape and threads
  EXPECT_FALSE(report.benchmarks[1].copy_fraction);             // no copy of that shape
  EXPECT_FALSE(report.benchmarks[1].bound_fraction);
}

TEST(Derive, ReducedDtypesAgainstTheSameImplementationsF32) {
  bnh::reports::Report report;
  auto in = [](bnh::reports::Benchmark benchmark, const std::string& dtype) {
    benchmark.dtype = dtype;
    return benchmark;
  };
  report.benchmarks = {entry("openmp", Role::built_in, 1.0), in(entry("openmp", Role::built_in, 0.5), "bf16"),
                       in(entry("openmp", Role::built_in, 0.8), "f16:f16"), in(entry("naive", Role::baseline, 0.9), "bf16"),
                       in(entry("openmp", Role::built_in, 2.0), "f64")};
  bnh::reports::derive(report);
  EXPECT_FALSE(report.benchmarks[0].speedup_vs_f32);  // f32 itself
  EXPECT_DOUBLE_EQ(*report.benchmarks[1].speedup_vs_f32, 2.0);
  EXPECT_DOUBLE_EQ(*report.benchmarks[2].speedup_vs_f32, 1.25);
  EXPECT_FALSE(report.benchmarks[3].speedup_vs_f32);  // naive has no f32 here
  EXPECT_FALSE(report.benchmarks[4].speedup_vs_f32);  // f64 is not reduced
  EXPECT_DOUBLE_EQ(*report.benchmarks[1].speedup_vs_naive, 1.8);  // against naive in bf16
  EXPECT_EQ(bnh::reports::element_bytes("bf16:bf16"), 2u);
  EXPECT_EQ(bnh::reports::element_bytes("f64"), 8u);
}

TEST(Bounds, TheTrainingForwardReadsTwiceWhatTheCacheCannotHold) {
  const TensorDesc small{16, 64, 56, 56, Layout::nhwc, DType::f32};  // 12.25 MiB
  const std::int64_t cache = std::int64_t{32} << 20;
  EXPECT_EQ(bound_kind(Operation::bn_forward_train, small, cache), BoundKind::copy);
  TensorDesc large = small;
  large.c = 256;  // 49 MiB
  EXPECT_EQ(bound_kind(Operation::bn_forward_train, large, cache), BoundKind::read_copy);
  EXPECT_EQ(bound_kind(Operation::bn_forward_infer, large, cache), BoundKind::copy);
  large.layout = Layout::nchw;  // a channel's values, 196 KiB, stay in the cache
  EXPECT_EQ(bound_kind(Operation::renorm_forward_train, large, cache), BoundKind::copy);
  EXPECT_EQ(bound_kind(Operation::bn_backward, large, cache), BoundKind::read_copy);
  large.layout = Layout::nhwc;
  EXPECT_EQ(bound_kind(Operation::bn_backward, large, cache), BoundKind::read2_copy);
  EXPECT_EQ(bound_kind(Operation::bn_backward, small, cache), BoundKind::read_copy);
  const TensorDesc matrix{1 << 16, 256, 1, 1, Layout::nchw, DType::f32};  // (N, C): channels C apart
  EXPECT_EQ(bound_kind(Operation::bn_forward_train, matrix, cache), BoundKind::read_copy);
  EXPECT_EQ(bound_bytes(BoundKind::read2_copy, small), 5 * small.elements() * 4);
}

TEST(Runner, IdsNameEveryCoordinate) {
  const Shape shape{16, 64, 56, 56, false};
  const TensorDesc desc{16, 64, 56, 56, Layout::nhwc, DType::f64};
  EXPECT_EQ(benchmark_id(Operation::bn_forward_train, desc, shape, 2, "openmp"),
            "bn_forward_train/nhwc/f64/16x64x56x56/t2/openmp");
  TensorDesc pure{16, 64, 56, 56, Layout::nchw, DType::bf16};
  pure.stats = DType::bf16;
  EXPECT_EQ(benchmark_id(Operation::bn_backward, pure, shape, 1, "naive"),
            "bn_backward/nchw/bf16:bf16/16x64x56x56/t1/naive");
  EXPECT_EQ(bound_id(BoundKind::copy, pure, shape, 1), "copy/bf16:bf16/16x64x56x56/t1");
}

TEST(Runner, DtypeListsReadPureAndMixedOnceEach) {
  const auto choices = bnh::parse_dtype_choices({"f32", "bf16", "bf16:f32", "f16:f16", "bf16:bf16", "f32"});
  ASSERT_EQ(choices.size(), 4u);
  EXPECT_EQ(choices[1].label(), "bf16");  // bf16:f32 is bf16's default: the same choice
  EXPECT_EQ(choices[2].label(), "f16:f16");
  EXPECT_EQ(choices[3].label(), "bf16:bf16");
  EXPECT_THROW(bnh::parse_dtype_choices({"f32:bf16"}), bnh::Error);
  EXPECT_THROW(bnh::parse_dtype_choices({"bf8"}), bnh::Error);
}

// Every dtype and operation: copies x into y and clears the statistics outputs, each buffer
// in the bytes of its own dtype (an undersized buffer would be written past its end).
class CopyingImplementation : public bnh::UniformImplementation {
 public:
  std::string name() const override { return "copying"; }
  std::string description() const override { return "copies x into y"; }
  bool supports(const TensorDesc&) const override { return true; }
  bool supports(Operation operation) const override { return operation == Operation::bn_forward_train; }
  void run(Operation operation, const TensorDesc& desc, const bnh::Params&,
           const bnh::OperationBuffers& buffers) override {
    std::size_t k = 0;
    for (const bnh::BufferSpec& spec : bnh::operation_spec(operation)) {
      void* out = const_cast<void*>(buffers[k++]);
      if (spec.name == std::string("y")) std::memcpy(out, buffers[0], bnh::bytes_in(spec.extent, desc));
      if (spec.name == std::string("save_mean") || spec.name == std::string("save_invstd")) {
        std::memset(out, 0, bnh::bytes_in(spec.extent, desc));
      }
    }
  }
};

// bf16 and f16, mixed and pure: the buffers hold 2-byte data, the bounds move it.
TEST(Runner, MeasuresReducedDtypesInTheirOwnBytes) {
  CopyingImplementation copying;
  RunConfig config;
  config.shapes = {{4, 8, 4, 4, false}};  // E = 512, C = 8
  config.contenders = {{&copying, Role::built_in}};
  config.operations = {Operation::bn_forward_train};
  config.layouts = {Layout::nhwc};
  config.dtypes = {DType::f32, DType::bf16, {DType::bf16, DType::bf16}, DType::f16};
  config.repetitions = 1;
  config.min_time = 0.001;
  const auto output = run_benchmarks(config);
  EXPECT_TRUE(output.errors.empty()) << output.errors.front().error;
  std::map<std::string, const bnh::reports::Benchmark*> by_dtype;
  for (const auto& benchmark : output.benchmarks) by_dtype[benchmark.dtype] = &benchmark;
  ASSERT_EQ(by_dtype.size(), 4u);
  const auto& mixed = *by_dtype.at("bf16");
  EXPECT_EQ(mixed.id, "bn_forward_train/nhwc/bf16/4x8x4x4/t1/copying");
  EXPECT_EQ(mixed.bytes, 2 * 512 * 2 + 8 * 8 * 4);
  EXPECT_EQ(mixed.bound, "copy/bf16/4x8x4x4/t1");
  EXPECT_EQ(by_dtype.at("bf16:bf16")->bytes, (2 * 512 + 8 * 8) * 2);
  EXPECT_EQ(by_dtype.at("bf16:bf16")->bound, "copy/bf16:bf16/4x8x4x4/t1");
  EXPECT_EQ(by_dtype.at("f16")->bytes, 2 * 512 * 2 + 8 * 8 * 4);
  EXPECT_EQ(by_dtype.at("f32")->bytes, (2 * 512 + 8 * 8) * 4);
  for (const auto& bound : output.bounds) {
    if (bound.dtype != "f32") {
      EXPECT_EQ(bound.bytes, 2 * 512 * 2) << bound.id;
    }
  }

  bnh::reports::Report report;
  report.benchmarks = output.benchmarks;
  report.bounds = output.bounds;
  bnh::reports::derive(report);
  for (const auto& benchmark : report.benchmarks) {
    EXPECT_EQ(benchmark.speedup_vs_f32.has_value(), benchmark.dtype != "f32") << benchmark.id;
    EXPECT_TRUE(benchmark.copy_fraction) << benchmark.id;
  }
}

// The workspace's buffers hold each dtype's own values: x is standard normal rounded once.
TEST(Workspace, FillsEachBufferInItsOwnDtype) {
  Workspace workspace;
  TensorDesc desc{2, 3, 4, 4, Layout::nchw, DType::bf16};
  workspace.prepare(desc);
  const auto* x = static_cast<const bnh::bfloat16*>(workspace.x());
  double sum_of_squares = 0;
  for (std::int64_t i = 0; i < desc.elements(); ++i) sum_of_squares += static_cast<float>(x[i]) * static_cast<float>(x[i]);
  EXPECT_GT(sum_of_squares, 0.2 * static_cast<double>(desc.elements()));
  EXPECT_LT(sum_of_squares, 5.0 * static_cast<double>(desc.elements()));
  const auto buffers = workspace.buffers(Operation::bn_forward_train);
  const auto* gamma = static_cast<const float*>(buffers[1]);  // mixed: f32 statistics
  EXPECT_EQ(gamma[0], 1.5f);
  desc.stats = DType::bf16;
  workspace.prepare(desc);
  const auto* pure_gamma = static_cast<const bnh::bfloat16*>(workspace.buffers(Operation::bn_forward_train)[1]);
  EXPECT_EQ(static_cast<float>(pure_gamma[0]), 1.5f);
}

TEST(Runner, RefusesAnEvenRepetitionCount) {
  RunConfig config;
  config.shapes = {{2, 3, 1, 1, true}};
  config.repetitions = 4;
  EXPECT_THROW(run_benchmarks(config), bnh::Error);
}

TEST(Runner, MeasuresAndReportsEveryRepetition) {
  const auto naive = bnh::make_implementation("naive");
  RunConfig config;
  config.shapes = {{4, 8, 4, 4, false}};
  config.contenders = {{naive.get(), Role::baseline}};
  config.operations = {Operation::bn_forward_infer};
  config.layouts = {Layout::nchw};
  config.repetitions = 3;
  config.min_time = 0.001;
  auto output = run_benchmarks(config);
  ASSERT_EQ(output.benchmarks.size(), 1u);
  const auto& entry = output.benchmarks[0];
  EXPECT_EQ(entry.id, "bn_forward_infer/nchw/f32/4x8x4x4/t1/naive");
  EXPECT_EQ(entry.role, Role::baseline);
  EXPECT_EQ(entry.timing.repetitions.size(), 3u);
  EXPECT_EQ(entry.shape, (std::vector<std::int64_t>{4, 8, 4, 4}));
  EXPECT_EQ(entry.bytes, (2 * 512 + 4 * 8) * 4);
  EXPECT_GT(entry.timing.median_s, 0);
  EXPECT_NEAR(entry.gbps, static_cast<double>(entry.bytes) / entry.timing.median_s / 1e9, 1e-9);
  EXPECT_EQ(entry.timing.clock, "cpu");
  EXPECT_EQ(entry.bound, "copy/f32/4x8x4x4/t1");

  // The streaming copy of the shape's x, measured in the same rounds, is the inference's bound.
  ASSERT_EQ(output.bounds.size(), 1u);
  const auto& copy = output.bounds[0];
  EXPECT_EQ(copy.id, "copy/f32/4x8x4x4/t1");
  EXPECT_EQ(copy.timing.repetitions.size(), 3u);
  EXPECT_EQ(copy.bytes, 2 * 512 * 4);

  bnh::reports::Report report;
  report.benchmarks = output.benchmarks;
  report.bounds = output.bounds;
  report.machine.bandwidth = {{1, 10.0, 9.0, 1 << 26}};
  bnh::reports::derive(report);
  const auto& derived = report.benchmarks[0];
  EXPECT_NEAR(*derived.roofline_fraction, derived.gbps / 10, 1e-12);
  EXPECT_DOUBLE_EQ(*derived.speedup_vs_naive, 1.0);
  EXPECT_FALSE(derived.speedup_vs_best_peer);
  EXPECT_NEAR(*derived.copy_fraction, derived.gbps / copy.gbps, 1e-12);
  EXPECT_NEAR(*derived.bound_fraction, copy.timing.median_s / derived.timing.median_s, 1e-12);
}

TEST(Runner, ABackwardPassIsSetAgainstAReadAndACopy) {
  const auto naive = bnh::make_implementation("naive");
  RunConfig config;
  config.shapes = {{2, 4, 4, 4, false}};
  config.contenders = {{naive.get(), Role::baseline}};
  config.operations = {Operation::bn_backward};
  config.layouts = {Layout::nhwc};
  config.repetitions = 1;
  config.min_time = 0.001;
  const auto output = run_benchmarks(config);
  ASSERT_EQ(output.benchmarks.size(), 1u);
  EXPECT_EQ(output.benchmarks[0].bound, "read_copy/f32/2x4x4x4/t1");
  ASSERT_EQ(output.bounds.size(), 2u);  // the copy is always measured
  EXPECT_EQ(output.bounds[0].id, "copy/f32/2x4x4x4/t1");
  EXPECT_EQ(output.bounds[1].id, "read_copy/f32/2x4x4x4/t1");
  EXPECT_EQ(output.bounds[1].bytes, 3 * 128 * 4);
}

}  // namespace
