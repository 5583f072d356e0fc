// ShardedImplementation when ranks fail unlike each other: a rank that refuses, faults or does not
// provide the call while the others go on into the call's collectives. Every rank must end
// with the same exception, of the most telling kind, carrying the failing rank's own message, and
// nothing may hang. Run on simulated ranks, and on ranks that meet the way MPI's do: each rank
// with its own ShardedImplementation, and a gather whose ranks gave different counts failing
// for that once only, the next one starting afresh.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/sync_implementation.hpp"
#include "properties/sharded_implementation.hpp"

namespace bnh {
namespace {

// A collective that gave up waiting: the ranks fell out of step (a hang, caught).
class OutOfStep : public Error {
 public:
  using Error::Error;
};

// Where K threads meet, MPI's way: every gather is one round of all K; a round whose ranks gave
// different counts fails on each of them, and nothing stays broken.
class MeetingPoint {
 public:
  explicit MeetingPoint(int size) : size_(size), counts_(size), contributions_(size) {}
  int size() const { return size_; }

  void all_gather(int rank, const double* values, std::int64_t count, double* gathered) {
    if (count < 0) throw Error("all_gather: negative count");
    std::unique_lock<std::mutex> lock(mutex_);
    if (out_of_step_) throw OutOfStep("out of step");
    counts_[rank] = count;
    contributions_[rank] = values;
    const std::uint64_t round = round_;
    if (++arrived_ == size_) {
      different_counts_ = false;
      for (int k = 0; k < size_; ++k) different_counts_ |= counts_[k] != count;
      if (!different_counts_) {
        buffer_.clear();
        for (int k = 0; k < size_; ++k) buffer_.insert(buffer_.end(), contributions_[k], contributions_[k] + count);
      }
      arrived_ = 0;
      ++round_;
      met_.notify_all();
    } else if (!met_.wait_for(lock, std::chrono::seconds(10), [&] { return round_ != round || out_of_step_; }) ||
               out_of_step_) {
      out_of_step_ = true;
      met_.notify_all();
      throw OutOfStep("out of step");
    }
    // The round's result stays until every rank of it has come back for the next one.
    if (different_counts_) throw Error("all_gather: the ranks gave different counts");
    std::copy(buffer_.begin(), buffer_.end(), gathered);
  }

 private:
  const int size_;
  std::mutex mutex_;
  std::condition_variable met_;
  std::uint64_t round_ = 0;
  int arrived_ = 0;
  bool different_counts_ = false, out_of_step_ = false;
  std::vector<std::int64_t> counts_;
  std::vector<const double*> contributions_;
  std::vector<double> buffer_;
};

class MeetingCommunicator final : public Communicator {
 public:
  MeetingCommunicator(MeetingPoint& point, int rank) : point_(point), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return point_.size(); }
  void all_gather(const double* values, std::int64_t count, double* gathered) override {
    point_.all_gather(rank_, values, count, gathered);
  }

 private:
  MeetingPoint& point_;
  int rank_;
};

// One process's view of an MPI job: its own rank only.
class OneRank final : public Ranks {
 public:
  explicit OneRank(Communicator& communicator) : communicator_(communicator) {}
  int size() const override { return communicator_.size(); }
  std::vector<int> local_ranks() const override { return {communicator_.rank()}; }
  void run(const std::function<void(Communicator&)>& body) override { body(communicator_); }

 private:
  Communicator& communicator_;
};

enum class Kind { refusal, unsupported, fault };
enum class When { before_any_collective, after_the_first };
struct Failure {
  Kind kind;
  When when;
};

// A synchronized implementation that makes two collectives of `count` values, like a plugin in
// the sandbox: a collective that fails turns into a PluginFault; the ranks in `failures` fail on
// their own, at the given point.
class FakeSync final : public SyncImplementation {
 public:
  FakeSync(std::map<int, Failure> failures, std::int64_t count) : failures_(std::move(failures)), count_(count) {}
  std::string name() const override { return "fake"; }
  std::string description() const override { return "fails on some ranks"; }
  bool supports(const TensorDesc&) const override { return true; }
  bool supports(Operation) const override { return true; }

  void run(Communicator& communicator, Operation, const TensorDesc&, const Params&, const OperationBuffers&) override {
    const int rank = communicator.rank();
    const auto failure = failures_.find(rank);
    const bool fails = failure != failures_.end();
    if (fails && failure->second.when == When::before_any_collective) fail(rank, failure->second.kind);
    gather(communicator);
    if (fails && failure->second.when == When::after_the_first) fail(rank, failure->second.kind);
    gather(communicator);
  }

  static std::string message(int rank, Kind kind) {
    const std::string on_rank = " on rank " + std::to_string(rank);
    switch (kind) {
      case Kind::refusal: return "fake rejected bn_forward_train" + on_rank + ": bad input";
      case Kind::unsupported: return "fake does not provide bn_forward_train" + on_rank;
      case Kind::fault: return "fake bn_forward_train" + on_rank + " crashed with SIGSEGV";
    }
    return "";
  }

 private:
  [[noreturn]] static void fail(int rank, Kind kind) {
    switch (kind) {
      case Kind::refusal: throw PluginRefusal(message(rank, kind));
      case Kind::unsupported: throw Unsupported(message(rank, kind));
      case Kind::fault: break;
    }
    throw PluginFault(message(rank, kind));
  }

  void gather(Communicator& communicator) const {
    std::vector<double> values(static_cast<std::size_t>(count_), 1.0);
    try {
      communicator.all_reduce_sum(values.data(), count_);
    } catch (const OutOfStep&) {
      throw;
    } catch (const Error& error) {
      throw PluginFault("fake bn_forward_train on rank " + std::to_string(communicator.rank()) +
                        ": a collective failed (another rank failed or did not join): " + error.what());
    }
  }

  std::map<int, Failure> failures_;
  std::int64_t count_;
};

// The whole batch of a training forward, as each process holds it.
struct Batch {
  explicit Batch(std::int64_t n) : x(n * channels, 1.0), y(n * channels), gamma(channels, 1.0), beta(channels, 0.0),
                                   save_mean(channels), save_invstd(channels) {
    desc = TensorDesc{n, channels, 1, 1, Layout::nchw, DType::f64};
  }
  OperationBuffers buffers() {
    return {x.data(), gamma.data(), beta.data(), y.data(), save_mean.data(), save_invstd.data(), nullptr, nullptr};
  }
  static constexpr std::int64_t channels = 2;
  TensorDesc desc;
  std::vector<double> x, y, gamma, beta, save_mean, save_invstd;
};

const std::vector<std::int64_t> shards = {0, 3, 1};

std::exception_ptr run_one_process(SyncImplementation& implementation, Ranks& ranks) {
  ShardedImplementation sharded(implementation, ranks);
  sharded.set_shards(shards);
  Batch batch(std::accumulate(shards.begin(), shards.end(), std::int64_t{0}));
  try {
    sharded.run(Operation::bn_forward_train, batch.desc, Params{}, batch.buffers());
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

// What each rank's ShardedImplementation threw, each rank a thread with its own, as MPI's are.
std::vector<std::exception_ptr> run_mpi_like(SyncImplementation& implementation) {
  MeetingPoint point(static_cast<int>(shards.size()));
  std::vector<std::exception_ptr> thrown(shards.size());
  std::vector<std::thread> threads;
  for (int rank = 0; rank < point.size(); ++rank) {
    threads.emplace_back([&, rank] {
      MeetingCommunicator communicator(point, rank);
      OneRank one(communicator);
      thrown[rank] = run_one_process(implementation, one);
    });
  }
  for (std::thread& thread : threads) thread.join();
  return thrown;
}

std::exception_ptr run_simulated(SyncImplementation& implementation) {
  const auto ranks = simulated_ranks(static_cast<int>(shards.size()), 10);
  return run_one_process(implementation, *ranks);
}

// Rethrows `thrown` and tells whether it is exactly of `kind` with `message`.
::testing::AssertionResult is(const std::exception_ptr& thrown, Kind kind, const std::string& message) {
  if (!thrown) return ::testing::AssertionFailure() << "nothing was thrown";
  try {
    std::rethrow_exception(thrown);
  } catch (const PluginFault& error) {
    if (kind != Kind::fault) return ::testing::AssertionFailure() << "a PluginFault: " << error.what();
    if (error.what() != message) return ::testing::AssertionFailure() << "a PluginFault: " << error.what();
  } catch (const PluginRefusal& error) {
    if (kind != Kind::refusal) return ::testing::AssertionFailure() << "a PluginRefusal: " << error.what();
    if (error.what() != message) return ::testing::AssertionFailure() << "a PluginRefusal: " << error.what();
  } catch (const Unsupported& error) {
    if (kind != Kind::unsupported) return ::testing::AssertionFailure() << "an Unsupported: " << error.what();
    if (error.what() != message) return ::testing::AssertionFailure() << "an Unsupported: " << error.what();
  } catch (const std::exception& error) {
    return ::testing::AssertionFailure() << "another exception: " << error.what();
  }
  return ::testing::AssertionSuccess();
}

struct Scenario {
  const char* name;
  std::map<int, Failure> failures;
  std::int64_t count;  // of each collective the fake makes
  Kind expected;
  int reported_rank;  // whose own failure every rank reports
};

void PrintTo(const Scenario& scenario, std::ostream* out) { *out << scenario.name; }

class RanksThatFail : public ::testing::TestWithParam<Scenario> {};

TEST_P(RanksThatFail, EveryMpiLikeRankThrowsTheSameOwnFailure) {
  const Scenario& scenario = GetParam();
  FakeSync fake(scenario.failures, scenario.count);
  const auto thrown = run_mpi_like(fake);
  const std::string message = FakeSync::message(scenario.reported_rank, scenario.expected);
  for (std::size_t rank = 0; rank < thrown.size(); ++rank) {
    EXPECT_TRUE(is(thrown[rank], scenario.expected, message)) << "rank " << rank;
  }
}

TEST_P(RanksThatFail, SimulatedRanksThrowTheRanksOwnFailure) {
  const Scenario& scenario = GetParam();
  FakeSync fake(scenario.failures, scenario.count);
  // The first rank in rank order that failed on its own: the back end's choice, kept.
  const auto first = scenario.failures.begin();
  EXPECT_TRUE(is(run_simulated(fake), first->second.kind, FakeSync::message(first->first, first->second.kind)));
}

constexpr auto before = When::before_any_collective;
constexpr auto after = When::after_the_first;

INSTANTIATE_TEST_SUITE_P(
    ShardedImplementation, RanksThatFail,
    ::testing::Values(
        Scenario{"refusal_before_any_collective", {{1, {Kind::refusal, before}}}, 2, Kind::refusal, 1},
        Scenario{"refusal_after_a_collective", {{1, {Kind::refusal, after}}}, 2, Kind::refusal, 1},
        Scenario{"unsupported_on_one_rank", {{1, {Kind::unsupported, before}}}, 2, Kind::unsupported, 1},
        Scenario{"fault_on_one_rank", {{1, {Kind::fault, before}}}, 2, Kind::fault, 1},
        Scenario{"fault_after_a_collective", {{2, {Kind::fault, after}}}, 2, Kind::fault, 2},
        // The others' gathers have the status exchange's own size: they meet it without an error.
        Scenario{"refusal_met_by_a_gather_of_the_same_count", {{1, {Kind::refusal, before}}}, 4, Kind::refusal, 1},
        // A fault outranks a refusal of a lower rank.
        Scenario{"fault_outranks_refusal",
                 {{0, {Kind::refusal, before}}, {2, {Kind::fault, before}}}, 2, Kind::fault, 2}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

TEST(ShardedImplementation, MpiLikeRanksThatAllReturnGoOnTogether) {
  FakeSync fake({}, 2);
  for (const std::exception_ptr& thrown : run_mpi_like(fake)) EXPECT_FALSE(thrown);
}

}  // namespace
}  // namespace bnh
