// A benchmark report (docs/report-schema.md): building one, writing it atomically, reading and
// validating one. Every refusal is a bnh::Error whose what() is one line naming the file.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bandwidth.hpp"

namespace bnh::reports {

inline constexpr const char* schema_name = "bnharness-report";
inline constexpr int schema_version = 1;

// "2026-11-24T02:30:00Z"
std::string utc_timestamp();

// cpu (model name from /proc/cpuinfo), cores, caches (from /sys), memory, the bandwidth probe.
nlohmann::json machine_info(const std::vector<bench::BandwidthResult>& bandwidth);
// compiler, flags, build type, git revision, library versions.
nlohmann::json build_info();
// The model name in /proc/cpuinfo, "unknown" without one.
std::string cpu_model();
// The revision of the source tree: `git rev-parse --short HEAD` now if git and the tree are
// there, else the one recorded when the build was configured, else "unknown".
std::string git_revision();

// schema, version, created, machine, build; the caller adds suite, benchmarks, accuracy.
nlohmann::json new_report(nlohmann::json machine, nlohmann::json build);

// A key of a report's object as text: a string as it is, another value as JSON, `fallback` when
// the key is missing or null (or `object` is not an object).
std::string text_of(const nlohmann::json& object, const char* key, const std::string& fallback = "?");

// A report of `bnh accuracy`: accuracy entries only, no benchmarks (suite.name "accuracy").
bool is_accuracy_report(const nlohmann::json& report);
// The suite line of a report's header: "resnet50, N = 16, 3 repetitions of at least 0.1 s",
// or for an accuracy report "accuracy sweep, 2 cases per point, seed 1".
std::string suite_description(const nlohmann::json& report);

// Writes to a temporary file in the same directory and renames it over `path`, so that a
// reader sees the old file or the new one, never half of one. Creates missing directories.
void write_text_atomically(const std::string& path, const std::string& text);
void write_report(const std::string& path, const nlohmann::json& report);
// The text write_report writes. A string that is not valid UTF-8 (a plugin's name or message)
// is written with U+FFFD for its bad bytes rather than aborting the dump.
std::string report_text(const nlohmann::json& report);
// dump() of any value, with the same replacement: for messages and keys built from a report.
std::string safe_dump(const nlohmann::json& value, int indent = -1);

// Parses and validates; `name` is the file name the messages use. Refuses text that is empty,
// not JSON, truncated, not a bnharness report, of a version this program does not read, or
// missing what every report has.
nlohmann::json parse_report(const std::string& text, const std::string& name);
nlohmann::json read_report(const std::string& path);
void validate_report(const nlohmann::json& report, const std::string& name);

}  // namespace bnh::reports
