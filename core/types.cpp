#include "bnh/types.hpp"

#include <string>

namespace bnh {

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
  }
  return "unknown-dtype";
}

const char* to_string(Layout layout) {
  switch (layout) {
    case Layout::nchw: return "nchw";
    case Layout::nhwc: return "nhwc";
  }
  return "unknown-layout";
}

const char* to_string(Operation operation) {
  switch (operation) {
    case Operation::bn_forward_train: return "bn_forward_train";
    case Operation::bn_forward_infer: return "bn_forward_infer";
    case Operation::bn_backward: return "bn_backward";
    case Operation::renorm_forward_train: return "renorm_forward_train";
    case Operation::renorm_backward: return "renorm_backward";
  }
  return "unknown-operation";
}

DType parse_dtype(const std::string& text) {
  if (text == "f32") return DType::f32;
  if (text == "f64") return DType::f64;
  if (text == "bf16") return DType::bf16;
  if (text == "f16") return DType::f16;
  throw Error("unknown dtype '" + text + "' (expected f32, f64, bf16 or f16)");
}

std::pair<DType, std::optional<DType>> parse_dtypes(const std::string& text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) return {parse_dtype(text), std::nullopt};
  return {parse_dtype(text.substr(0, colon)), parse_dtype(text.substr(colon + 1))};
}

std::string dtypes_label(const TensorDesc& desc) {
  std::string label = to_string(desc.dtype);
  if (desc.stats_dtype() != default_stats_dtype(desc.dtype)) label += std::string(":") + to_string(desc.stats_dtype());
  return label;
}

void validate_dtypes(const TensorDesc& desc) {
  const DType data = desc.dtype, stats = desc.stats_dtype();
  const bool known = data == DType::f32 || data == DType::f64 || is_reduced(data);
  if (!known) {
    throw Error("unknown dtype code " + std::to_string(static_cast<int>(data)) +
                " (expected BNH_F32 = 1, BNH_F64 = 2, BNH_BF16 = 3 or BNH_F16 = 4)");
  }
  if (stats != data && !(is_reduced(data) && stats == DType::f32)) {
    const bool stats_known = stats == DType::f32 || stats == DType::f64 || is_reduced(stats);
    throw Error("statistics dtype " +
                (stats_known ? std::string(to_string(stats)) : "code " + std::to_string(static_cast<int>(stats))) +
                " does not go with " + to_string(data) + " data (expected " + to_string(data) +
                (is_reduced(data) ? " or f32)" : ")"));
  }
}

FloatFormat format_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return float32_format;
    case DType::bf16: return bfloat16_format;
    case DType::f16: return float16_format;
    case DType::f64: break;
  }
  return FloatFormat{53, -1021, 0x1.fffffffffffffp1023};
}

void store_values(DType dtype, const double* values, std::size_t count, void* out) {
  dispatch_any_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* elements = static_cast<T*>(out);
    for (std::size_t k = 0; k < count; ++k) elements[k] = static_cast<T>(values[k]);
  });
}

void load_values(DType dtype, const void* in, std::size_t count, double* out) {
  dispatch_any_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* elements = static_cast<const T*>(in);
    for (std::size_t k = 0; k < count; ++k) out[k] = static_cast<double>(elements[k]);
  });
}

Layout parse_layout(const std::string& text) {
  if (text == "nchw" || text == "NCHW") return Layout::nchw;
  if (text == "nhwc" || text == "NHWC") return Layout::nhwc;
  throw Error("unknown layout '" + text + "' (expected nchw or nhwc)");
}

Operation parse_operation(const std::string& text) {
  for (Operation operation : all_operations) {
    if (text == to_string(operation)) return operation;
  }
  throw Error("unknown operation '" + text +
              "' (expected bn_forward_train, bn_forward_infer, bn_backward, "
              "renorm_forward_train or renorm_backward)");
}

std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16:
    case DType::f16: return 2;
  }
  return 8;
}

bnh_tensor_desc TensorDesc::to_c() const {
  return bnh_tensor_desc{n, c, h, w, static_cast<bnh_layout>(layout), static_cast<bnh_dtype>(dtype)};
}

TensorDesc TensorDesc::from_c(const bnh_tensor_desc& desc) {
  return TensorDesc{desc.n, desc.c, desc.h, desc.w, static_cast<Layout>(desc.layout),
                    static_cast<DType>(desc.dtype)};
}

std::string shape_label(const std::vector<std::int64_t>& dims) {
  std::string label;
  for (std::int64_t extent : dims) label += (label.empty() ? "" : "x") + std::to_string(extent);
  return label;
}

bnh_tensor_desc_v2 TensorDesc::to_c_v2() const {
  return bnh_tensor_desc_v2{n, c, h, w, static_cast<bnh_layout>(layout), static_cast<std::int32_t>(dtype),
                            static_cast<std::int32_t>(stats_dtype())};
}

TensorDesc TensorDesc::from_c_v2(const bnh_tensor_desc_v2& desc) {
  TensorDesc result{desc.n, desc.c, desc.h, desc.w, static_cast<Layout>(desc.layout), static_cast<DType>(desc.dtype)};
  if (desc.stats_dtype != static_cast<std::int32_t>(default_stats_dtype(result.dtype))) {
    result.stats = static_cast<DType>(desc.stats_dtype);
  }
  return result;
}

std::string TensorDesc::to_string() const {
  return dtypes_label(*this) + ' ' + bnh::to_string(layout) + ' ' + shape_label({n, c, h, w});
}

bnh_params Params::to_c() const { return bnh_params{eps, momentum, rmax, dmax, threads}; }

Params Params::from_c(const bnh_params& params) {
  return Params{params.eps, params.momentum, params.rmax, params.dmax, params.threads};
}

}  // namespace bnh
