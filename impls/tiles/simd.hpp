// The vector layer of the tiled kernels: vectors as wide as the target's registers, written with
// GCC and Clang vector extensions so that the order of every addition is fixed by the source,
// their widening to double, and the streaming stores that write outputs past the cache.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace bnh::tiles {

// The target's vector width: a wider vector than the registers would be split by the compiler
// and passed in memory between functions (and a different calling convention, which GCC warns
// about). The sums' order, hence the last bits of a result, depends on it: results repeat bit
// for bit within one build, not between builds for different targets.
#if defined(__AVX512F__)
inline constexpr std::int64_t vector_bytes = 64;
#elif defined(__AVX__)
inline constexpr std::int64_t vector_bytes = 32;
#else
inline constexpr std::int64_t vector_bytes = 16;
#endif
inline constexpr std::int64_t cache_line_bytes = 64;

template <typename T>
struct VectorOf {
  typedef T type __attribute__((vector_size(vector_bytes)));
};
template <typename T>
using Vector = typename VectorOf<T>::type;
template <typename T>
inline constexpr std::int64_t vector_elements = vector_bytes / static_cast<std::int64_t>(sizeof(T));
template <typename T>
inline constexpr std::int64_t line_elements = cache_line_bytes / static_cast<std::int64_t>(sizeof(T));

using Floats = Vector<float>;
using Doubles = Vector<double>;
// The sums of the run view have `lanes` lanes, one per element of a vector of floats; a lane's
// sum is in double, half of the lanes in each of two vectors of doubles (low, high).
inline constexpr std::int64_t lanes = vector_elements<float>;
inline constexpr std::int64_t double_lanes = vector_elements<double>;

template <typename T>
Vector<T> load_vector(const T* p) {
  Vector<T> value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <typename T>
void store_vector(T* p, const Vector<T>& value) {
  std::memcpy(p, &value, sizeof value);
}

template <typename T>
Vector<T> broadcast(T value) {
  return Vector<T>{} + value;
}

// x - shift as fma(x, 1, -shift): the same value, bit for bit (the exact difference, rounded
// once), from the multiply-add units rather than the adders. The sums that follow keep the
// adders busy; where the two are separate pipes (AMD's Zen) the subtractions would queue behind
// them (docs/benchmarks.md, "Kernel measurements"). Takes -shift, negated once by the caller.
inline Floats deviation(const Floats& x, const Floats& minus_shift) {
#if defined(__AVX512F__)
  return reinterpret_cast<Floats>(_mm512_fmadd_ps(reinterpret_cast<__m512>(x), _mm512_set1_ps(1.0f),
                                                  reinterpret_cast<__m512>(minus_shift)));
#elif defined(__FMA__) && defined(__AVX__)
  return reinterpret_cast<Floats>(_mm256_fmadd_ps(reinterpret_cast<__m256>(x), _mm256_set1_ps(1.0f),
                                                  reinterpret_cast<__m256>(minus_shift)));
#else
  return x + minus_shift;
#endif
}

// One vector of floats as two vectors of doubles.
inline void widen(const Floats& value, Doubles& low, Doubles& high) {
  typedef float Half __attribute__((vector_size(vector_bytes / 2)));
  Half halves[2];
  std::memcpy(halves, &value, sizeof halves);
#if defined(__AVX512F__)
  // One conversion per half; compilers tuned for 256-bit vectors split the generic form below
  // further. (The all-lanes mask spares GCC 12 a false "may be used uninitialized".)
  low = _mm512_maskz_cvtps_pd(0xff, (__m256)halves[0]);
  high = _mm512_maskz_cvtps_pd(0xff, (__m256)halves[1]);
#else
  low = __builtin_convertvector(halves[0], Doubles);
  high = __builtin_convertvector(halves[1], Doubles);
#endif
}

// Elements p[0, lanes) in double, the first half in `low`.
inline void load_lanes(const float* p, Doubles& low, Doubles& high) {
#if defined(__AVX512F__)
  // Each half loaded as such and converted, rather than loaded whole and split.
  low = _mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(p));
  high = _mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(p + 8));
#else
  widen(load_vector(p), low, high);
#endif
}
inline void load_lanes(const double* p, Doubles& low, Doubles& high) {
  low = load_vector(p);
  high = load_vector(p + double_lanes);
}

// The lanes' sum, lane by lane in order.
inline double sum_lanes(const Doubles& low, const Doubles& high) {
  double total = 0;
  for (std::int64_t l = 0; l < double_lanes; ++l) total += low[l];
  for (std::int64_t l = 0; l < double_lanes; ++l) total += high[l];
  return total;
}

// into[0, lanes) += value, in double.
inline void add_to_doubles(double* into, const Floats& value) {
  Doubles low, high;
  widen(value, low, high);
  store_vector(into, load_vector(into) + low);
  store_vector(into + double_lanes, load_vector(into + double_lanes) + high);
}
inline void add_to_doubles(double* into, const Doubles& value) { store_vector(into, load_vector(into) + value); }

// Stores an aligned vector with a non-temporal store: it goes to memory without first being
// read into the cache (no read-for-ownership).
template <typename T>
void stream_vector(T* out, const Vector<T>& value) {
  constexpr bool single = std::is_same_v<T, float>;
#if defined(__AVX512F__)
  if constexpr (single) _mm512_stream_ps(out, (__m512)value); else _mm512_stream_pd(out, (__m512d)value);
#elif defined(__AVX__)
  if constexpr (single) _mm256_stream_ps(out, (__m256)value); else _mm256_stream_pd(out, (__m256d)value);
#elif defined(__SSE2__)
  if constexpr (single) _mm_stream_ps(out, (__m128)value); else _mm_stream_pd(out, (__m128d)value);
#else
  static_cast<void>(single);
  store_vector(out, value);
#endif
}

// Makes this thread's streaming stores visible before anyone reads the output. Call once per
// thread at the end of an operation that streamed.
inline void finish_streaming() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace bnh::tiles
