// The tensors of one shape and dtype that every benchmark of that shape runs on, named as the
// operation table names them (bnh/operations.hpp): x and dy, one output for y or dx, and the
// per-channel vectors. Each buffer holds its own dtype (dtype_of: the data dtype for tensors,
// the statistics dtype for vectors), so a bf16 benchmark streams 2-byte elements. I.i.d. random
// data is the same in either layout, so one workspace serves both; it is rebuilt when the shape
// or a dtype changes (the benchmarks are planned shape by shape).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "bnh/operations.hpp"
#include "bnh/types.hpp"

namespace bnh::bench {

class Workspace {
 public:
  // Allocates (64-byte aligned, written once so that page faults stay out of the timings) for
  // `desc`'s shape and dtypes, unless it already holds them.
  void prepare(const TensorDesc& desc);
  // Running statistics back to mean 0, variance 1: every benchmark starts from them.
  void reset_running_statistics();
  // The buffers of `operation`, in the table's order.
  OperationBuffers buffers(Operation operation);

  void* x() { return tensor("x"); }
  void* dy() { return tensor("dy"); }
  void* output() { return tensor("y"); }  // y and dx share it

 private:
  struct FreeDeleter {
    void operator()(void* pointer) const { std::free(pointer); }
  };
  using Buffer = std::unique_ptr<unsigned char[], FreeDeleter>;

  void* tensor(const std::string& name);
  void* vector(const std::string& name);
  // The buffer called `name` in `buffers`, made on first use with `count` values of `dtype`:
  // standard normal from `seed` when it is not 0, else all `value`.
  void* allocated(std::map<std::string, Buffer>& buffers, const std::string& name, std::int64_t count,
                  DType dtype, std::uint64_t seed, double value);

  std::int64_t elements_ = -1, channels_ = -1;
  DType data_ = DType::f32, stats_ = DType::f32;
  std::map<std::string, Buffer> tensors_, vectors_;
};

}  // namespace bnh::bench
