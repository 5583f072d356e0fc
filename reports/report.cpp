#include "reports/report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/version.hpp>
#include <Eigen/Core>
#include <gmp.h>
#include <mpfr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/suites.hpp"
#include "bnh/types.hpp"

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

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.compare(0, 10, "model name") == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return trim(line.substr(colon + 1));
    }
  }
  return "unknown";
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

nlohmann::json machine_info(const std::vector<bench::BandwidthResult>& bandwidth) {
  const bench::CacheSizes caches = bench::read_cache_sizes();
  nlohmann::json machine;
  machine["cpu"] = cpu_model();
  machine["cores"] = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  machine["caches"] = {{"l1d", caches.l1d}, {"l2", caches.l2}, {"l3", caches.l3}};
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) machine["memory_bytes"] = static_cast<std::int64_t>(pages) * page_size;
  utsname names{};
  if (uname(&names) == 0) machine["os"] = std::string(names.sysname) + " " + names.release;
  machine["bandwidth"] = nlohmann::json::array();
  for (const auto& probe : bandwidth) {
    machine["bandwidth"].push_back({{"threads", probe.threads},
                                    {"copy_gbps", probe.copy_gbps},
                                    {"triad_gbps", probe.triad_gbps},
                                    {"array_bytes", probe.array_bytes}});
  }
  return machine;
}

nlohmann::json build_info() {
  nlohmann::json libraries;
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
  return {{"compiler", BNH_COMPILER},
          {"flags", trim(BNH_CXX_FLAGS)},
          {"build_type", BNH_BUILD_TYPE},
          {"git_revision", git_revision()},
          {"libraries", libraries}};
}

nlohmann::json new_report(nlohmann::json machine, nlohmann::json build) {
  nlohmann::json report;
  report["schema"] = schema_name;
  report["version"] = schema_version;
  report["created"] = utc_timestamp();
  report["machine"] = std::move(machine);
  report["build"] = std::move(build);
  report["benchmarks"] = nlohmann::json::array();
  report["accuracy"] = nlohmann::json::array();
  return report;
}

bool is_accuracy_report(const nlohmann::json& report) {
  const auto suite = report.value("suite", nlohmann::json::object());
  return suite.is_object() && suite.value("name", "") == "accuracy" &&
         report.value("benchmarks", nlohmann::json::array()).empty();
}

std::string suite_description(const nlohmann::json& report) {
  const auto suite = report.value("suite", nlohmann::json::object());
  if (!suite.is_object()) return "?";
  if (is_accuracy_report(report)) {
    return "accuracy sweep, " + text_of(suite, "cases") + " cases per point, " + text_of(suite, "channels") +
           " channels, seed " + text_of(suite, "seed");
  }
  std::string text = text_of(suite, "name");
  if (suite.contains("n")) text += ", N = " + text_of(suite, "n");
  text += ", " + text_of(suite, "repetitions") + " repetitions of at least " + text_of(suite, "min_time") + " s";
  if (suite.value("quick", false) && text_of(suite, "name") != "quick") text += ", quick timings";
  return text;
}

std::string text_of(const nlohmann::json& object, const char* key, const std::string& fallback) {
  if (!object.is_object()) return fallback;
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return fallback;
  if (found->is_string()) return found->get<std::string>();
  return safe_dump(*found);
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::filesystem::path target(path);
  std::error_code ignored;
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), ignored);
  std::string temporary = (target.has_parent_path() ? target.parent_path() / "" : std::filesystem::path()).string() +
                          "." + target.filename().string() + ".XXXXXX";
  const int fd = mkstemp(temporary.data());
  if (fd < 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t count = ::write(fd, text.data() + written, text.size() - written);
    if (count < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      throw Error("cannot write " + path + ": " + why);
    }
    written += static_cast<std::size_t>(count);
  }
  // mkstemp makes the file 0600; a report is as readable as any file the user writes.
  const mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw Error("cannot write " + path + ": " + why);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw Error("cannot write " + path + ": " + why);
  }
}

std::string safe_dump(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string report_text(const nlohmann::json& report) { return safe_dump(report, 1) + "\n"; }

void write_report(const std::string& path, const nlohmann::json& report) {
  write_text_atomically(path, report_text(report));
}

namespace {

void require(bool condition, const std::string& name, const std::string& what) {
  if (!condition) throw Error(name + ": malformed report: " + what);
}

}  // namespace

void validate_report(const nlohmann::json& report, const std::string& name) {
  if (!report.is_object()) throw Error(name + ": not a bnharness report (the JSON is not an object)");
  const auto schema = report.find("schema");
  if (schema == report.end()) throw Error(name + ": not a bnharness report (no \"schema\" key)");
  if (!schema->is_string() || schema->get<std::string>() != schema_name) {
    throw Error(name + ": not a bnharness report (\"schema\" is " + safe_dump(*schema) + ", expected \"" +
                schema_name + "\")");
  }
  const auto version = report.find("version");
  if (version == report.end() || !version->is_number_integer()) {
    throw Error(name + ": report has no integer \"version\" (this bnh reads version " +
                std::to_string(schema_version) + ")");
  }
  const auto number = version->get<std::int64_t>();
  if (number > schema_version) {
    throw Error(name + ": report version " + std::to_string(number) + " is newer than this bnh reads (version " +
                std::to_string(schema_version) + ")");
  }
  if (number != schema_version) {
    throw Error(name + ": unknown report version " + std::to_string(number) + " (this bnh reads version " +
                std::to_string(schema_version) + ")");
  }
  const auto benchmarks = report.find("benchmarks");
  require(benchmarks != report.end() && benchmarks->is_array(), name, "no \"benchmarks\" array");
  for (std::size_t i = 0; i < benchmarks->size(); ++i) {
    const auto& entry = (*benchmarks)[i];
    const std::string where = "benchmarks[" + std::to_string(i) + "]";
    require(entry.is_object(), name, where + " is not an object");
    require(entry.contains("id") && entry["id"].is_string(), name, where + " has no string \"id\"");
    for (const char* key : {"implementation", "operation", "dtype", "layout"}) {
      require(entry.contains(key) && entry[key].is_string(), name, where + " has no string \"" + key + "\"");
    }
    require(entry.contains("threads") && entry["threads"].is_number_integer(), name, where + " has no integer \"threads\"");
    require(entry.contains("shape") && entry["shape"].is_array() && !entry["shape"].empty(), name,
            where + " has no \"shape\" array");
    for (const auto& dim : entry["shape"]) {
      require(dim.is_number_integer() && dim.get<std::int64_t>() > 0, name,
              where + " has a \"shape\" entry that is not a positive integer");
    }
    require(entry.contains("repetitions") && entry["repetitions"].is_array(), name,
            where + " has no \"repetitions\" array");
    for (const auto& time : entry["repetitions"]) {
      require(time.is_number(), name, where + " has a repetition that is not a number");
    }
    require(entry.contains("median_s") && entry["median_s"].is_number(), name, where + " has no numeric \"median_s\"");
  }
  if (report.contains("accuracy")) {
    require(report["accuracy"].is_array(), name, "\"accuracy\" is not an array");
    for (std::size_t i = 0; i < report["accuracy"].size(); ++i) {
      const auto& entry = report["accuracy"][i];
      const std::string where = "accuracy[" + std::to_string(i) + "]";
      require(entry.is_object(), name, where + " is not an object");
      for (const char* key : {"implementation", "operation", "dtype", "regime"}) {
        require(entry.contains(key) && entry[key].is_string(), name, where + " has no string \"" + key + "\"");
      }
      require(entry.contains("kappa") && entry["kappa"].is_number(), name, where + " has no numeric \"kappa\"");
      for (const char* key : {"max_scaled_error", "max_ulp_error", "bound"}) {
        require(!entry.contains(key) || entry[key].is_number() || entry[key].is_null(), name,
                where + " has a \"" + key + "\" that is neither a number nor null");
      }
    }
  }
}

nlohmann::json parse_report(const std::string& text, const std::string& name) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error(name + ": empty file, not a bnharness report");
  }
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    const std::string message = error.what();
    // The lexer read past the last byte: the text ended in the middle of the document.
    if (message.find("end of input") != std::string::npos || error.byte > text.size()) {
      throw Error(name + ": truncated JSON (the text ends at byte " + std::to_string(text.size()) +
                  " before the document is complete)");
    }
    throw Error(name + ": not JSON (syntax error at byte " + std::to_string(error.byte) + ")");
  } catch (const nlohmann::json::exception& error) {  // a number beyond a double: "1e400"
    std::string message = error.what();
    message.erase(0, message.find("] ") == std::string::npos ? 0 : message.find("] ") + 2);
    throw Error(name + ": not a usable report: " + message);
  }
  validate_report(report, name);
  return report;
}

nlohmann::json read_report(const std::string& path) {
  std::error_code code;
  if (std::filesystem::is_directory(path, code)) throw Error(path + ": is a directory, not a report");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot read (" + std::strerror(errno) + ")");
  // Read in chunks appended outside the stream: `text << file.rdbuf()` swallows an exception
  // (out of memory) and returns what it had, which then read as an empty or truncated report.
  std::string text;
  std::vector<char> chunk(1 << 16);
  while (file.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || file.gcount() > 0) {
    text.append(chunk.data(), static_cast<std::size_t>(file.gcount()));
  }
  if (file.bad()) throw Error(path + ": cannot read (" + std::strerror(errno) + ")");
  return parse_report(text, path);
}

}  // namespace bnh::reports
