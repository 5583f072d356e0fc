// The vocabulary every part of bnharness shares: dtype, layout, tensor description, parameters,
// the five operations, and the error type that bad input raises. SPEC.md sections 1 and 4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bnh/plugin_v2.h"
#include "bnh/reduced_float.hpp"

namespace bnh {

enum class DType { f32 = BNH_F32, f64 = BNH_F64, bf16 = BNH_BF16, f16 = BNH_F16 };
inline constexpr DType all_dtypes[] = {DType::f32, DType::f64, DType::bf16, DType::f16};
enum class Layout { nchw = BNH_NCHW, nhwc = BNH_NHWC };

enum class Operation {
  bn_forward_train,
  bn_forward_infer,
  bn_backward,
  renorm_forward_train,
  renorm_backward,
};
inline constexpr Operation all_operations[] = {
    Operation::bn_forward_train, Operation::bn_forward_infer, Operation::bn_backward,
    Operation::renorm_forward_train, Operation::renorm_backward};

const char* to_string(DType dtype);
const char* to_string(Layout layout);
const char* to_string(Operation operation);
DType parse_dtype(const std::string& text);        // "f32" | "f64" | "bf16" | "f16"
Layout parse_layout(const std::string& text);      // "nchw" | "nhwc"
Operation parse_operation(const std::string& text);
std::size_t element_size(DType dtype);

// 16-bit data: bf16 and f16.
constexpr bool is_reduced(DType dtype) { return dtype == DType::bf16 || dtype == DType::f16; }

// The statistics/parameter dtype that goes with data of `dtype` unless a call says otherwise:
// f32 for bf16 and f16 data (PyTorch's "mixed" mode, oneDNN's only one), the data dtype otherwise.
constexpr DType default_stats_dtype(DType dtype) { return is_reduced(dtype) ? DType::f32 : dtype; }

// The floating-point format of a dtype: precision, least normal exponent, largest finite value.
FloatFormat format_of(DType dtype);

// The value as the dtype holds it: rounded to nearest, ties to even, once; f16 overflows to
// infinity above 65504 (+ half a unit) and keeps its subnormals.
inline double round_to_dtype(double value, DType dtype) {
  switch (dtype) {
    case DType::f64: return value;
    case DType::f32: return static_cast<double>(static_cast<float>(value));
    case DType::bf16: return round_to_format(value, bfloat16_format);
    case DType::f16: return round_to_format(value, float16_format);
  }
  return value;
}

// Conversions between doubles and a buffer of `count` elements of `dtype`: storing rounds each
// value to the dtype (round_to_dtype); loading is exact.
void store_values(DType dtype, const double* values, std::size_t count, void* out);
void load_values(DType dtype, const void* in, std::size_t count, double* out);

// The extents joined by 'x': "16x64x56x56", "4096x1024" for a 2-D tensor.
std::string shape_label(const std::vector<std::int64_t>& dims);

// N x C x H x W elements of one dtype, dense. A 2-D (N, C) tensor has h = w = 1.
struct TensorDesc {
  std::int64_t n = 1, c = 1, h = 1, w = 1;
  Layout layout = Layout::nchw;
  DType dtype = DType::f32;  // the data: x, y, dy, dx
  // The per-channel buffers (gamma, beta, save_mean, save_invstd, running statistics, r, d,
  // dgamma, dbeta), when not default_stats_dtype(dtype). Pure bf16 is {dtype bf16, stats bf16}.
  std::optional<DType> stats = std::nullopt;

  DType stats_dtype() const { return stats.value_or(default_stats_dtype(dtype)); }

  std::int64_t spatial() const { return h * w; }
  // M: the number of elements one channel's statistics are taken over.
  std::int64_t per_channel() const { return n * h * w; }
  std::int64_t elements() const { return n * c * h * w; }
  // Offset of element (sample, channel, spatial position) in the dense buffer.
  std::int64_t offset(std::int64_t sample, std::int64_t channel, std::int64_t position) const {
    return layout == Layout::nchw ? (sample * c + channel) * spatial() + position
                                  : (sample * spatial() + position) * c + channel;
  }
  // Calls visit(offset) for the M elements of `channel`, in order of (sample, spatial position).
  template <typename Visit>
  void for_each_in_channel(std::int64_t channel, Visit&& visit) const {
    for (std::int64_t sample = 0; sample < n; ++sample) {
      for (std::int64_t position = 0; position < spatial(); ++position) visit(offset(sample, channel, position));
    }
  }
  bnh_tensor_desc to_c() const;  // ABI 1: f32 and f64 only
  static TensorDesc from_c(const bnh_tensor_desc& desc);
  bnh_tensor_desc_v2 to_c_v2() const;
  static TensorDesc from_c_v2(const bnh_tensor_desc_v2& desc);
  // "f32 nchw 2x3x4x5"; a statistics dtype other than the default follows the data dtype after
  // a colon: "bf16:bf16 nhwc 8x3x1x1" (pure bf16). parse_dtypes reads that first word back.
  std::string to_string() const;
};

// "bf16" -> {bf16, default}; "bf16:bf16" -> {bf16, bf16}. The pair is not validated here.
std::pair<DType, std::optional<DType>> parse_dtypes(const std::string& text);
// The data dtype, and the statistics dtype after a colon when not the default: "bf16:bf16".
std::string dtypes_label(const TensorDesc& desc);

// The element type of each dtype: float, double, bnh::bfloat16, bnh::float16.
template <DType dtype>
using element_type = std::conditional_t<
    dtype == DType::f32, float,
    std::conditional_t<dtype == DType::f64, double,
                       std::conditional_t<dtype == DType::bf16, bfloat16, float16>>>;

struct Params {
  double eps = 1e-5;
  double momentum = 0.1;
  double rmax = 3.0;  // renorm only; Ioffe (2017) ends training at rmax = 3, dmax = 5
  double dmax = 5.0;
  std::int32_t threads = 0;  // 0: the implementation's own default

  bnh_params to_c() const;
  static Params from_c(const bnh_params& params);
};

// Raised for every rejected call: bad input (SPEC section 4), an unsupported dtype, layout or
// operation, or a plugin that refused. what() names the problem in one line.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An operation, dtype or layout the implementation does not provide. Not a bug in the
// implementation; callers skip rather than fail.
class Unsupported : public Error {
 public:
  using Error::Error;
};

// An outside implementation (plugin) returned nonzero: it declined the call, with its reason.
// On bad input that is the expected answer; on a valid call it is a coverage gap (the case is
// set aside and reported), not a wrong answer.
class PluginRefusal : public Error {
 public:
  using Error::Error;
};

// An outside implementation misbehaved: it crashed, exited, hung, or wrote where it must not.
// Always a failure, whatever the input was.
class PluginFault : public Error {
 public:
  using Error::Error;
};

// Calls body(T{}) with T the element type of dtype (element_type<dtype>): float, double,
// bnh::bfloat16 or bnh::float16.
template <typename Body>
void dispatch_any_dtype(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::f32: body(float{}); return;
    case DType::f64: body(double{}); return;
    case DType::bf16: body(bfloat16{}); return;
    case DType::f16: body(float16{}); return;
  }
}

// Calls body(T{}) with T = float or double according to dtype, for code that serves those two
// only; bf16 and f16 are refused with bnh::Unsupported.
template <typename Body>
void dispatch_dtype(DType dtype, Body&& body) {
  if (dtype == DType::f32) {
    body(float{});
  } else if (dtype == DType::f64) {
    body(double{});
  } else {
    throw Unsupported(std::string("no ") + to_string(dtype) + " path here (f32 and f64 only)");
  }
}

// Calls body(T{}, S{}) with T the data's element type and S the statistics' (stats_dtype()),
// for the six pairs a call may have: f32/f32, f64/f64, bf16/f32, bf16/bf16, f16/f32, f16/f16.
// Any other pair is refused (bnh::Error) before body runs.
void validate_dtypes(const TensorDesc& desc);
template <typename Body>
void dispatch_dtypes(const TensorDesc& desc, Body&& body) {
  validate_dtypes(desc);
  dispatch_any_dtype(desc.dtype, [&](auto data) {
    using T = decltype(data);
    if constexpr (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>) {
      if (desc.stats_dtype() == desc.dtype) {
        body(data, data);
      } else {
        body(data, float{});
      }
    } else {
      body(data, data);
    }
  });
}

}  // namespace bnh
