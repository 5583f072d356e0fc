#include "properties/sync_conformance.hpp"

#include <algorithm>
#include <numeric>
#include <random>

#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
#include "properties/same_results.hpp"
#include "properties/sharded_implementation.hpp"

namespace bnh {

namespace {

using namespace detail;

// The sharded implementation the synchronized properties re-split: a property check is a plain
// function of (implementation, case), and the one it is given is the runner's observer of this.
// One run at a time per thread (MPI: one per process).
thread_local ShardedImplementation* under_test = nullptr;

class UnderTest {
 public:
  explicit UnderTest(ShardedImplementation& sharded) : saved_(under_test) { under_test = &sharded; }
  ~UnderTest() { under_test = saved_; }
  UnderTest(const UnderTest&) = delete;
  UnderTest& operator=(const UnderTest&) = delete;

 private:
  ShardedImplementation* saved_;
};

ShardedImplementation& sharded_under_test() {
  if (under_test == nullptr) throw Unsupported("not a synchronized run");
  return *under_test;
}

// The split compared with the case's: every sample on the last rank, or, when the case's split
// already has them all on one rank, as even as it goes (on another rank for one sample), so
// that (0, 2) meets (1, 1) and (1, 1) meets (0, 2).
std::vector<std::int64_t> other_split(const std::vector<std::int64_t>& split) {
  const auto ranks = static_cast<int>(split.size());
  const std::int64_t n = std::accumulate(split.begin(), split.end(), std::int64_t{0});
  std::vector<std::int64_t> other(split.size(), 0);
  const int holders = static_cast<int>(std::count_if(split.begin(), split.end(), [](std::int64_t s) { return s > 0; }));
  if (holders > 1) {
    other.back() = n;
    return other;
  }
  other = shard_sizes(n, {}, ranks);
  if (other == split) {
    std::rotate(other.begin(), other.begin() + 1, other.end());
  }
  return other;
}

// Every output, for the case's split and for another, agrees within twice the bound of one
// correct computation (the split changes the order of the sums, nothing else).
BoundFraction partition_invariance(Implementation& impl, const Case& tc) {
  ShardedImplementation& sharded = sharded_under_test();
  const int ranks = sharded.ranks().size();
  if (ranks < 2) throw Unsupported("one rank: no other split");
  const std::vector<std::int64_t> first = shard_sizes(tc.desc.n, tc.shards, ranks);
  const std::vector<std::int64_t> second = other_split(first);
  const std::string how = "with shards " + shards_to_string(second) + " against " + shards_to_string(first);
  // Each computation made on its split, the case's own restored after it.
  const auto on = [&](const std::vector<std::int64_t>& split) {
    return [&sharded, &tc, split](auto&& run) {
      sharded.set_shards(split);
      auto result = run();
      sharded.set_shards(tc.shards);
      return result;
    };
  };
  return same_results(impl, tc, tc, [](std::int64_t i) { return i; }, how, on(first), on(second), true);
}

// Every operation once on the case: the sharded implementation requires every per-channel
// output (the running statistics among them) bitwise identical on every rank, on every call of
// every property; this one makes it a verdict of its own.
BoundFraction identical_on_every_rank(Implementation& impl, const Case& tc) {
  sharded_under_test();
  for (bool renorm : provided_normalizations(impl, false, impl.supports(Operation::bn_forward_infer))) {
    const auto forward = run_forward_train(impl, tc, renorm);
    if (impl.supports(backward_op(renorm))) {
      run_backward(impl, tc, renorm, forward.save_mean, forward.save_invstd, forward.r, forward.d);
    }
  }
  if (impl.supports(Operation::bn_forward_infer)) run_forward_infer(impl, tc);
  return {};
}

const std::vector<Operation> all_of_them{Operation::bn_forward_train, Operation::bn_forward_infer,
                                         Operation::bn_backward, Operation::renorm_forward_train,
                                         Operation::renorm_backward};

}  // namespace

const std::vector<Property>& sync_property_catalogue() {
  static const std::vector<Property> catalogue{
      {"partition_invariance",
       "statistics weighted by the local count or equally per rank, mean_dy averaged over ranks, "
       "E[x^2] - E[x]^2 merged across ranks: results that depend on how the batch is split",
       all_of_them, partition_invariance, true, true, 1},
      {"identical_on_every_rank",
       "a rank left out of a collective (only the first channels synchronized, an empty rank's "
       "NaN), running statistics updated from the local shard",
       all_of_them, identical_on_every_rank, true, true, 0},
  };
  return catalogue;
}

std::vector<Property> sync_conformance_properties() {
  std::vector<Property> properties = property_catalogue();
  properties.insert(properties.end(), sync_property_catalogue().begin(), sync_property_catalogue().end());
  return properties;
}

namespace {

ConformanceOptions with_split_of_each_case(ShardedImplementation& sharded, const ConformanceOptions& options) {
  ConformanceOptions fixed = options;
  fixed.ranks = sharded.ranks().size();
  fixed.prepare_case = [&sharded](const Case& test_case) { sharded.set_shards(test_case.shards); };
  return fixed;
}

}  // namespace

CaseVerdict check_sync_case(SyncImplementation& implementation, Ranks& ranks, const Property& property,
                            const Case& test_case, const ConformanceOptions& options) {
  ShardedImplementation sharded(implementation, ranks);
  const UnderTest scope(sharded);
  return check_case(sharded, property, test_case, with_split_of_each_case(sharded, options));
}

std::uint64_t agreed_seed(Ranks& ranks, std::uint64_t seed) {
  if (seed == 0) seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32 | std::random_device{}()) | 1;
  std::uint64_t agreed = seed;
  ranks.run([&](Communicator& communicator) {
    // Two exact halves: a double holds 53 bits.
    const double halves[2] = {static_cast<double>(seed >> 32), static_cast<double>(seed & 0xffffffffu)};
    std::vector<double> gathered(2 * static_cast<std::size_t>(communicator.size()));
    communicator.all_gather(halves, 2, gathered.data());
    if (communicator.rank() == ranks.local_ranks().front()) {
      agreed = static_cast<std::uint64_t>(gathered[0]) << 32 | static_cast<std::uint64_t>(gathered[1]);
    }
  });
  return agreed;
}

ConformanceResult run_sync_conformance(SyncImplementation& implementation, Ranks& ranks,
                                       const ConformanceOptions& options,
                                       const std::vector<std::int64_t>& forced_shards,
                                       const std::function<void(const PropertyResult&)>& on_property) {
  if (!forced_shards.empty() && static_cast<int>(forced_shards.size()) != ranks.size()) {
    throw Error("a forced split into " + std::to_string(forced_shards.size()) + " shards for " +
                std::to_string(ranks.size()) + " ranks");
  }
  if (!forced_shards.empty() && std::accumulate(forced_shards.begin(), forced_shards.end(), std::int64_t{0}) < 1) {
    throw Error("a forced split of no sample (shards " + shards_to_string(forced_shards) + ")");
  }
  ShardedImplementation sharded(implementation, ranks);
  const UnderTest scope(sharded);
  ConformanceOptions fixed = with_split_of_each_case(sharded, options);
  fixed.seed = agreed_seed(ranks, options.seed);
  fixed.forced_shards = forced_shards;
  return run_properties(sharded, sync_conformance_properties(), fixed, on_property);
}

}  // namespace bnh
