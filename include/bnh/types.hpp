// The vocabulary every part of bnharness shares: dtype, layout, tensor description, parameters,
// the five operations, and the error type that bad input raises. SPEC.md sections 1 and 4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bnh/plugin.h"

namespace bnh {

enum class DType { f32 = BNH_F32, f64 = BNH_F64 };
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
DType parse_dtype(const std::string& text);        // "f32" | "f64"
Layout parse_layout(const std::string& text);      // "nchw" | "nhwc"
Operation parse_operation(const std::string& text);
std::size_t element_size(DType dtype);

// The value as the dtype holds it: rounded to the nearest float for f32.
inline double round_to_dtype(double value, DType dtype) {
  return dtype == DType::f32 ? static_cast<double>(static_cast<float>(value)) : value;
}

// The extents joined by 'x': "16x64x56x56", "4096x1024" for a 2-D tensor.
std::string shape_label(const std::vector<std::int64_t>& dims);

// N x C x H x W elements of one dtype, dense. A 2-D (N, C) tensor has h = w = 1.
struct TensorDesc {
  std::int64_t n = 1, c = 1, h = 1, w = 1;
  Layout layout = Layout::nchw;
  DType dtype = DType::f32;

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
  bnh_tensor_desc to_c() const;
  static TensorDesc from_c(const bnh_tensor_desc& desc);
  std::string to_string() const;  // "f32 nchw 2x3x4x5"
};

struct Params {
  double eps = 1e-5;
  double momentum = 0.1;
  double rmax = 3.0;  // renorm only; Ioffe (2017) ends training at rmax = 3, dmax = 5
  double dmax = 5.0;
  std::int32_t threads = 0;  // 0: the implementation's own default

  bnh_params to_c() const;
  static Params from_c(const bnh_params& params);
};

// Calls body(T{}) with T = float or double according to dtype.
template <typename Body>
void dispatch_dtype(DType dtype, Body&& body) {
  if (dtype == DType::f32) {
    body(float{});
  } else {
    body(double{});
  }
}

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

}  // namespace bnh
