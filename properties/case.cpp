#include "properties/case.hpp"

#include <random>
#include <sstream>

namespace bnh {

std::string Case::summary() const {
  std::ostringstream out;
  out << desc.to_string() << " eps=" << params.eps << " momentum=" << params.momentum
      << " rmax=" << params.rmax << " dmax=" << params.dmax;
  return out.str();
}

Case random_case(const TensorDesc& desc, std::uint64_t seed, const Params& params) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  const bool f32 = desc.dtype == DType::f32;
  auto representable = [f32](double value) { return f32 ? double(float(value)) : value; };

  Case result;
  result.desc = desc;
  result.params = params;
  const auto elements = static_cast<std::size_t>(desc.elements());
  const auto channels = static_cast<std::size_t>(desc.c);
  result.x.resize(elements);
  result.dy.resize(elements);
  for (auto& value : result.x) value = representable(normal(engine));
  for (auto& value : result.dy) value = representable(normal(engine));
  result.gamma.resize(channels);
  result.beta.resize(channels);
  result.running_mean.resize(channels);
  result.running_var.resize(channels);
  for (std::size_t c = 0; c < channels; ++c) {
    result.gamma[c] = representable(1.0 + 0.75 * uniform(engine) * 2);  // in (-0.5, 2.5)
    result.beta[c] = representable(uniform(engine));
    result.running_mean[c] = representable(0.5 * uniform(engine));
    result.running_var[c] = representable(1.0 + 0.9 * uniform(engine));  // in (0.1, 1.9)
  }
  return result;
}

}  // namespace bnh
