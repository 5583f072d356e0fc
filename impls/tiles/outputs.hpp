// Writing the outputs: y = x * scale + shift and dx = dy * dy_scale + x * x_scale + offset with
// per-channel coefficients (channel_math.hpp), over stretches of either view, optionally with
// streaming stores. For bf16 and f16 data the coefficients and the arithmetic are f32, and each
// output is rounded once, as it is stored (conversions.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/machine.hpp"
#include "impls/tiles/geometry.hpp"
#include "impls/tiles/conversions.hpp"
#include "impls/tiles/simd.hpp"

namespace bnh::tiles {

// Every channel's y = x * scale + shift for data T, laid out for the geometry (set_coefficient).
template <typename T>
struct AffineCoefficients {
  std::vector<Compute<T>> scale, shift;

  explicit AffineCoefficients(const Geometry& g) : scale(g.coefficient_count()), shift(g.coefficient_count()) {}
  template <typename ChannelAffine>
  void set(const Geometry& g, std::int64_t c, const ChannelAffine& affine) {
    set_coefficient(g, scale.data(), c, affine.scale);
    set_coefficient(g, shift.data(), c, affine.shift);
  }
};

// Every channel's dx = dy * dy_scale + x * x_scale + offset, laid out for the geometry.
template <typename T>
struct GradientCoefficients {
  std::vector<Compute<T>> dy_scale, x_scale, offset;

  explicit GradientCoefficients(const Geometry& g)
      : dy_scale(g.coefficient_count()), x_scale(g.coefficient_count()), offset(g.coefficient_count()) {}
  template <typename ChannelGradient>
  void set(const Geometry& g, std::int64_t c, const ChannelGradient& gradient) {
    set_coefficient(g, dy_scale.data(), c, gradient.dy_scale);
    set_coefficient(g, x_scale.data(), c, gradient.x_scale);
    set_coefficient(g, offset.data(), c, gradient.offset);
  }
};

// The per-element steps: one coefficient per call (a stretch of one channel, run view) or one
// per element (a stretch of a row, row view). The vector steps capture by value: captured by
// reference, their operands would be read again after every store, which might alias them.
template <typename T>
void scale_shift(const T* in, T* out, std::int64_t n, Compute<T> scale, Compute<T> shift, bool stream) {
  const Vector<Compute<T>> scale_vector = broadcast(scale), shift_vector = broadcast(shift);
  store_elements(out, n, stream, [&](std::int64_t k) { return widened(in[k]) * scale + shift; },
                 [in, scale_vector, shift_vector](std::int64_t k) { return load_widened(in + k) * scale_vector + shift_vector; });
}
template <typename T>
void scale_shift(const T* in, T* out, std::int64_t n, const Compute<T>* scale, const Compute<T>* shift, bool stream) {
  store_elements(out, n, stream, [&](std::int64_t k) { return widened(in[k]) * scale[k] + shift[k]; },
                 [in, scale, shift](std::int64_t k) { return load_widened(in + k) * load_vector(scale + k) + load_vector(shift + k); });
}
template <typename T>
void gradient(const T* dy, const T* x, T* out, std::int64_t n, Compute<T> dy_scale, Compute<T> x_scale,
              Compute<T> offset, bool stream) {
  const Vector<Compute<T>> a = broadcast(dy_scale), b = broadcast(x_scale), c = broadcast(offset);
  store_elements(out, n, stream,
                 [&](std::int64_t k) { return widened(dy[k]) * dy_scale + (widened(x[k]) * x_scale + offset); },
                 [dy, x, a, b, c](std::int64_t k) { return load_widened(dy + k) * a + (load_widened(x + k) * b + c); });
}
template <typename T>
void gradient(const T* dy, const T* x, T* out, std::int64_t n, const Compute<T>* dy_scale, const Compute<T>* x_scale,
              const Compute<T>* offset, bool stream) {
  store_elements(out, n, stream,
                 [&](std::int64_t k) { return widened(dy[k]) * dy_scale[k] + (widened(x[k]) * x_scale[k] + offset[k]); },
                 [dy, x, dy_scale, x_scale, offset](std::int64_t k) {
                   return load_widened(dy + k) * load_vector(dy_scale + k) +
                          (load_widened(x + k) * load_vector(x_scale + k) + load_vector(offset + k));
                 });
}

// y = x * scale[channel] + shift[channel] for the elements [first, end) of the tensor.
template <typename T>
void normalize_elements(const Geometry& g, const T* x, T* y, std::int64_t first, std::int64_t end,
                        const AffineCoefficients<T>& affine, bool stream) {
  const Compute<T>* scale = affine.scale.data();
  const Compute<T>* shift = affine.shift.data();
  for_each_stretch(g, first, end - first, y, [&](std::int64_t at, std::int64_t n, std::int64_t index) {
    const std::int64_t element = first + at;
    if (g.by_rows) {
      scale_shift(x + element, y + element, n, scale + index, shift + index, stream);
    } else {
      scale_shift(x + element, y + element, n, scale[index], shift[index], stream);
    }
  });
}

// dx = dy * dy_scale[channel] + x * x_scale[channel] + offset[channel] for the elements [first, end).
template <typename T>
void gradient_elements(const Geometry& g, const T* dy, const T* x, T* dx, std::int64_t first, std::int64_t end,
                       const GradientCoefficients<T>& k, bool stream) {
  for_each_stretch(g, first, end - first, dx, [&](std::int64_t at, std::int64_t n, std::int64_t index) {
    const std::int64_t element = first + at;
    if (g.by_rows) {
      gradient(dy + element, x + element, dx + element, n, k.dy_scale.data() + index, k.x_scale.data() + index,
               k.offset.data() + index, stream);
    } else {
      gradient(dy + element, x + element, dx + element, n, k.dy_scale[index], k.x_scale[index], k.offset[index],
               stream);
    }
  });
}

template <typename T>
void normalize_block(const Geometry& g, const T* x, T* y, const RunBlock& block,
                     const AffineCoefficients<T>& affine, bool stream) {
  for_each_block_stretch(g, block, [&](std::int64_t first, std::int64_t end) {
    normalize_elements(g, x, y, first, end, affine, stream);
  });
}

template <typename T>
void gradient_block(const Geometry& g, const T* dy, const T* x, T* dx, const RunBlock& block,
                    const GradientCoefficients<T>& coefficients, bool stream) {
  for_each_block_stretch(g, block, [&](std::int64_t first, std::int64_t end) {
    gradient_elements(g, dy, x, dx, first, end, coefficients, stream);
  });
}

// y = x * scale[k] + shift[k] (column k) for the rows of row tiles [first, end), when the
// output streams. Where every row is whole lines of an aligned y (channels a multiple of a
// line), a tile is taken a cache line of columns at a time, down its rows, with that band's
// coefficients in registers (rather than read with every element, beside the data streaming
// through L1), while the next tile is requested from memory, a line per line written; otherwise
// as normalize_elements does.
template <typename T>
void normalize_row_tiles(const Geometry& g, const T* x, T* y, const RowTiles& tiles, std::int64_t first,
                         std::int64_t end, const AffineCoefficients<T>& affine, bool stream) {
  using C = Compute<T>;
  constexpr std::int64_t width = line_elements<T>, per_line = width / vector_elements<C>;
  const std::int64_t channels = g.channels;
  const bool whole_lines = channels % width == 0 && reinterpret_cast<std::uintptr_t>(y) % cache_line_bytes == 0;
  // Rows of up to 1 KiB are walked down their columns, a line of coefficients in registers;
  // wider rows, in memory order: the column walk of rows of 2 KiB and more measured slower.
  const bool short_rows = channels * static_cast<std::int64_t>(sizeof(T)) <= 1024;
  if (!stream || !whole_lines || !short_rows) {
    normalize_elements(g, x, y, tiles.first_row(first) * channels, tiles.first_row(end) * channels, affine, stream);
    return;
  }
  for (std::int64_t index = first; index < end; ++index) {
    const std::int64_t row_begin = tiles.first_row(index), row_end = tiles.first_row(index + 1);
    const char* ahead = reinterpret_cast<const char*>(x + row_end * channels);
    const char* const ahead_end = reinterpret_cast<const char*>(x + tiles.first_row(std::min(index + 2, end)) * channels);
    for (std::int64_t column = 0; column < channels; column += width) {
      Vector<C> a[per_line], b[per_line];
      for (std::int64_t v = 0; v < per_line; ++v) {
        a[v] = load_vector(affine.scale.data() + column + v * vector_elements<C>);
        b[v] = load_vector(affine.shift.data() + column + v * vector_elements<C>);
      }
      for (std::int64_t row = row_begin; row < row_end; ++row) {
        if (ahead < ahead_end) {
          __builtin_prefetch(ahead);
          ahead += cache_line_bytes;
        }
        const std::int64_t at = row * channels + column;
        if constexpr (is_reduced_v<T>) {
          for (std::int64_t v = 0; v < per_line; v += 2) {
            const std::int64_t element = at + v * vector_elements<C>;
            stream_narrowed_pair(y + element, load_widened(x + element) * a[v] + b[v],
                                 load_widened(x + element + vector_elements<C>) * a[v + 1] + b[v + 1]);
          }
        } else {
          for (std::int64_t v = 0; v < per_line; ++v) {
            const std::int64_t element = at + v * vector_elements<C>;
            stream_narrowed(y + element, load_widened(x + element) * a[v] + b[v]);
          }
        }
      }
    }
  }
}

// Where a streamed pass over units [first, end) (row tiles, rows) of bytes_per_unit each starts
// so that it takes first the last units the pass before it read: an eighth of the last-level
// cache's worth from the end.
inline std::int64_t tail_start(std::int64_t first, std::int64_t end, std::int64_t bytes_per_unit,
                               const CacheSizes& caches) {
  return std::max(first, end - caches.last_level / 8 / bytes_per_unit);
}

// The normalize pass of the row view over row tiles [first, end), just after the statistics pass
// read the same rows in the same order. Streamed, it starts with the last rows, an eighth of the
// last-level cache's worth: the statistics pass read them last, so they are still in that cache,
// which a pass in memory order would have evicted by the time it reached them
// (docs/benchmarks.md, "Kernel measurements").
template <typename T>
void normalize_rows(const Geometry& g, const T* x, T* y, const RowTiles& tiles, std::int64_t first,
                    std::int64_t end, const AffineCoefficients<T>& affine, bool stream, const CacheSizes& caches) {
  const std::int64_t bytes_per_tile = tiles.rows_per_tile * g.channels * static_cast<std::int64_t>(sizeof(T));
  const std::int64_t split = stream ? tail_start(first, end, bytes_per_tile, caches) : first;
  normalize_row_tiles(g, x, y, tiles, split, end, affine, stream);
  normalize_row_tiles(g, x, y, tiles, first, split, affine, stream);
}

// The dx pass of the row view over rows [first, end), just after the gradient sums read dy and x
// there in order: streamed, it starts with the last rows, an eighth of the last-level cache's
// worth of dy and x, for the reason normalize_rows gives.
template <typename T>
void gradient_rows(const Geometry& g, const T* dy, const T* x, T* dx, std::int64_t first, std::int64_t end,
                   const GradientCoefficients<T>& k, bool stream, const CacheSizes& caches) {
  const std::int64_t bytes_per_row = 2 * g.channels * static_cast<std::int64_t>(sizeof(T));  // dy and x
  const std::int64_t split = stream ? tail_start(first, end, bytes_per_row, caches) : first;
  gradient_elements(g, dy, x, dx, split * g.channels, end * g.channels, k, stream);
  gradient_elements(g, dy, x, dx, first * g.channels, split * g.channels, k, stream);
}

}  // namespace bnh::tiles
