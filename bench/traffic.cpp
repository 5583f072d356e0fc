#include "bench/traffic.hpp"

namespace bnh::bench {

Traffic compulsory_traffic(Operation operation, const TensorDesc& desc) {
  int tensors = 0, vectors = 0;
  switch (operation) {
    case Operation::bn_forward_train: tensors = 2; vectors = 4 + 4; break;
    case Operation::bn_forward_infer: tensors = 2; vectors = 4; break;
    case Operation::bn_backward: tensors = 3; vectors = 5; break;
    case Operation::renorm_forward_train: tensors = 2; vectors = 6 + 4; break;
    case Operation::renorm_backward: tensors = 3; vectors = 7; break;
  }
  Traffic traffic;
  traffic.tensor_elements = tensors * desc.elements();
  traffic.vector_elements = vectors * desc.c;
  traffic.bytes = (traffic.tensor_elements + traffic.vector_elements) *
                  static_cast<std::int64_t>(element_size(desc.dtype));
  return traffic;
}

}  // namespace bnh::bench
