// The scaling measurement of a synchronized implementation (bench/sync_scaling.hpp) on simulated
// ranks: what is measured at one and two ranks, how shards are split, the time counted inside
// the collectives, the efficiencies, rounds pooled, and the JSON entries read back. Never the
// speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "bench/sync_scaling.hpp"

namespace bnh::bench {
namespace {

SyncScalingConfig tiny_config() {
  SyncScalingConfig config;
  config.shapes = {Shape{5, 8, 3, 3, false}};
  config.operations = {Operation::bn_forward_train, Operation::bn_backward};
  config.repetitions = 3;
  config.min_time = 1e-4;
  return config;
}

TEST(SyncScaling, ShardsHoldTheWholeBatchForWeakScalingAndASplitForStrong) {
  EXPECT_EQ(shard_samples(Scaling::weak, 5, 1, 2), 5);
  EXPECT_EQ(shard_samples(Scaling::single, 5, 0, 1), 5);
  EXPECT_EQ(shard_samples(Scaling::strong, 5, 0, 2), 3);  // the first N mod K ranks one more
  EXPECT_EQ(shard_samples(Scaling::strong, 5, 1, 2), 2);
}

TEST(SyncScaling, TwoRanksGiveAWeakAndAStrongMeasurementPerOperation) {
  const auto implementation = make_sync_implementation("sync");
  const auto ranks = simulated_ranks(2);
  const auto measurements = measure_sync_scaling(*implementation, *ranks, tiny_config());
  ASSERT_EQ(measurements.size(), 4u);
  for (const auto& m : measurements) {
    EXPECT_EQ(m.ranks, 2);
    EXPECT_EQ(m.shard_n, m.scaling == Scaling::weak ? 5 : 3) << to_string(m.scaling);
    ASSERT_EQ(m.seconds.size(), 3u);
    ASSERT_EQ(m.communication_seconds.size(), 3u);
    EXPECT_GE(m.iterations, 1);
    std::vector<double> sorted = m.seconds;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(m.median_s, sorted[1]);
    EXPECT_GT(m.communication_share, 0);  // every training call makes one collective
    EXPECT_LE(m.communication_share, 1);
  }
}

TEST(SyncScaling, OneRankIsTheSingleBaseline) {
  const auto implementation = make_sync_implementation("sync");
  const auto ranks = simulated_ranks(1);
  SyncScalingConfig config = tiny_config();
  config.operations = {Operation::bn_forward_infer};
  const auto measurements = measure_sync_scaling(*implementation, *ranks, config);
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_EQ(measurements[0].scaling, Scaling::single);
  EXPECT_EQ(measurements[0].communication_share, 0);  // inference makes no collective
}

TEST(SyncScaling, EvenRepetitionsAreRefused) {
  const auto implementation = make_sync_implementation("sync");
  const auto ranks = simulated_ranks(1);
  SyncScalingConfig config = tiny_config();
  config.repetitions = 2;
  EXPECT_THROW(measure_sync_scaling(*implementation, *ranks, config), Error);
}

// The decorator counts the time inside all_gather, and all_reduce_sum through it.
TEST(SyncScaling, TheTimedCommunicatorCountsTheWaitInsideCollectives) {
  const auto ranks = simulated_ranks(2);
  double counted[2] = {0, 0};
  ranks->run([&](Communicator& world) {
    TimedCommunicator timed(world);
    if (world.rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    double values[2] = {1, 2};
    timed.all_reduce_sum(values, 2);
    EXPECT_EQ(values[1], 4);
    counted[world.rank()] = timed.seconds();
  });
  EXPECT_GE(counted[0], 0.015);  // rank 0 waited for rank 1
  EXPECT_LT(counted[1], counted[0]);
}

SyncMeasurement made(Operation operation, int ranks, Scaling scaling, std::vector<double> seconds) {
  SyncMeasurement m;
  m.operation = operation;
  m.shape = Shape{16, 64, 7, 7, false};
  m.ranks = ranks;
  m.scaling = scaling;
  m.seconds = seconds;
  m.communication_seconds = std::vector<double>(seconds.size(), 0.0);
  m.median_s = seconds[seconds.size() / 2];
  return m;
}

TEST(SyncScaling, EfficienciesAgainstTheSingleRankTime) {
  std::vector<SyncMeasurement> measurements{made(Operation::bn_backward, 1, Scaling::single, {2.0}),
                                            made(Operation::bn_backward, 2, Scaling::weak, {2.5}),
                                            made(Operation::bn_backward, 2, Scaling::strong, {1.25}),
                                            made(Operation::bn_forward_train, 2, Scaling::weak, {1.0})};
  derive_efficiencies(measurements);
  EXPECT_EQ(measurements[0].efficiency, 1);
  EXPECT_DOUBLE_EQ(measurements[1].efficiency, 0.8);  // T(1) / T(K)
  EXPECT_DOUBLE_EQ(measurements[2].efficiency, 0.8);  // T(1) / (K T(K))
  EXPECT_EQ(measurements[3].efficiency, 0);           // no single-rank time to hold it against
}

TEST(SyncScaling, RoundsArePooledAndTheirMedianTakenAgain) {
  std::vector<SyncMeasurement> pooled;
  pool_rounds(pooled, {made(Operation::bn_backward, 2, Scaling::weak, {1.0, 5.0, 9.0})});
  pool_rounds(pooled, {made(Operation::bn_backward, 2, Scaling::weak, {2.0, 3.0, 4.0}),
                       made(Operation::bn_backward, 2, Scaling::strong, {7.0})});
  ASSERT_EQ(pooled.size(), 2u);
  EXPECT_EQ(pooled[0].seconds.size(), 6u);
  EXPECT_EQ(pooled[0].communication_seconds.size(), 6u);
  EXPECT_EQ(pooled[0].median_s, 3.5);  // of 1, 2, 3, 4, 5, 9
  EXPECT_EQ(pooled[1].scaling, Scaling::strong);
}

TEST(SyncScaling, JsonEntriesReadBack) {
  SyncMeasurement m = made(Operation::renorm_backward, 2, Scaling::strong, {1e-3, 2e-3, 3e-3});
  m.shard_n = 8;
  m.iterations = 17;
  m.communication_share = 0.25;
  m.efficiency = 0.5;
  const SyncMeasurement back = sync_measurement_from_json(to_json(m));
  EXPECT_EQ(to_json(back), to_json(m));
  EXPECT_EQ(back.shape.label(), "16x64x7x7");
  EXPECT_THROW(parse_scaling("sideways"), Error);
}

TEST(SyncScaling, TheTableHasARowPerOperationAndShape) {
  std::vector<SyncMeasurement> measurements{made(Operation::bn_backward, 1, Scaling::single, {2e-3}),
                                            made(Operation::bn_backward, 2, Scaling::weak, {2.5e-3})};
  derive_efficiencies(measurements);
  const std::string table = format_sync_table(measurements);
  EXPECT_NE(table.find("| bn_backward | 16x64x7x7 | 2.000 | 2.500 | 0.0% | 0.80 | - | - | - |"), std::string::npos)
      << table;
}

}  // namespace
}  // namespace bnh::bench
