#include "core/machine.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace bnh {

const char* to_string(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::avx512: return "avx512";
    case VectorIsa::avx2: return "avx2";
    case VectorIsa::sse2: return "sse2";
    case VectorIsa::scalar: return "scalar";
  }
  return "scalar";
}

std::int64_t parse_cache_size(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return 0;
  const std::int64_t value = std::stoll(text.substr(0, digits));
  std::string suffix = text.substr(digits);
  suffix.erase(std::remove(suffix.begin(), suffix.end(), ' '), suffix.end());
  if (suffix.empty() || suffix == "B") return value;
  if (suffix == "K" || suffix == "KB" || suffix == "KiB") return value << 10;
  if (suffix == "M" || suffix == "MB" || suffix == "MiB") return value << 20;
  if (suffix == "G" || suffix == "GB" || suffix == "GiB") return value << 30;
  return 0;
}

namespace {

std::string first_word(const std::string& path) {
  std::ifstream file(path);
  std::string word;
  file >> word;
  return word;
}

bool believable(std::int64_t bytes) {
  return bytes >= (std::int64_t{4} << 10) && bytes <= (std::int64_t{1} << 30);
}

// The value of the first "key : value" line of /proc/cpuinfo.
std::string cpuinfo_field(const std::string& key) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    const auto begin = value.find_first_not_of(" \t");
    return begin == std::string::npos ? "" : value.substr(begin);
  }
  return "";
}

bool has_flag(const std::string& flags, const std::string& flag) {
  std::istringstream words(flags);
  std::string word;
  while (words >> word) {
    if (word == flag) return true;
  }
  return false;
}

}  // namespace

CacheSizes detect_cache_sizes() {
  std::int64_t by_level[4] = {0, 0, 0, 0};
  for (int index = 0; index < 16; ++index) {
    const std::string directory = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const std::string level = first_word(directory + "level");
    if (level.empty()) break;
    const int number = std::atoi(level.c_str());
    if (first_word(directory + "type") == "Instruction" || number < 1 || number > 3) continue;
    by_level[number] = std::max(by_level[number], parse_cache_size(first_word(directory + "size")));
  }
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  if (by_level[1] == 0) by_level[1] = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (by_level[2] == 0) by_level[2] = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (by_level[3] == 0) by_level[3] = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
  CacheSizes sizes;
  sizes.detected = believable(by_level[1]) && believable(by_level[2]);
  sizes.l1_data = believable(by_level[1]) ? by_level[1] : std::int64_t{32} << 10;
  sizes.l2 = believable(by_level[2]) ? by_level[2] : std::max(sizes.l1_data, std::int64_t{256} << 10);
  // No believable L3: the L2 is the last level if the system said so, else assume a small L3.
  const std::int64_t l3 = believable(by_level[3]) ? by_level[3]
                          : sizes.detected        ? 0
                                                  : std::int64_t{8} << 20;
  sizes.last_level = std::max(sizes.l2, l3);
  return sizes;
}

Machine detect_machine() {
  Machine facts;
  facts.caches = detect_cache_sizes();
  facts.cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  facts.cpu_model = cpuinfo_field("model name");
  if (facts.cpu_model.empty()) facts.cpu_model = "unknown";
  const std::string flags = cpuinfo_field("flags");
  facts.cpu_has_avx512f = has_flag(flags, "avx512f");
  facts.cpu_has_avx2 = has_flag(flags, "avx2");
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) facts.memory_bytes = static_cast<std::int64_t>(pages) * page_size;
  return facts;
}

const Machine& machine() {
  static const Machine facts = detect_machine();
  return facts;
}

}  // namespace bnh
