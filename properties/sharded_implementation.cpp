#include "properties/sharded_implementation.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <numeric>
#include <sstream>
#include <string>

#include "bnh/validate.hpp"
#include "properties/properties.hpp"

namespace bnh {

namespace {

// How a rank's call ended, the most telling first: when several ranks failed, every process
// reports the failure of the lowest kind, from the lowest rank among those. A call that failed
// after one of its collectives failed comes last: under MPI its failure is, as far as this rank
// can tell, the consequence of another rank's (that rank left the collective for the exchange).
enum class Outcome { returned = 0, fault, refusal, unsupported, error, other, collective_broken };

// The type of what a call threw (never collective_broken).
Outcome outcome_of(const std::exception_ptr& failure) {
  if (!failure) return Outcome::returned;
  try {
    std::rethrow_exception(failure);
  } catch (const PluginFault&) {
    return Outcome::fault;
  } catch (const PluginRefusal&) {
    return Outcome::refusal;
  } catch (const Unsupported&) {
    return Outcome::unsupported;
  } catch (const Error&) {
    return Outcome::error;
  } catch (...) {
    return Outcome::other;
  }
}

std::string message_of(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

[[noreturn]] void throw_as(Outcome outcome, const std::string& message) {
  switch (outcome) {
    case Outcome::fault: throw PluginFault(message);
    case Outcome::refusal: throw PluginRefusal(message);
    case Outcome::unsupported: throw Unsupported(message);
    case Outcome::error: throw Error(message);
    case Outcome::returned:
    case Outcome::other:
    case Outcome::collective_broken: break;
  }
  throw std::runtime_error(message);
}

// The communicator a rank's call gets: it notes whether one of the call's collectives failed,
// and once one has, fails the later ones at once (the ranks no longer agree on where they are),
// so that a call meets another rank's status exchange in one collective at most.
class WatchedCommunicator final : public Communicator {
 public:
  explicit WatchedCommunicator(Communicator& ranks) : ranks_(ranks) {}
  int rank() const override { return ranks_.rank(); }
  int size() const override { return ranks_.size(); }
  void all_gather(const double* values, std::int64_t count, double* gathered) override {
    if (!failure_.empty()) throw Error("all_gather after a failed one (" + failure_ + ")");
    try {
      ranks_.all_gather(values, count, gathered);
    } catch (const std::exception& error) {
      // A negative count is this rank's own mistake, refused before it meets anyone.
      if (count >= 0) failure_ = error.what();
      throw;
    }
  }
  bool collective_failed() const { return !failure_.empty(); }

 private:
  Communicator& ranks_;
  std::string failure_;
};

// What each rank puts in the status exchange: a marker that tells a report from a call's values
// met by chance in a gather of the same count, where it stands (Outcome), the type of what it
// threw, and the length of its message.
constexpr double report_marker = -0x1.b0a7d5c3e9f1p+1001;
constexpr std::int64_t report_size = 4;
// Under MPI an exchange meets a collective of a call still running on another rank at most once
// per call and rank (WatchedCommunicator); the bound only stops a back end that never settles.
constexpr int exchange_attempts = 256;

// Every rank's report, the same on every rank. Under MPI a rank whose call failed early comes
// here while others still wait in one of their call's collectives: the gather then fails
// (different counts) or meets their values without the marker. Their collective failed too, so
// they come here next: trying again puts every rank in the same exchange. Simulated ranks break
// for good on the first failure and report the rank that failed themselves: no second try.
std::vector<double> exchange_reports(Communicator& communicator, const double* mine, bool try_again) {
  std::vector<double> reports(static_cast<std::size_t>(communicator.size() * report_size));
  std::string why;
  for (int attempt = 1; attempt <= (try_again ? exchange_attempts : 1); ++attempt) {
    try {
      communicator.all_gather(mine, report_size, reports.data());
      bool every_rank_here = true;
      for (int k = 0; k < communicator.size(); ++k) every_rank_here &= reports[k * report_size] == report_marker;
      if (every_rank_here) return reports;
      why = "a rank was still in a collective of its call";
    } catch (const Error& error) {
      if (!try_again) throw;
      why = error.what();
    }
  }
  throw Error("the ranks did not meet to agree on how the call ended (" + why + ")");
}

// Every rank learns how every other's call ended; when any failed, every rank throws the same
// exception (the chosen rank rethrows its own), so that none goes on into a collective alone.
void agree_on_outcome(Communicator& communicator, const std::exception_ptr& failure, bool collective_failed,
                      bool try_again) {
  const Outcome thrown = outcome_of(failure);
  const Outcome standing = failure && collective_failed ? Outcome::collective_broken : thrown;
  const std::string message = failure ? message_of(failure) : "";
  const double mine[report_size] = {report_marker, static_cast<double>(standing), static_cast<double>(thrown),
                                    static_cast<double>(message.size())};
  const std::vector<double> reports = exchange_reports(communicator, mine, try_again);
  const auto report = [&](int k, int field) { return reports[k * report_size + field]; };
  int chosen = -1;
  for (int k = 0; k < communicator.size(); ++k) {
    if (report(k, 1) != 0 && (chosen < 0 || report(k, 1) < report(chosen, 1))) chosen = k;
  }
  if (chosen < 0) return;
  // Every rank is in the exchange now: the chosen rank's message, one byte per double.
  const auto length = static_cast<std::int64_t>(report(chosen, 3));
  std::vector<double> bytes(static_cast<std::size_t>(length), 0.0);
  std::vector<double> gathered(static_cast<std::size_t>(communicator.size() * length));
  if (communicator.rank() == chosen) std::copy(message.begin(), message.end(), bytes.begin());
  communicator.all_gather(bytes.data(), length, gathered.data());
  if (chosen == communicator.rank()) std::rethrow_exception(failure);
  std::string text(static_cast<std::size_t>(length), ' ');
  for (std::int64_t i = 0; i < length; ++i) text[i] = static_cast<char>(gathered[chosen * length + i]);
  throw_as(static_cast<Outcome>(report(chosen, 2)), text);
}

std::size_t element_bytes(DType dtype) { return dtype == DType::f32 ? sizeof(float) : sizeof(double); }

std::vector<double> to_doubles(const void* data, std::int64_t count, DType dtype) {
  std::vector<double> values(static_cast<std::size_t>(count));
  dispatch_dtype(dtype, [&](auto zero) {
    const auto* typed = static_cast<const decltype(zero)*>(data);
    std::copy(typed, typed + count, values.begin());
  });
  return values;
}

void from_doubles(const double* values, std::int64_t count, DType dtype, void* data) {
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    std::transform(values, values + count, static_cast<T*>(data), [](double v) { return static_cast<T>(v); });
  });
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// What one rank's call works on and leaves behind.
struct RankCall {
  std::vector<std::vector<double>> channel_storage;  // its own per-channel outputs
  std::vector<std::vector<double>> gathered;         // every rank's, per channel buffer
};

}  // namespace

ShardedImplementation::ShardedImplementation(SyncImplementation& implementation, Ranks& ranks)
    : implementation_(implementation), ranks_(ranks) {}

void ShardedImplementation::set_shards(std::vector<std::int64_t> shards) {
  if (!shards.empty() && static_cast<int>(shards.size()) != ranks_.size()) {
    throw Error("a split into " + std::to_string(shards.size()) + " shards for " + std::to_string(ranks_.size()) +
                " ranks");
  }
  shards_ = std::move(shards);
}

void ShardedImplementation::run(Operation operation, const TensorDesc& desc, const Params& params,
                                const OperationBuffers& buffers) {
  if (desc.n < 1) {
    throw Error("dimension N must be >= 1 (a batch of N = " + std::to_string(desc.n) + " has no shards for the ranks)");
  }
  const int size = ranks_.size();
  const std::vector<std::int64_t> sizes = shard_sizes(desc.n, shards_, size);
  std::vector<std::int64_t> starts(size + 1, 0);
  std::partial_sum(sizes.begin(), sizes.end(), starts.begin() + 1);
  // Bad input goes to every rank as it is (a shard of its N), on the caller's buffers: the
  // ranks must refuse it before touching any.
  bool well_formed = true;
  try {
    validate_desc(desc);
  } catch (const Error&) {
    well_formed = false;
  }
  const OperationSpec& spec = operation_spec(operation);
  const std::int64_t per_sample = well_formed ? desc.c * desc.spatial() : 0;
  const std::size_t bytes = well_formed ? element_bytes(desc.dtype) : 0;
  const bool all_local = static_cast<int>(ranks_.local_ranks().size()) == size;
  const auto shared_by_ranks = [&](std::size_t k) {  // per-channel outputs, compared across ranks
    return well_formed && buffers[k] != nullptr && spec.buffers[k].extent == Extent::channel &&
           spec.buffers[k].role != BufferRole::input;
  };
  std::vector<RankCall> calls(size);

  ranks_.run([&](Communicator& communicator) {
    const int rank = communicator.rank();
    RankCall& call = calls[rank];
    call.channel_storage.resize(spec.count);
    call.gathered.resize(spec.count);
    TensorDesc shard = desc;
    shard.n = sizes[rank];
    OperationBuffers mine;
    for (std::size_t k = 0; k < spec.count; ++k) {
      mine[k] = buffers[k];
      if (!well_formed || buffers[k] == nullptr) continue;
      if (spec.buffers[k].extent == Extent::tensor) {
        mine[k] = static_cast<char*>(buffers[k]) + starts[rank] * per_sample * bytes;
      } else if (shared_by_ranks(k)) {
        auto& storage = call.channel_storage[k];
        storage.assign(desc.c, 0.0);
        if (spec.buffers[k].role == BufferRole::in_out) std::memcpy(storage.data(), buffers[k], desc.c * bytes);
        mine[k] = storage.data();
      }
    }
    std::exception_ptr failure;
    WatchedCommunicator watched(communicator);
    try {
      implementation_.run(watched, operation, shard, params, mine);
    } catch (...) {
      // Simulated ranks report the rank that failed on its own; the others' collectives fail.
      if (all_local) throw;
      failure = std::current_exception();
    }
    agree_on_outcome(communicator, failure, watched.collective_failed(), !all_local);
    if (!well_formed) return;
    for (std::size_t k = 0; k < spec.count; ++k) {
      if (!shared_by_ranks(k)) continue;
      const auto values = to_doubles(mine[k], desc.c, desc.dtype);
      call.gathered[k].resize(static_cast<std::size_t>(size * desc.c));
      communicator.all_gather(values.data(), desc.c, call.gathered[k].data());
    }
    if (all_local) return;  // every shard of y or dx was written in place
    const std::int64_t widest = *std::max_element(sizes.begin(), sizes.end()) * per_sample;
    for (std::size_t k = 0; k < spec.count; ++k) {
      if (spec.buffers[k].extent != Extent::tensor || spec.buffers[k].role == BufferRole::input) continue;
      std::vector<double> values = to_doubles(mine[k], sizes[rank] * per_sample, desc.dtype);
      values.resize(widest);
      std::vector<double> gathered(static_cast<std::size_t>(size * widest));
      communicator.all_gather(values.data(), widest, gathered.data());
      for (int other = 0; other < size; ++other) {
        if (other == rank) continue;
        from_doubles(gathered.data() + other * widest, sizes[other] * per_sample, desc.dtype,
                     static_cast<char*>(buffers[k]) + starts[other] * per_sample * bytes);
      }
    }
  });
  if (!well_formed) return;

  // Every local rank gathered the same values: the lowest one's stand for all.
  const RankCall& call = calls[ranks_.local_ranks().front()];
  for (std::size_t k = 0; k < spec.count; ++k) {
    if (!shared_by_ranks(k)) continue;
    const std::vector<double>& every = call.gathered[k];
    for (std::int64_t c = 0; c < desc.c; ++c) {
      for (int rank = 1; rank < size; ++rank) {
        if (same_bits(every[rank * desc.c + c], every[c])) continue;
        std::ostringstream message;
        message.precision(17);
        message << to_string(operation) << ": " << spec.buffers[k].name << " of channel " << c
                << " differs between rank 0 (" << every[c] << ") and rank " << rank << " ("
                << every[rank * desc.c + c] << "); it must be bitwise identical on every rank (shards "
                << shards_to_string(sizes) << ")";
        throw PropertyFailure(message.str());
      }
    }
    from_doubles(every.data(), desc.c, desc.dtype, buffers[k]);
  }
}

std::vector<std::int64_t> shard_sizes(std::int64_t n, const std::vector<std::int64_t>& preferred, int ranks) {
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(ranks), 0);
  const std::int64_t total = std::accumulate(preferred.begin(), preferred.end(), std::int64_t{0});
  if (static_cast<int>(preferred.size()) != ranks || total <= 0) {
    for (int k = 0; k < ranks; ++k) sizes[k] = n / ranks + (k < n % ranks ? 1 : 0);
    return sizes;
  }
  if (total == n) return preferred;
  std::int64_t given = 0;
  for (int k = 0; k < ranks; ++k) {
    sizes[k] = static_cast<std::int64_t>(static_cast<__int128>(n) * preferred[k] / total);
    given += sizes[k];
  }
  sizes[std::max_element(preferred.begin(), preferred.end()) - preferred.begin()] += n - given;
  return sizes;
}

}  // namespace bnh
