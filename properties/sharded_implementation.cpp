#include "properties/sharded_implementation.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <numeric>
#include <sstream>

#include "bnh/validate.hpp"
#include "properties/properties.hpp"

namespace bnh {

namespace {

// How a rank's call ended, the most telling first: when several ranks failed, every process
// reports the failure of the lowest kind, from the lowest rank among those.
enum class Outcome { returned = 0, fault, refusal, unsupported, error, other };

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
    case Outcome::other: break;
  }
  throw std::runtime_error(message);
}

// `text` as rank `from` holds it, on every rank: one byte per double.
std::string text_from(Communicator& communicator, int from, const std::string& text) {
  const int size = communicator.size();
  const double length = communicator.rank() == from ? static_cast<double>(text.size()) : 0;
  std::vector<double> lengths(size);
  communicator.all_gather(&length, 1, lengths.data());
  const auto count = static_cast<std::int64_t>(lengths[from]);
  std::vector<double> bytes(count, 0.0), gathered(static_cast<std::size_t>(size * count));
  if (communicator.rank() == from) std::copy(text.begin(), text.end(), bytes.begin());
  communicator.all_gather(bytes.data(), count, gathered.data());
  std::string result(count, ' ');
  for (std::int64_t i = 0; i < count; ++i) result[i] = static_cast<char>(gathered[from * count + i]);
  return result;
}

// Every rank learns how every other's call ended; when any failed, every rank throws the same
// exception (the failing rank rethrows its own), so that none goes on into a collective alone.
void agree_on_outcome(Communicator& communicator, const std::exception_ptr& failure) {
  const double mine = static_cast<double>(outcome_of(failure));
  std::vector<double> outcomes(communicator.size());
  communicator.all_gather(&mine, 1, outcomes.data());
  int chosen = -1;
  for (int k = 0; k < communicator.size(); ++k) {
    if (outcomes[k] != 0 && (chosen < 0 || outcomes[k] < outcomes[chosen])) chosen = k;
  }
  if (chosen < 0) return;
  const std::string message = text_from(communicator, chosen, failure ? message_of(failure) : "");
  if (chosen == communicator.rank()) std::rethrow_exception(failure);
  throw_as(static_cast<Outcome>(outcomes[chosen]), message);
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
    try {
      implementation_.run(communicator, operation, shard, params, mine);
    } catch (...) {
      // Simulated ranks report the rank that failed on its own; the others' collectives fail.
      if (all_local) throw;
      failure = std::current_exception();
    }
    agree_on_outcome(communicator, failure);
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
