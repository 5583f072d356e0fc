// The built-in synchronized implementation `sync` (impls/sync/) on simulated ranks, against
// openmp on the concatenated batch: every output of every operation, both layouts and dtypes,
// uneven, empty and one-sample shards; bitwise reproducibility; the per-channel outputs bitwise
// the same on every rank; refusals made by every rank alike. And the registry it is found in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/operations.hpp"
#include "bnh/registry.hpp"
#include "bnh/sync_implementation.hpp"

namespace bnh {
namespace {

using Split = std::vector<std::int64_t>;

// One batch and every input an operation may read, by buffer name.
template <typename T>
struct Problem {
  TensorDesc desc;  // the whole batch
  Params params;
  std::map<std::string, std::vector<T>> values;
};

// What one run wrote: each tensor output of the whole batch (the shards' put together), and each
// per-channel output as every rank holds it (one copy for a single process).
template <typename T>
struct Outputs {
  std::map<std::string, std::vector<T>> tensors;
  std::map<std::string, std::vector<std::vector<T>>> channels;
};

template <typename T>
Problem<T> make_problem(Layout layout, std::vector<std::int64_t> shape, std::uint64_t seed) {
  Problem<T> problem;
  problem.desc = TensorDesc{shape[0], shape[1], shape[2], shape[3], layout, std::is_same_v<T, float> ? DType::f32 : DType::f64};
  problem.params.threads = 2;
  std::mt19937_64 random(seed);
  std::normal_distribution<double> normal;
  const std::int64_t elements = problem.desc.elements(), channels = problem.desc.c;
  auto& x = problem.values["x"];
  auto& dy = problem.values["dy"];
  for (std::int64_t k = 0; k < elements; ++k) {
    const double value = 1 + 2 * normal(random);
    x.push_back(static_cast<T>(value));
    // dy partly follows x, so that dgamma and dbeta are sums that do not cancel.
    dy.push_back(static_cast<T>(0.5 + 0.3 * value + normal(random)));
  }
  for (const char* name : {"gamma", "beta", "running_mean", "running_var"}) {
    for (std::int64_t c = 0; c < channels; ++c) {
      const double value = 0.5 + 0.25 * normal(random);
      problem.values[name].push_back(static_cast<T>(std::string(name) == "running_var" ? 4 * value * value : value));
    }
  }
  return problem;
}

// Runs `operation` on `problem` split as `split` along N, rank k holding split[k] samples, or on
// the whole batch in one process when `split` is empty. A NULL `sync` runs openmp instead. With
// `messages`, each rank's error is caught and kept there ("" where the call returned).
template <typename T>
Outputs<T> run(SyncImplementation* sync, Operation operation, const Problem<T>& problem, const Split& split,
               bool empty_tensors_null = false, std::vector<std::string>* messages = nullptr) {
  const OperationSpec& spec = operation_spec(operation);
  const int ranks = split.empty() ? 1 : static_cast<int>(split.size());
  const std::int64_t sample = problem.desc.c * problem.desc.spatial();
  Outputs<T> outputs;
  for (const BufferSpec& buffer : spec) {
    if (buffer.role == BufferRole::input) continue;
    if (buffer.extent == Extent::tensor) {
      outputs.tensors[buffer.name].assign(problem.desc.elements(), static_cast<T>(NAN));
    } else {
      const bool updated = buffer.role == BufferRole::in_out;
      outputs.channels[buffer.name].assign(
          ranks, updated ? problem.values.at(buffer.name) : std::vector<T>(problem.desc.c, static_cast<T>(NAN)));
    }
  }
  // Rank k's buffers: its samples' part of each tensor, its own copy of each per-channel output.
  auto buffers_of = [&](int rank, std::int64_t first_sample, std::int64_t samples) {
    OperationBuffers buffers;
    for (std::size_t k = 0; k < spec.count; ++k) {
      const BufferSpec& buffer = spec.buffers[k];
      const bool tensor = buffer.extent == Extent::tensor;
      T* whole = buffer.role == BufferRole::input ? const_cast<T*>(problem.values.at(buffer.name).data())
                 : tensor                         ? outputs.tensors[buffer.name].data()
                                                  : outputs.channels[buffer.name][rank].data();
      buffers[k] = tensor ? (samples == 0 && empty_tensors_null ? nullptr : whole + first_sample * sample) : whole;
    }
    return buffers;
  };
  if (sync == nullptr) {
    auto openmp = make_implementation("openmp");
    call(*openmp, operation, problem.desc, problem.params, buffers_of(0, 0, problem.desc.n));
    return outputs;
  }
  std::vector<std::int64_t> first(split.size(), 0);
  std::partial_sum(split.begin(), split.end() - 1, first.begin() + 1);
  if (messages != nullptr) messages->assign(ranks, "");
  simulated_ranks(ranks, 10)->run([&](Communicator& communicator) {
    const int rank = communicator.rank();
    TensorDesc shard = problem.desc;
    shard.n = split[rank];
    try {
      sync->run(communicator, operation, shard, problem.params, buffers_of(rank, first[rank], split[rank]));
    } catch (const Error& error) {
      if (messages == nullptr) throw;
      (*messages)[rank] = error.what();
    }
  });
  return outputs;
}

// The outputs of a training forward, set as the inputs of the backward that follows it.
template <typename T>
void save_statistics(const Outputs<T>& forward, Problem<T>& problem) {
  for (const char* name : {"save_mean", "save_invstd", "r", "d"}) {
    auto found = forward.channels.find(name);
    if (found != forward.channels.end()) problem.values[name] = found->second[0];
  }
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Every rank holds bitwise the same per-channel outputs.
template <typename T>
void expect_same_on_every_rank(const Outputs<T>& outputs, const std::string& label) {
  for (const auto& [name, copies] : outputs.channels) {
    for (std::size_t rank = 1; rank < copies.size(); ++rank) {
      EXPECT_TRUE(same_bits(copies[rank], copies[0])) << label << ": " << name << " of rank " << rank;
    }
  }
}

// `got` agrees with `expected` within `tolerance` relative to the largest expected magnitude of
// each output (at least 1).
template <typename T>
void expect_close(const Outputs<T>& got, const Outputs<T>& expected, double tolerance, const std::string& label) {
  auto compare = [&](const std::string& name, const std::vector<T>& a, const std::vector<T>& b) {
    ASSERT_EQ(a.size(), b.size());
    double scale = 1;
    for (T value : b) scale = std::max(scale, std::fabs(static_cast<double>(value)));
    for (std::size_t k = 0; k < a.size(); ++k) {
      ASSERT_TRUE(std::isfinite(static_cast<double>(a[k]))) << label << ": " << name << "[" << k << "]";
      ASSERT_LE(std::fabs(static_cast<double>(a[k]) - b[k]), tolerance * scale)
          << label << ": " << name << "[" << k << "] " << a[k] << " vs " << b[k];
    }
  };
  for (const auto& [name, values] : expected.tensors) compare(name, got.tensors.at(name), values);
  for (const auto& [name, copies] : expected.channels) compare(name, got.channels.at(name)[0], copies[0]);
}

template <typename T>
void expect_identical(const Outputs<T>& a, const Outputs<T>& b, const std::string& label) {
  for (const auto& [name, values] : b.tensors) EXPECT_TRUE(same_bits(a.tensors.at(name), values)) << label << ": " << name;
  for (const auto& [name, copies] : b.channels) {
    EXPECT_TRUE(same_bits(a.channels.at(name)[0], copies[0])) << label << ": " << name;
  }
}

std::string label_of(const TensorDesc& desc, Operation operation, const Split& split) {
  std::string text = desc.to_string() + " " + to_string(operation) + " split";
  for (std::int64_t n : split) text += " " + std::to_string(n);
  return text;
}

// Each operation of batch norm or renorm (forward, inference, backward from openmp's saved
// statistics) by sync on `split` and by openmp on the whole batch; check(sync's, openmp's, label).
template <typename T, typename Check>
void for_each_operation(Problem<T> problem, const Split& split, Check&& check) {
  auto sync = make_sync_implementation("sync");
  for (Operation forward : {Operation::bn_forward_train, Operation::renorm_forward_train}) {
    const Operation backward = forward == Operation::bn_forward_train ? Operation::bn_backward : Operation::renorm_backward;
    const Outputs<T> expected_forward = run<T>(nullptr, forward, problem, {});
    check(run(sync.get(), forward, problem, split), expected_forward, label_of(problem.desc, forward, split));
    save_statistics(expected_forward, problem);
    for (Operation operation : {backward, Operation::bn_forward_infer}) {
      check(run(sync.get(), operation, problem, split), run<T>(nullptr, operation, problem, {}),
            label_of(problem.desc, operation, split));
    }
  }
}

struct Shape {
  std::vector<std::int64_t> extents;
  std::vector<Split> splits;
};

// Small and large (an OpenMP team per rank), the run and row views, a 2-D batch, more channels
// than a group of the run view holds, uneven splits and empty shards among them.
const std::vector<Shape> shapes = {
    {{4, 3, 5, 7}, {{1, 0, 3}, {2, 2}, {0, 0, 4, 0}}},
    {{5, 4, 1, 1}, {{2, 1, 2}, {0, 5}, {1, 1, 1, 1, 1}}},
    {{3, 70, 3, 3}, {{1, 2}, {0, 1, 2}}},
    {{8, 2, 48, 48}, {{3, 5}, {0, 7, 1}}},
    {{4, 3, 64, 64}, {{4}, {1, 3}, {2, 0, 2}}},
};

template <typename T>
void check_against_openmp(double tolerance) {
  std::uint64_t seed = 1;
  for (const Shape& shape : shapes) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      for (const Split& split : shape.splits) {
        for_each_operation(make_problem<T>(layout, shape.extents, seed++), split,
                           [&](const Outputs<T>& got, const Outputs<T>& expected, const std::string& label) {
                             expect_same_on_every_rank(got, label);
                             expect_close(got, expected, tolerance, label);
                           });
      }
    }
  }
}

TEST(SyncKernels, AgreesWithOpenmpOnTheConcatenatedBatchF32) { check_against_openmp<float>(1e-5); }
TEST(SyncKernels, AgreesWithOpenmpOnTheConcatenatedBatchF64) { check_against_openmp<double>(1e-12); }

template <typename T>
void check_one_rank_is_openmp() {
  for (const Shape& shape : shapes) {
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      for_each_operation(make_problem<T>(layout, shape.extents, 7), {shape.extents[0]},
                         [](const Outputs<T>& got, const Outputs<T>& expected, const std::string& label) {
                           expect_identical(got, expected, label);
                         });
    }
  }
}

TEST(SyncKernels, OneRankGivesOpenmpsOutputsBitForBit) {
  check_one_rank_is_openmp<float>();
  check_one_rank_is_openmp<double>();
}

TEST(SyncKernels, RunsAgainWithTheSameSplitAreBitwiseIdentical) {
  auto sync = make_sync_implementation("sync");
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    Problem<float> problem = make_problem<float>(layout, {8, 2, 48, 48}, 11);
    const Split split = {3, 0, 5};
    for (Operation operation : {Operation::bn_forward_train, Operation::renorm_forward_train}) {
      const Outputs<float> first = run(sync.get(), operation, problem, split);
      expect_identical(run(sync.get(), operation, problem, split), first, label_of(problem.desc, operation, split));
      save_statistics(first, problem);
    }
    for (Operation operation : {Operation::bn_backward, Operation::renorm_backward}) {
      const Outputs<float> first = run(sync.get(), operation, problem, split);
      expect_identical(run(sync.get(), operation, problem, split), first, label_of(problem.desc, operation, split));
    }
  }
}

// Shards of one sample and of none, with the empty shards' tensors NULL: finite outputs, the
// same as one process's, and a (0, 2) split the same as a (1, 1) split.
TEST(SyncKernels, EmptyAndOneSampleShards) {
  auto sync = make_sync_implementation("sync");
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    Problem<double> problem = make_problem<double>(layout, {2, 5, 1, 1}, 23);
    for (Operation operation : {Operation::bn_forward_train, Operation::renorm_forward_train}) {
      const Outputs<double> expected = run<double>(nullptr, operation, problem, {});
      for (const Split& split : {Split{0, 2}, Split{1, 1}, Split{0, 1, 0, 1, 0}, Split{2, 0, 0}}) {
        const Outputs<double> got = run(sync.get(), operation, problem, split, true);
        expect_same_on_every_rank(got, label_of(problem.desc, operation, split));
        expect_close(got, expected, 1e-13, label_of(problem.desc, operation, split));
      }
      save_statistics(expected, problem);
    }
    for (Operation operation : {Operation::bn_backward, Operation::renorm_backward, Operation::bn_forward_infer}) {
      const Outputs<double> expected = run<double>(nullptr, operation, problem, {});
      for (const Split& split : {Split{0, 2}, Split{1, 1}, Split{1, 0, 1}}) {
        const Outputs<double> got = run(sync.get(), operation, problem, split, true);
        expect_same_on_every_rank(got, label_of(problem.desc, operation, split));
        expect_close(got, expected, 1e-13, label_of(problem.desc, operation, split));
      }
    }
  }
}

// Each rank's error message, or "" where its call returned.
std::vector<std::string> messages_of_ranks(int ranks, const std::function<void(Communicator&)>& body) {
  std::vector<std::string> messages(ranks);
  simulated_ranks(ranks, 10)->run([&](Communicator& communicator) {
    try {
      body(communicator);
    } catch (const Error& error) {
      messages[communicator.rank()] = error.what();
    }
  });
  return messages;
}

TEST(SyncKernels, AWholeBatchOfOneValuePerChannelIsRefusedOnEveryRank) {
  auto sync = make_sync_implementation("sync");
  Problem<float> problem = make_problem<float>(Layout::nhwc, {1, 3, 1, 1}, 5);
  problem.values["save_mean"] = problem.values["save_invstd"] = problem.values["gamma"];
  problem.values["r"] = problem.values["d"] = problem.values["gamma"];
  const Split split = {0, 1, 0};
  for (Operation operation : {Operation::bn_forward_train, Operation::renorm_forward_train, Operation::bn_backward,
                              Operation::renorm_backward}) {
    std::vector<std::string> messages;
    run(sync.get(), operation, problem, split, false, &messages);
    for (const std::string& message : messages) {
      EXPECT_EQ(message, "expected more than 1 value per channel when training, got input of size 1x3x1x1");
    }
  }
}

TEST(SyncKernels, BadParametersAreRefusedOnEveryRankBeforeAnyCollective) {
  auto sync = make_sync_implementation("sync");
  TensorDesc shard{2, 3, 1, 1, Layout::nchw, DType::f64};
  Params params;
  params.eps = 0;
  std::vector<double> tensor(6), channel(3, 1.0);
  const auto messages = messages_of_ranks(2, [&](Communicator& communicator) {
    sync->run(communicator, Operation::bn_forward_train, shard, params,
              {tensor.data(), channel.data(), channel.data(), tensor.data(), channel.data(), channel.data(), nullptr,
               nullptr});
  });
  for (const std::string& message : messages) EXPECT_EQ(message, "eps must be > 0 and finite, got 0");
}

// A rank that refuses its part still joins the collective: the others refuse too, naming it.
TEST(SyncKernels, ARankMissingABufferIsNamedByTheOthers) {
  auto sync = make_sync_implementation("sync");
  TensorDesc shard{2, 3, 1, 1, Layout::nchw, DType::f64};
  std::vector<double> tensor(6), channel(3, 1.0);
  for (Operation operation : {Operation::bn_forward_train, Operation::bn_backward}) {
    const auto messages = messages_of_ranks(3, [&](Communicator& communicator) {
      double* save_invstd = communicator.rank() == 1 ? nullptr : channel.data();
      if (operation == Operation::bn_forward_train) {
        sync->run(communicator, operation, shard, Params{},
                  {tensor.data(), channel.data(), channel.data(), tensor.data(), channel.data(), save_invstd, nullptr,
                   nullptr});
      } else {
        sync->run(communicator, operation, shard, Params{},
                  {tensor.data(), tensor.data(), channel.data(), channel.data(), save_invstd, tensor.data(),
                   channel.data(), channel.data()});
      }
    });
    const std::string name = to_string(operation);
    EXPECT_EQ(messages[1], name + ": save_invstd must not be NULL");
    const std::string others = operation == Operation::bn_forward_train ? name + ": rank 1 rejected the call"
                                                                        : name + ": another rank rejected the call";
    EXPECT_EQ(messages[0], others);
    EXPECT_EQ(messages[2], others);
  }
}

TEST(SyncKernels, AShardOfNegativeSizeIsRefusedByItsRankAndNamedByTheOthers) {
  auto sync = make_sync_implementation("sync");
  std::vector<double> tensor(6), channel(3, 1.0);
  const auto messages = messages_of_ranks(2, [&](Communicator& communicator) {
    const TensorDesc shard{communicator.rank() == 0 ? -1 : 2, 3, 1, 1, Layout::nhwc, DType::f64};
    sync->run(communicator, Operation::renorm_forward_train, shard, Params{},
              {tensor.data(), channel.data(), channel.data(), tensor.data(), channel.data(), channel.data(),
               channel.data(), channel.data(), channel.data(), channel.data()});
  });
  EXPECT_EQ(messages[0], "dimension N of a shard must be >= 0, got -1");
  EXPECT_EQ(messages[1], "renorm_forward_train: rank 0 rejected the call");
}

TEST(SyncRegistry, FindsSyncAndNamesItForAnUnknownName) {
  EXPECT_TRUE(is_sync_implementation("sync"));
  EXPECT_FALSE(is_sync_implementation("openmp"));
  const auto names = registered_sync_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "sync"), names.end());
  EXPECT_EQ(make_sync_implementation("sync")->name(), "sync");
  try {
    make_sync_implementation("nosuch");
    FAIL() << "no error for an unknown name";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unknown synchronized implementation 'nosuch'"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("sync"), std::string::npos);
  }
  EXPECT_THROW(register_sync_implementation("sync", [] { return make_sync_implementation("sync"); }), Error);
}

}  // namespace
}  // namespace bnh
