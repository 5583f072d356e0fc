// Named shape suites for the benchmarks (docs/benchmarks.md). A suite is a list of shapes; the
// runner crosses it with implementations, operations, dtypes, layouts and thread counts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bnh::bench {

struct Shape {
  std::int64_t n = 1, c = 1, h = 1, w = 1;
  bool two_d = false;  // an (N, C) input: h = w = 1, written and labelled with two dimensions

  std::int64_t elements() const { return n * c * h * w; }
  // "16x64x56x56", or "4096x1024" for a 2-D input: the form ids and --shapes use.
  std::string label() const;
  std::vector<std::int64_t> dims() const;  // 4 entries, or 2 for a 2-D input
};

struct SuiteOptions {
  std::int64_t n = 16;   // the batch of the resnet50 and quick suites
  // The cache-sweep's range: the L1 data cache and the last-level cache in bytes; the
  // machine's (core/machine.hpp) when left 0.
  std::int64_t l1_data = 0, last_level = 0;
};

// resnet50  N x C x H x W for ResNet-50's batch-norm inputs (N configurable, default 16)
// mlp       2-D (4096,1024), (256,4096), (64,512)
// small-batch  N = 2 and 4 on four ResNet-50 shapes: where batch renorm matters
// cache-sweep  N x 64 x 8 x 8 with x (at f32) doubling from the L1 data cache to 4x the last
//           level cache
// quick     a few shapes of the above, for the main job and CI
std::vector<std::string> suite_names();
std::vector<Shape> suite_shapes(const std::string& name, const SuiteOptions& options = {});

}  // namespace bnh::bench
