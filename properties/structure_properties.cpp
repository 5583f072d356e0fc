// Properties of structure: the same logical tensor in another sample order, layout or shape
// gives the same results, rearranged.
#include "properties/property_checks.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "properties/execution.hpp"
#include "properties/property_helpers.hpp"
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

template <typename Target>
std::vector<double> moved(const std::vector<double>& values, Target&& target_of) {
  std::vector<double> result(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) result[target_of(static_cast<std::int64_t>(i))] = values[i];
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

// Compares every output of every supported operation on two arrangements of one logical tensor.
template <typename Target>
BoundFraction same_results(Implementation& impl, const Case& tc, const Case& other, Target&& target_of,
                           const std::string& how) {
  BoundFraction worst;
  const double k = 2 * bound_for(tc);
  const DType dtype = tc.desc.dtype;
  for (bool renorm : provided_normalizations(impl, false, impl.supports(Operation::bn_forward_infer))) {
    const std::string op = label(renorm);
    const auto a = run_forward_train(impl, tc, renorm);
    const auto b = run_forward_train(impl, other, renorm);
    const auto scales = forward_scales(tc, a.r, a.d);
    worst.note(expect_close(op + "y " + how, b.y, moved(a.y, target_of), moved(scales.y, target_of), k, dtype));
    worst.note(expect_close(op + "save_mean " + how, b.save_mean, a.save_mean, scales.save_mean, k, dtype));
    worst.note(expect_close(op + "save_invstd " + how, b.save_invstd, a.save_invstd, scales.save_invstd, k, dtype));
    worst.note(expect_close(op + "running_mean " + how, b.running_mean, a.running_mean, scales.running_mean, k, dtype));
    worst.note(expect_close(op + "running_var " + how, b.running_var, a.running_var, scales.running_var, k, dtype));
    if (!impl.supports(backward_op(renorm))) continue;
    const auto back_a = run_backward(impl, tc, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_b = run_backward(impl, other, renorm, a.save_mean, a.save_invstd, a.r, a.d);
    const auto back_scales = backward_scales(tc, a.save_mean, a.save_invstd, a.r, a.d);
    worst.note(expect_close(op + "dx " + how, back_b.dx,
                            moved(back_a.dx, target_of), moved(back_scales.dx, target_of), k, dtype));
    worst.note(expect_close(op + "dgamma " + how, back_b.dgamma, back_a.dgamma, back_scales.dgamma, k, dtype));
    worst.note(expect_close(op + "dbeta " + how, back_b.dbeta, back_a.dbeta, back_scales.dbeta, k, dtype));
  }
  if (impl.supports(Operation::bn_forward_infer)) {
    const auto a = run_forward_infer(impl, tc);
    const auto b = run_forward_infer(impl, other);
    worst.note(expect_close("inference y " + how, b, moved(a, target_of), moved(inference_scales(tc), target_of),
                            2 * rounding_bound, dtype));
  }
  return worst;
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
  TensorDesc flat{nhwc.n * nhwc.h * nhwc.w, nhwc.c, 1, 1, Layout::nhwc, nhwc.dtype};
  Case two_d = tc;
  two_d.desc = flat;
  return same_results(impl, tc, two_d, [](std::int64_t i) { return i; }, "as a 2-D (N*H*W, C) tensor");
}

}  // namespace bnh::detail
