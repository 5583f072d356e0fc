#include "properties/execution.hpp"

namespace bnh {

namespace {

template <typename T>
std::vector<T> as(const std::vector<double>& values) {
  return std::vector<T>(values.begin(), values.end());
}

template <typename T>
std::vector<double> widen(const std::vector<T>& values) {
  return std::vector<double>(values.begin(), values.end());
}

}  // namespace

ForwardOutputs run_forward_train(Implementation& impl, const Case& tc, bool renorm, bool track_running) {
  ForwardOutputs outputs;
  dispatch_dtype(tc.desc.dtype, [&](auto zero) {
    using T = decltype(zero);
    const auto x = as<T>(tc.x), gamma = as<T>(tc.gamma), beta = as<T>(tc.beta);
    const auto channels = static_cast<std::size_t>(tc.desc.c);
    std::vector<T> y(x.size()), save_mean(channels), save_invstd(channels), r(channels), d(channels);
    auto running_mean = as<T>(tc.running_mean), running_var = as<T>(tc.running_var);
    const bool tracking = renorm || track_running;
    if (renorm) {
      impl.renorm_forward_train(tc.desc, tc.params, x.data(), gamma.data(), beta.data(), y.data(),
                                save_mean.data(), save_invstd.data(), r.data(), d.data(),
                                running_mean.data(), running_var.data());
    } else {
      impl.bn_forward_train(tc.desc, tc.params, x.data(), gamma.data(), beta.data(), y.data(),
                            save_mean.data(), save_invstd.data(),
                            tracking ? running_mean.data() : nullptr,
                            tracking ? running_var.data() : nullptr);
    }
    outputs.y = widen(y);
    outputs.save_mean = widen(save_mean);
    outputs.save_invstd = widen(save_invstd);
    if (renorm) {
      outputs.r = widen(r);
      outputs.d = widen(d);
    }
    if (tracking) {
      outputs.running_mean = widen(running_mean);
      outputs.running_var = widen(running_var);
    }
  });
  return outputs;
}

std::vector<double> run_forward_infer(Implementation& impl, const Case& tc) {
  std::vector<double> result;
  dispatch_dtype(tc.desc.dtype, [&](auto zero) {
    using T = decltype(zero);
    const auto x = as<T>(tc.x), gamma = as<T>(tc.gamma), beta = as<T>(tc.beta);
    const auto running_mean = as<T>(tc.running_mean), running_var = as<T>(tc.running_var);
    std::vector<T> y(x.size());
    impl.bn_forward_infer(tc.desc, tc.params, x.data(), gamma.data(), beta.data(),
                          running_mean.data(), running_var.data(), y.data());
    result = widen(y);
  });
  return result;
}

BackwardOutputs run_backward(Implementation& impl, const Case& tc, bool renorm,
                             const std::vector<double>& save_mean_values,
                             const std::vector<double>& save_invstd_values,
                             const std::vector<double>& r_values, const std::vector<double>& d_values) {
  BackwardOutputs outputs;
  dispatch_dtype(tc.desc.dtype, [&](auto zero) {
    using T = decltype(zero);
    const auto dy = as<T>(tc.dy), x = as<T>(tc.x), gamma = as<T>(tc.gamma);
    const auto save_mean = as<T>(save_mean_values), save_invstd = as<T>(save_invstd_values);
    const auto channels = static_cast<std::size_t>(tc.desc.c);
    std::vector<T> dx(x.size()), dgamma(channels), dbeta(channels);
    if (renorm) {
      const auto r = as<T>(r_values), d = as<T>(d_values);
      impl.renorm_backward(tc.desc, tc.params, dy.data(), x.data(), gamma.data(), save_mean.data(),
                           save_invstd.data(), r.data(), d.data(), dx.data(), dgamma.data(),
                           dbeta.data());
    } else {
      impl.bn_backward(tc.desc, tc.params, dy.data(), x.data(), gamma.data(), save_mean.data(),
                       save_invstd.data(), dx.data(), dgamma.data(), dbeta.data());
    }
    outputs.dx = widen(dx);
    outputs.dgamma = widen(dgamma);
    outputs.dbeta = widen(dbeta);
  });
  return outputs;
}

}  // namespace bnh
