#include "properties/bad_input.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "bnh/operations.hpp"

namespace bnh {

namespace {

TensorDesc shape(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return TensorDesc{n, c, h, w, Layout::nchw, DType::f32};
}
Params with_eps(double eps) { Params p; p.eps = eps; return p; }
Params with_momentum(double m) { Params p; p.momentum = m; return p; }
Params with_limits(double rmax, double dmax) { Params p; p.rmax = rmax; p.dmax = dmax; return p; }

// "eps = nan": which value of a parameter was presented, since a kernel may refuse some.
std::string labelled(const char* name, double value) {
  std::ostringstream out;
  out << name << " = " << value;
  return out.str();
}

}  // namespace

std::vector<BadInput> bad_inputs() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  const TensorDesc ok = shape(2, 3, 2, 2);
  TensorDesc bad_dtype = ok, bad_layout = ok;
  bad_dtype.dtype = static_cast<DType>(7);
  bad_layout.layout = static_cast<Layout>(9);
  const std::int64_t big = std::int64_t{1} << 20;
  std::vector<BadInput> cases;
  for (Operation op : all_operations) {
    cases.push_back({"N = 0", op, shape(0, 3, 2, 2), {}, "dimension N must be >= 1"});
    cases.push_back({"C < 0", op, shape(2, -1, 2, 2), {}, "dimension C must be >= 1"});
    cases.push_back({"H = 0", op, shape(2, 3, 0, 2), {}, "dimension H must be >= 1"});
    cases.push_back({"W = 0", op, shape(2, 3, 2, 0), {}, "dimension W must be >= 1"});
    cases.push_back({"overflow", op, shape(big, big, big, big), {}, "overflows int64"});
    cases.push_back({"dtype", op, bad_dtype, {}, "unknown dtype code 7"});
    cases.push_back({"layout", op, bad_layout, {}, "unknown layout code 9"});
    cases.push_back({"NULL x", op, ok, {}, "x must not be NULL", 1.0, true});
  }
  for (Operation op : {Operation::bn_forward_train, Operation::renorm_forward_train,
                       Operation::bn_backward, Operation::renorm_backward}) {
    cases.push_back({"M = 1", op, shape(1, 3, 1, 1), {},
                     "expected more than 1 value per channel when training"});
  }
  for (Operation op : {Operation::bn_forward_train, Operation::bn_forward_infer,
                       Operation::renorm_forward_train}) {
    for (double eps : {0.0, -1e-5, nan, inf}) {
      cases.push_back({labelled("eps", eps), op, ok, with_eps(eps), "eps must be > 0 and finite"});
    }
    cases.push_back({"running_var < 0", op, ok, {}, "running_var must be >= 0", -0.5});
  }
  for (Operation op : {Operation::bn_forward_train, Operation::renorm_forward_train}) {
    for (double momentum : {-0.1, 1.5, nan}) {
      cases.push_back({labelled("momentum", momentum), op, ok, with_momentum(momentum),
                       "momentum must be in [0, 1]"});
    }
  }
  for (double rmax : {0.5, 0.0, nan}) {
    cases.push_back({labelled("rmax", rmax), Operation::renorm_forward_train, ok, with_limits(rmax, 1.0),
                     "rmax must be >= 1"});
  }
  for (double dmax : {-1.0, nan}) {
    cases.push_back({labelled("dmax", dmax), Operation::renorm_forward_train, ok, with_limits(2.0, dmax),
                     "dmax must be >= 0"});
  }
  return cases;
}

void present_bad_input(Implementation& impl, const BadInput& bad) {
  // Room for the largest dtype, each value stored in its buffer's dtype (zeros when the dtype
  // code itself is the bad input).
  const OperationSpec& spec = operation_spec(bad.operation);
  std::vector<double> storage[max_operation_buffers];
  OperationBuffers buffers;
  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSpec& buffer = spec.buffers[k];
    const bool running_var = std::string_view(buffer.name) == "running_var";
    const std::vector<double> values(buffer.extent == Extent::tensor ? 256 : 64, running_var ? bad.running_var : 0.5);
    storage[k].assign(values.size(), 0.0);
    store_values(dtype_of(buffer.extent, bad.desc), values.data(), values.size(), storage[k].data());
    buffers[k] = storage[k].data();
  }
  if (bad.null_x) buffers[static_cast<std::size_t>(spec.index_of("x"))] = nullptr;
  call(impl, bad.operation, bad.desc, bad.params, buffers);
}

InputValidation check_input_validation(Implementation& impl) {
  InputValidation result;
  std::set<std::pair<Operation, std::string>> accepted;
  for (BadInput bad : bad_inputs()) {
    if (!impl.supports(bad.operation)) continue;
    const bool known_dtype = bad.desc.dtype == DType::f32 || bad.desc.dtype == DType::f64;
    for (DType dtype : all_dtypes) {
      // An entry whose dtype code is the bad input keeps it; the others run in each data dtype
      // the implementation has, with its default statistics dtype (asked with a well-formed
      // shape, since the bad one is the point).
      if (known_dtype) bad.desc.dtype = dtype;
      TensorDesc probe{2, 1, 1, 1, Layout::nchw, dtype};
      if (!impl.supports(probe)) continue;
      ++result.presented;
      try {
        present_bad_input(impl, bad);
      } catch (const PluginFault& fault) {
        result.faulted.push_back({bad.operation, bad.label, fault.what()});
        continue;
      } catch (const Error&) {
        continue;  // refused, as it must be
      }
      if (accepted.insert({bad.operation, bad.label}).second) {
        result.accepted.push_back({bad.operation, bad.label, {}});
      }
    }
  }
  return result;
}

std::string by_operation(const std::vector<BadInputFinding>& findings) {
  std::map<Operation, std::vector<std::string>> grouped;
  for (const auto& finding : findings) {
    auto& inputs = grouped[finding.operation];
    if (std::find(inputs.begin(), inputs.end(), finding.input) == inputs.end()) inputs.push_back(finding.input);
  }
  std::string text;
  for (const auto& [operation, inputs] : grouped) {
    text += (text.empty() ? "" : "; ") + std::string(to_string(operation)) + ":";
    for (std::size_t i = 0; i < inputs.size(); ++i) text += (i == 0 ? " " : ", ") + inputs[i];
  }
  return text;
}

std::string input_validation_failure(const InputValidation& validation, bool strict) {
  if (!validation.faulted.empty()) {
    const auto& first = validation.faulted.front();
    return "misbehaved on bad input: " + by_operation(validation.faulted) + " (" + first.input +
           " in " + to_string(first.operation) + ": " + first.message + ")";
  }
  if (strict && !validation.accepted.empty()) return "accepted bad input: " + by_operation(validation.accepted);
  return {};
}

}  // namespace bnh
