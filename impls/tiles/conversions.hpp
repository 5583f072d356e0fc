// Reduced-precision data in the vector layer. The lanes compute in f32 for bf16 and f16 data
// (Compute<T>): a load widens, exactly, and a store narrows, rounding to nearest, ties to even,
// once from the f32 result, as bnh::bfloat16 and bnh::float16 round (f16's subnormals kept, its
// overflow to infinity; NaN stays a quiet NaN of its sign). For f32 and f64 data every function
// here is the plain load or store of simd.hpp.
//
// How, by the target:
//   - bf16 widens by shifting its 16 bits into the upper half of an f32.
//   - bf16 narrows with AVX-512 BF16's conversion where the target has it; that conversion
//     flushes f32 subnormals to zero, so a vector holding one takes the integer rounding below
//     instead. Elsewhere: add 0x7fff plus the lowest bit that is kept, then drop the low 16 bits
//     (a carry into the exponent is the correct rounding up, to infinity past the largest).
//   - f16 converts with F16C (AVX-512's own forms on an AVX-512 target), else element by
//     element through bnh::float16.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "bnh/reduced_float.hpp"
#include "impls/tiles/simd.hpp"

namespace bnh::tiles {

template <typename T>
inline constexpr bool is_reduced_v = std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>;

// The type the lanes compute in for data T: f32 for bf16, f16 and f32, f64 for f64.
template <typename T>
using Compute = std::conditional_t<std::is_same_v<T, double>, double, float>;

// `lanes` 16-bit values (half a vector), and as many 32-bit ones (a whole vector); 2 * lanes
// 16-bit values (a whole vector: two vectors of data narrowed).
typedef std::uint16_t Halfwords __attribute__((vector_size(vector_bytes / 2)));
typedef std::uint32_t Words __attribute__((vector_size(vector_bytes)));
typedef std::uint16_t HalfwordPair __attribute__((vector_size(vector_bytes)));

// ---------------------------------------------------------------------------------------------
// One element

inline std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// The bf16 nearest an f32's bits, ties to even; NaN quieted.
inline std::uint16_t bfloat16_bits_nearest(std::uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

template <typename T>
Compute<T> widened(T value) {
  if constexpr (std::is_same_v<T, float16>) {
#if defined(__F16C__)
    return _cvtsh_ss(value.bits());
#else
    return static_cast<float>(value);
#endif
  } else {
    return static_cast<Compute<T>>(value);  // exact
  }
}

template <typename T>
T narrowed(Compute<T> value) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    return bfloat16::from_bits(bfloat16_bits_nearest(bits_of(value)));
  } else if constexpr (std::is_same_v<T, float16>) {
#if defined(__F16C__)
    return float16::from_bits(static_cast<std::uint16_t>(_cvtss_sh(value, _MM_FROUND_TO_NEAREST_INT)));
#else
    return float16(value);
#endif
  } else {
    return value;
  }
}

// ---------------------------------------------------------------------------------------------
// A vector: p[0, vector_elements<Compute<T>>)

inline Floats widen_bfloat16(const Halfwords& bits) {
#if defined(__AVX512F__)
  // One widening of the whole vector: compilers tuned for 256-bit vectors split the generic
  // form below in two. (The all-lanes masks spare GCC 12 a false "may be used uninitialized".)
  const __m512i words = _mm512_maskz_cvtepu16_epi32(0xffff, reinterpret_cast<__m256i>(bits));
  return reinterpret_cast<Floats>(_mm512_maskz_slli_epi32(0xffff, words, 16));
#else
  return reinterpret_cast<Floats>(__builtin_convertvector(bits, Words) << 16);
#endif
}

// The integer rounding of every lane, NaN quieted.
inline Halfwords narrow_bfloat16_by_integers(const Floats& value) {
  const Words bits = reinterpret_cast<Words>(value);
  const Words nearest = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const Words quiet = (bits >> 16) | 0x40u;
  return __builtin_convertvector((bits & 0x7fffffffu) > 0x7f800000u ? quiet : nearest, Halfwords);
}

inline Halfwords narrow_bfloat16(const Floats& value) {
#if defined(__AVX512BF16__) && defined(__AVX512DQ__)
  constexpr int subnormal_class = 0x20;  // vfpclassps: the lanes that hold an f32 subnormal
  if (_mm512_fpclass_ps_mask(reinterpret_cast<__m512>(value), subnormal_class) == 0) {
    return reinterpret_cast<Halfwords>(_mm512_cvtneps_pbh(reinterpret_cast<__m512>(value)));
  }
#endif
  return narrow_bfloat16_by_integers(value);
}

inline Floats widen_float16(const Halfwords& bits) {
#if defined(__AVX512F__)
  // The all-lanes mask spares GCC 12 a false "may be used uninitialized" (as in simd.hpp).
  return reinterpret_cast<Floats>(_mm512_maskz_cvtph_ps(0xffff, reinterpret_cast<__m256i>(bits)));
#elif defined(__F16C__)
  return reinterpret_cast<Floats>(_mm256_cvtph_ps(reinterpret_cast<__m128i>(bits)));
#else
  Floats value;
  for (std::int64_t l = 0; l < lanes; ++l) value[l] = static_cast<float>(float16::from_bits(bits[l]));
  return value;
#endif
}

inline Halfwords narrow_float16(const Floats& value) {
#if defined(__AVX512F__)
  return reinterpret_cast<Halfwords>(
      _mm512_maskz_cvtps_ph(0xffff, reinterpret_cast<__m512>(value), _MM_FROUND_TO_NEAREST_INT));
#elif defined(__F16C__)
  return reinterpret_cast<Halfwords>(_mm256_cvtps_ph(reinterpret_cast<__m256>(value), _MM_FROUND_TO_NEAREST_INT));
#else
  Halfwords bits;
  for (std::int64_t l = 0; l < lanes; ++l) bits[l] = float16(value[l]).bits();
  return bits;
#endif
}

template <typename T>
Vector<Compute<T>> load_widened(const T* p) {
  if constexpr (is_reduced_v<T>) {
    Halfwords bits;
    std::memcpy(&bits, p, sizeof bits);
    if constexpr (std::is_same_v<T, bfloat16>) {
      return widen_bfloat16(bits);
    } else {
      return widen_float16(bits);
    }
  } else {
    return load_vector(p);
  }
}

template <typename T>
Halfwords narrow(const Floats& value) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    return narrow_bfloat16(value);
  } else {
    return narrow_float16(value);
  }
}

template <typename T>
void store_narrowed(T* p, const Vector<Compute<T>>& value) {
  if constexpr (is_reduced_v<T>) {
    const Halfwords bits = narrow<T>(value);
    std::memcpy(static_cast<void*>(p), &bits, sizeof bits);
  } else {
    store_vector(p, value);
  }
}

// As store_narrowed, with a non-temporal store (simd.hpp, stream_vector) to an address aligned
// to the bytes stored.
template <typename T>
void stream_narrowed(T* p, const Vector<Compute<T>>& value) {
  if constexpr (is_reduced_v<T>) {
    const Halfwords bits = narrow<T>(value);
#if defined(__AVX512F__)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), reinterpret_cast<__m256i>(bits));
#elif defined(__AVX__)
    _mm_stream_si128(reinterpret_cast<__m128i*>(p), reinterpret_cast<__m128i>(bits));
#else
    std::memcpy(static_cast<void*>(p), &bits, sizeof bits);
#endif
  } else {
    stream_vector(p, value);
  }
}

// Two vectors' worth, p[0, 2 * lanes), widened, for sums that may take the elements in any
// order (dy and x paired alike): bf16 as its even elements (p[2l] in first) and its odd ones
// (p[2l + 1] in second), a shift and a mask of one load, one step fewer per vector than
// widening each half in order; f32 and f16 as the two vectors in turn.
template <typename T>
void load_widened_pair(const T* p, Vector<Compute<T>>& first, Vector<Compute<T>>& second) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    Words words;
    std::memcpy(&words, p, sizeof words);
    first = reinterpret_cast<Floats>(words << 16);
    second = reinterpret_cast<Floats>(words & 0xffff0000u);
  } else {
    first = load_widened(p);
    second = load_widened(p + vector_elements<Compute<T>>);
  }
}

// Two vectors of f32 results narrowed to bf16 in one vector, first then second: AVX-512 BF16's
// two-source conversion where neither holds an f32 subnormal (one test for both).
inline HalfwordPair narrow_bfloat16_pair(const Floats& first, const Floats& second) {
#if defined(__AVX512BF16__) && defined(__AVX512DQ__)
  constexpr int subnormal_class = 0x20;
  const __mmask16 subnormal = _mm512_fpclass_ps_mask(reinterpret_cast<__m512>(first), subnormal_class) |
                              _mm512_fpclass_ps_mask(reinterpret_cast<__m512>(second), subnormal_class);
  if (subnormal == 0) {
    return reinterpret_cast<HalfwordPair>(
        _mm512_cvtne2ps_pbh(reinterpret_cast<__m512>(second), reinterpret_cast<__m512>(first)));
  }
#endif
  const Halfwords halves[2] = {narrow_bfloat16(first), narrow_bfloat16(second)};
  HalfwordPair pair;
  std::memcpy(&pair, halves, sizeof pair);
  return pair;
}

// p[0, 2 * lanes) = first, second, narrowed (bf16 or f16 data): bf16 in one store.
template <typename T>
void store_narrowed_pair(T* p, const Floats& first, const Floats& second) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    const HalfwordPair bits = narrow_bfloat16_pair(first, second);
    std::memcpy(static_cast<void*>(p), &bits, sizeof bits);
  } else {
    store_narrowed(p, first);
    store_narrowed(p + lanes, second);
  }
}

// As store_narrowed_pair, with non-temporal stores to an address aligned to the bytes stored:
// bf16 on an AVX-512 target a whole cache line at once.
template <typename T>
void stream_narrowed_pair(T* p, const Floats& first, const Floats& second) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, bfloat16>) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(p), reinterpret_cast<__m512i>(narrow_bfloat16_pair(first, second)));
    return;
  }
#endif
  stream_narrowed(p, first);
  stream_narrowed(p + lanes, second);
}

// Elements p[0, lanes) in double, the first half in `low` (simd.hpp's load_lanes, for bf16
// and f16).
template <typename T, typename = std::enable_if_t<is_reduced_v<T>>>
void load_lanes(const T* p, Doubles& low, Doubles& high) {
  widen(load_widened(p), low, high);
}

// out[k] = element(k) for k in [0, n), each narrowed to T once (element(k) and vector(k), the
// vector of elements from k, compute in Compute<T>). Streaming, the whole aligned cache lines in
// between are written as vector(k) with non-temporal stores, the ends element by element: a
// partial line would make the write-combining buffers flush half empty.
template <typename T, typename Element, typename VectorValue>
void store_elements(T* out, std::int64_t n, bool stream, Element&& element, VectorValue&& vector) {
  constexpr std::int64_t width = vector_elements<Compute<T>>;
  std::int64_t k = 0;
  if (stream && reinterpret_cast<std::uintptr_t>(out) % sizeof(T) == 0) {
    for (; k < n && reinterpret_cast<std::uintptr_t>(out + k) % cache_line_bytes != 0; ++k) {
      out[k] = narrowed<T>(element(k));
    }
    const std::int64_t lines_end = k + (n - k) / line_elements<T> * line_elements<T>;
    if constexpr (is_reduced_v<T>) {
      // A line holds a whole number of pairs of vectors of 16-bit results.
      for (; k < lines_end; k += 2 * width) stream_narrowed_pair(out + k, vector(k), vector(k + width));
    } else {
      for (; k < lines_end; k += width) stream_narrowed(out + k, vector(k));
    }
  }
  if constexpr (is_reduced_v<T>) {
    // The compiler leaves the narrowing loop below scalar: whole vectors first, two at a time.
    for (; k + 2 * width <= n; k += 2 * width) store_narrowed_pair(out + k, vector(k), vector(k + width));
    for (; k + width <= n; k += width) store_narrowed(out + k, vector(k));
  }
  for (; k < n; ++k) out[k] = narrowed<T>(element(k));
}

}  // namespace bnh::tiles
