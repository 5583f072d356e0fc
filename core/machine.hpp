// Facts about the machine, read in one place: the kernels size their tiles by these caches, the
// cache-sweep suite spans them, and a report records them. A report therefore describes the
// caches the kernels actually used, fallbacks included.
#pragma once

#include <cstdint>
#include <string>

namespace bnh {

struct CacheSizes {
  std::int64_t l1_data = 0;     // bytes, per core
  std::int64_t l2 = 0;          // bytes, per core
  std::int64_t last_level = 0;  // bytes, the largest cache (L3, or L2 when there is no L3)
  // False when a size was not read from the system and a fallback stands in for it.
  bool detected = false;
};

// The vector instruction set this build was compiled for, widest first.
enum class VectorIsa { avx512, avx2, sse2, scalar };
const char* to_string(VectorIsa isa);
constexpr VectorIsa compiled_vector_isa() {
#if defined(__AVX512F__)
  return VectorIsa::avx512;
#elif defined(__AVX2__) && defined(__FMA__)
  return VectorIsa::avx2;
#elif defined(__SSE2__)
  return VectorIsa::sse2;
#else
  return VectorIsa::scalar;
#endif
}

struct Machine {
  CacheSizes caches;
  int cores = 1;                 // online logical processors
  std::string cpu_model;         // "AMD EPYC 9R14 ..." or "unknown"
  VectorIsa compiled_isa = compiled_vector_isa();
  bool cpu_has_avx512f = false;  // what the CPU offers, whatever the build uses
  bool cpu_has_avx2 = false;
  std::int64_t memory_bytes = 0; // physical memory, 0 when unknown
};

// Read once per process.
const Machine& machine();
Machine detect_machine();

// Caches from sysfs (per level, data and unified only), then sysconf, then the sizes of a small
// desktop core; sizes outside [4 KiB, 1 GiB] are not believed (virtual machines have reported
// the host's L3 ten times over).
CacheSizes detect_cache_sizes();

// "32K", "1024K", "32M", "48 KiB" -> bytes; 0 when the text is not a size.
std::int64_t parse_cache_size(const std::string& text);

}  // namespace bnh
