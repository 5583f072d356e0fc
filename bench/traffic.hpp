// The compulsory-traffic model: the bytes an operation must move between memory and the core
// at the least, whatever the implementation (docs/benchmarks.md, "Traffic model").
//
// Each tensor or per-channel vector the operation reads counts once, each it writes counts
// once, a vector it reads and then updates (the running statistics) counts twice. With E
// elements (N*C*H*W) and C channels:
//
//   bn_forward_train      x, y: 2E   gamma, beta, save_mean, save_invstd: 4C   running: 4C
//   bn_forward_infer      x, y: 2E   gamma, beta, running_mean, running_var: 4C
//   bn_backward           dy, x, dx: 3E   gamma, save_mean, save_invstd, dgamma, dbeta: 5C
//   renorm_forward_train  x, y: 2E   gamma, beta, save_mean, save_invstd, r, d: 6C   running: 4C
//   renorm_backward       dy, x, dx: 3E   gamma, save_mean, save_invstd, r, d, dgamma, dbeta: 7C
//
// each tensor element s bytes (the data dtype: 2 for bf16 and f16) and each vector element the
// statistics dtype's (4 for mixed bf16, 2 for pure). It is a lower bound: a two-pass training forward on a tensor larger than the
// last-level cache reads x twice and moves 3E, and a store that misses the cache without a
// streaming store reads the line first (write-allocate). The bandwidth a benchmark attains is
// this traffic over its time, so such an implementation cannot reach the streaming bandwidth.
#pragma once

#include <cstdint>

#include "bnh/types.hpp"

namespace bnh::bench {

struct Traffic {
  std::int64_t tensor_elements = 0;   // elements of the full-size tensors moved (multiples of E)
  std::int64_t vector_elements = 0;   // elements of the per-channel vectors moved (multiples of C)
  std::int64_t bytes = 0;             // both, each in its own dtype's element size
};

Traffic compulsory_traffic(Operation operation, const TensorDesc& desc);
inline std::int64_t compulsory_bytes(Operation operation, const TensorDesc& desc) {
  return compulsory_traffic(operation, desc).bytes;
}

}  // namespace bnh::bench
