// The traffic an operation cannot avoid, done by plain kernels on the benchmark's own tensors:
// the bar an operation's time is set against, measured in the same rounds as the operations
// (docs/benchmarks.md, "Bounds").
//
//   copy        x into y: 2E. A forward pass reads x and writes y; no kernel moves less.
//   read_copy   a read of x, then dy copied into dx: 3E. A backward pass reads dy and x and
//               writes dx. Also the training forward pass whose statistics cannot stay in the
//               cache: every value of a channel must be read before its first output, so x is
//               read twice (E then 2E).
//   read2_copy  dy and x read, then x read again and dy copied into dx: 5E. The backward pass
//               whose reductions cannot stay in the cache.
//
// E is x's bytes (rounded down to 16). What must stay in the cache for one pass to do is the
// values one channel's statistics are taken over: the channel's own runs in NCHW, the whole
// tensor in NHWC (and in NCHW when H x W is 1, where a channel's values are C apart), of x for
// a training forward pass and of x and dy for a backward pass. Inference needs no statistics.
#pragma once

#include <cstdint>
#include <string>

#include "bench/workspace.hpp"
#include "bnh/types.hpp"

namespace bnh::bench {

enum class BoundKind { copy, read_copy, read2_copy };
const char* to_string(BoundKind kind);  // "copy", "read_copy", "read2_copy"

// The bound of `operation` on `desc`, when `cache_bytes` is the last-level cache.
BoundKind bound_kind(Operation operation, const TensorDesc& desc, std::int64_t cache_bytes);

// The bytes its kernel moves for `desc`.
std::int64_t bound_bytes(BoundKind kind, const TensorDesc& desc);

// Runs the kernel once on `workspace` (prepared for `desc`) with a team of `threads`.
void run_bound(BoundKind kind, const TensorDesc& desc, Workspace& workspace, int threads);

}  // namespace bnh::bench
