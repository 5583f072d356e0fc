#include "bench/suites.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "bnh/types.hpp"

namespace bnh::bench {

std::string Shape::label() const {
  if (two_d) return std::to_string(n) + "x" + std::to_string(c);
  return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" +
         std::to_string(w);
}

std::vector<std::int64_t> Shape::dims() const {
  if (two_d) return {n, c};
  return {n, c, h, w};
}

std::int64_t parse_cache_size(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return 0;
  std::int64_t value = std::stoll(text.substr(0, digits));
  const std::string suffix = text.substr(digits);
  if (suffix.empty() || suffix == "B") return value;
  if (suffix == "K" || suffix == "KB" || suffix == "KiB") return value << 10;
  if (suffix == "M" || suffix == "MB" || suffix == "MiB") return value << 20;
  if (suffix == "G" || suffix == "GB" || suffix == "GiB") return value << 30;
  return 0;
}

CacheSizes read_cache_sizes() {
  CacheSizes sizes;
  for (int index = 0; index < 16; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream level_file(dir + "level"), type_file(dir + "type"), size_file(dir + "size");
    int level = 0;
    std::string type, size;
    if (!(level_file >> level) || !(type_file >> type) || !(size_file >> size)) continue;
    const std::int64_t bytes = parse_cache_size(size);
    if (level == 1 && type == "Data") sizes.l1d = bytes;
    if (level == 2 && type != "Instruction") sizes.l2 = bytes;
    if (level == 3 && type != "Instruction") sizes.l3 = bytes;
  }
  return sizes;
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
    CacheSizes caches = options.caches;
    if (caches.l1d <= 0 || caches.last_level() <= 0) caches = read_cache_sizes();
    const std::int64_t l1 = caches.l1d > 0 ? caches.l1d : std::int64_t{32} << 10;
    const std::int64_t llc = caches.last_level() > 0 ? caches.last_level() : std::int64_t{32} << 20;
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
