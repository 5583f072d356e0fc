#include "reports/report.hpp"

#include <sys/utsname.h>

#include <boost/version.hpp>
#include <Eigen/Core>
#include <gmp.h>
#include <mpfr.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/machine.hpp"

// oneDNN's version function, resolved only when the program is linked with oneDNN (a peer
// adapter); null otherwise. Declared here so that the report needs no oneDNN headers.
extern "C" const void* dnnl_version(void) __attribute__((weak));

namespace bnh::reports {


namespace {

#ifndef BNH_COMPILER
#define BNH_COMPILER "unknown"
#endif
#ifndef BNH_CXX_FLAGS
#define BNH_CXX_FLAGS ""
#endif
#ifndef BNH_BUILD_TYPE
#define BNH_BUILD_TYPE ""
#endif
#ifndef BNH_GIT_REVISION
#define BNH_GIT_REVISION ""
#endif
#ifndef BNH_SOURCE_DIR
#define BNH_SOURCE_DIR ""
#endif
#ifndef BNH_BENCHMARK_VERSION
#define BNH_BENCHMARK_VERSION ""
#endif

#define BNH_STRINGIFY_(x) #x
#define BNH_STRINGIFY(x) BNH_STRINGIFY_(x)

std::string trim(std::string text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

// The first line a shell command prints, "" when it fails.
std::string first_line_of(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  char buffer[256] = {};
  std::string line;
  if (std::fgets(buffer, sizeof buffer, pipe) != nullptr) line = buffer;
  const int status = pclose(pipe);
  return status == 0 ? trim(line) : "";
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char ch : text) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return quoted + "'";
}

// Version of a shared library mapped into this process, from its file name
// ("libtorch_cpu.so.1.13.0" -> "1.13.0"); "" when it is not loaded.
std::string loaded_library_version(const std::string& prefix) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.rfind('/');
    if (slash == std::string::npos) continue;
    const std::string file = line.substr(slash + 1);
    if (file.compare(0, prefix.size(), prefix) == 0) return file.substr(prefix.size());
  }
  return "";
}

struct DnnlVersion {  // dnnl_version_t
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime, gpu_runtime;
};

}  // namespace

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string git_revision() {
  const std::string source = BNH_SOURCE_DIR;
  if (!source.empty() && std::filesystem::exists(std::filesystem::path(source) / ".git")) {
    const std::string revision =
        first_line_of("git -C " + shell_quote(source) + " rev-parse --short HEAD 2>/dev/null");
    if (!revision.empty()) return revision;
  }
  const std::string configured = BNH_GIT_REVISION;
  return configured.empty() ? "unknown" : configured;
}

MachineFacts describe_machine(const std::vector<BandwidthProbe>& bandwidth) {
  const Machine& facts = machine();
  MachineFacts described;
  described.cpu = facts.cpu_model;
  described.cores = facts.cores;
  described.caches = {facts.caches.l1_data, facts.caches.l2, facts.caches.last_level, facts.caches.detected};
  described.isa = to_string(facts.compiled_isa);
  described.cpu_has_avx512f = facts.cpu_has_avx512f;
  described.cpu_has_avx2 = facts.cpu_has_avx2;
  if (facts.memory_bytes > 0) described.memory_bytes = facts.memory_bytes;
  utsname names{};
  if (uname(&names) == 0) described.os = std::string(names.sysname) + " " + names.release;
  described.bandwidth = bandwidth;
  return described;
}

BuildFacts describe_build() {
  std::map<std::string, std::string> libraries;
  if (std::string(BNH_BENCHMARK_VERSION).size() > 0) libraries["benchmark"] = BNH_BENCHMARK_VERSION;
  libraries["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                       "." + std::to_string(EIGEN_MINOR_VERSION);
  libraries["boost"] = std::to_string(BOOST_VERSION / 100000) + "." +
                       std::to_string(BOOST_VERSION / 100 % 1000) + "." + std::to_string(BOOST_VERSION % 100);
  libraries["mpfr"] = mpfr_get_version();
  libraries["gmp"] = gmp_version;
  libraries["nlohmann_json"] = std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                               std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                               std::to_string(NLOHMANN_JSON_VERSION_PATCH);
#ifdef _OPENMP
  libraries["openmp"] = BNH_STRINGIFY(_OPENMP);  // the specification's date, yyyymm
#endif
  if (dnnl_version != nullptr) {
    const auto* version = static_cast<const DnnlVersion*>(dnnl_version());
    libraries["onednn"] = std::to_string(version->major) + "." + std::to_string(version->minor) + "." +
                          std::to_string(version->patch);
  } else if (const std::string loaded = loaded_library_version("libdnnl.so."); !loaded.empty()) {
    libraries["onednn"] = loaded;
  }
  if (const std::string loaded = loaded_library_version("libtorch_cpu.so."); !loaded.empty()) {
    libraries["torch"] = loaded;
  } else if (const std::string c10 = loaded_library_version("libc10.so."); !c10.empty()) {
    libraries["torch"] = c10;
  }
  return {BNH_COMPILER, trim(BNH_CXX_FLAGS), BNH_BUILD_TYPE, git_revision(), libraries};
}

Report new_report(MachineFacts machine, BuildFacts build) {
  Report report;
  report.created = utc_timestamp();
  report.machine = std::move(machine);
  report.build = std::move(build);
  return report;
}

nlohmann::json machine_info(const std::vector<BandwidthProbe>& bandwidth) { return describe_machine(bandwidth); }

nlohmann::json build_info() { return describe_build(); }

nlohmann::json new_report(nlohmann::json machine, nlohmann::json build) {
  nlohmann::json report = new_report(MachineFacts{}, BuildFacts{});
  report["machine"] = std::move(machine);
  report["build"] = std::move(build);
  return report;
}

std::string report_text(const nlohmann::json& report) { return safe_dump(report, 1) + "\n"; }

}  // namespace bnh::reports
