#include "bnh/validate.hpp"

#include <limits>
#include <sstream>

namespace bnh {

namespace {

std::string number(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

}  // namespace

void validate_desc(const TensorDesc& desc) {
  const std::pair<const char*, std::int64_t> dims[] = {
      {"N", desc.n}, {"C", desc.c}, {"H", desc.h}, {"W", desc.w}};
  for (const auto& [label, value] : dims) {
    if (value < 1) {
      throw Error(std::string("dimension ") + label + " must be >= 1, got " + std::to_string(value));
    }
  }
  // The element count, and its size in bytes, must fit in int64.
  const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 8;
  std::int64_t count = 1;
  for (const auto& dim : dims) {
    if (count > limit / dim.second) {
      throw Error("element count " + shape_label({desc.n, desc.c, desc.h, desc.w}) +
                  " overflows int64");
    }
    count *= dim.second;
  }
  validate_dtypes(desc);
  if (desc.layout != Layout::nchw && desc.layout != Layout::nhwc) {
    throw Error("unknown layout code " + std::to_string(static_cast<int>(desc.layout)) +
                " (expected BNH_NCHW = 1 or BNH_NHWC = 2)");
  }
}

void validate_eps(double eps) {
  if (!(eps > 0) || !std::isfinite(eps)) {
    throw Error("eps must be > 0 and finite, got " + number(eps));
  }
}

void validate_momentum(double momentum) {
  if (!(momentum >= 0 && momentum <= 1)) {
    throw Error("momentum must be in [0, 1], got " + number(momentum));
  }
}

void validate_renorm_limits(double rmax, double dmax) {
  if (!(rmax >= 1)) throw Error("rmax must be >= 1, got " + number(rmax));
  if (!(dmax >= 0)) throw Error("dmax must be >= 0, got " + number(dmax));
}

void validate_training_batch(const TensorDesc& desc) {
  if (desc.per_channel() < 2) {
    throw Error("expected more than 1 value per channel when training, got input of size " +
                shape_label({desc.n, desc.c, desc.h, desc.w}));
  }
}

void validate_call(Operation operation, const TensorDesc& desc, const Params& params) {
  validate_desc(desc);
  switch (operation) {
    case Operation::bn_forward_train:
      validate_eps(params.eps);
      validate_momentum(params.momentum);
      validate_training_batch(desc);
      break;
    case Operation::bn_forward_infer:
      validate_eps(params.eps);
      break;
    case Operation::renorm_forward_train:
      validate_eps(params.eps);
      validate_momentum(params.momentum);
      validate_renorm_limits(params.rmax, params.dmax);
      validate_training_batch(desc);
      break;
    case Operation::bn_backward:
    case Operation::renorm_backward:
      // The backward passes use the saved statistics, not eps; their batch must still be one
      // that training could have produced.
      validate_training_batch(desc);
      break;
  }
}

void validate_buffers(Operation operation, const OperationBuffers& buffers) {
  const OperationSpec& spec = operation_spec(operation);
  const std::string prefix = std::string(to_string(operation)) + ": ";  // "bn_backward: "
  std::string optional_names;
  int optional_given = 0, optional_count = 0;
  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSpec& buffer = spec.buffers[k];
    if (!buffer.optional) {
      if (buffers[k] == nullptr) throw Error(prefix + buffer.name + " must not be NULL");
      continue;
    }
    optional_names += (optional_count++ == 0 ? "" : " and ") + std::string(buffer.name);
    optional_given += buffers[k] != nullptr;
  }
  // The optional buffers, the pair of running statistics, go together: tracked, or not.
  if (optional_given != 0 && optional_given != optional_count) {
    throw Error(prefix + optional_names + " must both be given or both be NULL");
  }
}

}  // namespace bnh
