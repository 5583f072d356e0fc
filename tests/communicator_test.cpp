// The communicator's collectives on simulated ranks: the gather's layout, the rank-order sum, the
// C view, and the ways a group breaks (a rank that throws, different counts, a rank that never
// comes) ending in an exception on every rank rather than a hang.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/types.hpp"

namespace {

// Values whose sum depends on the order of the additions, so a sum in any order but rank order
// would show.
double rank_value(int rank, int j) { return std::ldexp(1.0 + j, rank % 2 == 0 ? 60 : 0) * (rank % 4 < 2 ? 1 : -1) + 0.1 * rank; }

bool bitwise_equal(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(SimulatedRanks, HoldEveryRankLocally) {
  const auto ranks = bnh::simulated_ranks(4);
  EXPECT_EQ(ranks->size(), 4);
  EXPECT_EQ(ranks->local_ranks(), (std::vector<int>{0, 1, 2, 3}));
}

TEST(SimulatedRanks, GatherPlacesRankKAtOffsetKTimesCount) {
  const int size = 3, count = 2;
  std::vector<std::vector<double>> seen(size);
  bnh::simulated_ranks(size)->run([&](bnh::Communicator& communicator) {
    const int k = communicator.rank();
    EXPECT_EQ(communicator.size(), size);
    const double values[count] = {10.0 * k, 10.0 * k + 1};
    seen[k].resize(size * count);
    communicator.all_gather(values, count, seen[k].data());
  });
  for (int k = 0; k < size; ++k) EXPECT_EQ(seen[k], (std::vector<double>{0, 1, 10, 11, 20, 21})) << "rank " << k;
}

TEST(SimulatedRanks, ManyCollectivesInARowKeepTheirOrder) {
  const int size = 4, rounds = 200;
  std::atomic<int> wrong{0};
  bnh::simulated_ranks(size)->run([&](bnh::Communicator& communicator) {
    for (int round = 0; round < rounds; ++round) {
      const double mine = round * 100 + communicator.rank();
      std::vector<double> gathered(size);
      communicator.all_gather(&mine, 1, gathered.data());
      for (int k = 0; k < size; ++k) wrong += gathered[k] != round * 100 + k;
    }
  });
  EXPECT_EQ(wrong, 0);
}

TEST(SimulatedRanks, SumIsTheRankOrderSumBitwiseOnEveryRank) {
  const int size = 5, count = 3;
  std::vector<std::vector<double>> sums(size);
  bnh::simulated_ranks(size)->run([&](bnh::Communicator& communicator) {
    std::vector<double> values(count);
    for (int j = 0; j < count; ++j) values[j] = rank_value(communicator.rank(), j);
    communicator.all_reduce_sum(values.data(), count);
    sums[communicator.rank()] = values;
  });
  for (int j = 0; j < count; ++j) {
    double expected = rank_value(0, j);
    for (int k = 1; k < size; ++k) expected += rank_value(k, j);
    for (int k = 0; k < size; ++k) EXPECT_TRUE(bitwise_equal(sums[k][j], expected)) << "rank " << k << ", element " << j;
  }
}

TEST(SimulatedRanks, OneRankGathersAndSumsItsOwn) {
  bnh::simulated_ranks(1)->run([](bnh::Communicator& communicator) {
    EXPECT_EQ(communicator.rank(), 0);
    double values[2] = {1.5, -2.0}, gathered[2] = {};
    communicator.all_gather(values, 2, gathered);
    EXPECT_EQ(gathered[0], 1.5);
    EXPECT_EQ(gathered[1], -2.0);
    communicator.all_reduce_sum(values, 2);
    EXPECT_EQ(values[0], 1.5);
    EXPECT_EQ(values[1], -2.0);
  });
}

TEST(SimulatedRanks, EmptyCollectiveStillMeets) {
  bnh::simulated_ranks(3)->run([](bnh::Communicator& communicator) {
    communicator.all_gather(nullptr, 0, nullptr);
    communicator.all_reduce_sum(nullptr, 0);
  });
}

// The failing rank's own exception, type and all, comes out of run(); the ranks waiting for it
// are released at once, not at the timeout.
TEST(SimulatedRanks, ThrowingRankReleasesTheOthers) {
  std::mutex mutex;
  std::vector<std::string> others;
  const auto start = std::chrono::steady_clock::now();
  try {
    bnh::simulated_ranks(3, 30)->run([&](bnh::Communicator& communicator) {
      if (communicator.rank() == 1) throw bnh::PluginFault("plugin crashed with SIGSEGV");
      double value = 1, gathered[3];
      try {
        communicator.all_gather(&value, 1, gathered);
      } catch (const bnh::Error& error) {
        std::lock_guard<std::mutex> lock(mutex);
        others.push_back(error.what());
        throw;
      }
    });
    FAIL() << "run() returned although rank 1 threw";
  } catch (const bnh::PluginFault& fault) {
    EXPECT_STREQ(fault.what(), "plugin crashed with SIGSEGV");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(others.size(), 2u);
  for (const std::string& message : others) EXPECT_EQ(message, "rank 1 failed: plugin crashed with SIGSEGV");
}

TEST(SimulatedRanks, LaterCollectivesAfterAFailureThrowToo) {
  std::atomic<int> threw{0};
  EXPECT_THROW(bnh::simulated_ranks(2, 30)->run([&](bnh::Communicator& communicator) {
    if (communicator.rank() == 0) throw std::runtime_error("boom");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    double value = 0, gathered[2];
    try {
      communicator.all_gather(&value, 1, gathered);
    } catch (const bnh::Error&) {
      ++threw;
    }
  }), std::runtime_error);
  EXPECT_EQ(threw, 1);
}

TEST(SimulatedRanks, DifferentCountsThrowOnEveryRank) {
  std::atomic<int> threw{0};
  bnh::simulated_ranks(3, 30)->run([&](bnh::Communicator& communicator) {
    std::vector<double> values(3, 1.0), gathered(9);
    const std::int64_t count = communicator.rank() == 2 ? 3 : 2;
    try {
      communicator.all_gather(values.data(), count, gathered.data());
    } catch (const bnh::Error& error) {
      EXPECT_NE(std::string(error.what()).find("different counts"), std::string::npos) << error.what();
      ++threw;
    }
  });
  EXPECT_EQ(threw, 3);
}

TEST(SimulatedRanks, TimeoutNamesTheRankThatNeverJoined) {
  const auto start = std::chrono::steady_clock::now();
  try {
    bnh::simulated_ranks(3, 0.1)->run([](bnh::Communicator& communicator) {
      if (communicator.rank() == 2) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return;
      }
      double value = 0, gathered[3];
      communicator.all_gather(&value, 1, gathered);
    });
    FAIL() << "run() returned although rank 2 never joined";
  } catch (const bnh::Error& error) {
    EXPECT_STREQ(error.what(), "all_gather: rank 2 did not join within 0.1 s");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(SimulatedRanks, RankThatReturnsWithoutJoiningBreaksTheCollective) {
  EXPECT_THROW(bnh::simulated_ranks(2, 30)->run([](bnh::Communicator& communicator) {
    if (communicator.rank() == 1) return;
    double value = 0, gathered[2];
    communicator.all_gather(&value, 1, gathered);
  }), bnh::Error);
}

// The threads are kept from run to run; what one run broke must not reach the next.
TEST(SimulatedRanks, RunAfterFailedRunsWorks) {
  const auto ranks = bnh::simulated_ranks(3, 0.2);
  const auto gather_ranks = [&] {
    std::vector<std::vector<double>> seen(3, std::vector<double>(3));
    ranks->run([&](bnh::Communicator& communicator) {
      const double mine = communicator.rank();
      communicator.all_gather(&mine, 1, seen[communicator.rank()].data());
    });
    for (int k = 0; k < 3; ++k) EXPECT_EQ(seen[k], (std::vector<double>{0, 1, 2})) << "rank " << k;
  };
  EXPECT_THROW(ranks->run([](bnh::Communicator& communicator) {
    if (communicator.rank() == 2) throw bnh::PluginFault("plugin crashed with SIGSEGV");
    double value = 0, gathered[3];
    communicator.all_gather(&value, 1, gathered);
  }), bnh::PluginFault);
  gather_ranks();
  EXPECT_THROW(ranks->run([](bnh::Communicator& communicator) {
    double values[2] = {}, gathered[6];
    communicator.all_gather(values, communicator.rank() == 0 ? 1 : 2, gathered);
  }), bnh::Error);
  gather_ranks();
  try {
    ranks->run([](bnh::Communicator& communicator) {
      if (communicator.rank() == 1) return;
      double value = 0, gathered[3];
      communicator.all_gather(&value, 1, gathered);
    });
    FAIL() << "run() returned although rank 1 never joined";
  } catch (const bnh::Error& error) {
    EXPECT_STREQ(error.what(), "all_gather: rank 1 returned without joining it");
  }
  gather_ranks();
}

TEST(SimulatedRanks, ManyTinyRunsFinish) {
  const int size = 3, runs = 20000;
  const auto ranks = bnh::simulated_ranks(size);
  int wrong = 0;
  for (int run = 0; run < runs; ++run) {
    std::vector<double> sums(size);
    ranks->run([&](bnh::Communicator& communicator) {
      double value = run + communicator.rank();
      communicator.all_reduce_sum(&value, 1);
      sums[communicator.rank()] = value;
    });
    for (int k = 0; k < size; ++k) wrong += sums[k] != 3.0 * run + 3;
  }
  EXPECT_EQ(wrong, 0);
}

TEST(SimulatedRanks, OneRunAtATimeFromManyCallers) {
  const auto ranks = bnh::simulated_ranks(2);
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int caller = 0; caller < 3; ++caller) {
    callers.emplace_back([&, caller] {
      for (int run = 0; run < 200; ++run) {
        ranks->run([&](bnh::Communicator& communicator) {
          double value = caller;
          communicator.all_reduce_sum(&value, 1);
          wrong += value != 2.0 * caller;
        });
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(wrong, 0);
}

TEST(SimulatedRanks, RefuseNoRanks) { EXPECT_THROW(bnh::simulated_ranks(0), bnh::Error); }

TEST(CommunicatorC, CallsBackIntoTheCommunicator) {
  const int size = 3;
  std::vector<std::vector<double>> sums(size), gathers(size);
  bnh::simulated_ranks(size)->run([&](bnh::Communicator& communicator) {
    const bnh_communicator c = communicator.to_c();
    const int k = communicator.rank();
    EXPECT_EQ(c.rank, k);
    EXPECT_EQ(c.size, size);
    double value = k + 1.0;
    gathers[k].resize(size);
    EXPECT_EQ(c.all_gather(&c, &value, 1, gathers[k].data()), 0);
    double values[2] = {rank_value(k, 0), 1.0};
    EXPECT_EQ(c.all_reduce_sum(&c, values, 2), 0);
    sums[k].assign(values, values + 2);
  });
  const double expected = rank_value(0, 0) + rank_value(1, 0) + rank_value(2, 0);
  for (int k = 0; k < size; ++k) {
    EXPECT_EQ(gathers[k], (std::vector<double>{1, 2, 3}));
    EXPECT_TRUE(bitwise_equal(sums[k][0], expected));
    EXPECT_EQ(sums[k][1], 3.0);
  }
}

// A collective that fails reaches the plugin as a nonzero return, never as an exception.
TEST(CommunicatorC, FailedCollectiveReturnsNonzero) {
  std::atomic<int> nonzero{0};
  EXPECT_THROW(bnh::simulated_ranks(2, 30)->run([&](bnh::Communicator& communicator) {
    if (communicator.rank() == 0) throw bnh::Error("rank 0 refused");
    const bnh_communicator c = communicator.to_c();
    double value = 1, gathered[2];
    nonzero += c.all_gather(&c, &value, 1, gathered) != 0;
    nonzero += c.all_reduce_sum(&c, &value, 1) != 0;
    nonzero += c.all_gather(&c, &value, -1, gathered) != 0;
    nonzero += c.all_gather(nullptr, &value, 1, gathered) != 0;
  }), bnh::Error);
  EXPECT_EQ(nonzero, 4);
}

}  // namespace
