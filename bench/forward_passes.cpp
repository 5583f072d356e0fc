// Where the time of a single-threaded training forward goes on a tensor larger than the
// last-level cache, pass by pass, each timed as a multiple of a streaming copy of the same x
// measured alternately with it (medians of the per-repetition ratios, so that the machine's
// drift cancels). docs/benchmarks.md ("Bandwidth of the training forward") reads the figures.
//
//   bnh_bench_forward_passes [N C H W] [--dtype=f32|bf16|f16] [--repetitions=R]
//                            (default 16 256 56 56, f32, R = 11; bf16 and f16 with f32 statistics)
//
// NCHW (the run view), per channel group:
//   statistics from memory   the statistics pass over every group, x coming from memory
//   statistics from L2       the same amount of work on one group again and again (in L2)
//   normalize from L2        likewise for the normalize pass, y streamed to memory
//   one after the other      each group's statistics, then its normalization (no prefetch)
//   forward_channels         what blocked and openmp run: the same, with the next group's x
//                            prefetched while a group is normalized (where runs are whole
//                            cache lines; otherwise the same as one after the other)
//   openmp, 1 thread         the registered implementation, called as bnh bench calls it
// NHWC (the row view):
//   statistics               the statistics pass over every row
//   normalize in memory order  the normalize pass alone, first row to last, y streamed
//   both, in memory order    the statistics pass, then that normalize pass
//   both, tail first         what blocked and openmp run: the normalize pass starts with the last
//                            rows, which the statistics pass left in the last-level cache
//   openmp, 1 thread         the registered implementation
//   column strips            the alternative that reads x from memory once: a vector of channels at a
//                            time down every row (statistics, then normalization from cache); f32
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "bench/bandwidth.hpp"
#include "bnh/registry.hpp"
#include "core/machine.hpp"
#include "impls/tiles/team_passes.hpp"

namespace {

namespace tiles = bnh::tiles;

volatile float statistics_sink;

double seconds_of(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <typename T>
struct Buffer {
  T* data;
  explicit Buffer(std::int64_t count)
      : data(static_cast<T*>(std::aligned_alloc(64, (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64))) {}
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

// Times each pass against the copy, alternating, and prints the median ratio of each.
void report(const char* title, const std::vector<std::pair<std::string, std::function<void()>>>& passes,
            const std::function<void()>& copy, int repetitions) {
  std::vector<std::vector<double>> ratios(passes.size());
  for (int repetition = 0; repetition < repetitions; ++repetition) {
    for (std::size_t k = 0; k < passes.size(); ++k) {
      const double copy_time = seconds_of(copy);
      ratios[k].push_back(seconds_of(passes[k].second) / copy_time);
    }
  }
  std::printf("%s (time / copy time, median of %d; fraction of the copy for the whole forward)\n", title, repetitions);
  for (std::size_t k = 0; k < passes.size(); ++k) {
    std::sort(ratios[k].begin(), ratios[k].end());
    const double median = ratios[k][ratios[k].size() / 2];
    std::printf("  %-26s %5.2f   (%3.0f%%)\n", passes[k].first.c_str(), median, 100 / median);
  }
}

// The passes of the NCHW and NHWC training forward on data of element type T (dtype).
template <typename T>
void time_passes(const std::vector<std::int64_t>& dims, bnh::DType dtype, int repetitions) {
  const bnh::CacheSizes& caches = bnh::machine().caches;
  const std::int64_t elements = dims[0] * dims[1] * dims[2] * dims[3];
  Buffer<T> x(elements), y(elements);
  for (std::int64_t i = 0; i < elements; ++i) {
    x.data[i] = T(static_cast<float>(i % 13) * 0.1f);
    y.data[i] = T(0.0f);
  }
  const auto copy = [&] {
    bnh::bench::streaming_copy(y.data, x.data, elements * static_cast<std::int64_t>(sizeof(T)), 1);
  };
  const auto affine = [](std::int64_t, const tiles::Moments& moments) {
    return tiles::ChannelAffine{1 / std::sqrt(moments.m2 + 1), -moments.mean};
  };
  std::printf("x: %lld x %lld x %lld x %lld %s, %.1f MB; last-level cache %.0f MB\n\n", static_cast<long long>(dims[0]),
              static_cast<long long>(dims[1]), static_cast<long long>(dims[2]), static_cast<long long>(dims[3]),
              bnh::to_string(dtype), static_cast<double>(elements * static_cast<std::int64_t>(sizeof(T))) / 1e6,
              static_cast<double>(caches.last_level) / 1e6);

  // The registered implementation, as bnh bench calls it (running statistics tracked).
  const auto openmp = bnh::make_implementation("openmp");
  bnh::Params params;
  params.threads = 1;
  std::vector<float> gamma(dims[1], 1.5f), beta(dims[1], 0.25f), save_mean(dims[1]), save_invstd(dims[1]),
      running_mean(dims[1], 0.0f), running_var(dims[1], 1.0f);
  {  // NCHW
    const bnh::TensorDesc desc{dims[0], dims[1], dims[2], dims[3], bnh::Layout::nchw, dtype};
    const tiles::Geometry g = tiles::geometry_of(desc);
    const tiles::RunBlocks blocks(g, sizeof(T), 2, 1, caches);
    tiles::AffineCoefficients<T> affine_coefficients(g);
    std::fill(affine_coefficients.scale.begin(), affine_coefficients.scale.end(), 1.5f);
    std::fill(affine_coefficients.shift.begin(), affine_coefficients.shift.end(), 0.25f);
    const std::int64_t groups = (g.channels + blocks.channels_per_group - 1) / blocks.channels_per_group;
    auto statistics = [&](std::int64_t group) {
      tiles::Moments part[tiles::max_channels_per_group];
      const std::int64_t end = std::min(g.channels, group + blocks.channels_per_group);
      for (std::int64_t b = 0; b < blocks.blocks_per_group; ++b) {
        tiles::block_moments(g, x.data, blocks.block(group, end, b), part);
        statistics_sink = static_cast<float>(part[0].mean + part[end - group - 1].m2);
      }
    };
    auto normalize = [&](std::int64_t group) {
      const std::int64_t end = std::min(g.channels, group + blocks.channels_per_group);
      for (std::int64_t b = 0; b < blocks.blocks_per_group; ++b) {
        tiles::normalize_block(g, static_cast<const T*>(x.data), y.data, blocks.block(group, end, b), affine_coefficients, true);
      }
    };
    const std::int64_t step = blocks.channels_per_group;
    report("NCHW",
           {{"statistics from memory", [&] { for (std::int64_t c = 0; c < g.channels; c += step) statistics(c); }},
            {"statistics from L2", [&] { for (std::int64_t k = 0; k < groups; ++k) statistics(0); }},
            {"normalize from L2", [&] { for (std::int64_t k = 0; k < groups; ++k) normalize(0); }},
            {"one after the other", [&] { for (std::int64_t c = 0; c < g.channels; c += step) { statistics(c); normalize(c); } }},
            {"forward_channels", [&] {
               tiles::forward_channels(g, static_cast<const T*>(x.data), y.data, blocks, 0, g.channels, affine,
                                       affine_coefficients, true);
               tiles::finish_streaming();
             }},
            {"openmp, 1 thread", [&] {
               openmp->bn_forward_train(desc, params, x.data, gamma.data(), beta.data(), y.data, save_mean.data(),
                                        save_invstd.data(), running_mean.data(), running_var.data());
             }}},
           copy, repetitions);
  }
  if (dims[1] % 16 == 0) {  // NHWC, C a multiple of 16 so that strips are whole cache lines
    const bnh::TensorDesc desc{dims[0], dims[1], dims[2], dims[3], bnh::Layout::nhwc, dtype};
    const tiles::Geometry g = tiles::geometry_of(desc);
    const tiles::RowTiles row_tiles(g, sizeof(T), caches);
    tiles::AffineCoefficients<T> affine_coefficients(g);
    std::fill(affine_coefficients.scale.begin(), affine_coefficients.scale.end(), 1.5f);
    std::fill(affine_coefficients.shift.begin(), affine_coefficients.shift.end(), 0.25f);
    tiles::ColumnMoments moments(g.channels);
    auto statistics = [&] {
      tiles::row_moments(static_cast<const T*>(x.data), g.channels, row_tiles, 0, row_tiles.count, moments);
    };
    std::vector<std::pair<std::string, std::function<void()>>> passes{
        {"statistics", statistics},
        {"normalize in memory order", [&] {
           tiles::normalize_row_tiles(g, static_cast<const T*>(x.data), y.data, row_tiles, 0, row_tiles.count,
                                      affine_coefficients, true);
           tiles::finish_streaming();
         }},
        {"both, in memory order", [&] {
           statistics();
           tiles::normalize_row_tiles(g, static_cast<const T*>(x.data), y.data, row_tiles, 0, row_tiles.count,
                                      affine_coefficients, true);
           tiles::finish_streaming();
         }},
        {"both, tail first", [&] {
           statistics();
           tiles::normalize_rows(g, static_cast<const T*>(x.data), y.data, row_tiles, 0, row_tiles.count,
                                 affine_coefficients, true, caches);
           tiles::finish_streaming();
         }},
        {"openmp, 1 thread", [&] {
           openmp->bn_forward_train(desc, params, x.data, gamma.data(), beta.data(), y.data, save_mean.data(),
                                    save_invstd.data(), running_mean.data(), running_var.data());
         }}};
    if constexpr (std::is_same_v<T, float>) {
      const auto strips = [&] {
        using Vector = tiles::Vector<float>;
        for (std::int64_t column = 0; column < g.channels; column += tiles::lanes) {
          Vector sum = {}, squares = {};
          for (std::int64_t row = 0; row < g.rows; ++row) {
            const Vector value = tiles::load_vector(x.data + row * g.channels + column);
            sum += value;
            squares += value * value;
          }
          statistics_sink = sum[0] + squares[0];  // kept, not used: the pass is what is timed
          const Vector a = tiles::broadcast(1.5f), b = tiles::broadcast(0.25f);
          for (std::int64_t row = 0; row < g.rows; ++row) {
            const std::int64_t at = row * g.channels + column;
            tiles::stream_vector(y.data + at, tiles::load_vector(x.data + at) * a + b);
          }
        }
        tiles::finish_streaming();
      };
      passes.emplace_back("column strips", strips);
    }
    report("NHWC", passes, copy, repetitions);
  }
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::int64_t> dims;
  int repetitions = 11;
  std::string dtype = "f32";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--repetitions=", 0) == 0) {
      repetitions = std::max(1, std::atoi(arg.c_str() + 14)) | 1;
    } else if (arg.rfind("--dtype=", 0) == 0) {
      dtype = arg.substr(8);
    } else if (arg == "--help") {
      std::printf("usage: %s [N C H W] [--dtype=f32|bf16|f16] [--repetitions=R]\n", argv[0]);
      return 0;
    } else {
      dims.push_back(std::atoll(arg.c_str()));
    }
  }
  if (dims.empty()) dims = {16, 256, 56, 56};
  if (dims.size() != 4 || *std::min_element(dims.begin(), dims.end()) < 1) {
    std::fprintf(stderr, "%s: give N C H W (positive), or nothing\n", argv[0]);
    return 2;
  }
  if (dtype == "f32") {
    time_passes<float>(dims, bnh::DType::f32, repetitions);
  } else if (dtype == "bf16") {
    time_passes<bnh::bfloat16>(dims, bnh::DType::bf16, repetitions);
  } else if (dtype == "f16") {
    time_passes<bnh::float16>(dims, bnh::DType::f16, repetitions);
  } else {
    std::fprintf(stderr, "%s: --dtype is f32, bf16 or f16, not '%s'\n", argv[0], dtype.c_str());
    return 2;
  }
  return 0;
}
