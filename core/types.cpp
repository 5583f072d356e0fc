#include "bnh/types.hpp"

#include <string>

namespace bnh {

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
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
  throw Error("unknown dtype '" + text + "' (expected f32 or f64)");
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

std::size_t element_size(DType dtype) { return dtype == DType::f32 ? 4 : 8; }

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

std::string TensorDesc::to_string() const {
  return std::string(bnh::to_string(dtype)) + ' ' + bnh::to_string(layout) + ' ' + shape_label({n, c, h, w});
}

bnh_params Params::to_c() const { return bnh_params{eps, momentum, rmax, dmax, threads}; }

Params Params::from_c(const bnh_params& params) {
  return Params{params.eps, params.momentum, params.rmax, params.dmax, params.threads};
}

}  // namespace bnh
