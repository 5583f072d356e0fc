#include "bench/workspace.hpp"

#include <algorithm>
#include <new>
#include <random>

namespace bnh::bench {

namespace {

// The value a per-channel vector starts at: gamma and beta away from the trivial 1 and 0, the
// running variance 1, everything else (outputs, the running mean) 0.
double initial_value(const std::string& name) {
  if (name == "gamma") return 1.5;
  if (name == "beta") return 0.25;
  if (name == "running_var") return 1;
  return 0;
}

// x and dy hold standard-normal data with seeds of their own; the output starts at 0.
std::uint64_t seed_of(const std::string& name) { return name == "x" ? 42 : name == "dy" ? 43 : 0; }

// y and dx are one buffer: no operation has both.
std::string storage_of(const std::string& name) { return name == "dx" ? "y" : name; }

}  // namespace

void Workspace::prepare(const TensorDesc& desc) {
  const bool same = elements_ == desc.elements() && channels_ == desc.c && data_ == desc.dtype &&
                    stats_ == desc.stats_dtype();
  if (same) return;
  tensors_.clear();  // free the previous shape's tensors first
  vectors_.clear();
  elements_ = desc.elements();
  channels_ = desc.c;
  data_ = desc.dtype;
  stats_ = desc.stats_dtype();
  for (const char* name : {"x", "dy", "y"}) tensor(name);
}

void Workspace::reset_running_statistics() {
  for (const char* name : {"running_mean", "running_var"}) {
    vectors_.erase(name);
    vector(name);
  }
}

OperationBuffers Workspace::buffers(Operation operation) {
  OperationBuffers buffers;
  std::size_t k = 0;
  for (const BufferSpec& spec : operation_spec(operation)) {
    buffers[k++] = spec.extent == Extent::tensor ? tensor(spec.name) : vector(spec.name);
  }
  return buffers;
}

void* Workspace::tensor(const std::string& name) {
  const std::string stored = storage_of(name);
  return allocated(tensors_, stored, elements_, data_, seed_of(stored), 0.0);
}

void* Workspace::vector(const std::string& name) {
  return allocated(vectors_, name, channels_, stats_, 0, initial_value(name));
}

void* Workspace::allocated(std::map<std::string, Buffer>& buffers, const std::string& name, std::int64_t count,
                           DType dtype, std::uint64_t seed, double value) {
  const auto found = buffers.find(name);
  if (found != buffers.end()) return found->second.get();
  const std::size_t bytes = (static_cast<std::size_t>(count) * element_size(dtype) + 63) / 64 * 64;
  Buffer buffer(static_cast<unsigned char*>(std::aligned_alloc(64, bytes)));
  if (buffer == nullptr) throw std::bad_alloc();
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  // Filled in blocks through doubles, each value rounded once to the dtype.
  constexpr std::int64_t block = 4096;
  double values[block];
  for (std::int64_t start = 0; start < count; start += block) {
    const std::int64_t length = std::min(block, count - start);
    for (std::int64_t i = 0; i < length; ++i) values[i] = seed != 0 ? normal(engine) : value;
    store_values(dtype, values, static_cast<std::size_t>(length),
                 buffer.get() + static_cast<std::size_t>(start) * element_size(dtype));
  }
  return buffers.emplace(name, std::move(buffer)).first->second.get();
}

}  // namespace bnh::bench
