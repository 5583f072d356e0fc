#include "properties/gradient_check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

namespace bnh {

namespace {

constexpr double tiny = std::numeric_limits<double>::min();
constexpr std::int64_t max_full_entries = std::int64_t(1) << 24;

enum Block { block_x = 0, block_gamma = 1, block_beta = 2 };
constexpr const char* block_names[] = {"x", "gamma", "beta"};

// Standard normal deviates by Box-Muller from a 64-bit Mersenne twister, written out so that
// the directions of a seed are the same with every standard library.
class Normal {
 public:
  explicit Normal(std::uint64_t seed) : engine_(seed) {}
  double operator()() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * 3.14159265358979323846 * u2);
  }

 private:
  double uniform() { return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1p-53; }  // (0, 1)
  std::mt19937_64 engine_;
};

std::int64_t channel_of(const TensorDesc& desc, std::int64_t index) {
  return desc.layout == Layout::nchw ? (index / desc.spatial()) % desc.c : index % desc.c;
}

double max_abs(const std::vector<double>& values) {
  double largest = 0;
  for (double value : values) largest = std::max(largest, std::fabs(value));
  return largest;
}

// The function differentiated and its backward, for one implementation, case and mode (see the
// header). Inputs form one vector: x (N*C*H*W elements), then gamma (C), then beta (C).
template <typename T>
class Differentiable {
 public:
  Differentiable(Implementation& impl, const Case& tc, GradientMode mode)
      : impl_(impl), desc_(tc.desc), params_(tc.params), mode_(mode),
        elements_(tc.desc.elements()), channels_(tc.desc.c) {
    point_.reserve(static_cast<std::size_t>(inputs()));
    for (double value : tc.x) point_.push_back(static_cast<T>(value));
    for (double value : tc.gamma) point_.push_back(static_cast<T>(value));
    for (double value : tc.beta) point_.push_back(static_cast<T>(value));

    save_mean_.resize(channels_);
    save_invstd_.resize(channels_);
    r_.assign(channels_, 1.0);
    d_.assign(channels_, 0.0);
    if (mode_ == GradientMode::renorm) {
      // The one renorm forward: fixes r0, d0 and the saved statistics at the unperturbed point.
      std::vector<T> running_mean(channels_, T(0)), running_var(channels_, T(1));
      if (!tc.running_mean.empty()) {
        running_mean.assign(tc.running_mean.begin(), tc.running_mean.end());
      }
      if (!tc.running_var.empty()) {
        running_var.assign(tc.running_var.begin(), tc.running_var.end());
      }
      std::vector<T> y(elements_), r(channels_), d(channels_);
      impl_.renorm_forward_train(desc_, params_, x(point_), gamma(point_), beta(point_), y.data(),
                                 save_mean_.data(), save_invstd_.data(), r.data(), d.data(),
                                 running_mean.data(), running_var.data());
      r0_ = r;
      d0_ = d;
      r_.assign(r.begin(), r.end());
      d_.assign(d.begin(), d.end());
    } else {
      std::vector<T> y(elements_);
      impl_.bn_forward_train(desc_, params_, x(point_), gamma(point_), beta(point_), y.data(),
                             save_mean_.data(), save_invstd_.data(), nullptr, nullptr);
    }
    measure(tc);
  }

  std::int64_t outputs() const { return elements_; }
  std::int64_t inputs() const { return elements_ + 2 * channels_; }
  const std::vector<T>& point() const { return point_; }

  Block block_of(std::int64_t j) const {
    return j < elements_ ? block_x : (j < elements_ + channels_ ? block_gamma : block_beta);
  }
  // Index of input j inside its block (element of x, or channel).
  std::int64_t local(std::int64_t j) const {
    return j < elements_ ? j : (j - elements_) % channels_;
  }
  // s_j: the scale the step of input j is relative to.
  double step_scale(std::int64_t j) const {
    switch (block_of(j)) {
      case block_x: return sigma_[channel_of(desc_, j)];
      case block_gamma: return gamma_scale_;
      default: return beta_scale_;
    }
  }
  // The Jacobian scale of each input block (full method).
  double block_scale(Block block) const { return block_scales_[block]; }

  // The size of v^T J w for a typical unit v: the root mean square over unit vectors v of
  // |v^T J w|, ||v|| * ||J w|| / sqrt(outputs), with J w from SPEC.md's formulas and the data
  // (fast method).
  double direction_scale(const std::vector<double>& v, const std::vector<double>& w) const {
    double v_norm = 0;
    for (double value : v) v_norm += value * value;
    const double count = static_cast<double>(desc_.per_channel());
    std::vector<double> sum_w(channels_, 0.0), sum_w_xhat(channels_, 0.0);
    for (std::int64_t i = 0; i < elements_; ++i) {
      const auto c = channel_of(desc_, i);
      sum_w[c] += w[i];
      sum_w_xhat[c] += w[i] * xhat_[i];
    }
    double squares = 0;
    for (std::int64_t i = 0; i < elements_; ++i) {
      const auto c = channel_of(desc_, i);
      // dy_i/dx = gamma r invstd (e_i - 1/M - xhat_i xhat / M); dy_i/dgamma = xhat_i r + d;
      // dy_i/dbeta = 1.
      const double jw = gamma_[c] * r_[c] / sigma_[c] *
                            (w[i] - sum_w[c] / count - xhat_[i] * sum_w_xhat[c] / count) +
                        (xhat_[i] * r_[c] + d_[c]) * w[elements_ + c] +
                        w[elements_ + channels_ + c];
      squares += jw * jw;
    }
    return std::sqrt(v_norm) * std::sqrt(squares / static_cast<double>(elements_));
  }

  // y at input p, in double.
  std::vector<double> value(const std::vector<T>& p) {
    std::vector<T> y(elements_), mean(channels_), invstd(channels_);
    std::vector<double> result(elements_);
    if (mode_ == GradientMode::bn) {
      impl_.bn_forward_train(desc_, params_, x(p), gamma(p), beta(p), y.data(), mean.data(),
                             invstd.data(), nullptr, nullptr);
      std::copy(y.begin(), y.end(), result.begin());
    } else {
      // xhat from the implementation's own batch norm; r0 and d0 stay fixed.
      const std::vector<T> ones(channels_, T(1)), zeros(channels_, T(0));
      impl_.bn_forward_train(desc_, params_, x(p), ones.data(), zeros.data(), y.data(),
                             mean.data(), invstd.data(), nullptr, nullptr);
      for (std::int64_t i = 0; i < elements_; ++i) {
        const auto c = channel_of(desc_, i);
        result[i] = static_cast<double>(gamma(p)[c]) *
                        (static_cast<double>(y[i]) * static_cast<double>(r0_[c]) +
                         static_cast<double>(d0_[c])) +
                    static_cast<double>(beta(p)[c]);
      }
    }
    return result;
  }

  // J^T dy at the unperturbed point, in double: dx, then dgamma, then dbeta.
  std::vector<double> gradient(const std::vector<T>& dy) {
    std::vector<T> dx(elements_), dgamma(channels_), dbeta(channels_);
    if (mode_ == GradientMode::bn) {
      impl_.bn_backward(desc_, params_, dy.data(), x(point_), gamma(point_), save_mean_.data(),
                        save_invstd_.data(), dx.data(), dgamma.data(), dbeta.data());
    } else {
      impl_.renorm_backward(desc_, params_, dy.data(), x(point_), gamma(point_),
                            save_mean_.data(), save_invstd_.data(), r0_.data(), d0_.data(),
                            dx.data(), dgamma.data(), dbeta.data());
    }
    std::vector<double> result;
    result.reserve(static_cast<std::size_t>(inputs()));
    result.insert(result.end(), dx.begin(), dx.end());
    result.insert(result.end(), dgamma.begin(), dgamma.end());
    result.insert(result.end(), dbeta.begin(), dbeta.end());
    return result;
  }

 private:
  const T* x(const std::vector<T>& p) const { return p.data(); }
  const T* gamma(const std::vector<T>& p) const { return p.data() + elements_; }
  const T* beta(const std::vector<T>& p) const { return p.data() + elements_ + channels_; }

  // Batch statistics of the case in double, and the scales built from them.
  void measure(const Case& tc) {
    const double count = static_cast<double>(desc_.per_channel());
    std::vector<double> mean(channels_, 0.0), squares(channels_, 0.0);
    for (std::int64_t i = 0; i < elements_; ++i) mean[channel_of(desc_, i)] += tc.x[i] / count;
    for (std::int64_t i = 0; i < elements_; ++i) {
      const auto c = channel_of(desc_, i);
      squares[c] += (tc.x[i] - mean[c]) * (tc.x[i] - mean[c]);
    }
    sigma_.resize(channels_);
    for (std::int64_t c = 0; c < channels_; ++c) sigma_[c] = std::sqrt(squares[c] / count + params_.eps);

    gamma_scale_ = max_abs(tc.gamma);
    if (!(gamma_scale_ > 0)) gamma_scale_ = 1;
    beta_scale_ = std::max(max_abs(tc.beta), max_abs(tc.gamma));
    if (!(beta_scale_ > 0)) beta_scale_ = 1;

    // |gamma_c r_c| / sigma_c bounds the norm of channel c's block of dy/dx; the column
    // dy/dgamma_c is xhat_i r_c + d_c over the channel.
    gamma_.assign(tc.gamma.begin(), tc.gamma.end());
    xhat_.resize(elements_);
    double x_scale = 0, gamma_scale = 0;
    for (std::int64_t c = 0; c < channels_; ++c) {
      x_scale = std::max(x_scale, std::fabs(gamma_[c] * r_[c]) / sigma_[c]);
    }
    for (std::int64_t i = 0; i < elements_; ++i) {
      const auto c = channel_of(desc_, i);
      xhat_[i] = (tc.x[i] - mean[c]) / sigma_[c];
      gamma_scale = std::max(gamma_scale, std::fabs(xhat_[i] * r_[c] + d_[c]));
    }
    block_scales_[block_x] = x_scale;
    block_scales_[block_gamma] = gamma_scale;
    block_scales_[block_beta] = 1;
  }

  Implementation& impl_;
  TensorDesc desc_;
  Params params_;
  GradientMode mode_;
  std::int64_t elements_, channels_;
  std::vector<T> point_;
  std::vector<T> save_mean_, save_invstd_, r0_, d0_;
  std::vector<double> r_, d_, sigma_, gamma_, xhat_;
  double gamma_scale_ = 1, beta_scale_ = 1;
  double block_scales_[3] = {1, 1, 1};
};

// Keeps the worst entry of one input block (or of the directions).
class Worst {
 public:
  Worst(std::string input, double atol, double rtol) : atol_(atol), rtol_(rtol) {
    record_.input = std::move(input);
  }

  void add(double scale, std::int64_t output, std::int64_t input, double numeric, double analytic) {
    const double error = std::fabs(numeric - analytic);
    const double tolerance = atol_ * scale + rtol_ * std::fabs(analytic);
    const bool passed = error <= tolerance;  // false for NaN
    double ratio;
    if (std::isnan(error) || std::isnan(tolerance)) {
      ratio = std::numeric_limits<double>::infinity();
    } else if (tolerance == 0) {
      ratio = error == 0 ? 0 : std::numeric_limits<double>::infinity();
    } else {
      ratio = error / tolerance;
    }
    record_.passed = record_.passed && passed;
    if (empty_ || ratio > ratio_) {
      empty_ = false;
      ratio_ = ratio;
      record_.max_abs_error = error;
      record_.max_rel_error = error / (std::fabs(analytic) + tiny);
      record_.worst_output = output;
      record_.worst_input = input;
      record_.numeric = numeric;
      record_.analytic = analytic;
      record_.scale = scale;
      record_.tolerance = tolerance;
    }
  }

  const InputDiscrepancy& record() const { return record_; }

 private:
  double atol_, rtol_;
  bool empty_ = true;
  double ratio_ = 0;
  InputDiscrepancy record_;
};

template <typename T>
void check_full(Differentiable<T>& f, double step, GradientCheckResult& result) {
  const std::int64_t outputs = f.outputs(), inputs = f.inputs();
  // Rows of the Jacobian from the backward: dy = e_i.
  std::vector<double> analytic(static_cast<std::size_t>(outputs * inputs));
  std::vector<T> dy(outputs, T(0));
  for (std::int64_t i = 0; i < outputs; ++i) {
    dy[i] = T(1);
    const auto row = f.gradient(dy);
    std::copy(row.begin(), row.end(), analytic.begin() + i * inputs);
    dy[i] = T(0);
  }
  std::vector<Worst> worst;
  for (const char* name : block_names) worst.emplace_back(name, result.atol, result.rtol);
  // Columns from central differences.
  std::vector<T> p = f.point();
  for (std::int64_t j = 0; j < inputs; ++j) {
    const T centre = p[j];
    const double delta = step * f.step_scale(j);
    T up = static_cast<T>(static_cast<double>(centre) + delta);
    T down = static_cast<T>(static_cast<double>(centre) - delta);
    // A step below the spacing of the dtype at this value moves by one representable number.
    if (!(up > centre)) up = std::nextafter(centre, std::numeric_limits<T>::infinity());
    if (!(down < centre)) down = std::nextafter(centre, -std::numeric_limits<T>::infinity());
    p[j] = up;
    const auto y_up = f.value(p);
    p[j] = down;
    const auto y_down = f.value(p);
    p[j] = centre;
    const double distance = static_cast<double>(up) - static_cast<double>(down);
    const Block block = f.block_of(j);
    const double scale = f.block_scale(block);
    for (std::int64_t i = 0; i < outputs; ++i) {
      const double numeric = (y_up[i] - y_down[i]) / distance;
      worst[block].add(scale, i, f.local(j), numeric, analytic[i * inputs + j]);
    }
  }
  for (const auto& w : worst) result.inputs.push_back(w.record());
}

template <typename T>
void check_fast(Differentiable<T>& f, double step, std::uint64_t seed, int directions,
                GradientCheckResult& result) {
  const std::int64_t outputs = f.outputs(), inputs = f.inputs();
  Normal normal(seed);
  Worst worst("direction", result.atol, result.rtol);
  for (int k = 0; k < directions; ++k) {
    // u: a unit vector over the inputs; the step along it is h sqrt(inputs), so that every
    // element moves by about h s_j, as in the full method.
    std::vector<double> u(inputs);
    double u_squares = 0;
    for (auto& value : u) {
      value = normal();
      u_squares += value * value;
    }
    const double stretch = std::sqrt(static_cast<double>(inputs) / u_squares);
    // v: unit over the outputs, rounded to the dtype so that both sides see the same v.
    std::vector<double> v(outputs);
    double squares = 0;
    for (auto& value : v) {
      value = normal();
      squares += value * value;
    }
    std::vector<T> v_typed(outputs);
    for (std::int64_t i = 0; i < outputs; ++i) {
      v_typed[i] = static_cast<T>(v[i] / std::sqrt(squares));
      v[i] = static_cast<double>(v_typed[i]);
    }
    // p +- h w with w_j = s_j sqrt(inputs) u_j, rounded; w is then the direction actually
    // travelled.
    std::vector<T> plus = f.point(), minus = f.point();
    std::vector<double> w(inputs);
    for (std::int64_t j = 0; j < inputs; ++j) {
      const double centre = static_cast<double>(plus[j]);
      const double delta = step * f.step_scale(j) * stretch * u[j];
      plus[j] = static_cast<T>(centre + delta);
      minus[j] = static_cast<T>(centre - delta);
      w[j] = (static_cast<double>(plus[j]) - static_cast<double>(minus[j])) / (2 * step);
    }
    const auto y_plus = f.value(plus), y_minus = f.value(minus);
    double numeric = 0;
    for (std::int64_t i = 0; i < outputs; ++i) numeric += v[i] * (y_plus[i] - y_minus[i]);
    numeric /= 2 * step;
    const auto g = f.gradient(v_typed);
    double analytic = 0;
    for (std::int64_t j = 0; j < inputs; ++j) analytic += g[j] * w[j];
    worst.add(f.direction_scale(v, w), -1, -1, numeric, analytic);
  }
  result.inputs.push_back(worst.record());
}

bool supported(Implementation& impl, const TensorDesc& desc, GradientMode mode) {
  if (!impl.supports(desc) || !impl.supports(Operation::bn_forward_train)) return false;
  if (mode == GradientMode::bn) return impl.supports(Operation::bn_backward);
  return impl.supports(Operation::renorm_forward_train) && impl.supports(Operation::renorm_backward);
}

}  // namespace

bool GradientCheckResult::passed() const {
  if (!supported) return true;
  if (!error.empty() || inputs.empty()) return false;
  return std::all_of(inputs.begin(), inputs.end(), [](const auto& input) { return input.passed; });
}

std::string GradientCheckResult::describe() const {
  std::ostringstream out;
  out.precision(6);
  out << "gradient check (step " << step << ", atol " << atol << ", rtol " << rtol << "): ";
  if (!supported) {
    out << "not supported";
    return out.str();
  }
  if (refused) {
    out << "the implementation declined the call: " << error;
    return out.str();
  }
  if (!error.empty()) {
    out << "the implementation threw: " << error;
    return out.str();
  }
  out << (passed() ? "passed" : "FAILED");
  for (const auto& input : inputs) {
    out << "\n  " << input.input << (input.passed ? " ok" : " FAIL") << ": worst |numeric - analytic| "
        << input.max_abs_error;
    if (input.worst_output >= 0) {
      out << " at d y[" << input.worst_output << "] / d " << input.input << "["
          << input.worst_input << "] (output " << input.worst_output << ", input "
          << input.worst_input << ")";
    } else {
      out << " over the random directions";
    }
    out << ": numeric " << input.numeric << ", analytic " << input.analytic << "; relative error "
        << input.max_rel_error << "; error / tolerance " << input.max_abs_error / input.tolerance
        << " (tolerance " << input.tolerance << ", Jacobian scale " << input.scale << ")";
  }
  return out.str();
}

GradientCheckResult gradient_check(Implementation& implementation, const Case& test_case,
                                   const GradientCheckOptions& options) {
  const TensorDesc& desc = test_case.desc;
  const bool f32 = desc.dtype == DType::f32;
  if (!(options.step >= 0) || !std::isfinite(options.step)) {
    throw Error("gradient_check: the step must be finite and >= 0 (0: the default)");
  }
  if (!std::isfinite(options.atol) || !std::isfinite(options.rtol)) {
    throw Error("gradient_check: the tolerances must be finite (negative: the defaults)");
  }
  if (options.directions < 1) throw Error("gradient_check: at least one direction is needed");
  const auto elements = static_cast<std::size_t>(desc.elements());
  const auto channels = static_cast<std::size_t>(desc.c);
  auto channels_or_none = [channels](const std::vector<double>& v) {
    return v.empty() || v.size() == channels;
  };
  if (test_case.x.size() != elements || test_case.gamma.size() != channels ||
      test_case.beta.size() != channels || !channels_or_none(test_case.running_mean) ||
      !channels_or_none(test_case.running_var)) {
    throw Error("gradient_check: the case's data does not match its shape " + desc.to_string());
  }
  if (options.method == GradientMethod::full) {
    const double entries = double(desc.elements()) * double(desc.elements() + 2 * desc.c);
    if (entries > double(max_full_entries)) {
      throw Error("gradient_check: the full Jacobian of " + desc.to_string() +
                  " is too large; use the fast method");
    }
  }

  GradientCheckResult result;
  result.step = options.step > 0 ? options.step : (f32 ? 1e-2 : 1e-6);
  result.atol = options.atol >= 0 ? options.atol : (f32 ? 1e-2 : 1e-5);
  result.rtol = options.rtol >= 0 ? options.rtol : (f32 ? 1e-2 : 1e-4);
  if (!supported(implementation, desc, options.mode)) {
    result.supported = false;
    return result;
  }
  try {
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      Differentiable<T> f(implementation, test_case, options.mode);
      if (options.method == GradientMethod::full) {
        check_full(f, result.step, result);
      } else {
        check_fast(f, result.step, options.seed, options.directions, result);
      }
    });
  } catch (const Unsupported&) {
    result.supported = false;
    result.inputs.clear();
  } catch (const PluginRefusal& refusal) {
    result.refused = true;
    result.error = refusal.what();
    result.inputs.clear();
  } catch (const std::exception& error) {
    result.error = error.what();
    result.inputs.clear();
  }
  return result;
}

}  // namespace bnh
