// ABI version 2 (bnh/plugin_v2.h): its conversion helpers against bnh::bfloat16 and
// bnh::float16, the loader's choice of table and its refusals, a version-2 plugin's numbers on
// bf16 and f16 data against a computation in double, the sandbox's guards around 2-byte
// elements, and a version-1 plugin that is never handed reduced data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "bnh/plugin_loader.hpp"
#include "bnh/plugin_v2.h"
#include "bnh/types.hpp"

namespace bnh {
namespace {

std::string test_plugin(const std::string& name) {
  return std::string(BNH_TEST_PLUGIN_DIR) + "/libbnh_test_" + name + ".so";
}
std::string reduced_plugin(const std::string& variant) { return test_plugin("reduced_plugin_" + variant); }

std::unique_ptr<Implementation> load(const std::string& path, bool isolate) {
  PluginOptions options;
  options.isolate = isolate;
  return load_plugin(path, options);
}

TEST(PluginV2Conversions, WideningIsExactForEveryElement) {
  for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto element = static_cast<std::uint16_t>(bits);
    const float f16 = bnh_f16_to_f32(element), bf16 = bnh_bf16_to_f32(element);
    const float f16_expected = float16::from_bits(element), bf16_expected = bfloat16::from_bits(element);
    if (std::isnan(f16_expected)) {
      EXPECT_TRUE(std::isnan(f16)) << std::hex << bits;
    } else {
      EXPECT_EQ(f16, f16_expected) << std::hex << bits;
    }
    if (std::isnan(bf16_expected)) {
      EXPECT_TRUE(std::isnan(bf16)) << std::hex << bits;
    } else {
      EXPECT_EQ(bf16, bf16_expected) << std::hex << bits;
    }
  }
}

// Rounding agrees with bnh's on every tie between neighbouring elements, a float either side of
// it, and a sweep through all floats.
void expect_rounding_agrees(float value) {
  const std::uint16_t f16 = bnh_f32_to_f16(value), bf16 = bnh_f32_to_bf16(value);
  if (std::isnan(value)) {
    EXPECT_TRUE(std::isnan(bnh_f16_to_f32(f16)));
    EXPECT_TRUE(std::isnan(bnh_bf16_to_f32(bf16)));
    return;
  }
  ASSERT_EQ(f16, float16(value).bits()) << value;
  ASSERT_EQ(bf16, bfloat16(value).bits()) << value;
}

TEST(PluginV2Conversions, RoundingToNearestEvenAgreesWithTheHarness) {
  for (std::uint32_t element = 0; element <= 0xFFFF; ++element) {
    const float low = float16::from_bits(static_cast<std::uint16_t>(element));
    const float high = float16::from_bits(static_cast<std::uint16_t>(element + 1));
    if (std::isfinite(low) && std::isfinite(high) && element != 0x7BFF && element != 0xFBFF) {
      const float tie = low + (high - low) / 2;  // exact: a float has the bits for it
      for (float value : {tie, std::nextafter(tie, 0.0f), std::nextafter(tie, 1e30f), std::nextafter(tie, -1e30f)}) {
        expect_rounding_agrees(value);
      }
    }
    const std::uint32_t bf16_tie = element << 16 | 0x8000u;
    for (std::uint32_t bits : {bf16_tie - 1, bf16_tie, bf16_tie + 1}) expect_rounding_agrees(bnh_f32_from_bits(bits));
  }
  for (float value : {65504.0f, 65519.99f, 65520.0f, 1e30f, 3.4e38f, 5.96e-8f, 2.98e-8f, 2.99e-8f, 0.0f, -0.0f})
    expect_rounding_agrees(value), expect_rounding_agrees(-value);
  for (std::uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 0x1001) expect_rounding_agrees(bnh_f32_from_bits(static_cast<std::uint32_t>(bits)));
}

void expect_refused(const std::string& path, const std::string& message) {
  try {
    load_plugin(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const PluginFault& fault) {
    ADD_FAILURE() << path << ": a fault, not a refusal: " << fault.what();
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(message), std::string::npos) << error.what();
  }
}

const TensorDesc bf16_desc{4, 3, 2, 3, Layout::nchw, DType::bf16};

TEST(PluginV2Loader, FindsTheVersion2Table) {
  for (bool isolate : {true, false}) {
    const auto impl = load(reduced_plugin("plain"), isolate);
    EXPECT_EQ(impl->name(), "reduced");
    EXPECT_TRUE(impl->supports(Operation::bn_backward));
    EXPECT_FALSE(impl->supports(Operation::renorm_forward_train));
    EXPECT_TRUE(impl->supports(bf16_desc));
    TensorDesc pure_f16{2, 3, 1, 1, Layout::nhwc, DType::f16};
    pure_f16.stats = DType::f16;
    EXPECT_TRUE(impl->supports(pure_f16));
    EXPECT_FALSE(impl->supports(TensorDesc{2, 3, 1, 1, Layout::nchw, DType::f32}));
  }
}

TEST(PluginV2Loader, PrefersVersion2WhenBothAreExported) {
  for (bool isolate : {true, false}) {
    EXPECT_EQ(load(reduced_plugin("both"), isolate)->name(), "reduced");
  }
}

TEST(PluginV2Loader, RefusesEachDefectWithAClearMessage) {
  expect_refused(reduced_plugin("wrong_abi"), "bnh_impl_v2_get returned a table of ABI version 1 (it must say 2)");
  expect_refused(reduced_plugin("null_name"), "has a NULL name");
  // With neither symbol, the message names the one a version-1 plugin needs first.
  expect_refused(test_plugin("plugin_no_symbol"), "does not export bnh_impl_v1_get (nor bnh_impl_v2_get)");
}

TEST(PluginV2Loader, ACrashInTheGetterIsAFault) {
  try {
    load_plugin(reduced_plugin("crash_get"));
    ADD_FAILURE() << "loaded";
  } catch (const PluginFault& fault) {
    EXPECT_NE(std::string(fault.what()).find("crashed while loading (in bnh_impl_v2_get) with SIGSEGV"),
              std::string::npos)
        << fault.what();
  }
}

// A version-1 plugin loads as version 1 and is never handed bf16 or f16: supports() says no
// without asking it (this one has no supports() and would say yes), and a call is Unsupported.
TEST(PluginV2Loader, AVersion1PluginIsNeverHandedReducedData) {
  for (bool isolate : {true, false}) {
    const auto open = load(reduced_plugin("v1_only"), isolate);
    EXPECT_EQ(open->name(), "reduced as version 1");
    EXPECT_TRUE(open->supports(TensorDesc{2, 3, 1, 1, Layout::nchw, DType::f64}));
    EXPECT_FALSE(open->supports(bf16_desc));
    const auto minimal = load(test_plugin("plugin_minimal"), isolate);
    EXPECT_FALSE(minimal->supports(bf16_desc));
    std::vector<bfloat16> x(bf16_desc.elements(), bfloat16(1.0)), y(x.size());
    std::vector<float> one(3, 1.0f), zero(3, 0.0f);
    EXPECT_THROW(minimal->bn_forward_infer(bf16_desc, {}, x.data(), one.data(), zero.data(), zero.data(), one.data(),
                                           y.data()),
                 Unsupported);
  }
}

// A version-2 plugin's forward and backward on reduced data, against the same computation in
// double (the backward from the saved statistics it was given): each output within half a unit
// of its dtype, plus float's own error in sums of M terms.
template <typename T, typename S>
void expect_agrees_with_double(Implementation& impl, TensorDesc desc) {
  std::mt19937 random(7);
  std::normal_distribution<double> normal(0.5, 2.0);
  const auto count = static_cast<std::size_t>(desc.elements());
  const auto channels = static_cast<std::size_t>(desc.c);
  std::vector<T> x(count), dy(count), y(count), dx(count);
  std::vector<S> gamma(channels), beta(channels), mean(channels), invstd(channels), running_mean(channels),
      running_var(channels), dgamma(channels), dbeta(channels);
  for (std::size_t i = 0; i < count; ++i) x[i] = T(normal(random)), dy[i] = T(normal(random));
  for (std::size_t c = 0; c < channels; ++c) {
    gamma[c] = S(normal(random)), beta[c] = S(normal(random));
    running_mean[c] = S(0.0), running_var[c] = S(1.0);
  }
  Params params;
  impl.bn_forward_train(desc, params, x.data(), gamma.data(), beta.data(), y.data(), mean.data(), invstd.data(),
                        running_mean.data(), running_var.data());
  impl.bn_backward(desc, params, dy.data(), x.data(), gamma.data(), mean.data(), invstd.data(), dx.data(),
                   dgamma.data(), dbeta.data());
  const double unit_t = std::ldexp(1.0, -format_of(desc.dtype).digits);
  const double unit_s = std::ldexp(1.0, -format_of(desc.stats_dtype()).digits);
  const double m = static_cast<double>(desc.per_channel()), float_sums = 1e-5;
  auto sum_over = [&](std::int64_t c, auto term) {
    double sum = 0, magnitude = 0;
    desc.for_each_in_channel(c, [&](std::int64_t i) { sum += term(i), magnitude += std::abs(term(i)); });
    return std::pair{sum, magnitude};
  };
  for (std::int64_t c = 0; c < desc.c; ++c) {
    const double mu = sum_over(c, [&](std::int64_t i) { return double(x[i]); }).first / m;
    const double var = sum_over(c, [&](std::int64_t i) { return (double(x[i]) - mu) * (double(x[i]) - mu); }).first / m;
    const double sigma = 1 / std::sqrt(var + params.eps), g = double(gamma[c]);
    EXPECT_NEAR(double(mean[c]), mu, unit_s * std::abs(mu) + 1e-5) << desc.to_string();
    EXPECT_NEAR(double(invstd[c]), sigma, unit_s * sigma + 1e-5) << desc.to_string();
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const double expected = g * (double(x[i]) - mu) * sigma + double(beta[c]);
      EXPECT_NEAR(double(y[i]), expected, unit_t * std::abs(expected) + 1e-4) << desc.to_string() << " y " << i;
    });
    // The backward differentiates through the statistics it is given.
    const double saved_mu = double(mean[c]), saved_sigma = double(invstd[c]);
    auto xhat = [&](std::int64_t i) { return (double(x[i]) - saved_mu) * saved_sigma; };
    const auto [sum_dy, dy_magnitude] = sum_over(c, [&](std::int64_t i) { return double(dy[i]); });
    const auto [sum_dy_xhat, dy_xhat_magnitude] = sum_over(c, [&](std::int64_t i) { return double(dy[i]) * xhat(i); });
    EXPECT_NEAR(double(dbeta[c]), sum_dy, unit_s * std::abs(sum_dy) + float_sums * dy_magnitude) << desc.to_string();
    EXPECT_NEAR(double(dgamma[c]), sum_dy_xhat, unit_s * std::abs(sum_dy_xhat) + float_sums * dy_xhat_magnitude)
        << desc.to_string();
    desc.for_each_in_channel(c, [&](std::int64_t i) {
      const double factor = g * saved_sigma / m;
      const double expected = factor * (m * double(dy[i]) - sum_dy - xhat(i) * sum_dy_xhat);
      const double terms = std::abs(factor) * (m * std::abs(double(dy[i])) + dy_magnitude + std::abs(xhat(i)) * dy_xhat_magnitude);
      EXPECT_NEAR(double(dx[i]), expected, unit_t * std::abs(expected) + float_sums * terms) << desc.to_string() << " dx " << i;
    });
  }
}

TEST(PluginV2Calls, ReducedDataAgreesWithDouble) {
  for (bool isolate : {true, false}) {
    const auto impl = load(reduced_plugin("plain"), isolate);
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      TensorDesc desc{5, 3, 4, 3, layout, DType::bf16};
      expect_agrees_with_double<bfloat16, float>(*impl, desc);
      desc.dtype = DType::f16;
      expect_agrees_with_double<float16, float>(*impl, desc);
      desc.stats = DType::f16;
      expect_agrees_with_double<float16, float16>(*impl, desc);
      desc.dtype = DType::bf16, desc.stats = DType::bf16;
      expect_agrees_with_double<bfloat16, bfloat16>(*impl, desc);
    }
  }
}

// One 2-byte element written past the end of y: caught by the canary when y's bytes leave room
// before the guard page, by the guard page when they end on it (64 bytes: 32 elements).
TEST(PluginV2Calls, AWritePastA2ByteOutputIsAFault) {
  PluginOptions options;
  options.timeout_seconds = 5;
  const auto impl = load_plugin(reduced_plugin("overflow"), options);
  for (const TensorDesc desc : {TensorDesc{2, 3, 1, 1, Layout::nchw, DType::bf16},
                                TensorDesc{2, 4, 2, 2, Layout::nhwc, DType::f16}}) {
    std::vector<bfloat16> x(desc.elements(), bfloat16(1.0)), y(x.size());
    std::vector<float> one(desc.c, 1.0f), zero(desc.c, 0.0f);
    try {
      impl->bn_forward_infer(desc, {}, x.data(), one.data(), zero.data(), zero.data(), one.data(), y.data());
      ADD_FAILURE() << desc.to_string() << ": no fault";
    } catch (const PluginFault& fault) {
      EXPECT_NE(std::string(fault.what()).find("reduced bn_forward_infer"), std::string::npos) << fault.what();
      EXPECT_NE(std::string(fault.what()).find("wrote to byte 0 past the end of y"), std::string::npos) << fault.what();
    }
  }
}

}  // namespace
}  // namespace bnh
