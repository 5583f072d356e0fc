// eigen's views of the harness's buffers: Eigen's scalar for each dtype (its own bfloat16 and
// half for the 16-bit formats), row-major maps of the two layouts, per-channel rows in double,
// and the one rounding of a double result to the stored type. Used by impls/eigen.cpp only.
#pragma once

#include <type_traits>

#include <Eigen/Core>

#include "bnh/reduced_float.hpp"
#include "bnh/types.hpp"

namespace bnh::eigen_views {

using Eigen::Index;

// Eigen's scalar for the bits of a harness dtype: Eigen's own bfloat16 and half for the 16-bit
// formats (their layouts are the same two bytes).
template <typename T>
using EigenScalar = std::conditional_t<std::is_same_v<T, bnh::bfloat16>, Eigen::bfloat16,
                                       std::conditional_t<std::is_same_v<T, bnh::float16>, Eigen::half, T>>;
static_assert(sizeof(Eigen::bfloat16) == sizeof(bnh::bfloat16) && sizeof(Eigen::half) == sizeof(bnh::float16));

// Eigen's scalar for a buffer's element type, const kept.
template <typename T>
using Mapped = std::conditional_t<std::is_const_v<T>, const EigenScalar<std::remove_const_t<T>>, EigenScalar<T>>;

// A buffer of the harness seen as Eigen's scalars.
template <typename T>
Mapped<T>* eigen_data(T* data) {
  return reinterpret_cast<Mapped<T>*>(data);
}

// A double result in Eigen's scalar E, rounded once to nearest even (for the 16-bit types by the
// harness's conversion, whose bits are Eigen's).
template <typename E>
struct RoundedTo {
  E operator()(double value) const {
    if constexpr (std::is_same_v<E, Eigen::bfloat16>) {
      return Eigen::bfloat16_impl::raw_uint16_to_bfloat16(bnh::bfloat16(value).bits());
    } else if constexpr (std::is_same_v<E, Eigen::half>) {
      return Eigen::half_impl::raw_uint16_to_half(bnh::float16(value).bits());
    } else {
      return static_cast<E>(value);
    }
  }
};

template <typename T>
using RowMajor = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A (rows x cols) row-major view of memory whose rows are contiguous; T may be const.
template <typename T>
using View = Eigen::Map<std::conditional_t<std::is_const_v<T>, const RowMajor<std::remove_const_t<T>>,
                                           RowMajor<T>>,
                        Eigen::Unaligned, Eigen::OuterStride<>>;

// One double per channel. A row, like the rows of the NHWC view it is combined with.
using Channels = Eigen::Array<double, 1, Eigen::Dynamic>;

template <typename S>
Channels channels(const S* values, Index count) {
  using Row = Eigen::Array<EigenScalar<S>, 1, Eigen::Dynamic>;
  return Eigen::Map<const Row>(eigen_data(values), count).template cast<double>();
}

template <typename S, typename Expr>
void store_channels(S* out, const Eigen::ArrayBase<Expr>& values) {
  using E = EigenScalar<S>;
  Eigen::Map<Eigen::Array<E, 1, Eigen::Dynamic>>(eigen_data(out), values.size()) = values.unaryExpr(RoundedTo<E>{});
}

bool channels_last(const TensorDesc& desc) {
  return desc.layout == Layout::nhwc || desc.spatial() == 1;
}

// NCHW: sample n as a (C x HW) matrix.
template <typename T>
View<Mapped<T>> sample_block(const TensorDesc& desc, T* data, Index n) {
  const Index hw = desc.spatial();
  return View<Mapped<T>>(eigen_data(data) + n * desc.c * hw, desc.c, hw, Eigen::OuterStride<>(hw));
}

// NHWC (and 2-D): every spatial position of every sample as a row of C channels.
template <typename T>
View<Mapped<T>> position_matrix(const TensorDesc& desc, T* data) {
  return View<Mapped<T>>(eigen_data(data), desc.per_channel(), desc.c, Eigen::OuterStride<>(desc.c));
}

}  // namespace bnh::eigen_views
