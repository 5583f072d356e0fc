#include "tests/mutants/sync_textbook.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "bnh/validate.hpp"

namespace bnh::mutants {

// An operation's buffers as doubles, by name (bnh/operations.hpp's table): read from the
// element type once, the outputs and updated ones written back once.
class DoubleBuffers {
 public:
  DoubleBuffers(Operation operation, const TensorDesc& shard, const OperationBuffers& buffers)
      : spec_(operation_spec(operation)), shard_(shard), buffers_(buffers), values_(spec_.count) {}

  template <typename T>
  void load() {
    for (std::size_t k = 0; k < spec_.count; ++k) {
      if (buffers_[k] == nullptr) continue;
      const auto* source = static_cast<const T*>(buffers_[k]);
      values_[k].assign(source, source + values_in(spec_.buffers[k].extent, shard_));
    }
  }
  template <typename T>
  void store() const {
    for (std::size_t k = 0; k < spec_.count; ++k) {
      if (buffers_[k] == nullptr || spec_.buffers[k].role == BufferRole::input) continue;
      auto* target = static_cast<T*>(buffers_[k]);
      for (std::size_t i = 0; i < values_[k].size(); ++i) target[i] = static_cast<T>(values_[k][i]);
    }
  }

  bool given(std::string_view name) const { return buffers_[index(name)] != nullptr; }
  std::vector<double>& operator[](std::string_view name) { return values_[index(name)]; }

 private:
  std::size_t index(std::string_view name) const { return static_cast<std::size_t>(spec_.index_of(name)); }

  const OperationSpec& spec_;
  TensorDesc shard_;
  OperationBuffers buffers_;
  std::vector<std::vector<double>> values_;
};

namespace {

constexpr double clamp(double value, double low, double high) {  // NaN passes through
  return value < low ? low : (high < value ? high : value);
}

// SPEC section 4 on one rank's call, but for the batch size, which only the ranks together
// know (checked after their first collective). An empty shard's tensors hold nothing.
void validate_shard_call(Operation operation, const TensorDesc& shard, const Params& params,
                         const OperationBuffers& buffers) {
  if (shard.n < 0) throw Error("a shard's N must be >= 0, got " + std::to_string(shard.n));
  TensorDesc one_sample = shard;
  one_sample.n = std::max<std::int64_t>(shard.n, 1);
  validate_desc(one_sample);
  if (operation != Operation::bn_backward && operation != Operation::renorm_backward) {
    validate_eps(params.eps);
  }
  if (operation == Operation::bn_forward_train || operation == Operation::renorm_forward_train) {
    validate_momentum(params.momentum);
  }
  if (operation == Operation::renorm_forward_train) validate_renorm_limits(params.rmax, params.dmax);
  OperationBuffers present = buffers;
  static const double placeholder = 0;
  const OperationSpec& spec = operation_spec(operation);
  for (std::size_t k = 0; k < spec.count; ++k) {
    if (shard.n == 0 && spec.buffers[k].extent == Extent::tensor) present[k] = const_cast<double*>(&placeholder);
  }
  validate_buffers(operation, present);
}

void require_training_batch(const TensorDesc& shard, double total_count) {
  if (total_count > 1) return;
  TensorDesc batch = shard;
  batch.n = static_cast<std::int64_t>(total_count) / shard.spatial();
  validate_training_batch(batch);
}

}  // namespace

Moments Gathered::of(int rank, std::int64_t channel) const {
  const std::size_t message = static_cast<std::size_t>(rank) * static_cast<std::size_t>(2 * channels + 1);
  const auto c = static_cast<std::size_t>(channel);
  return {values[message], values[message + 1 + c], values[message + 1 + channels + c]};
}

double Gathered::total_count() const {
  double total = 0;
  for (int rank = 0; rank < ranks; ++rank) total += of(rank, 0).count;
  return total;
}

// ---- the steps ------------------------------------------------------------------------------

Moments SyncTextbook::local_moments(const TensorDesc& shard, const double* x, std::int64_t c) const {
  Moments local;
  local.count = static_cast<double>(shard.per_channel());
  if (local.count == 0) return local;
  double sum = 0;
  shard.for_each_in_channel(c, [&](std::int64_t i) { sum += x[i]; });
  local.mean = sum / local.count;
  shard.for_each_in_channel(c, [&](std::int64_t i) { local.m2 += (x[i] - local.mean) * (x[i] - local.mean); });
  return local;
}

void SyncTextbook::add_rank(Moments& batch, const Moments& next) {
  const double count = batch.count + next.count;
  if (count == 0) return;  // no values yet
  const double delta = next.mean - batch.mean;
  const double shift = delta * (next.count / count);  // the rank's share of the values so far
  batch.mean += shift;
  batch.m2 += next.m2 + shift * delta * batch.count;
  batch.count = count;
}

Moments SyncTextbook::merge(const Gathered& gathered, std::int64_t c) const {
  Moments batch;
  for (int rank = 0; rank < gathered.ranks; ++rank) add_rank(batch, gathered.of(rank, c));
  return batch;
}

void SyncTextbook::update_running(const TensorDesc&, const Params& params, const Moments& batch,
                                  double& running_mean, double& running_var) const {
  const double unbiased = batch.m2 / (batch.count - 1);
  running_mean = (1 - params.momentum) * running_mean + params.momentum * batch.mean;
  running_var = (1 - params.momentum) * running_var + params.momentum * unbiased;
}

GradientSums SyncTextbook::reduce_gradient_sums(Communicator& communicator, const GradientSums& shard) const {
  const std::size_t channels = shard.dy.size();
  std::vector<double> message{shard.count};  // [count, sum dy, sum dy xhat]
  message.insert(message.end(), shard.dy.begin(), shard.dy.end());
  message.insert(message.end(), shard.dy_xhat.begin(), shard.dy_xhat.end());
  communicator.all_reduce_sum(message.data(), static_cast<std::int64_t>(message.size()));
  GradientSums batch;
  batch.count = message[0];
  batch.dy.assign(message.begin() + 1, message.begin() + 1 + static_cast<std::ptrdiff_t>(channels));
  batch.dy_xhat.assign(message.begin() + 1 + static_cast<std::ptrdiff_t>(channels), message.end());
  return batch;
}

const GradientSums& SyncTextbook::parameter_gradient_sums(const GradientSums&, const GradientSums& batch) const {
  return batch;
}

// ---- the composition ------------------------------------------------------------------------

std::vector<Moments> SyncTextbook::synchronized_moments(Communicator& communicator, const TensorDesc& shard,
                                                        const std::vector<double>& x) const {
  const std::int64_t channels = shard.c;
  std::vector<double> message(static_cast<std::size_t>(2 * channels + 1));
  message[0] = static_cast<double>(shard.per_channel());
  for (std::int64_t c = 0; c < channels; ++c) {
    const Moments local = local_moments(shard, x.data(), c);
    message[static_cast<std::size_t>(1 + c)] = local.mean;
    message[static_cast<std::size_t>(1 + channels + c)] = local.m2;
  }
  Gathered gathered{communicator.size(), communicator.rank(), channels, {}};
  gathered.values.resize(message.size() * static_cast<std::size_t>(gathered.ranks));
  communicator.all_gather(message.data(), static_cast<std::int64_t>(message.size()), gathered.values.data());
  require_training_batch(shard, gathered.total_count());
  std::vector<Moments> batch(static_cast<std::size_t>(channels));
  for (std::int64_t c = 0; c < channels; ++c) batch[static_cast<std::size_t>(c)] = merge(gathered, c);
  return batch;
}

void SyncTextbook::forward_train(Communicator& communicator, const TensorDesc& shard, const Params& params,
                                 DoubleBuffers& buffers, bool renorm) const {
  const std::vector<double>&x = buffers["x"], &gamma = buffers["gamma"], &beta = buffers["beta"];
  std::vector<double>& y = buffers["y"];
  const std::vector<Moments> batch = synchronized_moments(communicator, shard, x);
  const bool tracked = buffers.given("running_mean");
  for (std::int64_t c = 0; c < shard.c; ++c) {
    const auto k = static_cast<std::size_t>(c);
    const Moments& moments = batch[k];
    const double sigma = std::sqrt(moments.m2 / moments.count + params.eps);
    double r = 1, d = 0;
    if (renorm) {  // from the running statistics before this step updates them
      const double sigma_running = std::sqrt(buffers["running_var"][k] + params.eps);
      r = clamp(sigma / sigma_running, 1 / params.rmax, params.rmax);
      d = clamp((moments.mean - buffers["running_mean"][k]) / sigma_running, -params.dmax, params.dmax);
      buffers["r"][k] = r;
      buffers["d"][k] = d;
    }
    shard.for_each_in_channel(c, [&](std::int64_t i) {
      const auto at = static_cast<std::size_t>(i);
      y[at] = gamma[k] * ((x[at] - moments.mean) / sigma * r + d) + beta[k];
    });
    buffers["save_mean"][k] = moments.mean;
    buffers["save_invstd"][k] = 1 / sigma;
    if (tracked) update_running(shard, params, moments, buffers["running_mean"][k], buffers["running_var"][k]);
  }
}

void SyncTextbook::forward_infer(const TensorDesc& shard, const Params& params, DoubleBuffers& buffers) const {
  const std::vector<double>&x = buffers["x"], &gamma = buffers["gamma"], &beta = buffers["beta"];
  const std::vector<double>&mean = buffers["running_mean"], &var = buffers["running_var"];
  std::vector<double>& y = buffers["y"];
  for (std::int64_t c = 0; c < shard.c; ++c) {
    const auto k = static_cast<std::size_t>(c);
    const double invstd = 1 / std::sqrt(var[k] + params.eps);
    shard.for_each_in_channel(c, [&](std::int64_t i) {
      const auto at = static_cast<std::size_t>(i);
      y[at] = gamma[k] * ((x[at] - mean[k]) * invstd) + beta[k];
    });
  }
}

void SyncTextbook::backward(Communicator& communicator, const TensorDesc& shard, DoubleBuffers& buffers,
                            bool renorm) const {
  const std::vector<double>&x = buffers["x"], &dy = buffers["dy"], &gamma = buffers["gamma"];
  const std::vector<double>&mean = buffers["save_mean"], &invstd = buffers["save_invstd"];
  const auto xhat = [&](std::size_t k, std::int64_t i) { return (x[static_cast<std::size_t>(i)] - mean[k]) * invstd[k]; };
  const auto channels = static_cast<std::size_t>(shard.c);
  GradientSums local{static_cast<double>(shard.per_channel()), std::vector<double>(channels),
                     std::vector<double>(channels)};
  for (std::int64_t c = 0; c < shard.c; ++c) {
    const auto k = static_cast<std::size_t>(c);
    shard.for_each_in_channel(c, [&](std::int64_t i) {
      local.dy[k] += dy[static_cast<std::size_t>(i)];
      local.dy_xhat[k] += dy[static_cast<std::size_t>(i)] * xhat(k, i);
    });
  }
  const GradientSums batch = reduce_gradient_sums(communicator, local);
  require_training_batch(shard, batch.count);
  const GradientSums& for_parameters = parameter_gradient_sums(local, batch);
  std::vector<double>&dx = buffers["dx"], &dgamma = buffers["dgamma"], &dbeta = buffers["dbeta"];
  const double count = batch.count;
  for (std::int64_t c = 0; c < shard.c; ++c) {
    const auto k = static_cast<std::size_t>(c);
    // renorm's dx is batch norm's with gamma r for gamma (r and d held constant).
    const double scale = renorm ? gamma[k] * buffers["r"][k] : gamma[k];
    shard.for_each_in_channel(c, [&](std::int64_t i) {
      const auto at = static_cast<std::size_t>(i);
      dx[at] = scale * invstd[k] / count * (count * dy[at] - batch.dy[k] - xhat(k, i) * batch.dy_xhat[k]);
    });
    dbeta[k] = for_parameters.dy[k];
    dgamma[k] = renorm ? for_parameters.dy_xhat[k] * buffers["r"][k] + for_parameters.dy[k] * buffers["d"][k]
                       : for_parameters.dy_xhat[k];
  }
}

void SyncTextbook::run(Communicator& communicator, Operation operation, const TensorDesc& shard,
                       const Params& params, const OperationBuffers& buffers) {
  validate_shard_call(operation, shard, params, buffers);
  DoubleBuffers values(operation, shard, buffers);
  dispatch_dtype(shard.dtype, [&](auto zero) {
    using T = decltype(zero);
    values.load<T>();
    const int k = operation_spec(operation).index_of("running_var");
    if (k >= 0 && buffers[static_cast<std::size_t>(k)] != nullptr) {
      validate_running_var(static_cast<const T*>(buffers[static_cast<std::size_t>(k)]), shard.c);
    }
    switch (operation) {
      case Operation::bn_forward_train: forward_train(communicator, shard, params, values, false); break;
      case Operation::renorm_forward_train: forward_train(communicator, shard, params, values, true); break;
      case Operation::bn_forward_infer: forward_infer(shard, params, values); break;
      case Operation::bn_backward: backward(communicator, shard, values, false); break;
      case Operation::renorm_backward: backward(communicator, shard, values, true); break;
    }
    values.store<T>();
  });
}

}  // namespace bnh::mutants
