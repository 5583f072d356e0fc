// What a run measures: the configuration `bnh bench` gives, checked, and turned into the list of
// benchmarks in the order they run, each operation with the bound it is set against
// (bench/bounds.hpp), and each bound once per dtype, shape and thread count.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/bounds.hpp"
#include "bench/suites.hpp"
#include "bnh/implementation.hpp"
#include "bnh/registry.hpp"
#include "bnh/types.hpp"
#include "properties/case.hpp"  // DTypeChoice

namespace bnh::bench {

// Which time a benchmark records. automatic: the process's CPU time at one thread (every
// thread's work counts, time spent waiting for a core on a shared machine does not), wall
// time at more than one (the time a caller waits for the team).
enum class Clock { automatic, cpu, real };
Clock parse_clock(const std::string& text);  // "auto" | "cpu" | "real"
const char* to_string(Clock clock);

// An implementation taking part, and what it is in the comparison. The caller owns it.
struct Contender {
  Implementation* implementation = nullptr;
  Role role = Role::built_in;
};

struct RunConfig {
  std::vector<Shape> shapes;
  std::vector<Contender> contenders;  // empty: every registered implementation, in its role
  std::vector<Operation> operations;  // empty: all five
  std::vector<DTypeChoice> dtypes{DType::f32};
  std::vector<Layout> layouts{Layout::nchw, Layout::nhwc};
  std::vector<int> threads{1};
  // Rounds through every benchmark, each giving one time per benchmark; odd, so that the
  // median is one of the measurements.
  int repetitions = 3;
  double min_time = 0.1;  // seconds per repetition, at least
  Clock clock = Clock::automatic;
};

// Throws bnh::Error for an invalid configuration (even repetitions, a thread count below 1).
void validate(const RunConfig& config);

// "bn_forward_train/nchw/f32/16x64x112x112/t1/openmp"; the dtype is desc's dtypes_label
// ("bf16", "bf16:bf16"), the layout desc's.
std::string benchmark_id(Operation operation, const TensorDesc& desc, const Shape& shape, int threads,
                         const std::string& implementation);
// "copy/f32/16x64x112x112/t1": a bound's kernel on the shape's tensors, labelled like the
// benchmarks set against it (dtypes_label), although it moves no per-channel vector.
std::string bound_id(BoundKind kind, const TensorDesc& desc, const Shape& shape, int threads);

// One benchmark: an operation of a contender, or a bound (no contender).
struct Planned {
  std::string id;
  std::optional<Contender> contender;
  Operation operation = Operation::bn_forward_train;
  BoundKind bound = BoundKind::copy;  // a bound's kernel, or the bound an operation is set against
  TensorDesc desc;
  Shape shape;
  int threads = 1;
  bool cpu_clock = true;
  std::int64_t bytes = 0;  // moved per call: the operation's compulsory traffic, or the bound's

  bool is_bound() const { return !contender; }
  std::string bound_id() const { return bench::bound_id(bound, desc, shape, threads); }
};

// In the order they run: dtype, shape, layout, operation, threads, contender, so that one
// shape's tensors serve all of its benchmarks; a shape's bounds after its operations. Leaves
// out what a contender does not offer (bnh bench says which dtypes, once each). `cache_bytes`:
// the last-level cache the bounds assume.
std::vector<Planned> plan(const RunConfig& config, const std::vector<Contender>& contenders,
                          std::int64_t cache_bytes);

}  // namespace bnh::bench
