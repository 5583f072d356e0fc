#include "bench/suites.hpp"

#include <algorithm>

#include "bnh/types.hpp"
#include "core/machine.hpp"

namespace bnh::bench {

std::string Shape::label() const { return shape_label(dims()); }

std::vector<std::int64_t> Shape::dims() const {
  if (two_d) return {n, c};
  return {n, c, h, w};
}

std::vector<std::string> suite_names() {
  return {"resnet50", "mlp", "small-batch", "cache-sweep", "quick"};
}

namespace {

Shape image(std::int64_t n, std::int64_t c, std::int64_t hw) { return {n, c, hw, hw, false}; }
Shape matrix(std::int64_t n, std::int64_t c) { return {n, c, 1, 1, true}; }

}  // namespace

std::vector<Shape> suite_shapes(const std::string& name, const SuiteOptions& options) {
  const std::int64_t n = options.n;
  if (name == "resnet50") {
    return {image(n, 64, 112), image(n, 64, 56),  image(n, 256, 56),
            image(n, 128, 28), image(n, 512, 28), image(n, 256, 14),
            image(n, 1024, 14), image(n, 512, 7), image(n, 2048, 7)};
  }
  if (name == "mlp") return {matrix(4096, 1024), matrix(256, 4096), matrix(64, 512)};
  if (name == "small-batch") {
    std::vector<Shape> shapes;
    for (std::int64_t batch : {2, 4}) {
      for (const Shape& shape : {image(batch, 64, 56), image(batch, 128, 28), image(batch, 256, 14),
                                 image(batch, 512, 7)}) {
        shapes.push_back(shape);
      }
    }
    return shapes;
  }
  if (name == "cache-sweep") {
    const CacheSizes& caches = machine().caches;  // with its fallbacks
    const std::int64_t l1 = options.l1_data > 0 ? options.l1_data : caches.l1_data;
    const std::int64_t llc = options.last_level > 0 ? options.last_level : caches.last_level;
    const std::int64_t per_sample = 64 * 8 * 8 * 4;  // bytes of one sample of x at f32
    std::vector<Shape> shapes;
    for (std::int64_t batch = std::max<std::int64_t>(2, (l1 + per_sample - 1) / per_sample);
         batch * per_sample <= 4 * llc; batch *= 2) {
      shapes.push_back(image(batch, 64, 8));
    }
    return shapes;
  }
  if (name == "quick") {
    return {image(n, 256, 56), image(n, 512, 7), matrix(256, 4096), image(2, 256, 14)};
  }
  std::string known;
  for (const auto& suite : suite_names()) known += (known.empty() ? "" : ", ") + suite;
  throw Error("unknown suite '" + name + "' (suites: " + known + ")");
}

}  // namespace bnh::bench
