#include "properties/reference_agreement.hpp"


#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "reference/reference.hpp"

namespace bnh {

namespace ref = reference;
using ref::Real;

template <typename T>
double ulp_distance(T actual, T expected) {
  if (std::isnan(actual) && std::isnan(expected)) return 0;
  if (!std::isfinite(actual) || !std::isfinite(expected)) {
    return actual == expected ? 0 : std::numeric_limits<double>::infinity();
  }
  const T magnitude = std::fabs(expected);
  const T ulp = std::nextafter(magnitude, std::numeric_limits<T>::infinity()) - magnitude;
  return std::fabs(static_cast<double>(actual) - static_cast<double>(expected)) / ulp;
}
template double ulp_distance<float>(float, float);
template double ulp_distance<double>(double, double);

double agreement_bound(DType dtype, std::int64_t per_channel) {
  const double unit_roundoff = dtype == DType::f32 ? 0x1p-24 : 0x1p-53;
  const double m = static_cast<double>(per_channel);
  return 8 + 2 * std::log2(m) + 4 * m * 0x1p-53 / unit_roundoff;
}

bool AgreementResult::passed() const {
  if (!supported) return true;
  if (!error.empty()) return false;
  return std::all_of(outputs.begin(), outputs.end(), [](const auto& o) { return o.passed(); });
}

std::string AgreementResult::describe() const {
  std::ostringstream out;
  out.precision(9);
  out << to_string(operation) << ":";
  if (!supported) out << " not supported";
  if (!error.empty()) out << " rejected a valid call: " << error;
  for (const auto& o : outputs) {
    out << "\n  " << o.output << (o.passed() ? " ok" : " FAIL") << ": scaled error "
        << o.max_scaled_error << " (bound " << o.bound << "), " << o.max_ulp_error << " ulp";
    if (!o.passed()) {
      out << ", at index " << o.worst_index << " got " << o.worst_actual << " expected "
          << o.worst_expected;
    }
  }
  return out.str();
}

namespace {

// Per-channel magnitudes the error scales are built from.
struct ChannelSizes {
  std::vector<double> max_abs_x;     // max_i |x_i|
  std::vector<double> mean, sigma;   // batch mean, sqrt(biased var + eps)
};

ChannelSizes channel_sizes(const Case& tc) {
  const TensorDesc& desc = tc.desc;
  ChannelSizes sizes{std::vector<double>(desc.c), std::vector<double>(desc.c),
                     std::vector<double>(desc.c)};
  const double count = static_cast<double>(desc.per_channel());
  for (std::int64_t c = 0; c < desc.c; ++c) {
    double sum = 0, largest = 0;
    for (std::int64_t n = 0; n < desc.n; ++n) {
      for (std::int64_t s = 0; s < desc.spatial(); ++s) {
        const double value = tc.x[desc.offset(n, c, s)];
        sum += value;
        largest = std::max(largest, std::fabs(value));
      }
    }
    const double mean = sum / count;
    double squares = 0;
    for (std::int64_t n = 0; n < desc.n; ++n) {
      for (std::int64_t s = 0; s < desc.spatial(); ++s) {
        const double centered = tc.x[desc.offset(n, c, s)] - mean;
        squares += centered * centered;
      }
    }
    sizes.max_abs_x[c] = largest;
    sizes.mean[c] = mean;
    sizes.sigma[c] = std::sqrt(squares / count + tc.params.eps);
  }
  return sizes;
}

std::int64_t channel_of(const TensorDesc& desc, std::int64_t index) {
  return desc.layout == Layout::nchw ? (index / desc.spatial()) % desc.c : index % desc.c;
}

template <typename T>
OutputError compare(const char* output, const std::vector<T>& actual,
                    const std::vector<Real>& expected, const std::vector<double>& scale,
                    double bound) {
  const double unit_roundoff = std::numeric_limits<T>::epsilon() / 2;
  OutputError result;
  result.output = output;
  result.bound = bound;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const T rounded = ref::round_to<T>(expected[i]);
    const double ulps = ulp_distance(actual[i], rounded);
    double scaled;
    if (ulps == 0) {
      scaled = 0;
    } else if (!std::isfinite(ulps)) {
      scaled = ulps;
    } else {
      const double error = std::fabs(static_cast<double>(actual[i]) -
                                     ref::round_to<double>(expected[i]));
      scaled = error == 0 ? 0 : error / (unit_roundoff * scale[i]);
      if (std::isnan(scaled)) scaled = std::numeric_limits<double>::infinity();
    }
    result.max_ulp_error = std::max(result.max_ulp_error, ulps);
    if (scaled > result.max_scaled_error || result.worst_index < 0) {
      if (scaled >= result.max_scaled_error) {
        result.max_scaled_error = scaled;
        result.worst_index = static_cast<std::int64_t>(i);
        result.worst_actual = actual[i];
        result.worst_expected = rounded;
      }
    }
  }
  return result;
}

template <typename T>
std::vector<T> as(const std::vector<double>& values) {
  return std::vector<T>(values.begin(), values.end());
}

template <typename T>
std::vector<T> rounded(const std::vector<Real>& values) {
  return ref::round_to<T>(values);
}

std::vector<Real> real(const std::vector<double>& values) { return ref::to_number<Real>(values); }

// Fills per-element scales of an output laid out like x from a per-element function.
template <typename Scale>
std::vector<double> element_scales(const TensorDesc& desc, Scale&& scale_of) {
  std::vector<double> scales(desc.elements());
  for (std::int64_t i = 0; i < desc.elements(); ++i) scales[i] = scale_of(i, channel_of(desc, i));
  return scales;
}

template <typename Scale>
std::vector<double> channel_scales(const TensorDesc& desc, Scale&& scale_of) {
  std::vector<double> scales(desc.c);
  for (std::int64_t c = 0; c < desc.c; ++c) scales[c] = scale_of(c);
  return scales;
}

template <typename T>
void check_forward_train(Implementation& impl, const Case& tc, bool renorm, AgreementResult& out) {
  const TensorDesc& desc = tc.desc;
  const auto x = as<T>(tc.x), gamma = as<T>(tc.gamma), beta = as<T>(tc.beta);
  std::vector<T> y(x.size()), save_mean(desc.c), save_invstd(desc.c), r(desc.c), d(desc.c);
  auto running_mean = as<T>(tc.running_mean), running_var = as<T>(tc.running_var);
  if (renorm) {
    impl.renorm_forward_train(desc, tc.params, x.data(), gamma.data(), beta.data(), y.data(),
                              save_mean.data(), save_invstd.data(), r.data(), d.data(),
                              running_mean.data(), running_var.data());
  } else {
    impl.bn_forward_train(desc, tc.params, x.data(), gamma.data(), beta.data(), y.data(),
                          save_mean.data(), save_invstd.data(), running_mean.data(),
                          running_var.data());
  }
  const auto expected =
      renorm ? ref::renorm_forward_train(desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta),
                                         real(tc.running_mean), real(tc.running_var))
             : ref::bn_forward_train(desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta),
                                     real(tc.running_mean), real(tc.running_var));

  const ChannelSizes sizes = channel_sizes(tc);
  // kappa: how far the data sits from zero relative to its spread (+1 for the spread itself).
  auto kappa = [&](std::int64_t c) { return sizes.max_abs_x[c] / sizes.sigma[c] + 1; };
  const double m = tc.params.momentum;
  const double count = static_cast<double>(desc.per_channel());
  const double k = agreement_bound(desc.dtype, desc.per_channel());
  auto r_of = [&](std::int64_t c) { return renorm ? std::fabs(ref::round_to<double>(expected.r[c])) : 1.0; };
  // Terms of y beyond gamma * r * xhat: renorm's d, computed from the mean and running mean.
  auto shift_of = [&](std::int64_t c) {
    if (!renorm) return 0.0;
    const double sigma_running = std::sqrt(tc.running_var[c] + tc.params.eps);
    return std::fabs(ref::round_to<double>(expected.d[c])) +
           (sizes.max_abs_x[c] + std::fabs(tc.running_mean[c])) / sigma_running;
  };

  out.outputs.push_back(compare("y", y, expected.y, element_scales(desc, [&](std::int64_t i, std::int64_t c) {
    const double xhat = std::fabs(tc.x[i] - sizes.mean[c]) / sizes.sigma[c];
    return std::fabs(tc.gamma[c]) * (r_of(c) * (xhat + kappa(c)) + shift_of(c)) + std::fabs(tc.beta[c]);
  }), k));
  out.outputs.push_back(compare("save_mean", save_mean, expected.save_mean,
                                channel_scales(desc, [&](std::int64_t c) { return sizes.max_abs_x[c]; }), k));
  out.outputs.push_back(compare("save_invstd", save_invstd, expected.save_invstd,
                                channel_scales(desc, [&](std::int64_t c) { return kappa(c) / sizes.sigma[c]; }), k));
  if (renorm) {
    out.outputs.push_back(compare("r", r, expected.r,
                                  channel_scales(desc, [&](std::int64_t c) { return r_of(c) * kappa(c); }), k));
    out.outputs.push_back(compare("d", d, expected.d, channel_scales(desc, shift_of), k));
  }
  out.outputs.push_back(compare("running_mean", running_mean, expected.running_mean,
                                channel_scales(desc, [&](std::int64_t c) {
                                  return (1 - m) * std::fabs(tc.running_mean[c]) + m * sizes.max_abs_x[c];
                                }), k));
  out.outputs.push_back(compare("running_var", running_var, expected.running_var,
                                channel_scales(desc, [&](std::int64_t c) {
                                  return (1 - m) * tc.running_var[c] +
                                         m * sizes.sigma[c] * sizes.sigma[c] * count / (count - 1) * kappa(c);
                                }), k));
}

template <typename T>
void check_forward_infer(Implementation& impl, const Case& tc, AgreementResult& out) {
  const TensorDesc& desc = tc.desc;
  const auto x = as<T>(tc.x), gamma = as<T>(tc.gamma), beta = as<T>(tc.beta);
  const auto running_mean = as<T>(tc.running_mean), running_var = as<T>(tc.running_var);
  std::vector<T> y(x.size());
  impl.bn_forward_infer(desc, tc.params, x.data(), gamma.data(), beta.data(), running_mean.data(),
                        running_var.data(), y.data());
  const auto expected = ref::bn_forward_infer(desc, tc.params, real(tc.x), real(tc.gamma),
                                              real(tc.beta), real(tc.running_mean),
                                              real(tc.running_var));
  out.outputs.push_back(compare("y", y, expected, element_scales(desc, [&](std::int64_t i, std::int64_t c) {
    const double invstd = 1 / std::sqrt(tc.running_var[c] + tc.params.eps);
    return std::fabs(tc.gamma[c]) * (std::fabs(tc.x[i]) + std::fabs(tc.running_mean[c])) * invstd +
           std::fabs(tc.beta[c]);
  }), 8));
}

template <typename T>
void check_backward(Implementation& impl, const Case& tc, bool renorm, AgreementResult& out) {
  const TensorDesc& desc = tc.desc;
  // The backward pass is judged on its own: it receives the correctly rounded saved values.
  const auto forward =
      renorm ? ref::renorm_forward_train(desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta),
                                         real(tc.running_mean), real(tc.running_var))
             : ref::bn_forward_train(desc, tc.params, real(tc.x), real(tc.gamma), real(tc.beta));
  const auto dy = as<T>(tc.dy), x = as<T>(tc.x), gamma = as<T>(tc.gamma);
  const auto save_mean = rounded<T>(forward.save_mean), save_invstd = rounded<T>(forward.save_invstd);
  std::vector<T> r(desc.c, T(1)), d(desc.c, T(0));
  if (renorm) {
    r = rounded<T>(forward.r);
    d = rounded<T>(forward.d);
  }
  std::vector<T> dx(x.size()), dgamma(desc.c), dbeta(desc.c);
  if (renorm) {
    impl.renorm_backward(desc, tc.params, dy.data(), x.data(), gamma.data(), save_mean.data(),
                         save_invstd.data(), r.data(), d.data(), dx.data(), dgamma.data(),
                         dbeta.data());
  } else {
    impl.bn_backward(desc, tc.params, dy.data(), x.data(), gamma.data(), save_mean.data(),
                     save_invstd.data(), dx.data(), dgamma.data(), dbeta.data());
  }
  const auto real_mean = ref::to_number<Real>(save_mean), real_invstd = ref::to_number<Real>(save_invstd);
  const auto expected =
      renorm ? ref::renorm_backward(desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma), real_mean,
                                    real_invstd, ref::to_number<Real>(r), ref::to_number<Real>(d))
             : ref::bn_backward(desc, tc.params, real(tc.dy), real(tc.x), real(tc.gamma), real_mean,
                                real_invstd);

  // Per channel: kappa, mean |dy| and mean |dy| (|xhat| + kappa).
  const double count = static_cast<double>(desc.per_channel());
  std::vector<double> kappa(desc.c), mean_abs_dy(desc.c, 0), mean_abs_dy_xhat(desc.c, 0);
  std::vector<double> max_abs_x(desc.c, 0);
  for (std::int64_t i = 0; i < desc.elements(); ++i) {
    const auto c = channel_of(desc, i);
    max_abs_x[c] = std::max(max_abs_x[c], std::fabs(tc.x[i]));
  }
  for (std::int64_t c = 0; c < desc.c; ++c) {
    kappa[c] = std::max(max_abs_x[c], std::fabs(double(save_mean[c]))) * double(save_invstd[c]) + 1;
  }
  auto xhat_of = [&](std::int64_t i, std::int64_t c) {
    return std::fabs((tc.x[i] - double(save_mean[c])) * double(save_invstd[c]));
  };
  for (std::int64_t i = 0; i < desc.elements(); ++i) {
    const auto c = channel_of(desc, i);
    mean_abs_dy[c] += std::fabs(tc.dy[i]) / count;
    mean_abs_dy_xhat[c] += std::fabs(tc.dy[i]) * (xhat_of(i, c) + kappa[c]) / count;
  }
  const double k = agreement_bound(desc.dtype, desc.per_channel());
  auto r_of = [&](std::int64_t c) { return std::fabs(double(r[c])); };
  out.outputs.push_back(compare("dx", dx, expected.dx, element_scales(desc, [&](std::int64_t i, std::int64_t c) {
    return std::fabs(tc.gamma[c]) * r_of(c) * double(save_invstd[c]) *
           (std::fabs(tc.dy[i]) + mean_abs_dy[c] + (xhat_of(i, c) + kappa[c]) * mean_abs_dy_xhat[c]);
  }), k));
  out.outputs.push_back(compare("dgamma", dgamma, expected.dgamma, channel_scales(desc, [&](std::int64_t c) {
    return count * (r_of(c) * mean_abs_dy_xhat[c] + std::fabs(double(d[c])) * mean_abs_dy[c]);
  }), k));
  out.outputs.push_back(compare("dbeta", dbeta, expected.dbeta,
                                channel_scales(desc, [&](std::int64_t c) { return count * mean_abs_dy[c]; }), k));
}

}  // namespace

AgreementResult check_reference_agreement(Implementation& implementation, const Case& test_case,
                                          Operation operation) {
  AgreementResult result;
  result.operation = operation;
  if (!implementation.supports(operation) || !implementation.supports(test_case.desc)) {
    result.supported = false;
    return result;
  }
  try {
    dispatch_dtype(test_case.desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      switch (operation) {
        case Operation::bn_forward_train: check_forward_train<T>(implementation, test_case, false, result); break;
        case Operation::renorm_forward_train: check_forward_train<T>(implementation, test_case, true, result); break;
        case Operation::bn_forward_infer: check_forward_infer<T>(implementation, test_case, result); break;
        case Operation::bn_backward: check_backward<T>(implementation, test_case, false, result); break;
        case Operation::renorm_backward: check_backward<T>(implementation, test_case, true, result); break;
      }
    });
  } catch (const Unsupported&) {
    result.supported = false;
  } catch (const std::exception& error) {
    result.error = error.what();
  }
  return result;
}

}  // namespace bnh
