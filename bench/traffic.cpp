#include "bench/traffic.hpp"

#include "bnh/operations.hpp"

namespace bnh::bench {

// From the operation table: each buffer moved once, one read and then updated twice, each in
// its own dtype's bytes (2 for bf16 and f16; the vectors in the statistics dtype).
Traffic compulsory_traffic(Operation operation, const TensorDesc& desc) {
  Traffic traffic;
  for (const BufferSpec& buffer : operation_spec(operation)) {
    const std::int64_t moves = buffer.role == BufferRole::in_out ? 2 : 1;
    auto& elements = buffer.extent == Extent::tensor ? traffic.tensor_elements : traffic.vector_elements;
    elements += moves * values_in(buffer.extent, desc);
    traffic.bytes += moves * static_cast<std::int64_t>(bytes_in(buffer.extent, desc));
  }
  return traffic;
}

}  // namespace bnh::bench
