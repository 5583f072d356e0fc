// Self-checks of the high-precision reference: its backward against central finite
// differences of its own forward, 50 against 100 digits, hand-worked cases with closed-form
// answers, and renorm reducing to batch norm.
#include <gtest/gtest.h>

#include <random>

#include "reference/reference.hpp"

namespace bnh {
namespace {

namespace ref = reference;
using ref::Real;
using Real100 = ref::MpfrReal<100>;

template <typename Number>
std::vector<Number> random_values(std::size_t count, std::uint64_t seed, double mean = 0,
                                  double spread = 1) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(mean, spread);
  std::vector<Number> values;
  for (std::size_t i = 0; i < count; ++i) values.emplace_back(normal(engine));
  return values;
}

Real max_abs(const std::vector<Real>& values) {
  Real largest(0);
  for (const auto& value : values) largest = std::max(largest, Real(abs(value)));
  return largest;
}

// ---- finite differences ------------------------------------------------------------------

// The inputs a forward pass is differentiated with respect to, laid end to end: x, gamma, beta.
struct Inputs {
  std::vector<Real> x, gamma, beta;
  Real& at(std::size_t j) {
    if (j < x.size()) return x[j];
    j -= x.size();
    return j < gamma.size() ? gamma[j] : beta[j - gamma.size()];
  }
  std::size_t size() const { return x.size() + gamma.size() + beta.size(); }
};

using Forward = std::function<std::vector<Real>(const Inputs&)>;
// Row i of the Jacobian from the analytic backward with dy = e_i: (dx, dgamma, dbeta).
using BackwardRow = std::function<ref::BackwardResult<Real>(const std::vector<Real>& dy)>;

// Compares the full Jacobian of `forward` at `inputs`, by central differences in the
// reference's own precision, with the analytic rows; returns the largest discrepancy relative
// to the largest Jacobian entry.
Real jacobian_discrepancy(const Forward& forward, const BackwardRow& backward, Inputs inputs) {
  const std::size_t outputs = inputs.x.size();
  // Truncation error ~ h^2 and rounding error ~ 1e-50 / h balance near h = 1e-17.
  const Real h("1e-17");
  std::vector<std::vector<Real>> numeric(inputs.size());
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    const Real saved = inputs.at(j);
    inputs.at(j) = saved + h;
    const auto plus = forward(inputs);
    inputs.at(j) = saved - h;
    const auto minus = forward(inputs);
    inputs.at(j) = saved;
    numeric[j].resize(outputs);
    for (std::size_t i = 0; i < outputs; ++i) numeric[j][i] = (plus[i] - minus[i]) / (2 * h);
  }
  Real largest_entry(0), largest_error(0);
  for (std::size_t i = 0; i < outputs; ++i) {
    std::vector<Real> dy(outputs, Real(0));
    dy[i] = 1;
    const auto row = backward(dy);
    std::vector<Real> analytic = row.dx;
    analytic.insert(analytic.end(), row.dgamma.begin(), row.dgamma.end());
    analytic.insert(analytic.end(), row.dbeta.begin(), row.dbeta.end());
    for (std::size_t j = 0; j < inputs.size(); ++j) {
      largest_entry = std::max(largest_entry, Real(abs(analytic[j])));
      largest_error = std::max(largest_error, Real(abs(analytic[j] - numeric[j][i])));
    }
  }
  return largest_error / largest_entry;
}

class ReferenceGradient : public testing::TestWithParam<Layout> {};

TEST_P(ReferenceGradient, BatchNormBackwardIsTheJacobianOfForward) {
  const TensorDesc desc{3, 2, 2, 1, GetParam(), DType::f64};
  const Params params;
  Inputs inputs{random_values<Real>(desc.elements(), 1), random_values<Real>(desc.c, 2, 1, 0.5),
                random_values<Real>(desc.c, 3)};
  const Forward forward = [&](const Inputs& in) {
    return ref::bn_forward_train(desc, params, in.x, in.gamma, in.beta).y;
  };
  const auto saved = ref::bn_forward_train(desc, params, inputs.x, inputs.gamma, inputs.beta);
  const BackwardRow backward = [&](const std::vector<Real>& dy) {
    return ref::bn_backward(desc, params, dy, inputs.x, inputs.gamma, saved.save_mean,
                            saved.save_invstd);
  };
  EXPECT_LT(jacobian_discrepancy(forward, backward, inputs), Real("1e-30"));
}

// With clipping active, r = 1/rmax and d = -dmax do not move under small perturbations, so the
// renorm forward itself is the function whose Jacobian the stop-gradient backward must give.
TEST_P(ReferenceGradient, RenormBackwardIsTheJacobianWhenClippingHoldsRAndD) {
  const TensorDesc desc{2, 2, 3, 1, GetParam(), DType::f64};
  Params params;
  params.rmax = 1.5;
  params.dmax = 0.5;
  Inputs inputs{random_values<Real>(desc.elements(), 4), random_values<Real>(desc.c, 5, 1, 0.5),
                random_values<Real>(desc.c, 6)};
  // sigma_batch is about 1 against a running sigma of 10: r clips to 1/rmax. The running mean
  // of 20 puts (mu - running_mean) / sigma near -2: d clips to -dmax.
  const std::vector<Real> running_mean(desc.c, Real(20)), running_var(desc.c, Real(100));
  const auto saved = ref::renorm_forward_train(desc, params, inputs.x, inputs.gamma, inputs.beta,
                                               running_mean, running_var);
  for (std::int64_t c = 0; c < desc.c; ++c) {
    ASSERT_EQ(saved.r[c], Real(1) / Real(1.5));
    ASSERT_EQ(saved.d[c], Real(-0.5));
  }
  const Forward forward = [&](const Inputs& in) {
    return ref::renorm_forward_train(desc, params, in.x, in.gamma, in.beta, running_mean, running_var).y;
  };
  const BackwardRow backward = [&](const std::vector<Real>& dy) {
    return ref::renorm_backward(desc, params, dy, inputs.x, inputs.gamma, saved.save_mean,
                                saved.save_invstd, saved.r, saved.d);
  };
  EXPECT_LT(jacobian_discrepancy(forward, backward, inputs), Real("1e-30"));
}

// Without clipping, r and d depend on the batch; holding them fixed means differentiating
// y = gamma (r0 xhat(x) + d0) + beta with xhat the batch-norm normalization.
TEST_P(ReferenceGradient, RenormBackwardIsTheJacobianWithRAndDHeldFixed) {
  const TensorDesc desc{2, 3, 2, 1, GetParam(), DType::f64};
  const Params params;
  Inputs inputs{random_values<Real>(desc.elements(), 7), random_values<Real>(desc.c, 8, 1, 0.5),
                random_values<Real>(desc.c, 9)};
  const std::vector<Real> running_mean(desc.c, Real(0.25)), running_var(desc.c, Real(0.8));
  const auto saved = ref::renorm_forward_train(desc, params, inputs.x, inputs.gamma, inputs.beta,
                                               running_mean, running_var);
  const std::vector<Real> ones(desc.c, Real(1)), zeros(desc.c, Real(0));
  const Forward forward = [&](const Inputs& in) {
    auto y = ref::bn_forward_train(desc, params, in.x, ones, zeros).y;  // xhat
    for (std::int64_t i = 0; i < desc.elements(); ++i) {
      const auto c = desc.layout == Layout::nchw ? (i / desc.spatial()) % desc.c : i % desc.c;
      y[i] = in.gamma[c] * (y[i] * saved.r[c] + saved.d[c]) + in.beta[c];
    }
    return y;
  };
  const BackwardRow backward = [&](const std::vector<Real>& dy) {
    return ref::renorm_backward(desc, params, dy, inputs.x, inputs.gamma, saved.save_mean,
                                saved.save_invstd, saved.r, saved.d);
  };
  EXPECT_LT(jacobian_discrepancy(forward, backward, inputs), Real("1e-30"));
}

INSTANTIATE_TEST_SUITE_P(Layouts, ReferenceGradient, testing::Values(Layout::nchw, Layout::nhwc),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// ---- 50 against 100 digits ------------------------------------------------------------------

void expect_agree_to_45_digits(const std::vector<Real>& low, const std::vector<Real100>& high,
                               const char* what) {
  ASSERT_EQ(low.size(), high.size()) << what;
  const std::vector<Real> high_as_low(high.begin(), high.end());
  const Real scale = max_abs(high_as_low);
  for (std::size_t i = 0; i < low.size(); ++i) {
    const Real100 difference = abs(Real100(low[i]) - high[i]);
    EXPECT_LE(difference, Real100(scale) * Real100("1e-45")) << what << "[" << i << "]";
  }
}

TEST(ReferencePrecision, FiftyAndHundredDigitsAgreeTo45Digits) {
  const TensorDesc desc{4, 3, 3, 5, Layout::nhwc, DType::f64};
  Params params;
  params.rmax = 1.2;
  params.dmax = 0.1;
  auto x_values = random_values<double>(desc.elements(), 11, 3.0, 2.0);
  auto dy_values = random_values<double>(desc.elements(), 12);
  auto gamma_values = random_values<double>(desc.c, 13, 1, 0.5);
  auto beta_values = random_values<double>(desc.c, 14);
  const std::vector<double> running_mean_values{0.5, 3.0, 10.0}, running_var_values{1.0, 4.0, 0.3};

  auto run = [&](auto zero) {
    using Number = decltype(zero);
    const auto x = ref::to_number<Number>(x_values), dy = ref::to_number<Number>(dy_values);
    const auto gamma = ref::to_number<Number>(gamma_values), beta = ref::to_number<Number>(beta_values);
    const auto rm = ref::to_number<Number>(running_mean_values), rv = ref::to_number<Number>(running_var_values);
    const auto bn = ref::bn_forward_train(desc, params, x, gamma, beta, rm, rv);
    const auto renorm = ref::renorm_forward_train(desc, params, x, gamma, beta, rm, rv);
    const auto infer = ref::bn_forward_infer(desc, params, x, gamma, beta, rm, rv);
    const auto bn_back = ref::bn_backward(desc, params, dy, x, gamma, bn.save_mean, bn.save_invstd);
    const auto renorm_back = ref::renorm_backward(desc, params, dy, x, gamma, renorm.save_mean,
                                                  renorm.save_invstd, renorm.r, renorm.d);
    return std::vector<std::vector<Number>>{
        bn.y, bn.save_mean, bn.save_invstd, bn.running_mean, bn.running_var, infer,
        renorm.y, renorm.r, renorm.d, renorm.running_var, bn_back.dx, bn_back.dgamma,
        bn_back.dbeta, renorm_back.dx, renorm_back.dgamma, renorm_back.dbeta};
  };
  const auto low = run(Real{});
  const auto high = run(Real100{});
  for (std::size_t k = 0; k < low.size(); ++k) {
    expect_agree_to_45_digits(low[k], high[k], ("output " + std::to_string(k)).c_str());
  }
}

// ---- hand-worked cases ----------------------------------------------------------------------

std::vector<Real> reals(std::initializer_list<double> values) {
  return std::vector<Real>(values.begin(), values.end());
}

// N = 2, C = 1, x = {1, 3}: mean 2, biased variance 1; eps = 3 makes invstd exactly 1/2.
TEST(ReferenceByHand, TwoValuesOneChannel) {
  const TensorDesc desc{2, 1, 1, 1, Layout::nchw, DType::f64};
  Params params;
  params.eps = 3;
  params.momentum = 0.25;
  const auto forward = ref::bn_forward_train(desc, params, reals({1, 3}), reals({2}), reals({1}),
                                             reals({0}), reals({1}));
  EXPECT_EQ(forward.save_mean[0], 2);
  EXPECT_EQ(forward.save_invstd[0], Real(0.5));
  EXPECT_EQ(forward.y[0], 0);   // 2 * (-1/2) + 1
  EXPECT_EQ(forward.y[1], 2);   // 2 * (+1/2) + 1
  EXPECT_EQ(forward.running_mean[0], Real(0.5));
  // 0.75 * 1 + 0.25 * (unbiased variance 2)
  EXPECT_EQ(forward.running_var[0], Real(1.25));

  // dy = {1, 0}: dbeta = 1, dgamma = -1/2, dx = 2 * 1/2 / 2 * (2 dy - 1 - xhat * (-1/2)).
  const auto backward = ref::bn_backward(desc, params, reals({1, 0}), reals({1, 3}), reals({2}),
                                         forward.save_mean, forward.save_invstd);
  EXPECT_EQ(backward.dbeta[0], 1);
  EXPECT_EQ(backward.dgamma[0], Real(-0.5));
  EXPECT_EQ(backward.dx[0], Real(0.375));
  EXPECT_EQ(backward.dx[1], Real(-0.375));

  const auto inferred = ref::bn_forward_infer(desc, params, reals({1, 3}), reals({2}), reals({1}),
                                              reals({2}), reals({1}));
  EXPECT_EQ(inferred[0], 0);
  EXPECT_EQ(inferred[1], 2);
}

// A constant channel: variance 0, so invstd = 1/sqrt(eps) = 2 for eps = 1/4 and y = beta.
TEST(ReferenceByHand, ConstantChannel) {
  const TensorDesc desc{4, 1, 1, 1, Layout::nhwc, DType::f32};
  Params params;
  params.eps = 0.25;
  const auto forward = ref::bn_forward_train(desc, params, reals({5, 5, 5, 5}), reals({3}),
                                             reals({-1}));
  EXPECT_EQ(forward.save_mean[0], 5);
  EXPECT_EQ(forward.save_invstd[0], 2);
  for (const auto& y : forward.y) EXPECT_EQ(y, -1);
  EXPECT_TRUE(forward.running_mean.empty());
  // xhat = 0: dgamma = 0 and dx = gamma invstd (dy - mean(dy)).
  const auto backward = ref::bn_backward(desc, params, reals({1, 2, 3, 6}), reals({5, 5, 5, 5}),
                                         reals({3}), forward.save_mean, forward.save_invstd);
  EXPECT_EQ(backward.dgamma[0], 0);
  EXPECT_EQ(backward.dbeta[0], 12);
  EXPECT_EQ(backward.dx[0], -12);  // 3 * 2 * (1 - 3)
  EXPECT_EQ(backward.dx[3], 18);   // 3 * 2 * (6 - 3)
}

// x = {1, 3}, eps = 3: sigma_batch = 2. running_var = 13: sigma = 4, so the unclipped
// r = 1/2 and, with running_mean 0, d = 2/4 = 1/2. xhat = {-1/2, 1/2}.
TEST(ReferenceByHand, RenormWithoutClipping) {
  const TensorDesc desc{2, 1, 1, 1, Layout::nchw, DType::f64};
  Params params;
  params.eps = 3;
  params.rmax = 3;
  params.dmax = 1;
  params.momentum = 0.25;
  const auto forward = ref::renorm_forward_train(desc, params, reals({1, 3}), reals({1}),
                                                 reals({0}), reals({0}), reals({13}));
  EXPECT_EQ(forward.r[0], Real(0.5));
  EXPECT_EQ(forward.d[0], Real(0.5));
  EXPECT_EQ(forward.save_invstd[0], Real(0.5));
  EXPECT_EQ(forward.y[0], Real(0.25));   // -1/2 * 1/2 + 1/2
  EXPECT_EQ(forward.y[1], Real(0.75));
  EXPECT_EQ(forward.running_mean[0], Real(0.5));
  EXPECT_EQ(forward.running_var[0], Real(10.25));  // 0.75 * 13 + 0.25 * 2
}

TEST(ReferenceByHand, RenormWithClipping) {
  const TensorDesc desc{2, 1, 1, 1, Layout::nchw, DType::f64};
  Params params;
  params.eps = 3;
  params.rmax = 1.5;   // r = 1/2 clips to 2/3
  params.dmax = 0.25;  // d = 1/2 clips to 1/4
  const auto forward = ref::renorm_forward_train(desc, params, reals({1, 3}), reals({1}),
                                                 reals({0}), reals({0}), reals({13}));
  EXPECT_EQ(forward.r[0], Real(2) / 3);
  EXPECT_EQ(forward.d[0], Real(0.25));
  EXPECT_EQ(forward.y[0], Real(-1) / 3 + Real(0.25));
  EXPECT_EQ(forward.y[1], Real(1) / 3 + Real(0.25));

  // dy = {1, 0}: dx is r times batch norm's (gamma = 1: 1/2 / 2 * (2 dy - 1 - xhat (-1/2))).
  const auto backward = ref::renorm_backward(desc, params, reals({1, 0}), reals({1, 3}), reals({1}),
                                             forward.save_mean, forward.save_invstd, forward.r,
                                             forward.d);
  EXPECT_EQ(backward.dbeta[0], 1);
  EXPECT_EQ(backward.dgamma[0], Real(-0.5) * forward.r[0] + Real(0.25));
  EXPECT_LT(abs(backward.dx[0] - Real(0.1875) * forward.r[0]), Real("1e-48"));
  EXPECT_LT(abs(backward.dx[1] + Real(0.1875) * forward.r[0]), Real("1e-48"));
}

// ---- renorm with rmax = 1, dmax = 0 is batch norm --------------------------------------------

TEST(ReferenceRenorm, UnitLimitsReduceToBatchNorm) {
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    const TensorDesc desc{3, 4, 2, 3, layout, DType::f32};
    Params params;
    params.rmax = 1;
    params.dmax = 0;
    const auto x = random_values<Real>(desc.elements(), 21, 2, 3);
    const auto dy = random_values<Real>(desc.elements(), 22);
    const auto gamma = random_values<Real>(desc.c, 23), beta = random_values<Real>(desc.c, 24);
    const std::vector<Real> rm(desc.c, Real(7)), rv(desc.c, Real(0.01));
    const auto bn = ref::bn_forward_train(desc, params, x, gamma, beta, rm, rv);
    const auto renorm = ref::renorm_forward_train(desc, params, x, gamma, beta, rm, rv);
    const Real tolerance("1e-45");
    for (std::int64_t c = 0; c < desc.c; ++c) {
      EXPECT_EQ(renorm.r[c], 1);
      EXPECT_EQ(renorm.d[c], 0);
      EXPECT_EQ(renorm.save_mean[c], bn.save_mean[c]);
      EXPECT_EQ(renorm.save_invstd[c], bn.save_invstd[c]);
      EXPECT_EQ(renorm.running_mean[c], bn.running_mean[c]);
      EXPECT_EQ(renorm.running_var[c], bn.running_var[c]);
    }
    for (std::int64_t i = 0; i < desc.elements(); ++i) {
      EXPECT_LT(abs(renorm.y[i] - bn.y[i]), tolerance) << i;
    }
    const auto bn_back = ref::bn_backward(desc, params, dy, x, gamma, bn.save_mean, bn.save_invstd);
    const auto renorm_back = ref::renorm_backward(desc, params, dy, x, gamma, renorm.save_mean,
                                                  renorm.save_invstd, renorm.r, renorm.d);
    for (std::int64_t i = 0; i < desc.elements(); ++i) {
      EXPECT_LT(abs(renorm_back.dx[i] - bn_back.dx[i]), tolerance) << i;
    }
    for (std::int64_t c = 0; c < desc.c; ++c) {
      EXPECT_LT(abs(renorm_back.dgamma[c] - bn_back.dgamma[c]), tolerance);
      EXPECT_EQ(renorm_back.dbeta[c], bn_back.dbeta[c]);
    }
  }
}

TEST(ReferenceRenorm, NonFiniteDataStaysInItsChannel) {
  const TensorDesc desc{2, 3, 2, 1, Layout::nhwc, DType::f64};
  auto x = random_values<Real>(desc.elements(), 31);
  x[desc.offset(1, 1, 0)] = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Real> ones(desc.c, Real(1)), zeros(desc.c, Real(0));
  const auto forward = ref::renorm_forward_train(desc, Params{}, x, ones, zeros, zeros, ones);
  for (std::int64_t n = 0; n < desc.n; ++n) {
    for (std::int64_t s = 0; s < desc.spatial(); ++s) {
      EXPECT_TRUE(isnan(forward.y[desc.offset(n, 1, s)]));
      EXPECT_TRUE(isfinite(forward.y[desc.offset(n, 0, s)]));
      EXPECT_TRUE(isfinite(forward.y[desc.offset(n, 2, s)]));
    }
  }
  EXPECT_TRUE(isnan(forward.running_var[1]));
  EXPECT_TRUE(isfinite(forward.running_var[0]) && isfinite(forward.running_var[2]));
}

}  // namespace
}  // namespace bnh
