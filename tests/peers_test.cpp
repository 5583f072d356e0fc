// The peers (oneDNN, ATen) in reduced precision: what supports() says agrees with what the
// library runs, and the three passes agree with a plain double computation on the same
// bf16-rounded inputs, within a few units of the output's format. A peer that is not built is
// skipped. The full property catalogue runs through `bnh check --impl onednn,aten --dtype bf16`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bnh/registry.hpp"

namespace bnh {
namespace {

std::unique_ptr<Implementation> peer(const std::string& name) {
  for (const auto& entry : registered_implementations()) {
    if (entry.name == name) return entry.make();
  }
  return nullptr;
}

TensorDesc described(DType dtype, std::optional<DType> stats, Layout layout) {
  return TensorDesc{4, 5, 3, 3, layout, dtype, stats};
}

// Values held as doubles and as the bytes of one dtype; `stored` rounds them into that dtype.
struct Buffer {
  DType dtype;
  std::vector<double> values;
  std::vector<unsigned char> bytes;

  Buffer(DType dtype, std::vector<double> initial)
      : dtype(dtype), values(std::move(initial)), bytes(values.size() * element_size(dtype)) {
    store_values(dtype, values.data(), values.size(), bytes.data());
    load_values(dtype, bytes.data(), values.size(), values.data());  // what the peer is given
  }
  Buffer(DType dtype, std::size_t count) : Buffer(dtype, std::vector<double>(count, 0.0)) {}
  void* data() { return bytes.data(); }
  std::vector<double> loaded() const {
    std::vector<double> out(values.size());
    load_values(dtype, bytes.data(), out.size(), out.data());
    return out;
  }
};

std::vector<double> random_values(std::size_t count, double mean, double spread, std::uint32_t seed) {
  std::mt19937 engine(seed);
  std::normal_distribution<double> normal(mean, spread);
  std::vector<double> values(count);
  for (double& value : values) value = normal(engine);
  return values;
}

// The relative resolution of a dtype: 2^-8 (bf16), 2^-11 (f16), 2^-24 (f32), 2^-53 (f64).
double unit_roundoff(DType dtype) {
  return std::ldexp(1.0, dtype == DType::f64 ? -53 : -format_of(dtype).digits);
}

// |got - want| within `units` of the dtype's resolution of `scale`, element by element.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, DType dtype,
                  double scale, double units, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_LE(std::fabs(got[i] - want[i]), units * unit_roundoff(dtype) * scale)
        << what << "[" << i << "]: " << got[i] << " where " << want[i];
  }
}

struct Statistics {
  std::vector<double> mean, variance;  // biased
};

Statistics channel_statistics(const TensorDesc& desc, const std::vector<double>& x) {
  Statistics statistics{std::vector<double>(desc.c), std::vector<double>(desc.c)};
  const double count = static_cast<double>(desc.per_channel());
  for (std::int64_t c = 0; c < desc.c; ++c) {
    double sum = 0, squares = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum += x[i]; });
    const double mean = sum / count;
    desc.for_each_in_channel(c, [&](std::int64_t i) { squares += (x[i] - mean) * (x[i] - mean); });
    statistics.mean[c] = mean;
    statistics.variance[c] = squares / count;
  }
  return statistics;
}

// Training forward, inference and backward of one peer for one (data, statistics) pair and
// layout, against double arithmetic on the inputs as the peer received them.
void check_passes(Implementation& implementation, const TensorDesc& desc) {
  const DType data = desc.dtype, stats = desc.stats_dtype();
  const std::size_t size = static_cast<std::size_t>(desc.elements()), channels = static_cast<std::size_t>(desc.c);
  Params params;
  params.eps = 1e-3;
  params.momentum = 0.25;
  Buffer x(data, random_values(size, 3.0, 1.5, 1)), dy(data, random_values(size, 0.0, 1.0, 2));
  Buffer gamma(stats, random_values(channels, 1.0, 0.3, 3)), beta(stats, random_values(channels, 0.0, 0.5, 4));
  Buffer running_mean(stats, random_values(channels, 1.0, 0.5, 5)), running_var(stats, std::vector<double>(channels, 2.0));
  Buffer y(data, size), save_mean(stats, channels), save_invstd(stats, channels);
  const std::vector<double> old_mean = running_mean.values, old_var = running_var.values;

  implementation.bn_forward_train(desc, params, x.data(), gamma.data(), beta.data(), y.data(), save_mean.data(),
                                  save_invstd.data(), running_mean.data(), running_var.data());
  const Statistics exact = channel_statistics(desc, x.values);
  const double count = static_cast<double>(desc.per_channel());
  std::vector<double> want_y(size), want_invstd(channels), want_running_mean(channels), want_running_var(channels);
  for (std::int64_t c = 0; c < desc.c; ++c) {
    want_invstd[c] = 1 / std::sqrt(exact.variance[c] + params.eps);
    want_running_mean[c] = (1 - params.momentum) * old_mean[c] + params.momentum * exact.mean[c];
    want_running_var[c] = (1 - params.momentum) * old_var[c] + params.momentum * exact.variance[c] * count / (count - 1);
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      want_y[i] = gamma.values[c] * (x.values[i] - exact.mean[c]) * want_invstd[c] + beta.values[c];
    });
  }
  // y is about 1 in size; statistics are judged on their own scale. Statistics accumulated in
  // f32 or wider: a few units of the statistics dtype (f32's allow for its sums over M = 36).
  expect_close(y.loaded(), want_y, data, 4.0, 4, "y");
  expect_close(save_mean.loaded(), exact.mean, stats, 4.0, stats == DType::f32 ? 64 : 2, "save_mean");
  expect_close(save_invstd.loaded(), want_invstd, stats, 1.0, stats == DType::f32 ? 64 : 2, "save_invstd");
  expect_close(running_mean.loaded(), want_running_mean, stats, 4.0, stats == DType::f32 ? 64 : 2, "running_mean");
  expect_close(running_var.loaded(), want_running_var, stats, 4.0, stats == DType::f32 ? 64 : 2, "running_var");

  Buffer y_infer(data, size);
  implementation.bn_forward_infer(desc, params, x.data(), gamma.data(), beta.data(), running_mean.data(),
                                  running_var.data(), y_infer.data());
  const std::vector<double> used_mean = running_mean.loaded(), used_var = running_var.loaded();
  for (std::int64_t c = 0; c < desc.c; ++c) {
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      want_y[i] = gamma.values[c] * (x.values[i] - used_mean[c]) / std::sqrt(used_var[c] + params.eps) + beta.values[c];
    });
  }
  expect_close(y_infer.loaded(), want_y, data, 4.0, 4, "inference y");

  Buffer dx(data, size), dgamma(stats, channels), dbeta(stats, channels);
  implementation.bn_backward(desc, params, dy.data(), x.data(), gamma.data(), save_mean.data(), save_invstd.data(),
                             dx.data(), dgamma.data(), dbeta.data());
  const std::vector<double> mean = save_mean.loaded(), invstd = save_invstd.loaded();
  std::vector<double> want_dx(size), want_dgamma(channels), want_dbeta(channels);
  double largest_dx = 0, largest_sum = 0;
  for (std::int64_t c = 0; c < desc.c; ++c) {
    double sum_dy = 0, sum_dy_xhat = 0, magnitude = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const double xhat = (x.values[i] - mean[c]) * invstd[c];
      sum_dy += dy.values[i];
      sum_dy_xhat += dy.values[i] * xhat;
      magnitude += std::fabs(dy.values[i]) * (1 + std::fabs(xhat));
    });
    want_dgamma[c] = sum_dy_xhat;
    want_dbeta[c] = sum_dy;
    largest_sum = std::max(largest_sum, magnitude);
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const double xhat = (x.values[i] - mean[c]) * invstd[c];
      want_dx[i] = gamma.values[c] * invstd[c] * (dy.values[i] - (sum_dy + xhat * sum_dy_xhat) / count);
      largest_dx = std::max(largest_dx, std::fabs(want_dx[i]));
    });
  }
  expect_close(dx.loaded(), want_dx, data, largest_dx, 4, "dx");
  expect_close(dgamma.loaded(), want_dgamma, stats, largest_sum, 4, "dgamma");
  expect_close(dbeta.loaded(), want_dbeta, stats, largest_sum, 4, "dbeta");
}

std::vector<TensorDesc> every_pair(Layout layout) {
  std::vector<TensorDesc> pairs;
  for (DType dtype : all_dtypes) {
    pairs.push_back(described(dtype, std::nullopt, layout));
    if (is_reduced(dtype)) pairs.push_back(described(dtype, dtype, layout));
  }
  return pairs;
}

// Whatever supports() says yes to runs and agrees with double arithmetic.
void check_supported(const std::string& name) {
  const auto implementation = peer(name);
  if (implementation == nullptr) GTEST_SKIP() << name << " is not built";
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    for (const TensorDesc& desc : every_pair(layout)) {
      if (!implementation->supports(desc)) continue;
      SCOPED_TRACE(name + " " + desc.to_string());
      check_passes(*implementation, desc);
    }
  }
}

bool supports(Implementation& implementation, DType dtype, std::optional<DType> stats, Layout layout) {
  return implementation.supports(described(dtype, stats, layout));
}

TEST(Peers, OneDnnHasF32StatisticsOnlyAndNoF64) {
  const auto onednn = peer("onednn");
  if (onednn == nullptr) GTEST_SKIP() << "onednn is not built";
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    EXPECT_TRUE(supports(*onednn, DType::f32, std::nullopt, layout));
    EXPECT_FALSE(supports(*onednn, DType::f64, std::nullopt, layout));
    EXPECT_FALSE(supports(*onednn, DType::bf16, DType::bf16, layout));
    EXPECT_FALSE(supports(*onednn, DType::f16, DType::f16, layout));
  }
}

TEST(Peers, AtenHasBf16MixedAndPure) {
  const auto aten = peer("aten");
  if (aten == nullptr) GTEST_SKIP() << "aten is not built";
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    EXPECT_TRUE(supports(*aten, DType::bf16, std::nullopt, layout));
    EXPECT_TRUE(supports(*aten, DType::bf16, DType::bf16, layout));
  }
}

TEST(Peers, UnsupportedDtypeIsRefusedAsUnsupported) {
  for (const std::string name : {"onednn", "aten"}) {
    const auto implementation = peer(name);
    if (implementation == nullptr) continue;
    for (const TensorDesc& desc : every_pair(Layout::nchw)) {
      if (implementation->supports(desc)) continue;
      Buffer x(desc.dtype, 180), y(desc.dtype, 180), gamma(desc.stats_dtype(), 5), beta(desc.stats_dtype(), 5);
      Buffer mean(desc.stats_dtype(), 5), invstd(desc.stats_dtype(), 5);
      EXPECT_THROW(implementation->bn_forward_train(desc, Params{}, x.data(), gamma.data(), beta.data(), y.data(),
                                                    mean.data(), invstd.data(), nullptr, nullptr),
                   Unsupported)
          << name << " " << desc.to_string();
    }
  }
}

TEST(Peers, OneDnnAgreesWithDoubleArithmeticWhereSupported) { check_supported("onednn"); }
TEST(Peers, AtenAgreesWithDoubleArithmeticWhereSupported) { check_supported("aten"); }

}  // namespace
}  // namespace bnh
