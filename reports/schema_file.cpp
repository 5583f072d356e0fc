// A report as JSON text and as a file: parsing and checking what every report has (one-line
// refusals naming the file), reading one whole, writing atomically.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "bnh/types.hpp"
#include "reports/schema.hpp"

namespace bnh::reports {


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

nlohmann::json parse_report_json(const std::string& text, const std::string& name) {
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

std::string read_report_file(const std::string& path) {
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
  return text;
}

}  // namespace bnh::reports
