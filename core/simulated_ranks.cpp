// Simulated ranks: K threads of this process (the caller's and K-1 kept from run to run), their
// collectives met in shared memory.
//
// A collective is a generation-counted barrier: each rank leaves its values and waits; the last
// to arrive gathers everyone's values into one buffer and starts the next generation, and each
// waiter copies the buffer out before it can arrive anywhere else. Once anything goes wrong (a
// rank threw, returned while others wait, asked for a different count, or a wait ran out of
// time) the group is broken: every pending and later collective throws instead of waiting.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/types.hpp"

namespace bnh {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double longest_wait_seconds = 1e7;  // beyond it, "forever": the clock must not overflow

// Thrown on a rank whose collective failed because another rank failed first: the other
// rank's own exception is the one run() reports.
class OtherRankFailed : public Error {
 public:
  using Error::Error;
};

std::string rank_list(const std::vector<int>& ranks) {
  std::ostringstream text;
  text << (ranks.size() == 1 ? "rank " : "ranks ");
  for (std::size_t i = 0; i < ranks.size(); ++i) text << (i > 0 ? ", " : "") << ranks[i];
  return text.str();
}

// What the K ranks of one run() share.
class Group {
 public:
  Group(int size, double timeout_seconds)
      : size_(size),
        timeout_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(std::min(timeout_seconds, longest_wait_seconds)))),
        timeout_seconds_(timeout_seconds),
        arrived_(size, false),
        finished_(size, false),
        saw_other_rank_fail_(size, false),
        counts_(size, 0),
        contributions_(size, nullptr) {}

  int size() const { return size_; }

  void all_gather(int rank, const double* values, std::int64_t count, double* gathered) {
    if (count < 0) throw Error("all_gather: negative count " + std::to_string(count));
    std::unique_lock<std::mutex> lock(mutex_);
    throw_if_broken(rank);
    if (const int gone = first_finished(); gone >= 0) {
      break_group(-1, "all_gather: rank " + std::to_string(gone) + " returned without joining it");
      throw_if_broken(rank);
    }
    arrived_[rank] = true;
    counts_[rank] = count;
    contributions_[rank] = values;
    const std::uint64_t generation = generation_;
    if (std::count(arrived_.begin(), arrived_.end(), true) == size_) {
      complete();
    } else {
      const auto deadline = Clock::now() + timeout_;
      const auto settled = [&] { return generation_ != generation || broken_; };
      if (!cv_.wait_until(lock, deadline, settled)) break_group(-1, missing_ranks_message());
      throw_if_broken(rank);
    }
    std::copy(buffer_.begin(), buffer_.end(), gathered);
  }

  // A rank's body has returned, normally or by throwing (failed, with that message).
  void finish(int rank, bool failed, const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_[rank] = true;
    if (failed) {
      break_group(rank, "rank " + std::to_string(rank) + " failed: " + message);
    } else if (std::count(arrived_.begin(), arrived_.end(), true) > 0) {
      break_group(-1, "all_gather: rank " + std::to_string(rank) + " returned without joining it");
    }
  }

  // Whether one of this rank's collectives failed because another rank had failed.
  bool saw_other_rank_fail(int rank) {
    std::lock_guard<std::mutex> lock(mutex_);
    return saw_other_rank_fail_[rank];
  }

 private:
  // Called by the last rank to arrive, with the lock held; the others wait.
  void complete() {
    const std::int64_t count = counts_[0];
    if (std::any_of(counts_.begin(), counts_.end(), [&](std::int64_t c) { return c != count; })) {
      std::ostringstream text;
      text << "all_gather: the ranks gave different counts (";
      for (int k = 0; k < size_; ++k) text << (k > 0 ? ", " : "") << "rank " << k << ": " << counts_[k];
      text << ")";
      break_group(-1, text.str());
      throw Error(text.str());
    }
    buffer_.resize(static_cast<std::size_t>(size_) * static_cast<std::size_t>(count));
    for (int k = 0; k < size_; ++k) std::copy(contributions_[k], contributions_[k] + count, buffer_.begin() + k * count);
    std::fill(arrived_.begin(), arrived_.end(), false);
    ++generation_;
    cv_.notify_all();
  }

  // broken_by: the rank whose failure broke the group, or -1 when the collective itself failed
  // (every rank then reports the same message as its own).
  void break_group(int broken_by, const std::string& message) {
    if (broken_) return;
    broken_ = true;
    broken_by_ = broken_by;
    message_ = message;
    cv_.notify_all();
  }

  void throw_if_broken(int rank) {
    if (!broken_) return;
    if (broken_by_ >= 0 && broken_by_ != rank) {
      saw_other_rank_fail_[rank] = true;
      throw OtherRankFailed(message_);
    }
    throw Error(message_);
  }

  int first_finished() const {
    const auto it = std::find(finished_.begin(), finished_.end(), true);
    return it == finished_.end() ? -1 : static_cast<int>(it - finished_.begin());
  }

  std::string missing_ranks_message() const {
    std::vector<int> missing;
    for (int k = 0; k < size_; ++k) {
      if (!arrived_[k]) missing.push_back(k);
    }
    std::ostringstream text;
    text << "all_gather: " << rank_list(missing) << " did not join within " << timeout_seconds_ << " s";
    return text.str();
  }

  const int size_;
  const Clock::duration timeout_;
  const double timeout_seconds_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t generation_ = 0;
  std::vector<bool> arrived_, finished_, saw_other_rank_fail_;
  std::vector<std::int64_t> counts_;
  std::vector<const double*> contributions_;
  std::vector<double> buffer_;  // the last completed gather, rank by rank
  bool broken_ = false;
  int broken_by_ = -1;
  std::string message_;
};

class SimulatedCommunicator : public Communicator {
 public:
  SimulatedCommunicator(Group& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  void all_gather(const double* values, std::int64_t count, double* gathered) override {
    group_.all_gather(rank_, values, count, gathered);
  }

 private:
  Group& group_;
  int rank_;
};

// Rank 0 runs on the caller's thread, ranks 1 to K-1 on threads started by the first run() and
// reused by every later one until the ranks are destroyed: a conformance run makes many short
// runs, and starting K threads for each cost more than the work. Each run has its own Group, so
// nothing one run broke or left behind reaches the next. One run() at a time: a second caller
// waits (and a body must not call run() on the ranks that run it).
class SimulatedRanks : public Ranks {
 public:
  SimulatedRanks(int size, double timeout_seconds) : size_(size), timeout_seconds_(timeout_seconds) {}
  ~SimulatedRanks() override { stop_workers(); }
  SimulatedRanks(const SimulatedRanks&) = delete;
  SimulatedRanks& operator=(const SimulatedRanks&) = delete;

  int size() const override { return size_; }
  std::vector<int> local_ranks() const override {
    std::vector<int> ranks(size_);
    for (int k = 0; k < size_; ++k) ranks[k] = k;
    return ranks;
  }

  // Reports the first failure in rank order among the ranks that failed on their own; a rank
  // that failed only because another one did is reported when no rank failed on its own.
  void run(const std::function<void(Communicator&)>& body) override {
    const std::lock_guard<std::mutex> one_run_at_a_time(run_mutex_);
    start_workers();
    Round round{body, Group(size_, timeout_seconds_), std::vector<std::exception_ptr>(size_)};
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      round_ = &round;
      unfinished_ = size_ - 1;
      ++round_number_;
    }
    round_started_.notify_all();
    run_rank(round, 0);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      round_finished_.wait(lock, [&] { return unfinished_ == 0; });
      round_ = nullptr;
    }

    for (int k = 0; k < size_; ++k) {
      if (round.failures[k] && !round.group.saw_other_rank_fail(k)) std::rethrow_exception(round.failures[k]);
    }
    for (int k = 0; k < size_; ++k) {
      if (round.failures[k]) std::rethrow_exception(round.failures[k]);
    }
  }

 private:
  // What one run() gives its ranks.
  struct Round {
    const std::function<void(Communicator&)>& body;
    Group group;
    std::vector<std::exception_ptr> failures;
  };

  static void run_rank(Round& round, int rank) {
    SimulatedCommunicator communicator(round.group, rank);
    std::string message;
    try {
      round.body(communicator);
    } catch (const std::exception& error) {
      round.failures[rank] = std::current_exception();
      message = error.what();
    } catch (...) {
      round.failures[rank] = std::current_exception();
      message = "an exception that is not a std::exception";
    }
    round.group.finish(rank, round.failures[rank] != nullptr, message);
  }

  // The thread of one rank: runs it in every round after last_round until the ranks are
  // destroyed.
  void work(int rank, std::uint64_t last_round) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      round_started_.wait(lock, [&] { return stopping_ || round_number_ != last_round; });
      if (stopping_) return;
      last_round = round_number_;
      Round& round = *round_;
      lock.unlock();
      run_rank(round, rank);
      lock.lock();
      if (--unfinished_ == 0) round_finished_.notify_one();
    }
  }

  void start_workers() {
    if (static_cast<int>(workers_.size()) == size_ - 1) return;
    workers_.reserve(size_ - 1);
    try {
      // Given the round number now, since a thread may first look after the round has begun.
      for (int rank = 1; rank < size_; ++rank) workers_.emplace_back(&SimulatedRanks::work, this, rank, round_number_);
    } catch (...) {
      stop_workers();  // so that a later run() starts them all afresh
      throw;
    }
  }

  void stop_workers() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    round_started_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }

  const int size_;
  const double timeout_seconds_;
  std::mutex run_mutex_;
  std::mutex mutex_;  // guards what follows, shared with the workers
  std::condition_variable round_started_, round_finished_;
  Round* round_ = nullptr;
  std::uint64_t round_number_ = 0;
  int unfinished_ = 0;  // workers still running the current round
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Ranks> simulated_ranks(int size, double timeout_seconds) {
  if (size < 1) throw Error("simulated ranks: the number of ranks must be at least 1, not " + std::to_string(size));
  if (!(timeout_seconds > 0)) throw Error("simulated ranks: the timeout must be positive");
  return std::make_unique<SimulatedRanks>(size, timeout_seconds);
}

}  // namespace bnh
