#include "bench/bounds.hpp"

#include "bench/bandwidth.hpp"
#include "benchmark/benchmark.h"

namespace bnh::bench {

namespace {

// x's bytes, rounded down to the streaming kernels' 16.
std::int64_t tensor_bytes(const TensorDesc& desc) {
  return desc.elements() * static_cast<std::int64_t>(element_size(desc.dtype)) / 16 * 16;
}

// The bytes of one tensor that one channel's statistics are taken over.
std::int64_t statistics_bytes(const TensorDesc& desc) {
  const bool whole_tensor = desc.layout == Layout::nhwc || desc.spatial() == 1;
  const std::int64_t values = whole_tensor ? desc.elements() : desc.per_channel();
  return values * static_cast<std::int64_t>(element_size(desc.dtype));
}

}  // namespace

const char* to_string(BoundKind kind) {
  switch (kind) {
    case BoundKind::copy: return "copy";
    case BoundKind::read_copy: return "read_copy";
    case BoundKind::read2_copy: return "read2_copy";
  }
  return "copy";
}

BoundKind bound_kind(Operation operation, const TensorDesc& desc, std::int64_t cache_bytes) {
  if (operation == Operation::bn_forward_infer) return BoundKind::copy;
  if (is_backward(operation)) {
    return 2 * statistics_bytes(desc) > cache_bytes ? BoundKind::read2_copy : BoundKind::read_copy;
  }
  return statistics_bytes(desc) > cache_bytes ? BoundKind::read_copy : BoundKind::copy;
}

std::int64_t bound_bytes(BoundKind kind, const TensorDesc& desc) {
  const std::int64_t tensor = tensor_bytes(desc);
  switch (kind) {
    case BoundKind::copy: return 2 * tensor;
    case BoundKind::read_copy: return 3 * tensor;
    case BoundKind::read2_copy: return 5 * tensor;
  }
  return 2 * tensor;
}

void run_bound(BoundKind kind, const TensorDesc& desc, Workspace& workspace, int threads) {
  const std::int64_t bytes = tensor_bytes(desc);
  switch (kind) {
    case BoundKind::copy:
      streaming_copy(workspace.output(), workspace.x(), bytes, threads);
      break;
    case BoundKind::read2_copy:
      benchmark::DoNotOptimize(streaming_read(workspace.dy(), bytes, threads));
      benchmark::DoNotOptimize(streaming_read(workspace.x(), bytes, threads));
      [[fallthrough]];
    case BoundKind::read_copy:
      benchmark::DoNotOptimize(streaming_read(workspace.x(), bytes, threads));
      streaming_copy(workspace.output(), workspace.dy(), bytes, threads);
      break;
  }
}

}  // namespace bnh::bench
