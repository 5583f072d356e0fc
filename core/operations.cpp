#include "bnh/operations.hpp"

#include "bnh/implementation.hpp"

namespace bnh {

namespace {

template <typename... Buffers>
void call_member(Implementation& implementation,
                 void (Implementation::*member)(const TensorDesc&, const Params&, Buffers...),
                 const TensorDesc& desc, const Params& params, const OperationBuffers& buffers) {
  spread<sizeof...(Buffers)>(buffers, [&](auto... pointers) { (implementation.*member)(desc, params, pointers...); });
}

// The table's argument lists are Implementation's, buffer for buffer.
static_assert(agrees(operation_spec(Operation::bn_forward_train), &Implementation::bn_forward_train));
static_assert(agrees(operation_spec(Operation::bn_forward_infer), &Implementation::bn_forward_infer));
static_assert(agrees(operation_spec(Operation::bn_backward), &Implementation::bn_backward));
static_assert(agrees(operation_spec(Operation::renorm_forward_train), &Implementation::renorm_forward_train));
static_assert(agrees(operation_spec(Operation::renorm_backward), &Implementation::renorm_backward));

}  // namespace

void call(Implementation& implementation, Operation operation, const TensorDesc& desc,
          const Params& params, const OperationBuffers& buffers) {
  auto& i = implementation;
  switch (operation) {
    case Operation::bn_forward_train: return call_member(i, &Implementation::bn_forward_train, desc, params, buffers);
    case Operation::bn_forward_infer: return call_member(i, &Implementation::bn_forward_infer, desc, params, buffers);
    case Operation::bn_backward: return call_member(i, &Implementation::bn_backward, desc, params, buffers);
    case Operation::renorm_forward_train:
      return call_member(i, &Implementation::renorm_forward_train, desc, params, buffers);
    case Operation::renorm_backward: return call_member(i, &Implementation::renorm_backward, desc, params, buffers);
  }
}

}  // namespace bnh
