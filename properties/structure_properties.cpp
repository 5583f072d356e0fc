// Properties of structure: the same logical tensor in another sample order, layout or shape
// gives the same results, rearranged.
#include "properties/property_checks.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
#include "properties/same_results.hpp"
#include "properties/tolerance.hpp"

namespace bnh::detail {

namespace {

// A copy of the case with its tensor rearranged by `target_of(source index)`.
template <typename Target>
Case rearranged(const Case& tc, const TensorDesc& desc, Target&& target_of) {
  Case result = tc;
  result.desc = desc;
  for (std::int64_t i = 0; i < tc.desc.elements(); ++i) {
    result.x[target_of(i)] = tc.x[i];
    result.dy[target_of(i)] = tc.dy[i];
  }
  return result;
}

// Index maps between layouts and sample orders of one logical tensor.
struct Coordinates {
  std::int64_t n, c, s;
};
Coordinates coordinates(const TensorDesc& desc, std::int64_t i) {
  const std::int64_t spatial = desc.spatial();
  if (desc.layout == Layout::nchw) return {i / (desc.c * spatial), (i / spatial) % desc.c, i % spatial};
  return {i / (spatial * desc.c), i % desc.c, (i / desc.c) % spatial};
}

}  // namespace

// Reversing the order of the samples permutes y and dx the same way and changes nothing else.
BoundFraction batch_permutation_equivariance(Implementation& impl, const Case& tc) {
  const TensorDesc& desc = tc.desc;
  auto target_of = [&](std::int64_t i) {
    const Coordinates at = coordinates(desc, i);
    return desc.offset(desc.n - 1 - at.n, at.c, at.s);
  };
  return same_results(impl, tc, rearranged(tc, desc, target_of), target_of, "after reversing the batch");
}

// NCHW and NHWC hold the same tensor: the results are the same, rearranged.
BoundFraction layout_equivalence(Implementation& impl, const Case& tc) {
  TensorDesc other = tc.desc;
  other.layout = tc.desc.layout == Layout::nchw ? Layout::nhwc : Layout::nchw;
  if (!impl.supports(other)) throw Unsupported("other layout unsupported");
  auto target_of = [&](std::int64_t i) {
    const Coordinates at = coordinates(tc.desc, i);
    return other.offset(at.n, at.c, at.s);
  };
  return same_results(impl, tc, rearranged(tc, other, target_of), target_of,
               std::string("in ") + to_string(other.layout) + " against " + to_string(tc.desc.layout));
}

// An NHWC (N, C, H, W) tensor is the 2-D (N*H*W, C) tensor: same bytes, same results.
BoundFraction four_d_as_two_d(Implementation& impl, const Case& original) {
  TensorDesc nhwc = original.desc;
  nhwc.layout = Layout::nhwc;
  if (!impl.supports(nhwc)) throw Unsupported("nhwc unsupported");
  auto to_nhwc = [&](std::int64_t i) {
    const Coordinates at = coordinates(original.desc, i);
    return nhwc.offset(at.n, at.c, at.s);
  };
  const Case tc = rearranged(original, nhwc, to_nhwc);
  Case two_d = tc;  // the dtypes (data and statistics) kept
  two_d.desc.n = nhwc.n * nhwc.h * nhwc.w;
  two_d.desc.h = two_d.desc.w = 1;
  return same_results(impl, tc, two_d, [](std::int64_t i) { return i; }, "as a 2-D (N*H*W, C) tensor");
}

}  // namespace bnh::detail
