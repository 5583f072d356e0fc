#include "bench/traffic.hpp"

#include "bnh/operations.hpp"

namespace bnh::bench {

// From the operation table: each buffer moved once, one read and then updated twice.
Traffic compulsory_traffic(Operation operation, const TensorDesc& desc) {
  Traffic traffic;
  for (const BufferSpec& buffer : operation_spec(operation)) {
    const std::int64_t moves = buffer.role == BufferRole::in_out ? 2 : 1;
    auto& elements = buffer.extent == Extent::tensor ? traffic.tensor_elements : traffic.vector_elements;
    elements += moves * values_in(buffer.extent, desc);
  }
  traffic.bytes = (traffic.tensor_elements + traffic.vector_elements) *
                  static_cast<std::int64_t>(element_size(desc.dtype));
  return traffic;
}

}  // namespace bnh::bench
