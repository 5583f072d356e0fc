// aten: PyTorch's own CPU batch normalization, ATen's native_batch_norm and
// native_batch_norm_backward (libtorch), called on the caller's buffers. A peer: an outside
// library measured by the same checks as the built-ins. docs/peers.md says what it provides,
// how it was found and what the checks found.
//
// - f32 and f64; bf16 and f16 data with f32 statistics ("mixed": weight, bias, running and saved
//   statistics in f32) or with statistics in the data dtype ("pure"), as far as this libtorch
//   implements them on the CPU. That is not assumed: supports() runs each (data, statistics,
//   layout) once on a tiny tensor, training, inference and backward, and a c10::Error is a no
//   (libtorch 1.13: bf16 both modes; f16 neither, "batch_norm" not implemented for 'Half').
//   Both layouts. The caller's buffers are wrapped without copying (at::from_blob
//   with NCHW strides, or channels-last strides {H*W*C, 1, W*C, C} for NHWC), so ATen sees a
//   contiguous or a channels-last tensor and takes its matching kernel. A 2-D input is
//   N x C x 1 x 1.
// - Outputs: ATen allocates its own and they are copied into the caller's buffers (copy_,
//   which follows the strides of either layout). libtorch 1.13 registers no CPU kernel for
//   native_batch_norm.out, so there is no writing into the caller's buffers directly; the
//   copies are part of what the benchmarks measure (one more pass over y or dx).
// - Training forward: native_batch_norm(training = true) returns y, save_mean, save_invstd and
//   updates the running statistics in place when they are given (PyTorch's convention: momentum
//   weights the batch, the running variance is unbiased, as SPEC section 2). Inference: the same
//   call with training = false. Backward: native_batch_norm_backward(train = true) from the
//   saved mean and invstd, all three gradients.
// - Batch norm only: ATen has no batch renormalization operator. supports(Operation) says so
//   and the renorm kernels throw bnh::Unsupported.
// - Threads: this libtorch parallelizes with OpenMP (AT_PARALLEL_OPENMP), and at::parallel_for
//   takes its team from the calling thread's omp_get_max_threads(). Each call sets that to
//   params.threads, or for 0 to ATen's own default (at::intraop_default_num_threads(): the
//   physical cores, or OMP_NUM_THREADS), and restores the caller's value afterwards, so that other
//   implementations in the process keep their OpenMP default. at::set_num_threads is not used:
//   it is process-global, and in this build it also rebuilds ATen's pthreadpool whenever the
//   count changes, which a per-call setting would pay on every call. Builds of ATen with
//   another parallel backend fall back to at::set_num_threads (process-global, left set).
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/native_batch_norm.h>
#include <ATen/ops/native_batch_norm_backward.h>
#include <torch/version.h>

#if AT_PARALLEL_OPENMP
#include <omp.h>
#endif

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"

namespace bnh::peers {

namespace {

// Holds ATen's team at `threads` (0: ATen's own default) for one call, and leaves the calling
// thread's OpenMP setting as it found it.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) {
#if AT_PARALLEL_OPENMP
    saved_ = omp_get_max_threads();
    // ATen's once-per-thread initialization sets the calling thread's OpenMP team to ATen's
    // default; run it now, so that it does not undo the setting below.
    at::internal::lazy_init_num_threads();
    static const int aten_default = at::intraop_default_num_threads();
    const int wanted = threads > 0 ? threads : aten_default;
    if (omp_get_max_threads() != wanted) omp_set_num_threads(wanted);
#else
    at::internal::lazy_init_num_threads();
    if (threads > 0 && threads != at::get_num_threads()) at::set_num_threads(threads);
#endif
  }
  ~ThreadScope() {
#if AT_PARALLEL_OPENMP
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
#endif
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_ = 0;
};

// ATen's name for an element type: bnh::bfloat16 and bnh::float16 have the bits of
// c10::BFloat16 and c10::Half.
template <typename E>
at::ScalarType scalar_type() {
  if constexpr (std::is_same_v<E, float>) return at::kFloat;
  if constexpr (std::is_same_v<E, double>) return at::kDouble;
  if constexpr (std::is_same_v<E, bfloat16>) return at::kBFloat16;
  if constexpr (std::is_same_v<E, float16>) return at::kHalf;
}

template <typename E>
at::TensorOptions options() {
  return at::TensorOptions().dtype(scalar_type<E>());
}

// The caller's tensor as an ATen tensor of the same layout; no copy. ATen does not write the
// inputs it is given.
template <typename T>
at::Tensor tensor(const TensorDesc& desc, const T* data) {
  const std::int64_t c = desc.c, h = desc.h, w = desc.w;
  const std::vector<std::int64_t> sizes{desc.n, c, h, w};
  const std::vector<std::int64_t> strides = desc.layout == Layout::nchw
                                                ? std::vector<std::int64_t>{c * h * w, h * w, w, 1}
                                                : std::vector<std::int64_t>{h * w * c, 1, w * c, c};
  return at::from_blob(const_cast<T*>(data), sizes, strides, options<T>());
}

template <typename T>
at::Tensor channels(const TensorDesc& desc, const T* data) {
  return at::from_blob(const_cast<T*>(data), {desc.c}, options<T>());
}

// Copies a result ATen allocated into the caller's buffer (a tensor of the caller's layout).
void deliver(const at::Tensor& result, at::Tensor target) { target.copy_(result); }

template <typename Call>
void run(const Params& params, const char* what, Call&& call) {
  const ThreadScope threads(params.threads);
  try {
    call();
  } catch (const c10::Error& error) {
    // The first line says what; ATen follows it with a list of its dispatch keys.
    const std::string message = error.what_without_backtrace();
    throw Error(std::string("aten: ") + what + " failed: " + message.substr(0, message.find('\n')));
  }
}

}  // namespace

struct Aten : BatchNormOnly<Aten> {
  using BatchNormOnly::supports;  // supports(Operation): batch norm only
  static constexpr const char* name = "aten";
  static constexpr const char* description =
      "ATen (libtorch " TORCH_VERSION ") native_batch_norm and its backward (no renorm)";

  // What this libtorch runs on the CPU for these dtypes and layout, tried once.
  static bool supports(const TensorDesc& desc) {
    static std::mutex mutex;
    static std::map<std::tuple<DType, DType, Layout>, bool> answers;
    const std::lock_guard<std::mutex> lock(mutex);
    const std::tuple<DType, DType, Layout> key{desc.dtype, desc.stats_dtype(), desc.layout};
    if (const auto found = answers.find(key); found != answers.end()) return found->second;
    bool answer = false;
    dispatch_dtypes(desc, [&](auto data, auto statistics) {
      answer = runs_every_pass<decltype(data), decltype(statistics)>(
          TensorDesc{2, 3, 2, 2, desc.layout, desc.dtype, desc.stats});
    });
    return answers.emplace(key, answer).first->second;
  }

  template <typename T, typename S>
  static void bn_forward_train(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, T* y, S* save_mean, S* save_invstd,
                               S* running_mean, S* running_var) {
    run(params, "bn_forward_train", [&] {
      // The running statistics are updated in place, in the caller's buffers.
      const auto results = at::native_batch_norm(
          tensor(desc, x), channels(desc, gamma), channels(desc, beta),
          running_mean != nullptr ? c10::optional<at::Tensor>(channels(desc, running_mean)) : c10::nullopt,
          running_var != nullptr ? c10::optional<at::Tensor>(channels(desc, running_var)) : c10::nullopt,
          true, params.momentum, params.eps);
      deliver(std::get<0>(results), tensor(desc, y));
      deliver(std::get<1>(results), channels(desc, save_mean));
      deliver(std::get<2>(results), channels(desc, save_invstd));
    });
  }

  template <typename T, typename S>
  static void bn_forward_infer(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, const S* running_mean,
                               const S* running_var, T* y) {
    run(params, "bn_forward_infer", [&] {
      // training = false: normalizes with the running statistics and leaves them alone.
      const auto results = at::native_batch_norm(
          tensor(desc, x), channels(desc, gamma), channels(desc, beta),
          channels(desc, running_mean), channels(desc, running_var), false, params.momentum,
          params.eps);
      deliver(std::get<0>(results), tensor(desc, y));
    });
  }

  template <typename T, typename S>
  static void bn_backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x,
                          const S* gamma, const S* save_mean, const S* save_invstd, T* dx,
                          S* dgamma, S* dbeta) {
    run(params, "bn_backward", [&] {
      // train = true: the gradient through the batch statistics, from the saved mean and invstd
      // (eps is not used then).
      const auto results = at::native_batch_norm_backward(
          tensor(desc, dy), tensor(desc, x), channels(desc, gamma), c10::nullopt, c10::nullopt,
          channels(desc, save_mean), channels(desc, save_invstd), true, params.eps,
          {true, true, true});
      deliver(std::get<0>(results), tensor(desc, dx));
      deliver(std::get<1>(results), channels(desc, dgamma));
      deliver(std::get<2>(results), channels(desc, dbeta));
    });
  }

 private:
  // Whether the three passes run for data T and statistics S on a small tensor `desc`, one
  // thread. ATen's refusal ("not implemented for 'Half'") comes back as bnh::Error.
  template <typename T, typename S>
  static bool runs_every_pass(const TensorDesc& desc) {
    Params params;
    params.threads = 1;
    const auto size = static_cast<std::size_t>(desc.elements());
    std::vector<T> x(size), dy(size), y(size), dx(size);
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<T>(static_cast<double>(i % 5));
      dy[i] = static_cast<T>(1.0 - static_cast<double>(i % 3));
    }
    std::vector<S> gamma(3, S(1)), beta(3, S(0)), mean(3, S(0)), invstd(3, S(1)), running_mean(3, S(0)),
        running_var(3, S(1)), dgamma(3), dbeta(3);
    try {
      bn_forward_train(desc, params, x.data(), gamma.data(), beta.data(), y.data(), mean.data(), invstd.data(),
                       running_mean.data(), running_var.data());
      bn_forward_infer(desc, params, x.data(), gamma.data(), beta.data(), running_mean.data(),
                       running_var.data(), y.data());
      bn_backward(desc, params, dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), dx.data(),
                  dgamma.data(), dbeta.data());
    } catch (const Error&) {
      return false;
    }
    return true;
  }
};

}  // namespace bnh::peers

namespace {
using Aten = bnh::peers::Aten;
}  // namespace

BNH_REGISTER_IMPLEMENTATION_AS(Aten, ::bnh::Role::peer);
