#include "bench/bandwidth.hpp"

#include <omp.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "core/machine.hpp"

namespace bnh::bench {

namespace {

struct FreeDeleter {
  void operator()(double* pointer) const { std::free(pointer); }
};
using Array = std::unique_ptr<double[], FreeDeleter>;

Array allocate(std::int64_t count) {
  const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(double) + 4095) / 4096 * 4096;
  auto* pointer = static_cast<double*>(std::aligned_alloc(4096, bytes));
  if (pointer == nullptr) throw std::bad_alloc();
  return Array(pointer);
}

// [begin, end) of thread `thread` among `threads`, cache-line aligned.
std::pair<std::int64_t, std::int64_t> share(std::int64_t count, int thread, int threads) {
  const std::int64_t per = (count / threads + 7) / 8 * 8;
  const std::int64_t begin = std::min(count, per * thread);
  return {begin, thread + 1 == threads ? count : std::min(count, begin + per)};
}

// a[i] = b[i], and a[i] = b[i] + s c[i], with streaming (non-temporal) stores where the target
// has them: the written lines go to memory without being read first, so the bytes counted are
// the bytes moved. `begin` is a multiple of 8 elements and the arrays are page-aligned.
void copy(double* a, const double* b, std::int64_t begin, std::int64_t end) {
#if defined(__SSE2__)
  std::int64_t i = begin;
  for (; i + 2 <= end; i += 2) _mm_stream_pd(a + i, _mm_load_pd(b + i));
  for (; i < end; ++i) a[i] = b[i];
  _mm_sfence();
#else
  std::memcpy(a + begin, b + begin, static_cast<std::size_t>(end - begin) * sizeof(double));
#endif
}

void triad(double* a, const double* b, const double* c, double scalar, std::int64_t begin, std::int64_t end) {
#if defined(__SSE2__)
  const __m128d s = _mm_set1_pd(scalar);
  std::int64_t i = begin;
  for (; i + 2 <= end; i += 2) {
    _mm_stream_pd(a + i, _mm_add_pd(_mm_load_pd(b + i), _mm_mul_pd(s, _mm_load_pd(c + i))));
  }
  for (; i < end; ++i) a[i] = b[i] + scalar * c[i];
  _mm_sfence();
#else
  for (std::int64_t i = begin; i < end; ++i) a[i] = b[i] + scalar * c[i];
#endif
}

}  // namespace

BandwidthResult measure_bandwidth(int threads, std::int64_t array_bytes, int passes) {
  threads = std::max(1, threads);
  passes = std::max(1, passes);
  if (array_bytes <= 0) {
    const std::int64_t llc = machine().caches.last_level;
    array_bytes = std::max<std::int64_t>(std::int64_t{64} << 20, 4 * llc);
  }
  const std::int64_t count = array_bytes / static_cast<std::int64_t>(sizeof(double));
  Array a = allocate(count), b = allocate(count), c = allocate(count);
  double* const pa = a.get();
  double* const pb = b.get();
  double* const pc = c.get();

#pragma omp parallel num_threads(threads)
  {
    const auto [begin, end] = share(count, omp_get_thread_num(), omp_get_num_threads());
    for (std::int64_t i = begin; i < end; ++i) {
      pa[i] = 0.0;
      pb[i] = 1.0;
      pc[i] = 2.0;
    }
  }

  using clock = std::chrono::steady_clock;
  double best_copy = 1e300, best_triad = 1e300;
  const double scalar = 3.0;
  for (int pass = 0; pass <= passes; ++pass) {  // pass 0: warm-up
    auto start = clock::now();
#pragma omp parallel num_threads(threads)
    {
      const auto [begin, end] = share(count, omp_get_thread_num(), omp_get_num_threads());
      copy(pa, pb, begin, end);
    }
    const double copy = std::chrono::duration<double>(clock::now() - start).count();
    start = clock::now();
#pragma omp parallel num_threads(threads)
    {
      const auto [begin, end] = share(count, omp_get_thread_num(), omp_get_num_threads());
      triad(pa, pb, pc, scalar, begin, end);
    }
    const double triad = std::chrono::duration<double>(clock::now() - start).count();
    if (pass > 0) {
      best_copy = std::min(best_copy, copy);
      best_triad = std::min(best_triad, triad);
    }
  }
  // Keep the triad's result observable so that it is not optimized away.
  volatile double sink = pa[count / 2];
  (void)sink;

  BandwidthResult result;
  result.threads = threads;
  result.array_bytes = count * static_cast<std::int64_t>(sizeof(double));
  result.copy_gbps = 2.0 * static_cast<double>(result.array_bytes) / best_copy / 1e9;
  result.triad_gbps = 3.0 * static_cast<double>(result.array_bytes) / best_triad / 1e9;
  return result;
}

void streaming_copy(void* to, const void* from, std::int64_t bytes, int threads) {
  auto* const a = static_cast<double*>(to);
  const auto* const b = static_cast<const double*>(from);
  const std::int64_t count = bytes / static_cast<std::int64_t>(sizeof(double));
#pragma omp parallel num_threads(std::max(1, threads))
  {
    const auto [begin, end] = share(count, omp_get_thread_num(), omp_get_num_threads());
    copy(a, b, begin, end);
  }
}

std::uint64_t streaming_read(const void* from, std::int64_t bytes, int threads) {
  // Summed as integers: any bit pattern adds at the same speed (no subnormals, no NaNs).
  const auto* const b = static_cast<const std::uint64_t*>(from);
  const std::int64_t count = bytes / static_cast<std::int64_t>(sizeof(std::uint64_t));
  std::uint64_t total = 0;
#pragma omp parallel num_threads(std::max(1, threads)) reduction(+ : total)
  {
    const auto [begin, end] = share(count, omp_get_thread_num(), omp_get_num_threads());
    std::uint64_t sum = 0;
    for (std::int64_t i = begin; i < end; ++i) sum += b[i];
    total += sum;
  }
  return total;
}

std::vector<BandwidthResult> best_of(const std::vector<BandwidthResult>& first,
                                     const std::vector<BandwidthResult>& second) {
  std::vector<BandwidthResult> best = first;
  for (auto& result : best) {
    for (const auto& other : second) {
      if (other.threads != result.threads) continue;
      result.copy_gbps = std::max(result.copy_gbps, other.copy_gbps);
      result.triad_gbps = std::max(result.triad_gbps, other.triad_gbps);
    }
  }
  return best;
}

}  // namespace bnh::bench
