// eigen: SPEC.md sections 2 and 3 written as Eigen maps, reductions and array expressions, on one
// thread.
//
// Views. NCHW is N blocks, one per sample, each a (C x HW) row-major matrix: channel c is row c
// of every block. NHWC is one (N*HW) x C row-major matrix: channel c is column c. A 2-D input is
// the same bytes in both layouts and takes the NHWC view, whose rows are long enough to vectorize
// (the NCHW view would have rows of one element).
//
// Accuracy. All arithmetic is in double. Statistics are two-pass (mean, then the sum of squared
// deviations) over pieces small enough to stay in L1 -- a stretch of an NCHW row, a tile of the
// NHWC matrix -- folded together with Chan, Golub and LeVeque's update, so E[x^2] - E[x]^2 never
// appears and a large mean does not cancel the variance away; the batch mean is the total sum
// over M. x is read from memory once for the statistics and once for the output.
//
// Speed. Eigen 3.4 vectorizes no cast, so a cast inside a sum would add one element at a time.
// f32 pieces are therefore widened into a double scratch piece first (a plain conversion loop
// the compiler vectorizes), and every reduction runs on Eigen's double packets. Element-wise
// outputs are one expression per row, rounded to T once, when stored. Eigen 3.4 does not
// vectorize broadcasts (m.rowwise() - v) either, so per-channel rows are combined row by row.
//
// bf16 and f16. The kernels take two types, the data T and the statistics S (f32, or the data
// dtype in the pure mode). The 16-bit buffers are mapped as Eigen's own Eigen::bfloat16 and
// Eigen::half (the same bits), which widen to float exactly; pieces are widened to double like
// f32's, so the statistics are accumulated in double whatever the data. Eigen converts a double
// to its 16-bit types through float, rounding twice; outputs are instead rounded once, to
// nearest even, straight from the double result.
#include <algorithm>
#include <cmath>
#include <type_traits>

// GCC 12 reports its own AVX-512 intrinsics (_mm256_undefined_pd, reached from Eigen's packet
// reductions) as maybe-uninitialized; the value is deliberately undefined and never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>

#include "bnh/kernels.hpp"
#include "bnh/reduced_float.hpp"
#include "bnh/registry.hpp"
#include "impls/eigen_views.hpp"

namespace {

using bnh::Layout;
using bnh::Params;
using bnh::TensorDesc;
using Eigen::Index;
using namespace bnh::eigen_views;

// Pieces are widened and reduced at most about 1024 elements at a time: two widened pieces
// (8 KiB each) stay in L1 next to the data streaming in. Whole rows of a large image (up to
// 100 KiB widened) spill to L2, and the widening then runs markedly slower.
constexpr Index piece_elements = 1024;

// NHWC tiles: at most 64 channels wide and at least 16 rows deep, so that folding a tile's
// statistics into the totals (a few operations per channel) is small next to the tile's work.
Index tile_cols(const TensorDesc& desc) { return std::min<Index>(desc.c, 64); }
Index tile_rows(const TensorDesc& desc) {
  return std::max<Index>(16, piece_elements / tile_cols(desc));
}

// Calls visit(first, size) for nearly equal spans of [0, length), none longer than `most`.
template <typename Visit>
void for_each_span(Index length, Index most, Visit&& visit) {
  const Index spans = (length + most - 1) / most;
  const Index base = length / spans, longer = length % spans;
  for (Index span = 0, first = 0; span < spans; ++span) {
    const Index size = base + (span < longer ? 1 : 0);
    visit(first, size);
    first += size;
  }
}

// Calls visit(first_row, rows, first_channel, channels) for every tile of the NHWC view.
template <typename Visit>
void for_each_tile(const TensorDesc& desc, Visit&& visit) {
  for_each_span(desc.per_channel(), tile_rows(desc), [&](Index first_row, Index rows) {
    for_each_span(desc.c, tile_cols(desc), [&](Index first_channel, Index count) {
      visit(first_row, rows, first_channel, count);
    });
  });
}

// Room for the largest piece a kernel widens; f64 pieces are used in place and need none.
template <typename T>
Eigen::ArrayXd widening_scratch(const TensorDesc& desc) {
  if (std::is_same_v<T, double>) return {};
  return Eigen::ArrayXd(channels_last(desc) ? tile_rows(desc) * tile_cols(desc) : piece_elements);
}

using Widened = Eigen::Map<const RowMajor<double>, Eigen::Unaligned, Eigen::OuterStride<>>;

// A piece of tensor memory (rows contiguous) seen as double: the memory itself for f64, a
// widened copy in `scratch` for f32, bf16 and f16.
template <typename Piece>
Widened widened(const Eigen::DenseBase<Piece>& piece, Eigen::ArrayXd& scratch) {
  using T = typename Piece::Scalar;
  const Index rows = piece.rows(), cols = piece.cols();
  if constexpr (std::is_same_v<T, double>) {
    return {piece.derived().data(), rows, cols, Eigen::OuterStride<>(piece.derived().outerStride())};
  } else {
    Eigen::Map<RowMajor<double>> wide(scratch.data(), rows, cols);
    for (Index i = 0; i < rows; ++i) wide.row(i) = piece.derived().row(i).template cast<double>();
    return {scratch.data(), rows, cols, Eigen::OuterStride<>(cols)};
  }
}

// A double expression written to tensor memory, rounded once per element.
template <typename Piece, typename Expr>
void store(Piece&& piece, const Eigen::ArrayBase<Expr>& value) {
  using E = typename std::decay_t<Piece>::Scalar;
  piece = value.unaryExpr(RoundedTo<E>{});
}

// Chan, Golub and LeVeque: folds a part (part_count values with sum part_sum and sum of squared
// deviations part_m2) into running sum and M2 over count values. Sums rather than means are
// carried so that the batch mean ends as one division of one sum, as in naive.cpp: a
// subnormal mean then comes out correctly rounded and the same in either layout. Running and
// Part are double for one channel, or Eigen arrays for several.
template <typename Running, typename Part>
void merge(double count, double part_count, Running&& sum, Running&& m2, const Part& part_sum,
           const Part& part_m2) {
  if (count == 0) {  // nothing to fold into yet (and sum / count below would be 0 / 0)
    sum = part_sum;
    m2 = part_m2;
    return;
  }
  const auto delta = part_sum / part_count - sum / count;  // the difference of the means
  m2 += part_m2 + delta * delta * (count * part_count / (count + part_count));
  sum += part_sum;
}

// Batch mean and M2 (sum of squared deviations) of every channel.
struct Moments {
  double count;
  Channels mean, m2;
  Channels biased_variance() const { return m2 / count; }
};

template <typename T>
Moments batch_moments(const TensorDesc& desc, const T* x) {
  Channels sum = Channels::Zero(desc.c), m2 = Channels::Zero(desc.c);
  Eigen::ArrayXd scratch = widening_scratch<T>(desc);
  if (channels_last(desc)) {
    const auto X = position_matrix(desc, x);
    Channels part_sum(tile_cols(desc)), part_mean(tile_cols(desc)), part_m2(tile_cols(desc));
    for_each_tile(desc, [&](Index first_row, Index rows, Index first_channel, Index count) {
      const auto tile = widened(X.block(first_row, first_channel, rows, count), scratch);
      auto tile_sum = part_sum.head(count), tile_mean = part_mean.head(count);
      auto tile_m2 = part_m2.head(count);
      tile_sum = tile.colwise().sum();
      tile_mean = tile_sum / rows;
      tile_m2.setZero();
      for (Index i = 0; i < rows; ++i) tile_m2 += (tile.row(i) - tile_mean).square();
      merge(static_cast<double>(first_row), static_cast<double>(rows),
            sum.segment(first_channel, count), m2.segment(first_channel, count), tile_sum, tile_m2);
    });
  } else {
    const Index hw = desc.spatial();
    for (Index n = 0; n < desc.n; ++n) {
      const auto X = sample_block(desc, x, n);
      for (Index c = 0; c < desc.c; ++c) {
        for_each_span(hw, piece_elements, [&](Index first, Index size) {
          const auto piece = widened(X.row(c).segment(first, size), scratch);
          const double piece_sum = piece.sum();
          const double piece_m2 = (piece - piece_sum / size).square().sum();
          merge(static_cast<double>(n * hw + first), static_cast<double>(size), sum(c), m2(c),
                piece_sum, piece_m2);
        });
      }
    }
  }
  const double count = static_cast<double>(desc.per_channel());
  return {count, sum / count, m2};
}

// y = (x - center) * scale + shift, per channel: every forward output has this form.
template <typename T>
void affine(const TensorDesc& desc, const T* x, const Channels& center, const Channels& scale,
            const Channels& shift, T* y) {
  if (channels_last(desc)) {
    const auto X = position_matrix(desc, x);
    auto Y = position_matrix(desc, y);
    for (Index i = 0; i < X.rows(); ++i) {
      store(Y.row(i), (X.row(i).template cast<double>() - center) * scale + shift);
    }
  } else {
    for (Index n = 0; n < desc.n; ++n) {
      const auto X = sample_block(desc, x, n);
      auto Y = sample_block(desc, y, n);
      for (Index c = 0; c < desc.c; ++c) {
        store(Y.row(c), (X.row(c).template cast<double>() - center(c)) * scale(c) + shift(c));
      }
    }
  }
}

// PyTorch's update: momentum weights the new batch; the running variance is unbiased.
template <typename S>
void update_running(const TensorDesc& desc, const Params& params, const Moments& batch,
                    S* running_mean, S* running_var) {
  const double m = params.momentum;
  const double count = static_cast<double>(desc.per_channel());
  const Channels unbiased = batch.biased_variance() * (count / (count - 1));
  store_channels(running_mean, (1 - m) * channels(running_mean, desc.c) + m * batch.mean);
  store_channels(running_var, (1 - m) * channels(running_var, desc.c) + m * unbiased);
}

// Per-channel sums of the backward pass: sum dy and sum dy * xhat.
struct GradientSums {
  Channels dy, dy_xhat;
};

template <typename T>
GradientSums gradient_sums(const TensorDesc& desc, const T* dy, const T* x,
                           const Channels& mean, const Channels& invstd) {
  GradientSums sums{Channels::Zero(desc.c), Channels::Zero(desc.c)};
  // sum dy (x - mean), scaled by invstd once at the end.
  Channels dy_centered = Channels::Zero(desc.c);
  Eigen::ArrayXd dy_scratch = widening_scratch<T>(desc), x_scratch = widening_scratch<T>(desc);
  if (channels_last(desc)) {
    const auto DY = position_matrix(desc, dy);
    const auto X = position_matrix(desc, x);
    for_each_tile(desc, [&](Index first_row, Index rows, Index first_channel, Index count) {
      const auto dy_tile = widened(DY.block(first_row, first_channel, rows, count), dy_scratch);
      const auto x_tile = widened(X.block(first_row, first_channel, rows, count), x_scratch);
      const auto tile_mean = mean.segment(first_channel, count);
      auto centered = dy_centered.segment(first_channel, count);
      sums.dy.segment(first_channel, count) += dy_tile.colwise().sum();
      for (Index i = 0; i < rows; ++i) centered += dy_tile.row(i) * (x_tile.row(i) - tile_mean);
    });
  } else {
    for (Index n = 0; n < desc.n; ++n) {
      const auto DY = sample_block(desc, dy, n);
      const auto X = sample_block(desc, x, n);
      for (Index c = 0; c < desc.c; ++c) {
        for_each_span(desc.spatial(), piece_elements, [&](Index first, Index size) {
          const auto dy_piece = widened(DY.row(c).segment(first, size), dy_scratch);
          const auto x_piece = widened(X.row(c).segment(first, size), x_scratch);
          sums.dy(c) += dy_piece.sum();
          dy_centered(c) += (dy_piece * (x_piece - mean(c))).sum();
        });
      }
    }
  }
  sums.dy_xhat = dy_centered * invstd;
  return sums;
}

// dx = scale / M (M dy - sum dy - xhat sum(dy xhat)), with scale = gamma invstd for batch norm
// and gamma r invstd for renorm. With xhat = (x - mean) invstd that is
//   dx = dy scale - (x - mean) slope - offset,
//   slope = scale invstd sum(dy xhat) / M,  offset = scale sum(dy) / M.
template <typename T>
void input_gradient(const TensorDesc& desc, const T* dy, const T* x, const Channels& mean,
                    const Channels& invstd, const Channels& scale, const GradientSums& sums,
                    T* dx) {
  const double count = static_cast<double>(desc.per_channel());
  const Channels slope = scale * invstd * sums.dy_xhat / count;
  const Channels offset = scale * sums.dy / count;
  if (channels_last(desc)) {
    const auto DY = position_matrix(desc, dy);
    const auto X = position_matrix(desc, x);
    auto DX = position_matrix(desc, dx);
    for (Index i = 0; i < X.rows(); ++i) {
      store(DX.row(i), DY.row(i).template cast<double>() * scale -
                           (X.row(i).template cast<double>() - mean) * slope - offset);
    }
  } else {
    for (Index n = 0; n < desc.n; ++n) {
      const auto DY = sample_block(desc, dy, n);
      const auto X = sample_block(desc, x, n);
      auto DX = sample_block(desc, dx, n);
      for (Index c = 0; c < desc.c; ++c) {
        store(DX.row(c), DY.row(c).template cast<double>() * scale(c) -
                             (X.row(c).template cast<double>() - mean(c)) * slope(c) - offset(c));
      }
    }
  }
}

// Limits value to [low, high]; NaN passes through so that a non-finite channel stays visibly
// non-finite (comparisons with NaN are false).
Channels clamp(const Channels& value, double low, double high) {
  return (value < low).select(low, (high < value).select(high, value));
}

struct EigenKernels {
  static constexpr const char* name = "eigen";
  static constexpr const char* description =
      "Eigen maps and array expressions, one thread; two-pass tile statistics in double, "
      "merged across tiles; bf16 and f16 as Eigen::bfloat16 and Eigen::half";

  static bool supports(const TensorDesc&) { return true; }

  template <typename T, typename S>
  static void bn_forward_train(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, T* y, S* save_mean, S* save_invstd,
                               S* running_mean, S* running_var) {
    const Moments batch = batch_moments(desc, x);
    const Channels invstd = (batch.biased_variance() + params.eps).sqrt().inverse();
    affine(desc, x, batch.mean, channels(gamma, desc.c) * invstd, channels(beta, desc.c), y);
    store_channels(save_mean, batch.mean);
    store_channels(save_invstd, invstd);
    if (running_mean != nullptr) update_running(desc, params, batch, running_mean, running_var);
  }

  template <typename T, typename S>
  static void bn_forward_infer(const TensorDesc& desc, const Params& params, const T* x,
                               const S* gamma, const S* beta, const S* running_mean,
                               const S* running_var, T* y) {
    const Channels invstd = (channels(running_var, desc.c) + params.eps).sqrt().inverse();
    affine(desc, x, channels(running_mean, desc.c), channels(gamma, desc.c) * invstd,
           channels(beta, desc.c), y);
  }

  template <typename T, typename S>
  static void bn_backward(const TensorDesc& desc, const Params&, const T* dy, const T* x,
                          const S* gamma, const S* save_mean, const S* save_invstd, T* dx,
                          S* dgamma, S* dbeta) {
    const Channels mean = channels(save_mean, desc.c), invstd = channels(save_invstd, desc.c);
    const GradientSums sums = gradient_sums(desc, dy, x, mean, invstd);
    input_gradient(desc, dy, x, mean, invstd, channels(gamma, desc.c) * invstd, sums, dx);
    store_channels(dbeta, sums.dy);
    store_channels(dgamma, sums.dy_xhat);
  }

  template <typename T, typename S>
  static void renorm_forward_train(const TensorDesc& desc, const Params& params, const T* x,
                                   const S* gamma, const S* beta, T* y, S* save_mean,
                                   S* save_invstd, S* r_out, S* d_out, S* running_mean,
                                   S* running_var) {
    const Moments batch = batch_moments(desc, x);
    const Channels sigma_batch = (batch.biased_variance() + params.eps).sqrt();
    // r and d come from the running statistics before this step updates them.
    const Channels sigma_running = (channels(running_var, desc.c) + params.eps).sqrt();
    const Channels r = clamp(sigma_batch / sigma_running, 1 / params.rmax, params.rmax);
    const Channels d = clamp((batch.mean - channels(running_mean, desc.c)) / sigma_running,
                             -params.dmax, params.dmax);
    // y = gamma (xhat r + d) + beta = (x - mean) (gamma r / sigma_B) + (gamma d + beta)
    const Channels gamma_c = channels(gamma, desc.c);
    affine(desc, x, batch.mean, gamma_c * r / sigma_batch, gamma_c * d + channels(beta, desc.c), y);
    store_channels(save_mean, batch.mean);
    store_channels(save_invstd, sigma_batch.inverse());
    store_channels(r_out, r);
    store_channels(d_out, d);
    update_running(desc, params, batch, running_mean, running_var);
  }

  template <typename T, typename S>
  static void renorm_backward(const TensorDesc& desc, const Params&, const T* dy, const T* x,
                              const S* gamma, const S* save_mean, const S* save_invstd,
                              const S* r, const S* d, T* dx, S* dgamma, S* dbeta) {
    const Channels mean = channels(save_mean, desc.c), invstd = channels(save_invstd, desc.c);
    const Channels r_c = channels(r, desc.c);
    const GradientSums sums = gradient_sums(desc, dy, x, mean, invstd);
    // r and d are constants: dx is r times batch norm's dx.
    input_gradient(desc, dy, x, mean, invstd, channels(gamma, desc.c) * r_c * invstd, sums, dx);
    store_channels(dbeta, sums.dy);
    store_channels(dgamma, sums.dy_xhat * r_c + sums.dy * channels(d, desc.c));
  }
};

}  // namespace

BNH_REGISTER_IMPLEMENTATION(EigenKernels);
