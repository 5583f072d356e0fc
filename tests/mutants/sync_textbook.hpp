// The synchronized textbook: synchronized batch norm written to be read, the base every
// synchronized mutant (tests/mutants/sync_*.cpp) changes in one step. All arithmetic is in
// double; each rank converts its shard once and rounds to the element type when it writes.
//
// Forward, per channel:
//   1. each rank takes its shard's count, mean and m2 (sum of squared deviations), two passes;
//   2. all_gather of [count, mean_0 .. mean_C-1, m2_0 .. m2_C-1], 2C + 1 doubles per rank;
//   3. Chan's merge of the ranks' moments, weighted by count, in rank order 0, 1, ...: the same
//      operations on every rank, so the same bits.
// Backward, per channel: all_reduce_sum of [count, sum dy, sum dy xhat] and the whole batch's
// gradient from the whole batch's sums, divided by the total count. dgamma and dbeta are the
// reduced sums (the ABI's contract: bnh/plugin_sync.h).
//
// The steps a mutant replaces are the virtual functions below.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bnh/sync_implementation.hpp"

namespace bnh::mutants {

// One rank's (or the whole batch's) statistics of one channel.
struct Moments {
  double count = 0;  // values seen
  double mean = 0;
  double m2 = 0;     // sum of squared deviations from the mean
};

// What every rank sent in the forward's all_gather, as it arrived.
struct Gathered {
  int ranks = 0, own_rank = 0;
  std::int64_t channels = 0;
  std::vector<double> values;  // rank k's message [count, means, m2s] at k * (2C + 1)
  Moments of(int rank, std::int64_t channel) const;
  double total_count() const;
};

// A shard's (or the whole batch's) backward sums, per channel, over `count` values each.
struct GradientSums {
  double count = 0;
  std::vector<double> dy, dy_xhat;  // sum dy and sum dy xhat
};

class DoubleBuffers;

class SyncTextbook : public SyncImplementation {
 public:
  explicit SyncTextbook(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return "the synchronized textbook with one step replaced"; }
  bool supports(const TensorDesc&) const override { return true; }
  bool supports(Operation) const override { return true; }
  void run(Communicator& communicator, Operation operation, const TensorDesc& shard,
           const Params& params, const OperationBuffers& buffers) override;

 protected:
  // ---- the steps ----------------------------------------------------------------------------

  // Step 1: channel c of this rank's shard, two passes. An empty shard is {0, 0, 0}.
  virtual Moments local_moments(const TensorDesc& shard, const double* x, std::int64_t c) const;

  // Step 3: Chan's merge of channel c over the ranks, in rank order, by add_rank.
  virtual Moments merge(const Gathered& gathered, std::int64_t c) const;
  // Chan's update: `batch` takes in one more rank's moments, weighted by their count. An empty
  // rank has weight 0 and changes nothing.
  static void add_rank(Moments& batch, const Moments& next);

  // PyTorch's update, with the whole batch's M in the unbiased variance.
  virtual void update_running(const TensorDesc& shard, const Params& params, const Moments& batch,
                              double& running_mean, double& running_var) const;

  // The backward's sums of the whole batch from the shards' sums.
  virtual GradientSums reduce_gradient_sums(Communicator& communicator, const GradientSums& shard) const;

  // The sums dgamma and dbeta are made of: the whole batch's.
  virtual const GradientSums& parameter_gradient_sums(const GradientSums& shard,
                                                      const GradientSums& batch) const;

  // ---- the composition ----------------------------------------------------------------------

  // Steps 1 to 3: the whole batch's moments of every channel. Refuses a training batch of
  // M <= 1 on every rank alike (the counts gathered are the same everywhere).
  std::vector<Moments> synchronized_moments(Communicator& communicator, const TensorDesc& shard,
                                            const std::vector<double>& x) const;

  // The operations, on the call's buffers converted to double (DoubleBuffers, in the .cpp).
  void forward_train(Communicator& communicator, const TensorDesc& shard, const Params& params,
                     DoubleBuffers& buffers, bool renorm) const;
  void forward_infer(const TensorDesc& shard, const Params& params, DoubleBuffers& buffers) const;
  void backward(Communicator& communicator, const TensorDesc& shard, DoubleBuffers& buffers,
                bool renorm) const;

 private:
  std::string name_;
};

}  // namespace bnh::mutants
