// Synchronized plugins in the sandbox (load_sync_plugin): tests/plugins/sync_plugin.c on three
// simulated ranks gives the batch norm of the whole batch, split unevenly and with an empty
// shard; a rank that crashes, hangs or never joins the gather is a PluginFault naming that rank,
// and the other ranks do not wait for it; a table of another ABI version is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/sync_implementation.hpp"

namespace bnh {
namespace {

std::string plugin(const std::string& variant) {
  return std::string(BNH_TEST_PLUGIN_DIR) + "/libbnh_test_sync_plugin_" + variant + ".so";
}

constexpr double timeout_seconds = 2;

// A batch of f64 values split along N into shards, one per rank. A sample is contiguous in both
// layouts, so a shard is a slice of the whole buffer.
struct Batch {
  TensorDesc desc;
  std::vector<std::int64_t> shards;
  std::vector<double> x, dy, gamma, beta;

  Batch(TensorDesc whole, std::vector<std::int64_t> split) : desc(whole), shards(std::move(split)) {
    std::mt19937_64 random(7);
    std::normal_distribution<double> normal(3, 2);
    for (auto* values : {&x, &dy}) {
      values->resize(static_cast<std::size_t>(desc.elements()));
      for (double& value : *values) value = normal(random);
    }
    for (auto* values : {&gamma, &beta}) {
      values->resize(static_cast<std::size_t>(desc.c));
      for (double& value : *values) value = normal(random);
    }
  }
  TensorDesc shard_desc(int rank) const {
    TensorDesc shard = desc;
    shard.n = shards[static_cast<std::size_t>(rank)];
    return shard;
  }
  std::size_t shard_begin(int rank) const {
    const auto samples = std::accumulate(shards.begin(), shards.begin() + rank, std::int64_t{0});
    return static_cast<std::size_t>(samples * desc.c * desc.spatial());
  }
  std::size_t shard_size(int rank) const { return static_cast<std::size_t>(shard_desc(rank).elements()); }
};

// What every rank returns of one operation: its shard's tensor, and its per-channel outputs.
struct RankOutputs {
  std::vector<double> tensor, mean, invstd, running_mean, running_var, dgamma, dbeta;
};

// A shard's buffer: an empty shard's is a pointer to nothing, not NULL (NULL is bad input).
double* shard_pointer(std::vector<double>& values) {
  static double nothing[1];
  return values.empty() ? nothing : values.data();
}

// The training forward then the backward on every rank; the results in rank order.
std::vector<RankOutputs> train_and_backward(SyncImplementation& implementation, const Batch& batch) {
  const auto ranks = simulated_ranks(static_cast<int>(batch.shards.size()), 30);
  std::vector<RankOutputs> outputs(batch.shards.size());
  const Params params;
  ranks->run([&](Communicator& communicator) {
    const int rank = communicator.rank();
    const TensorDesc shard = batch.shard_desc(rank);
    const std::size_t begin = batch.shard_begin(rank), size = batch.shard_size(rank), c = batch.gamma.size();
    RankOutputs& out = outputs[static_cast<std::size_t>(rank)];
    out = {std::vector<double>(size), std::vector<double>(c), std::vector<double>(c), std::vector<double>(c, 0.5),
           std::vector<double>(c, 2.0), std::vector<double>(c), std::vector<double>(c)};
    const double* x = batch.x.data() + begin;
    implementation.run(communicator, Operation::bn_forward_train, shard, params,
                       {x, batch.gamma.data(), batch.beta.data(), shard_pointer(out.tensor), out.mean.data(),
                        out.invstd.data(), out.running_mean.data(), out.running_var.data()});
    std::vector<double> dx(size);
    implementation.run(communicator, Operation::bn_backward, shard, params,
                       {batch.dy.data() + begin, x, batch.gamma.data(), out.mean.data(), out.invstd.data(),
                        shard_pointer(dx), out.dgamma.data(), out.dbeta.data()});
    out.tensor.insert(out.tensor.end(), dx.begin(), dx.end());  // y then dx
  });
  return outputs;
}

void expect_near_relative(double actual, double expected, const std::string& what) {
  EXPECT_NEAR(actual, expected, 1e-11 * std::max(1.0, std::abs(expected))) << what;
}

void check_against_whole_batch(SyncImplementation& implementation, const Batch& batch) {
  const std::vector<RankOutputs> outputs = train_and_backward(implementation, batch);
  const TensorDesc& desc = batch.desc;
  const double count = static_cast<double>(desc.per_channel());
  const Params params;
  for (std::int64_t c = 0; c < desc.c; ++c) {
    const auto k = static_cast<std::size_t>(c);
    double sum = 0, squares = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum += batch.x[static_cast<std::size_t>(i)]; });
    const double mean = sum / count;
    desc.for_each_in_channel(c, [&](std::int64_t i) { squares += std::pow(batch.x[static_cast<std::size_t>(i)] - mean, 2); });
    const double var = squares / count, invstd = 1 / std::sqrt(var + params.eps);
    double sum_dy = 0, sum_dy_xhat = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const auto j = static_cast<std::size_t>(i);
      sum_dy += batch.dy[j];
      sum_dy_xhat += batch.dy[j] * (batch.x[j] - mean) * invstd;
    });
    for (std::size_t rank = 0; rank < outputs.size(); ++rank) {
      const RankOutputs& out = outputs[rank];
      const std::string on = " of channel " + std::to_string(c) + " on rank " + std::to_string(rank);
      // Bitwise identical on every rank.
      EXPECT_EQ(out.mean[k], outputs[0].mean[k]) << "save_mean" << on;
      EXPECT_EQ(out.dgamma[k], outputs[0].dgamma[k]) << "dgamma" << on;
      expect_near_relative(out.mean[k], mean, "save_mean" + on);
      expect_near_relative(out.invstd[k], invstd, "save_invstd" + on);
      expect_near_relative(out.running_mean[k], 0.9 * 0.5 + 0.1 * mean, "running_mean" + on);
      expect_near_relative(out.running_var[k], 0.9 * 2.0 + 0.1 * var * count / (count - 1), "running_var" + on);
      expect_near_relative(out.dbeta[k], sum_dy, "dbeta" + on);
      expect_near_relative(out.dgamma[k], sum_dy_xhat, "dgamma" + on);
    }
    // y and dx of every element, from the rank that holds it.
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const auto j = static_cast<std::size_t>(i);
      std::size_t rank = 0;
      while (j >= batch.shard_begin(static_cast<int>(rank)) + batch.shard_size(static_cast<int>(rank))) ++rank;
      const RankOutputs& out = outputs[rank];
      const std::size_t local = j - batch.shard_begin(static_cast<int>(rank)), size = batch.shard_size(static_cast<int>(rank));
      const double xhat = (batch.x[j] - mean) * invstd;
      expect_near_relative(out.tensor[local], batch.gamma[k] * xhat + batch.beta[k], "y at " + std::to_string(i));
      const double dx = batch.gamma[k] * invstd / count * (count * batch.dy[j] - sum_dy - xhat * sum_dy_xhat);
      expect_near_relative(out.tensor[size + local], dx, "dx at " + std::to_string(i));
    });
  }
}

TEST(SyncPlugin, LoadsWithItsNameAndOperations) {
  const auto implementation = load_sync_plugin(plugin("plain"), timeout_seconds);
  EXPECT_EQ(implementation->name(), "sync_test");
  EXPECT_TRUE(implementation->supports(Operation::bn_forward_train));
  EXPECT_TRUE(implementation->supports(Operation::bn_backward));
  EXPECT_FALSE(implementation->supports(Operation::renorm_forward_train));
  EXPECT_TRUE(implementation->supports(TensorDesc{2, 3, 1, 1, Layout::nchw, DType::f64}));
  EXPECT_FALSE(implementation->supports(TensorDesc{2, 3, 1, 1, Layout::nchw, DType::f32}));
}

TEST(SyncPlugin, UnevenShardsGiveTheWholeBatchsNormalization) {
  const auto implementation = load_sync_plugin(plugin("plain"), timeout_seconds);
  check_against_whole_batch(*implementation, Batch({6, 3, 2, 2, Layout::nchw, DType::f64}, {1, 3, 2}));
  check_against_whole_batch(*implementation, Batch({6, 5, 1, 3, Layout::nhwc, DType::f64}, {4, 1, 1}));
}

TEST(SyncPlugin, EmptyShardsJoinAndGetNothing) {
  const auto implementation = load_sync_plugin(plugin("plain"), timeout_seconds);
  check_against_whole_batch(*implementation, Batch({5, 2, 3, 1, Layout::nchw, DType::f64}, {0, 5, 0}));
  check_against_whole_batch(*implementation, Batch({2, 4, 1, 1, Layout::nhwc, DType::f64}, {1, 0, 1}));
}

TEST(SyncPlugin, TheExampleGivesTheWholeBatchsNormalization) {
  const auto implementation = load_sync_plugin(BNH_EXAMPLE_SYNC_PLUGIN, timeout_seconds);
  EXPECT_EQ(implementation->name(), "my_sync_batchnorm");
  check_against_whole_batch(*implementation, Batch({7, 3, 2, 2, Layout::nhwc, DType::f64}, {3, 0, 4}));
  check_against_whole_batch(*implementation, Batch({4, 70, 1, 1, Layout::nchw, DType::f64}, {1, 1, 2}));
}

// Runs the training forward on three ranks and returns what each rank threw ("" for nothing),
// after checking that run() reports the first of them that is a PluginFault naming `culprit`.
std::vector<std::string> faults_of(const std::string& variant, const std::string& culprit) {
  const auto implementation = load_sync_plugin(plugin(variant), timeout_seconds);
  const Batch batch({6, 2, 1, 1, Layout::nchw, DType::f64}, {2, 2, 2});
  const auto ranks = simulated_ranks(3, 30);
  std::vector<std::string> thrown(3);
  std::mutex mutex;
  try {
    ranks->run([&](Communicator& communicator) {
      const int rank = communicator.rank();
      std::vector<double> y(4), mean(2), invstd(2);
      try {
        implementation->run(communicator, Operation::bn_forward_train, batch.shard_desc(rank), Params{},
                            {batch.x.data() + batch.shard_begin(rank), batch.gamma.data(), batch.beta.data(),
                             y.data(), mean.data(), invstd.data(), nullptr, nullptr});
      } catch (const PluginFault& fault) {
        const std::lock_guard<std::mutex> lock(mutex);
        thrown[static_cast<std::size_t>(rank)] = fault.what();
        throw;
      }
    });
    ADD_FAILURE() << variant << ": no rank failed";
  } catch (const PluginFault& fault) {
    EXPECT_NE(std::string(fault.what()).find(culprit), std::string::npos) << fault.what();
  }
  return thrown;
}

TEST(SyncPluginFaults, ACrashOnOneRankNamesThatRank) {
  const auto thrown = faults_of("crash", "sync_test bn_forward_train on rank 1 crashed with SIGSEGV");
  // The other ranks' gather failed rather than waited: theirs is a fault too.
  EXPECT_NE(thrown[0].find("on rank 0: a collective failed"), std::string::npos) << thrown[0];
  EXPECT_NE(thrown[2].find("rank 1 failed"), std::string::npos) << thrown[2];
}

TEST(SyncPluginFaults, AHangOnOneRankNamesThatRankAndEndsInItsTimeout) {
  const auto started = std::chrono::steady_clock::now();
  faults_of("hang", "sync_test bn_forward_train on rank 1 hung: no result within 2 s (killed)");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
}

TEST(SyncPluginFaults, ARankThatNeverJoinsTheGatherIsNamed) {
  const auto thrown = faults_of("skip", "rank 1 returned without joining");
  EXPECT_EQ(thrown[1], "");  // it returned; the ranks left waiting say who did not come
  EXPECT_NE(thrown[0].find("sync_test bn_forward_train on rank 0: a collective failed"), std::string::npos);
}

TEST(SyncPluginLoader, RefusesAnotherAbiVersion) {
  const std::string path = plugin("wrong_abi");
  try {
    load_sync_plugin(path, timeout_seconds);
    FAIL() << "loaded";
  } catch (const PluginFault& fault) {
    FAIL() << "a refusal is not a fault: " << fault.what();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()), "plugin " + path + ": speaks synchronized ABI version 2, this harness speaks 1");
  }
}

TEST(SyncPluginLoader, RefusesAPlainPlugin) {
  const std::string path = std::string(BNH_TEST_PLUGIN_DIR) + "/libbnh_test_plugin_minimal.so";
  try {
    load_sync_plugin(path, timeout_seconds);
    FAIL() << "loaded";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()), "plugin " + path + ": does not export bnh_sync_impl_v1_get");
  }
}

}  // namespace
}  // namespace bnh
