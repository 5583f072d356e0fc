#include "properties/execution.hpp"

#include <cstddef>
#include <map>
#include <string_view>

#include "bnh/operations.hpp"

namespace bnh {

namespace {

using Inputs = std::map<std::string_view, const std::vector<double>*>;
using Results = std::map<std::string_view, std::vector<double>>;

// Runs `operation` with the values of `inputs` (by buffer name) converted to their dtypes,
// and returns every buffer it writes or updates, by name, converted back. An optional buffer
// not among the inputs is passed as NULL (and not returned).
Results execute(Implementation& implementation, Operation operation, const Case& tc, const Inputs& inputs) {
  const OperationSpec& spec = operation_spec(operation);
  Results results;
  OperationBuffers buffers;
  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSpec& buffer = spec.buffers[k];
    const auto given = inputs.find(buffer.name);
    const auto count = static_cast<std::size_t>(values_in(buffer.extent, tc.desc));
    if (buffer.role != BufferRole::output && given != inputs.end()) {
      if (given->second->size() != count) {
        throw Error(std::string(to_string(operation)) + ": the case's " + buffer.name + " has the wrong length");
      }
    } else if (buffer.role != BufferRole::output && buffer.optional) {
      continue;
    } else if (buffer.role != BufferRole::output) {
      throw Error(std::string(to_string(operation)) + ": the case gives no " + buffer.name);
    }
    std::vector<double>& values = results[buffer.name];
    if (buffer.role == BufferRole::output) {
      values.resize(count);
    } else {
      values = *given->second;
    }
    buffers[k] = values.data();
  }
  InDoubles(implementation).run(operation, tc.desc, tc.params, buffers);
  for (std::size_t k = 0; k < spec.count; ++k) {
    if (spec.buffers[k].role == BufferRole::input) results.erase(spec.buffers[k].name);
  }
  return results;
}

}  // namespace

void InDoubles::run(Operation operation, const TensorDesc& desc, const Params& params,
                    const OperationBuffers& buffers) {
  const OperationSpec& spec = operation_spec(operation);
  std::vector<std::byte> storage[max_operation_buffers];
  OperationBuffers typed;
  for (std::size_t k = 0; k < spec.count; ++k) {
    if (buffers[k] == nullptr) continue;  // an optional buffer not given
    const BufferSpec& buffer = spec.buffers[k];
    storage[k].resize(bytes_in(buffer.extent, desc));
    if (buffer.role != BufferRole::output) {
      store_values(dtype_of(buffer.extent, desc), static_cast<const double*>(buffers[k]),
                   static_cast<std::size_t>(values_in(buffer.extent, desc)), storage[k].data());
    }
    typed[k] = storage[k].data();
  }
  call(wrapped_, operation, desc, params, typed);
  for (std::size_t k = 0; k < spec.count; ++k) {
    if (spec.buffers[k].role == BufferRole::input || buffers[k] == nullptr) continue;
    load_values(dtype_of(spec.buffers[k].extent, desc), storage[k].data(),
                static_cast<std::size_t>(values_in(spec.buffers[k].extent, desc)), static_cast<double*>(buffers[k]));
  }
}

ForwardOutputs run_forward_train(Implementation& impl, const Case& tc, bool renorm, bool track_running) {
  Inputs inputs{{"x", &tc.x}, {"gamma", &tc.gamma}, {"beta", &tc.beta}};
  if (renorm || track_running) {
    inputs["running_mean"] = &tc.running_mean;
    inputs["running_var"] = &tc.running_var;
  }
  const auto operation = renorm ? Operation::renorm_forward_train : Operation::bn_forward_train;
  Results results = execute(impl, operation, tc, inputs);
  ForwardOutputs outputs;
  outputs.y = std::move(results["y"]);
  outputs.save_mean = std::move(results["save_mean"]);
  outputs.save_invstd = std::move(results["save_invstd"]);
  outputs.r = std::move(results["r"]);  // renorm only: empty for batch norm
  outputs.d = std::move(results["d"]);
  outputs.running_mean = std::move(results["running_mean"]);  // empty when not tracked
  outputs.running_var = std::move(results["running_var"]);
  return outputs;
}

std::vector<double> run_forward_infer(Implementation& impl, const Case& tc) {
  const Inputs inputs{{"x", &tc.x}, {"gamma", &tc.gamma}, {"beta", &tc.beta},
                      {"running_mean", &tc.running_mean}, {"running_var", &tc.running_var}};
  return std::move(execute(impl, Operation::bn_forward_infer, tc, inputs)["y"]);
}

BackwardOutputs run_backward(Implementation& impl, const Case& tc, bool renorm,
                             const std::vector<double>& save_mean,
                             const std::vector<double>& save_invstd,
                             const std::vector<double>& r, const std::vector<double>& d) {
  Inputs inputs{{"dy", &tc.dy}, {"x", &tc.x}, {"gamma", &tc.gamma},
                {"save_mean", &save_mean}, {"save_invstd", &save_invstd}};
  if (renorm) {
    inputs["r"] = &r;
    inputs["d"] = &d;
  }
  const auto operation = renorm ? Operation::renorm_backward : Operation::bn_backward;
  Results results = execute(impl, operation, tc, inputs);
  return {std::move(results["dx"]), std::move(results["dgamma"]), std::move(results["dbeta"])};
}

}  // namespace bnh
