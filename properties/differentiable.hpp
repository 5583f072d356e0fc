// The function a gradient check differentiates and the backward it checks, for one
// implementation, case and mode (properties/gradient_check.hpp). Internal to
// properties/gradient_check.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/case.hpp"
#include "properties/gradient_check.hpp"
#include "properties/tolerance.hpp"

namespace bnh::gradient {

enum Block { block_x = 0, block_gamma = 1, block_beta = 2 };
constexpr const char* block_names[] = {"x", "gamma", "beta"};

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

}  // namespace bnh::gradient
