// onednn: oneDNN's CPU batch normalization (the dnnl.hpp C++ API of oneDNN 2.x), called on the
// caller's buffers. A peer: an outside library measured by the same checks as the built-ins.
// docs/peers.md says what it provides, how it was found and what the checks found.
//
// - Data in f32, and in bf16 or f16 where this oneDNN implements it on this CPU; the mean,
//   variance, scale and shift are always f32 in oneDNN, so reduced data comes with f32
//   statistics only (no pure mode), and there is no f64. Which reduced dtypes work is not
//   assumed: supports() asks oneDNN once per dtype and layout, creating the three primitive
//   descriptors and taking "unimplemented" for a no (2.6.3 on AVX-512: bf16 yes, f16 no).
//   Both layouts (format_tag::nchw and nhwc); a 2-D input is H = W = 1, given to oneDNN as
//   nhwc (the same bytes either way).
// - Batch norm only. oneDNN has no batch renormalization: supports(Operation) says so and the
//   renorm kernels throw bnh::Unsupported.
// - Training forward: prop_kind::forward_training with use_scale | use_shift; oneDNN writes y,
//   the mean (straight into save_mean) and the biased variance. save_invstd = 1/sqrt(var + eps)
//   is computed here in double. oneDNN keeps no running statistics: they are updated here, per
//   SPEC section 2 (PyTorch's convention, unbiased), from the mean and variance oneDNN returned.
// - Inference: forward_inference with use_global_stats, the running statistics as mean and
//   variance.
// - Backward: prop_kind::backward with use_scale | use_shift, writing dx, dgamma (diff scale)
//   and dbeta (diff shift). oneDNN's backward takes the mean and the variance, not invstd, so
//   the saved invstd is turned back into variance = 1/invstd^2 - eps, and oneDNN computes
//   1/sqrt(variance + eps) again in float. The round trip costs accuracy: it rounds the
//   variance to f32 and subtracts a nearly equal eps where the variance is small, so the invstd
//   oneDNN uses is not exactly the one it was given (up to 2 ulp). The conformance suite
//   measures the backward against the reference on the saved statistics it was given
//   (agreement_bn_backward), so the loss shows there; docs/peers.md has the figures.
// - Threads: oneDNN's CPU runtime here is OpenMP, whose team is the calling thread's
//   omp_get_max_threads(). params.threads > 0 sets it (omp_set_num_threads) for the call,
//   primitive creation included, and the previous value is restored afterwards; 0 leaves it.
// - Primitives are cached per (shape, dtype, layout, operation, eps, team size): creating one
//   (descriptor, primitive descriptor, JIT-compiled kernel) costs far more than running it on a
//   small tensor, and a framework creates it once per layer. The cache is a small map, emptied
//   when it is full (max_cached entries); the benchmarks therefore measure execution. One mutex
//   guards the cache, the engine and the stream: calls run one at a time.
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"

namespace bnh::peers {

namespace {

using dnnl::memory;
using Flags = dnnl::normalization_flags;

enum class Pass { train, infer, backward };

// Holds the calling thread's OpenMP team size at `threads` (0: as it is) and restores it.
class ThreadScope {
 public:
  explicit ThreadScope(int threads)
      : saved_(omp_get_max_threads()), changed_(threads > 0 && threads != saved_) {
    if (changed_) omp_set_num_threads(threads);
  }
  ~ThreadScope() {
    if (changed_) omp_set_num_threads(saved_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
  bool changed_;
};

// The shape, data dtype, layout, pass, eps (as oneDNN sees it, in float) and team size of a
// primitive.
using Key = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, DType, Layout, Pass, float, int>;

// oneDNN's name for a data dtype; it has no f64.
memory::data_type data_type_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return memory::data_type::f32;
    case DType::bf16: return memory::data_type::bf16;
    case DType::f16: return memory::data_type::f16;
    case DType::f64: break;
  }
  throw Unsupported("onednn does not support f64");
}

const Flags scale_shift = Flags::use_scale | Flags::use_shift;

dnnl::batch_normalization_forward::primitive_desc forward_pd(const memory::desc& data, Pass pass,
                                                             float eps, const dnnl::engine& engine) {
  if (pass == Pass::infer) {
    return {{dnnl::prop_kind::forward_inference, data, eps, scale_shift | Flags::use_global_stats}, engine};
  }
  return {{dnnl::prop_kind::forward_training, data, eps, scale_shift}, engine};
}

dnnl::batch_normalization_backward::primitive_desc backward_pd(
    const memory::desc& data, float eps, const dnnl::engine& engine,
    const dnnl::batch_normalization_forward::primitive_desc& forward) {
  return {{dnnl::prop_kind::backward, data, data, eps, scale_shift}, engine, forward};
}

class Session {
 public:
  static Session& get() {
    static Session session;
    return session;
  }

  std::mutex& mutex() { return mutex_; }
  const dnnl::engine& engine() const { return engine_; }
  dnnl::stream& stream() { return stream_; }

  // With H = W = 1 both layouts are the same bytes; oneDNN is told nhwc then, whose kernels
  // walk the channels contiguously (its nchw kernel would stride by C for every element).
  static memory::desc data_desc(const TensorDesc& desc) {
    const bool channels_last = desc.layout == Layout::nhwc || desc.spatial() == 1;
    return memory::desc({desc.n, desc.c, desc.h, desc.w}, data_type_of(desc.dtype),
                        channels_last ? memory::format_tag::nhwc : memory::format_tag::nchw);
  }
  // The mean, variance, scale and shift: f32 whatever the data.
  static memory::desc channel_desc(const TensorDesc& desc) {
    return memory::desc({desc.c}, memory::data_type::f32, memory::format_tag::x);
  }

  // Whether oneDNN implements all three passes for this data dtype and layout on this CPU,
  // asked once (a small shape: the generic kernels, which every shape can fall back to).
  bool implemented(DType dtype, Layout layout) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto found = implemented_.find({dtype, layout});
    if (found != implemented_.end()) return found->second;
    const TensorDesc probe{2, 3, 2, 2, layout, dtype, std::nullopt};
    bool answer = true;
    try {
      const memory::desc data = data_desc(probe);
      const auto training = forward_pd(data, Pass::train, 1e-5f, engine_);
      forward_pd(data, Pass::infer, 1e-5f, engine_);
      backward_pd(data, 1e-5f, engine_, training);
    } catch (const dnnl::error& error) {
      if (error.status != dnnl_unimplemented) throw Error(std::string("onednn: ") + error.what());
      answer = false;
    }
    return implemented_.emplace(std::make_pair(dtype, layout), answer).first->second;
  }

  // The primitive for this call, created on first use. Call with mutex() held.
  const dnnl::primitive& primitive(const TensorDesc& desc, Pass pass, float eps, int threads) {
    const Key key{desc.n, desc.c, desc.h, desc.w, desc.dtype, desc.layout, pass, eps, threads};
    if (const auto found = cache_.find(key); found != cache_.end()) return found->second;
    if (cache_.size() >= max_cached) cache_.clear();
    const memory::desc data = data_desc(desc);
    dnnl::primitive made;
    if (pass == Pass::backward) {
      made = dnnl::batch_normalization_backward(
          backward_pd(data, eps, engine_, forward_pd(data, Pass::train, eps, engine_)));
    } else {
      made = dnnl::batch_normalization_forward(forward_pd(data, pass, eps, engine_));
    }
    return cache_.emplace(key, std::move(made)).first->second;
  }

 private:
  static constexpr std::size_t max_cached = 64;

  Session() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  std::mutex mutex_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<Key, dnnl::primitive> cache_;
  std::map<std::pair<DType, Layout>, bool> implemented_;
};

// A oneDNN memory object over a caller's buffer (oneDNN does not write the ones it reads).
memory wrap(const memory::desc& desc, const Session& session, const void* data) {
  return memory(desc, session.engine(), const_cast<void*>(data));
}

// The arguments of a forward primitive: x and y, gamma and beta as scale and shift, and the
// mean and variance it writes (training) or reads (inference).
std::unordered_map<int, memory> forward_arguments(const Session& session, const TensorDesc& desc,
                                                  const void* x, const void* y, const void* gamma,
                                                  const void* beta, const void* mean,
                                                  const void* variance) {
  const memory::desc data = Session::data_desc(desc), channel = Session::channel_desc(desc);
  return {{DNNL_ARG_SRC, wrap(data, session, x)},        {DNNL_ARG_DST, wrap(data, session, y)},
          {DNNL_ARG_SCALE, wrap(channel, session, gamma)}, {DNNL_ARG_SHIFT, wrap(channel, session, beta)},
          {DNNL_ARG_MEAN, wrap(channel, session, mean)},   {DNNL_ARG_VARIANCE, wrap(channel, session, variance)}};
}

// Runs one primitive on the caller's buffers (bind makes the arguments), with the thread count
// held for the call, and turns oneDNN's errors into bnh::Error.
template <typename Bind>
void run(const TensorDesc& desc, const Params& params, Pass pass, float eps, const char* what,
         Bind&& bind) {
  Session& session = Session::get();
  const std::lock_guard<std::mutex> lock(session.mutex());
  const ThreadScope threads(params.threads);
  try {
    // Keyed by the team the call runs with: oneDNN sizes its scratchpad for it at creation.
    const dnnl::primitive& primitive = session.primitive(desc, pass, eps, omp_get_max_threads());
    primitive.execute(session.stream(), bind(session));
    session.stream().wait();
  } catch (const dnnl::error& error) {
    const std::string message = std::string("onednn: ") + what + " failed: " + error.what();
    // A shape this oneDNN has no kernel for, in a dtype it otherwise supports.
    if (error.status == dnnl_unimplemented) throw Unsupported(message);
    throw Error(message);
  }
}

#define BNH_ONEDNN_STRING_OF(text) #text
#define BNH_ONEDNN_STRING(macro) BNH_ONEDNN_STRING_OF(macro)

// oneDNN's statistics are f32, and it has no f64 data: the pairs (T, S) it can serve.
template <typename T, typename S>
constexpr bool served = std::is_same_v<S, float> && !std::is_same_v<T, double>;

template <typename T, typename S>
void require_served() {
  if constexpr (!served<T, S>) {
    throw Unsupported(std::is_same_v<T, double> ? "onednn does not support f64"
                                                : "onednn's statistics are f32 only");
  }
}

}  // namespace

struct OneDnn : BatchNormOnly<OneDnn> {
  using BatchNormOnly::supports;  // supports(Operation): batch norm only
  static constexpr const char* name = "onednn";
  static constexpr const char* description =
      "oneDNN " BNH_ONEDNN_STRING(DNNL_VERSION_MAJOR) "." BNH_ONEDNN_STRING(DNNL_VERSION_MINOR) "."
      BNH_ONEDNN_STRING(DNNL_VERSION_PATCH) " batch_normalization primitives (f32 statistics; no f64, no renorm)";

  // f32; reduced data with f32 statistics where oneDNN implements it here.
  static bool supports(const TensorDesc& desc) {
    if (desc.dtype == DType::f64 || desc.stats_dtype() != DType::f32) return false;
    return desc.dtype == DType::f32 || Session::get().implemented(desc.dtype, desc.layout);
  }

  template <typename T, typename S>
  static void bn_forward_train(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, T* y, S* save_mean, S* save_invstd,
                               S* running_mean, S* running_var) {
    require_served<T, S>();
    std::vector<float> variance(static_cast<std::size_t>(desc.c));
    const float eps = static_cast<float>(params.eps);
    run(desc, params, Pass::train, eps, "bn_forward_train", [&](const Session& session) {
      return forward_arguments(session, desc, x, y, gamma, beta, save_mean, variance.data());
    });
    const double count = static_cast<double>(desc.per_channel());
    for (std::int64_t c = 0; c < desc.c; ++c) {
      const double var = variance[c];
      save_invstd[c] = static_cast<S>(1 / std::sqrt(var + params.eps));
      if (running_mean != nullptr) {
        running_mean[c] = static_cast<S>((1 - params.momentum) * static_cast<double>(running_mean[c]) +
                                         params.momentum * static_cast<double>(save_mean[c]));
        running_var[c] = static_cast<S>((1 - params.momentum) * static_cast<double>(running_var[c]) +
                                        params.momentum * var * count / (count - 1));
      }
    }
  }

  template <typename T, typename S>
  static void bn_forward_infer(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, const S* running_mean,
                               const S* running_var, T* y) {
    require_served<T, S>();
    run(desc, params, Pass::infer, static_cast<float>(params.eps), "bn_forward_infer",
        [&](const Session& session) {
          return forward_arguments(session, desc, x, y, gamma, beta, running_mean, running_var);
        });
  }

  template <typename T, typename S>
  static void bn_backward(const TensorDesc& desc, const Params& params, const T* dy, const T* x,
                          const S* gamma, const S* save_mean, const S* save_invstd, T* dx,
                          S* dgamma, S* dbeta) {
    require_served<T, S>();
    // The backward's eps is not validated (the contract's backward uses the saved invstd, not
    // eps); any positive eps gives back the same 1/sqrt(variance + eps) up to rounding.
    const float eps = params.eps > 0 && std::isfinite(params.eps) ? static_cast<float>(params.eps) : 1e-5f;
    // oneDNN adds back eps as the float it was given; subtract that same value.
    std::vector<float> variance(static_cast<std::size_t>(desc.c));
    for (std::int64_t c = 0; c < desc.c; ++c) {
      const double invstd = static_cast<double>(save_invstd[c]);
      variance[c] = static_cast<float>(1 / (invstd * invstd) - static_cast<double>(eps));
    }
    // use_shift makes oneDNN's backward ask for the shift among its arguments, though dx does
    // not depend on it; zeros stand in for beta, which the backward is not given.
    const std::vector<float> shift(static_cast<std::size_t>(desc.c), 0.0f);
    run(desc, params, Pass::backward, eps, "bn_backward", [&](const Session& session) {
      const memory::desc data = Session::data_desc(desc), channel = Session::channel_desc(desc);
      return std::unordered_map<int, memory>{
          {DNNL_ARG_SRC, wrap(data, session, x)},
          {DNNL_ARG_DIFF_DST, wrap(data, session, dy)},
          {DNNL_ARG_MEAN, wrap(channel, session, save_mean)},
          {DNNL_ARG_VARIANCE, wrap(channel, session, variance.data())},
          {DNNL_ARG_SCALE, wrap(channel, session, gamma)},
          {DNNL_ARG_SHIFT, wrap(channel, session, shift.data())},
          {DNNL_ARG_DIFF_SRC, wrap(data, session, dx)},
          {DNNL_ARG_DIFF_SCALE, wrap(channel, session, dgamma)},
          {DNNL_ARG_DIFF_SHIFT, wrap(channel, session, dbeta)}};
    });
  }

};

}  // namespace bnh::peers

namespace {
using OneDnn = bnh::peers::OneDnn;
}  // namespace

BNH_REGISTER_IMPLEMENTATION_AS(OneDnn, ::bnh::Role::peer);
