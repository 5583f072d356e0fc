// sync: synchronized batch norm built from openmp's pieces (impls/tiles/). Each rank takes its
// shard's per-channel sums with openmp's passes over its own OpenMP team (params.threads), the
// ranks combine them (merge_across_ranks.hpp: Chan's update of the moments, the gradient sums
// added, both in rank order), and each rank finishes every channel from the whole batch's sums
// with openmp's per-channel math, dividing by the whole batch's M, before writing its own y or dx.
//
// Every rank finishes from the same numbers, so save_mean, save_invstd, r, d, the running
// statistics, dgamma and dbeta are bitwise the same on every rank, and bitwise the same from run
// to run with the same ranks, split and thread count. On one rank holding the whole batch the
// outputs are openmp's, bit for bit.
//
// Refusals: what is wrong with the call as a whole (a dimension, eps, momentum, rmax, dmax) is
// refused by every rank before any collective; what is wrong with one rank's part (a buffer, a
// shard of negative size, running_var < 0) is refused after that rank has joined the
// collective (the others then refuse too); a whole batch of M <= 1 in training is refused by
// every rank alike, once the counts are known.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bnh/sync_implementation.hpp"
#include "bnh/validate.hpp"
#include "impls/sync/merge_across_ranks.hpp"
#include "impls/tiles/shard_passes.hpp"

namespace bnh::sync {
namespace {

// The buffer called `name` of the operation, typed; NULL when the operation has none.
template <typename T>
T* buffer(Operation operation, const OperationBuffers& buffers, const char* name) {
  const int k = operation_spec(operation).index_of(name);
  return k < 0 ? nullptr : static_cast<T*>(buffers[static_cast<std::size_t>(k)]);
}

// The whole batch as one process would see it: the shard's description with N = M / (H W).
TensorDesc whole_batch(const TensorDesc& shard, double count) {
  TensorDesc whole = shard;
  whole.n = static_cast<std::int64_t>(count) / shard.spatial();
  return whole;
}

// What every rank checks alike, before any collective: the call's extents but N (a shard may
// hold no sample), and the parameters the operation reads.
void validate_whole_call(Operation operation, const TensorDesc& shard, const Params& params) {
  TensorDesc one_sample = shard;
  one_sample.n = 1;
  validate_desc(one_sample);
  if (!is_backward(operation)) validate_eps(params.eps);
  if (operation == Operation::bn_forward_train || operation == Operation::renorm_forward_train) {
    validate_momentum(params.momentum);
  }
  if (operation == Operation::renorm_forward_train) validate_renorm_limits(params.rmax, params.dmax);
}

// What is wrong with this rank's part of the call, or "" when nothing is. The tensors of an empty
// shard hold nothing and may be NULL.
template <typename T>
std::string refusal_of_shard(Operation operation, const TensorDesc& shard, const OperationBuffers& buffers) {
  try {
    if (shard.n < 0) throw Error("dimension N of a shard must be >= 0, got " + std::to_string(shard.n));
    if (shard.n > 0) validate_desc(shard);  // the shard's element count within int64
    OperationBuffers checked = buffers;
    const OperationSpec& spec = operation_spec(operation);
    for (std::size_t k = 0; k < spec.count; ++k) {
      if (shard.n == 0 && spec.buffers[k].extent == Extent::tensor) checked[k] = &checked;
    }
    validate_buffers(operation, checked);
    if (const T* running_var = buffer<const T>(operation, buffers, "running_var")) {
      validate_running_var(running_var, shard.c);
    }
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

template <typename T>
void forward_train(Communicator& communicator, Operation operation, const TensorDesc& shard, const Params& params,
                   const OperationBuffers& buffers, const std::string& refusal) {
  const T* x = buffer<const T>(operation, buffers, "x");
  // This rank's moments, then the whole batch's, merged in rank order.
  std::vector<tiles::Moments> local(shard.c);
  if (refusal.empty() && shard.n > 0) local = tiles::shard_moments(shard, params, x);
  const double local_count = refusal.empty() ? static_cast<double>(shard.per_channel()) : refused_count;
  const BatchMoments batch = gather_batch_moments(communicator, to_string(operation), local_count, local);
  if (!refusal.empty()) throw Error(refusal);
  validate_training_batch(whole_batch(shard, batch.count));  // M > 1, on every rank alike

  // Every channel finished from the whole batch's moments (the unbiased running variance with
  // the whole batch's M), then this shard's y.
  const tiles::TrainingTensors<T> tensors{
      buffer<const T>(operation, buffers, "gamma"),     buffer<const T>(operation, buffers, "beta"),
      buffer<T>(operation, buffers, "save_mean"),       buffer<T>(operation, buffers, "save_invstd"),
      buffer<T>(operation, buffers, "r"),               buffer<T>(operation, buffers, "d"),
      buffer<T>(operation, buffers, "running_mean"),    buffer<T>(operation, buffers, "running_var")};
  const tiles::Geometry g = tiles::geometry_of(shard);
  tiles::AffineCoefficients<T> affine(g);
  for (std::int64_t c = 0; c < shard.c; ++c) {
    affine.set(g, c, tiles::finish_training_channel(tensors, params, c, batch.channels[c]));
  }
  if (shard.n > 0) tiles::normalize_tensor(shard, params, x, buffer<T>(operation, buffers, "y"), affine);
}

template <typename T>
void backward(Communicator& communicator, Operation operation, const TensorDesc& shard, const Params& params,
              const OperationBuffers& buffers, const std::string& refusal) {
  const T* dy = buffer<const T>(operation, buffers, "dy");
  const T* x = buffer<const T>(operation, buffers, "x");
  const tiles::GradientTensors<T> tensors{
      buffer<const T>(operation, buffers, "gamma"), buffer<const T>(operation, buffers, "save_mean"),
      buffer<const T>(operation, buffers, "save_invstd"), buffer<const T>(operation, buffers, "r"),
      buffer<const T>(operation, buffers, "d"), buffer<T>(operation, buffers, "dgamma"),
      buffer<T>(operation, buffers, "dbeta")};
  // This rank's [sum dy, sum dy (x - mean)] around the whole batch's saved mean, then the sums
  // over the whole batch.
  std::vector<tiles::GradientSums> sums(shard.c);
  if (refusal.empty() && shard.n > 0) {
    const std::vector<double> mean(tensors.save_mean, tensors.save_mean + shard.c);
    sums = tiles::shard_gradient_sums(shard, params, dy, x, mean.data());
  }
  const double local_count = refusal.empty() ? static_cast<double>(shard.per_channel()) : refused_count;
  const double count = reduce_gradient_sums(communicator, to_string(operation), local_count, sums);
  if (!refusal.empty()) throw Error(refusal);
  validate_training_batch(whole_batch(shard, count));

  // dgamma, dbeta and dx's coefficients from the whole batch's sums, divided by its M.
  const tiles::Geometry g = tiles::geometry_of(shard);
  tiles::GradientCoefficients<T> coefficients(g);
  for (std::int64_t c = 0; c < shard.c; ++c) {
    coefficients.set(g, c, tiles::finish_gradient_channel(tensors, c, count, sums[c]));
  }
  if (shard.n > 0) tiles::gradient_shard(shard, params, dy, x, buffer<T>(operation, buffers, "dx"), coefficients);
}

// Inference reads only the running statistics: each rank on its own, no collective.
template <typename T>
void forward_infer(const TensorDesc& shard, const Params& params, const OperationBuffers& buffers,
                   const std::string& refusal) {
  if (!refusal.empty()) throw Error(refusal);
  if (shard.n == 0) return;
  const Operation operation = Operation::bn_forward_infer;
  tiles::TeamPasses::forward_infer(shard, params, buffer<const T>(operation, buffers, "x"),
                                   buffer<const T>(operation, buffers, "gamma"),
                                   buffer<const T>(operation, buffers, "beta"),
                                   buffer<const T>(operation, buffers, "running_mean"),
                                   buffer<const T>(operation, buffers, "running_var"),
                                   buffer<T>(operation, buffers, "y"));
}

class Sync final : public SyncImplementation {
 public:
  std::string name() const override { return "sync"; }
  std::string description() const override {
    return "openmp's passes per rank; moments merged (Chan) and gradient sums added, in rank order";
  }
  // f32 and f64 only: the synchronized ABI carries no reduced precision.
  bool supports(const TensorDesc& desc) const override { return !is_reduced(desc.dtype); }
  bool supports(Operation) const override { return true; }

  void run(Communicator& communicator, Operation operation, const TensorDesc& shard, const Params& params,
           const OperationBuffers& buffers) override {
    validate_whole_call(operation, shard, params);
    dispatch_dtype(shard.dtype, [&](auto zero) {
      using T = decltype(zero);
      const std::string refusal = refusal_of_shard<T>(operation, shard, buffers);
      switch (operation) {
        case Operation::bn_forward_train:
        case Operation::renorm_forward_train:
          forward_train<T>(communicator, operation, shard, params, buffers, refusal);
          break;
        case Operation::bn_backward:
        case Operation::renorm_backward:
          backward<T>(communicator, operation, shard, params, buffers, refusal);
          break;
        case Operation::bn_forward_infer:
          forward_infer<T>(shard, params, buffers, refusal);
          break;
      }
    });
  }
};

}  // namespace
}  // namespace bnh::sync

static const bool bnh_registered_sync =
    bnh::register_sync_implementation("sync", [] { return std::make_unique<bnh::sync::Sync>(); });
