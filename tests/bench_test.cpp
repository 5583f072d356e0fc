// The benchmark machinery: traffic model, suites, statistics, speed-ups, the runner.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "bench/runner.hpp"
#include "bench/suites.hpp"
#include "bench/traffic.hpp"

namespace {

using bnh::DType;
using bnh::Layout;
using bnh::Operation;
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
  options.caches = {32 << 10, 1 << 20, 32 << 20};
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

TEST(Caches, SizesParseLikeSysfs) {
  EXPECT_EQ(parse_cache_size("32K"), 32768);
  EXPECT_EQ(parse_cache_size("1024K"), 1 << 20);
  EXPECT_EQ(parse_cache_size("32M"), 32 << 20);
  EXPECT_EQ(parse_cache_size("512"), 512);
  EXPECT_EQ(parse_cache_size("big"), 0);
}

TEST(Statistics, MedianMinimumAndSampleStandardDeviation) {
  const auto stats = statistics_of({3, 1, 2});
  EXPECT_EQ(stats.median, 2);
  EXPECT_EQ(stats.min, 1);
  EXPECT_DOUBLE_EQ(stats.stddev, 1);
  EXPECT_EQ(statistics_of({5}).stddev, 0);
}

TEST(Speedups, AgainstNaiveAndTheFastestPeerOfTheSameGroup) {
  auto entry = [](const std::string& impl, double median, const std::string& shape) {
    return nlohmann::json{{"id", "bn_backward/nchw/f32/" + shape + "/t1/" + impl},
                          {"implementation", impl},
                          {"median_s", median}};
  };
  nlohmann::json benchmarks = {entry("naive", 2.0, "2x3"), entry("openmp", 0.5, "2x3"), entry("onednn", 1.0, "2x3"),
                               entry("aten", 0.8, "2x3"), entry("openmp", 1.0, "4x3")};
  add_speedups(benchmarks);
  EXPECT_DOUBLE_EQ(benchmarks[1]["speedup_vs_naive"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(benchmarks[1]["speedup_vs_best_peer"].get<double>(), 1.6);
  EXPECT_EQ(benchmarks[1]["best_peer"], "aten");
  EXPECT_TRUE(benchmarks[4]["speedup_vs_naive"].is_null());  // another shape: nothing to compare
  EXPECT_TRUE(benchmarks[4]["speedup_vs_best_peer"].is_null());
  EXPECT_TRUE(is_peer("onednn") && is_peer("aten") && !is_peer("openmp"));
}

TEST(Runner, IdsNameEveryCoordinate) {
  const Shape shape{16, 64, 56, 56, false};
  EXPECT_EQ(benchmark_id(Operation::bn_forward_train, Layout::nhwc, DType::f64, shape, 2, "openmp"),
            "bn_forward_train/nhwc/f64/16x64x56x56/t2/openmp");
}

TEST(Runner, RefusesAnEvenRepetitionCount) {
  RunConfig config;
  config.shapes = {{2, 3, 1, 1, true}};
  config.repetitions = 4;
  EXPECT_THROW(run_benchmarks(config, {}), bnh::Error);
}

TEST(Runner, MeasuresAndReportsEveryRepetition) {
  RunConfig config;
  config.shapes = {{4, 8, 4, 4, false}};
  config.implementations = {"naive"};
  config.operations = {Operation::bn_forward_infer};
  config.layouts = {Layout::nchw};
  config.repetitions = 3;
  config.min_time = 0.001;
  BandwidthResult probe;
  probe.copy_gbps = 10;
  const auto output = run_benchmarks(config, {probe});
  ASSERT_EQ(output.benchmarks.size(), 1u);
  const auto& entry = output.benchmarks[0];
  EXPECT_EQ(entry["id"], "bn_forward_infer/nchw/f32/4x8x4x4/t1/naive");
  EXPECT_EQ(entry["repetitions"].size(), 3u);
  EXPECT_EQ(entry["shape"], (nlohmann::json{4, 8, 4, 4}));
  EXPECT_EQ(entry["bytes"], (2 * 512 + 4 * 8) * 4);
  EXPECT_GT(entry["median_s"].get<double>(), 0);
  EXPECT_NEAR(entry["gbps"].get<double>(), entry["bytes"].get<double>() / entry["median_s"].get<double>() / 1e9, 1e-9);
  EXPECT_NEAR(entry["roofline_fraction"].get<double>(), entry["gbps"].get<double>() / 10, 1e-12);
  EXPECT_DOUBLE_EQ(entry["speedup_vs_naive"].get<double>(), 1.0);
  EXPECT_TRUE(entry["speedup_vs_best_peer"].is_null());
  EXPECT_EQ(entry["clock"], "cpu");

  // The streaming copy of the shape's x, measured in the same rounds, and the fraction of it.
  ASSERT_EQ(output.copies.size(), 1u);
  const auto& copy = output.copies[0];
  EXPECT_EQ(copy["id"], "copy/f32/4x8x4x4/t1");
  EXPECT_EQ(copy["repetitions"].size(), 3u);
  EXPECT_EQ(copy["bytes"], 2 * 512 * 4);
  EXPECT_NEAR(entry["copy_fraction"].get<double>(), entry["gbps"].get<double>() / copy["gbps"].get<double>(), 1e-12);
}

TEST(Runner, CopyFractionsMatchDtypeShapeAndThreads) {
  nlohmann::json copies = nlohmann::json::array({
      {{"id", "copy/f32/16x64x56x56/t1"}, {"gbps", 20.0}},
      {{"id", "copy/f32/16x64x56x56/t2"}, {"gbps", 40.0}},
      {{"id", "copy/f64/16x64x56x56/t1"}, {"gbps", 25.0}},
      {{"id", "copy/f32/4096x1024/t1"}, {"gbps", 10.0}},
  });
  nlohmann::json benchmarks = nlohmann::json::array({
      {{"dtype", "f32"}, {"shape", {16, 64, 56, 56}}, {"threads", 2}, {"gbps", 30.0}},
      {{"dtype", "f64"}, {"shape", {16, 64, 56, 56}}, {"threads", 1}, {"gbps", 20.0}},
      {{"dtype", "f32"}, {"shape", {4096, 1024}}, {"threads", 1}, {"gbps", 8.0}},
      {{"dtype", "f32"}, {"shape", {16, 64, 28, 28}}, {"threads", 1}, {"gbps", 8.0}},
  });
  add_copy_fractions(benchmarks, copies);
  EXPECT_DOUBLE_EQ(benchmarks[0]["copy_fraction"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(benchmarks[1]["copy_fraction"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(benchmarks[2]["copy_fraction"].get<double>(), 0.8);
  EXPECT_TRUE(benchmarks[3]["copy_fraction"].is_null());  // no copy of that shape
}

}  // namespace
