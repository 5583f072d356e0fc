// A synchronized implementation run on ranks, seen as one implementation of the whole batch:
// every call splits x and dy along N into the current shards (N is the outermost dimension in
// both layouts, so a shard is a contiguous block of samples), runs each local rank's call,
// gathers every rank's y or dx to every process, and requires the per-channel outputs
// (save_mean, save_invstd, r, d, the running statistics, dgamma, dbeta) to be bitwise
// identical on every rank.
//
// Under MPI every process calls it with the whole batch and ends with the whole result, so
// that each computes the same verdict.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/implementation.hpp"
#include "bnh/sync_implementation.hpp"

namespace bnh {

class ShardedImplementation final : public UniformImplementation {
 public:
  ShardedImplementation(SyncImplementation& implementation, Ranks& ranks);

  // The split of the calls that follow, one size per rank; empty: as even as it goes.
  void set_shards(std::vector<std::int64_t> shards);
  const std::vector<std::int64_t>& shards() const { return shards_; }
  Ranks& ranks() { return ranks_; }

  std::string name() const override { return implementation_.name(); }
  std::string description() const override { return implementation_.description(); }
  bool supports(const TensorDesc& desc) const override { return implementation_.supports(desc); }
  bool supports(Operation operation) const override { return implementation_.supports(operation); }

  // Throws what every rank agreed on: the first failing rank's error (a fault before a
  // refusal, a refusal before an Unsupported, before any other error, before a failure that
  // followed a failed collective of the call), on every process alike; PropertyFailure when a
  // per-channel output differs between two ranks. A whole batch of N < 1 cannot be split and
  // is refused here.
  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override;

 private:
  SyncImplementation& implementation_;
  Ranks& ranks_;
  std::vector<std::int64_t> shards_;
};

// The shard sizes of a batch of n samples on `ranks` ranks: `preferred` when they add up to n;
// scaled to n when they do not (a property that reshapes the batch: N*H*W samples for N), the
// remainder going to the largest shard; as even as it goes when `preferred` is empty.
std::vector<std::int64_t> shard_sizes(std::int64_t n, const std::vector<std::int64_t>& preferred, int ranks);

}  // namespace bnh
