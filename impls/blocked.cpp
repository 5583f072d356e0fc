// blocked: single-threaded and cache-aware. Each operation walks the tensor in pieces sized from
// the machine's caches (impls/tiles.hpp), so that a pass which needs the data again finds it
// still in cache:
//   - run view (NCHW): groups of channels that fit in half of L2, statistics then normalize, so
//     that only the first pass over a group reads memory; a channel larger than that is cut
//     into blocks for its statistics and read a second time to normalize.
//   - row view (NHWC, 2-D): the statistics of all channels in one sweep over bands of rows (the
//     inner loops vectorize across channels; a band's second pass, if any, finds it in cache),
//     then one normalize sweep, which hits the cache whenever the tensor fits in the last level.
// f32 statistics take one pass through memory (short f32 partial sums, see tiles.hpp), f64 two
// passes over each piece in cache. Outputs larger than the last-level cache are written with
// streaming stores.
#include <vector>

#include "bnh/kernels.hpp"
#include "bnh/registry.hpp"
#include "impls/tiles.hpp"

namespace {

using bnh::Params;
using bnh::TensorDesc;
namespace tiles = bnh::tiles;

struct Blocked : tiles::TiledOperations<Blocked> {
  static constexpr const char* name = "blocked";
  static constexpr const char* description =
      "single-threaded, cache-sized tiles, vectorized; shifted tile moments (f32 in one pass) merged with "
      "Chan's update";

  template <typename T>
  static void forward_train(const TensorDesc& desc, const Params& params, const T* x, T* y,
                            const tiles::TrainingTensors<T>& tensors) {
    const tiles::Geometry g = tiles::geometry_of(desc);
    const bool stream = tiles::should_stream(g, sizeof(T), 2);
    std::vector<T> scale(g.coefficient_count()), shift(g.coefficient_count());
    auto finish = [&](std::int64_t c, const tiles::Moments& moments) {
      return tiles::finish_training_channel(tensors, params, c, moments);
    };
    if (g.by_rows) {
      const tiles::RowTiles row_tiles(g, sizeof(T));
      tiles::ColumnMoments moments(g.channels);
      tiles::row_moments(x, g.channels, row_tiles, 0, row_tiles.count, moments);
      for (std::int64_t c = 0; c < g.channels; ++c) {
        const tiles::ChannelAffine affine = finish(c, moments.of(c));
        tiles::set_coefficient(g, scale.data(), c, affine.scale);
        tiles::set_coefficient(g, shift.data(), c, affine.shift);
      }
      tiles::normalize_rows(g, x, y, row_tiles, 0, row_tiles.count, scale.data(), shift.data(), stream);
    } else {
      // Two groups' worth in L2: this group's x and y, or, when y is streamed (it takes no room in
      // cache), this group's x and the next group's, prefetched while this one is normalized.
      const tiles::RunBlocks blocks(g, sizeof(T), 2);
      tiles::forward_channels(g, x, y, blocks, 0, g.channels, finish, scale.data(), shift.data(), stream);
    }
    if (stream) tiles::finish_streaming();
  }

  template <typename T>
  static void backward(const TensorDesc& desc, const Params&, const T* dy, const T* x, T* dx,
                       const tiles::GradientTensors<T>& tensors) {
    const tiles::Geometry g = tiles::geometry_of(desc);
    const bool stream = tiles::should_stream(g, sizeof(T), 3);
    const double count = static_cast<double>(g.per_channel);
    const std::vector<double> mean(tensors.save_mean, tensors.save_mean + g.channels);
    std::vector<T> a(g.coefficient_count()), b(g.coefficient_count()), c(g.coefficient_count());
    auto finish = [&](std::int64_t channel, const tiles::GradientSums& sums) {
      return tiles::finish_gradient_channel(tensors, channel, count, sums);
    };
    if (g.by_rows) {
      const tiles::RowTiles row_tiles(g, sizeof(T));
      std::vector<double> sum_dy(g.channels, 0.0), sum_dy_centered(g.channels, 0.0);
      tiles::row_gradient_sums(dy, x, mean.data(), g.channels, row_tiles, 0, row_tiles.count,
                               sum_dy.data(), sum_dy_centered.data());
      for (std::int64_t channel = 0; channel < g.channels; ++channel) {
        const tiles::ChannelGradient gradient =
            finish(channel, tiles::GradientSums{sum_dy[channel], sum_dy_centered[channel]});
        tiles::set_coefficient(g, a.data(), channel, gradient.a);
        tiles::set_coefficient(g, b.data(), channel, gradient.b);
        tiles::set_coefficient(g, c.data(), channel, gradient.c);
      }
      tiles::gradient_elements(g, dy, x, dx, 0, g.elements, a.data(), b.data(), c.data(), stream);
    } else {
      const tiles::RunBlocks blocks(g, sizeof(T), 3);
      tiles::backward_channels(g, dy, x, dx, blocks, 0, g.channels, mean.data(), finish, a.data(), b.data(),
                               c.data(), stream);
    }
    if (stream) tiles::finish_streaming();
  }

  template <typename T>
  static void forward_infer(const TensorDesc& desc, const Params& params, const T* x, const T* gamma,
                            const T* beta, const T* running_mean, const T* running_var, T* y) {
    const tiles::Geometry g = tiles::geometry_of(desc);
    const auto [scale, shift] = tiles::inference_coefficients(g, params, gamma, beta, running_mean, running_var);
    const bool stream = tiles::should_stream(g, sizeof(T), 2);
    tiles::normalize_elements(g, x, y, 0, g.elements, scale.data(), shift.data(), stream);
    if (stream) tiles::finish_streaming();
  }
};

}  // namespace

BNH_REGISTER_IMPLEMENTATION(Blocked);
