// core/machine against what Google Benchmark reads for its own report header
// (benchmark::CPUInfo), and the cache-size parser on the forms sysfs and lscpu write.
#include "core/machine.hpp"

#include <benchmark/benchmark.h>
#include <gtest/gtest.h>

namespace {

std::int64_t benchmark_cache(int level, const char* type) {
  std::int64_t size = 0;
  for (const auto& cache : benchmark::CPUInfo::Get().caches) {
    if (cache.level == level && cache.type == type) size = std::max<std::int64_t>(size, cache.size);
  }
  return size;
}

TEST(Machine, CoresMatchGoogleBenchmark) {
  EXPECT_EQ(bnh::machine().cores, benchmark::CPUInfo::Get().num_cpus);
}

TEST(Machine, CachesMatchGoogleBenchmarkWhereItReadsThem) {
  const bnh::CacheSizes& caches = bnh::machine().caches;
  const std::int64_t l1 = benchmark_cache(1, "Data");
  const std::int64_t l2 = benchmark_cache(2, "Unified");
  const std::int64_t l3 = benchmark_cache(3, "Unified");
  if (l1 == 0 || l2 == 0) GTEST_SKIP() << "Google Benchmark found no cache sizes here";
  ASSERT_TRUE(caches.detected);
  EXPECT_EQ(caches.l1_data, l1);
  EXPECT_EQ(caches.l2, l2);
  EXPECT_EQ(caches.last_level, std::max(l2, l3));
}

TEST(Machine, CachesAreOrderedAndBelievable) {
  const bnh::CacheSizes& caches = bnh::machine().caches;
  EXPECT_GE(caches.l1_data, std::int64_t{4} << 10);
  EXPECT_GE(caches.l2, caches.l1_data);
  EXPECT_GE(caches.last_level, caches.l2);
  EXPECT_LE(caches.last_level, std::int64_t{1} << 30);
}

TEST(Machine, CompiledIsaIsOneTheCpuRuns) {
  const bnh::Machine& facts = bnh::machine();
  if (facts.compiled_isa == bnh::VectorIsa::avx512) {
    EXPECT_TRUE(facts.cpu_has_avx512f);
  }
  if (facts.compiled_isa == bnh::VectorIsa::avx2) {
    EXPECT_TRUE(facts.cpu_has_avx2);
  }
  EXPECT_NE(facts.cpu_model, "");
}

TEST(Machine, ParsesCacheSizes) {
  EXPECT_EQ(bnh::parse_cache_size("32K"), 32 << 10);
  EXPECT_EQ(bnh::parse_cache_size("1024K"), 1 << 20);
  EXPECT_EQ(bnh::parse_cache_size("32M"), 32 << 20);
  EXPECT_EQ(bnh::parse_cache_size("48 KiB"), 48 << 10);
  EXPECT_EQ(bnh::parse_cache_size("65536"), 65536);
  EXPECT_EQ(bnh::parse_cache_size(""), 0);
  EXPECT_EQ(bnh::parse_cache_size("K"), 0);
  EXPECT_EQ(bnh::parse_cache_size("12X"), 0);
  EXPECT_EQ(bnh::parse_cache_size("99999999999999999999K"), 0);
}

}  // namespace
