// The report of `bnh bench` and `bnh accuracy` as types (docs/report-schema.md, version 1).
// reports/schema.cpp is the only reader and writer of its JSON: the runner fills these structs,
// derive() computes every derived figure in one place, and the renderers, the summary and
// compare read the same structs. A figure that may be absent is a std::optional, written null.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bnh/registry.hpp"
#include "properties/accuracy_sweep.hpp"

// std::optional as JSON: null when empty (nlohmann/json 3.11.2 has no serializer of its own).
namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& out, const std::optional<T>& value) {
    if (value) {
      out = *value;
    } else {
      out = nullptr;
    }
  }
  static void from_json(const json& in, std::optional<T>& value) {
    if (in.is_null()) {
      value.reset();
    } else {
      value = in.get<T>();
    }
  }
};
}  // namespace nlohmann

namespace bnh {
// A role as JSON: its name ("under test"); an unknown name is refused.
void to_json(nlohmann::json& out, Role role);
void from_json(const nlohmann::json& in, Role& role);
// An accuracy point as a report's entry: enums by name, an infinite error null, an empty error
// left out.
void to_json(nlohmann::json& out, const AccuracyPoint& point);
void from_json(const nlohmann::json& in, AccuracyPoint& point);
}  // namespace bnh

namespace bnh::reports {

inline constexpr const char* schema_name = "bnharness-report";
inline constexpr int schema_version = 1;

// ---- machine and build ------------------------------------------------------------------------

// Bytes; core/machine.hpp's facts, the sizes the kernels size their tiles by.
struct CacheFacts {
  std::int64_t l1d = 0, l2 = 0;
  std::int64_t last_level = 0;  // the largest cache (L3, or L2 without one); "l3" in older reports
  bool detected = true;         // false: a fallback stood in for a size the system did not give
};

struct BandwidthProbe {  // bench/bandwidth: streaming copy and triad over arrays of array_bytes
  int threads = 1;
  double copy_gbps = 0, triad_gbps = 0;
  std::int64_t array_bytes = 0;
};

struct MachineFacts {
  std::string cpu = "unknown";
  int cores = 1;
  CacheFacts caches;
  std::string isa;                        // the vector ISA compiled for: "avx512", "avx2", ...
  bool cpu_has_avx512f = false, cpu_has_avx2 = false;
  std::optional<std::int64_t> memory_bytes;
  std::string os;                         // "Linux 6.1.0-..."
  std::vector<BandwidthProbe> bandwidth;  // empty: no probe ran (accuracy reports)
};

struct BuildFacts {
  std::string compiler, flags, build_type, git_revision = "unknown";
  std::map<std::string, std::string> libraries;  // name -> version
};

// ---- the run ----------------------------------------------------------------------------------

struct Suite {
  std::string name;                     // resnet50, mlp, ..., or "accuracy"
  std::optional<std::int64_t> n;        // the batch, for the suites --n sets
  int repetitions = 0;
  double min_time = 0;
  bool quick = false;
  std::string clock = "auto";           // as given to --clock
  std::vector<std::string> shapes;      // labels, as in ids
  // An accuracy report's sweep: cases per point, channels, seed.
  std::optional<int> cases, channels;
  std::optional<std::uint64_t> seed;
};

// A measured call: times are seconds per call, one per repetition (round).
struct Timing {
  std::vector<double> repetitions;
  std::vector<std::int64_t> iterations;  // calls timed in each repetition
  std::string clock = "cpu";             // "cpu" or "real"
  double median_s = 0, min_s = 0, stddev_s = 0;
};

struct Benchmark {
  std::string id;  // operation/layout/dtype/shape/tN/implementation
  std::string implementation;
  Role role = Role::built_in;
  // dtype: dtypes_label, the data dtype and, after a colon, the statistics dtype when that is
  // not the default ("bf16:bf16"); data_dtype() is the first part.
  std::string operation, layout, dtype;
  std::vector<std::int64_t> shape;  // 4 entries, or 2 for an (N, C) input
  int threads = 1;
  Timing timing;                    // written flat: repetitions, median_s, ...
  std::int64_t bytes = 0;           // compulsory traffic (bench/traffic)
  double gbps = 0;                  // bytes / median_s
  double elements_per_second = 0;
  std::optional<std::string> bound;  // id of the bound measured for it (in Report::bounds)
  // Derived (derive()): null where there is nothing to compare with.
  std::optional<double> speedup_vs_naive;      // the baseline's median / this median
  std::optional<double> speedup_vs_best_peer;  // the fastest peer's median / this median
  std::optional<std::string> best_peer;
  // bf16 and f16 data: the same implementation's f32 median on the same operation, layout,
  // shape and thread count over this median (> 1: the reduced dtype is faster). Written only
  // where there is one.
  std::optional<double> speedup_vs_f32;
  std::optional<double> roofline_fraction;     // gbps / the probe's copy bandwidth
  std::optional<double> copy_fraction;         // gbps / the same shape's copy's gbps
  std::optional<double> bound_fraction;        // the bound's median / this median

  std::string data_dtype() const { return dtype.substr(0, dtype.find(':')); }
};

// The bytes of one element of a report's dtype label ("f64" 8, "bf16:bf16" 2); 4 for a label
// this program does not know.
std::size_t element_bytes(const std::string& dtype);

// The traffic an operation cannot avoid, done by plain kernels on the benchmark's own tensors in
// the same rounds (docs/benchmarks.md, "Bounds"): kind "copy" (x into y), "read_copy" (one
// tensor read, another copied) or "read2_copy" (two read, then one read and another copied).
struct BoundMeasurement {
  std::string id;  // kind/dtype/shape/tN: "copy/f32/16x64x56x56/t1"
  std::string kind;
  std::string dtype;  // the label of the benchmarks set against it
  std::vector<std::int64_t> shape;
  int threads = 1;
  Timing timing;
  std::int64_t bytes = 0;  // moved per call
  double gbps = 0;
};

// A benchmark that was not measured (no entry in benchmarks): the implementation refused the
// call, or, when `fault`, it crashed, hung or wrote out of bounds.
struct BenchmarkError {
  std::string id, error;
  bool fault = false;
};

// The accuracy entries are properties/accuracy_sweep.hpp's points, field for field; an infinite
// error is written null, an empty error left out.
using AccuracyEntry = AccuracyPoint;

struct Report {
  std::string schema = schema_name;
  int version = schema_version;
  std::string created;  // "2026-11-24T02:30:00Z"
  MachineFacts machine;
  BuildFacts build;
  Suite suite;
  // The implementation the summary and the charts are about (`bnh bench --focus`); derive()
  // sets the fastest built-in when empty.
  std::string focus;
  std::vector<Benchmark> benchmarks;
  std::vector<BoundMeasurement> bounds;  // "copies" in older reports (kind "copy")
  std::vector<BenchmarkError> errors;
  std::vector<AccuracyEntry> accuracy;
};

// ---- reading, writing, deriving ---------------------------------------------------------------

// Refuses, as a bnh::Error with one line naming `name`: empty text, text that is not JSON or is
// truncated, a number beyond a double, a report of another schema or version, or one missing
// what every report has.
Report parse_report(const std::string& text, const std::string& name);
Report read_report(const std::string& path);
// The JSON text (keys of absent figures null; invalid UTF-8 written as U+FFFD).
std::string report_text(const Report& report);
// Atomically: a temporary file beside `path`, renamed over it.
void write_report(const std::string& path, const Report& report);

// Every derived figure, from the measurements: speed-ups against the baseline and the best peer
// of the same operation, layout, dtype, shape and thread count, and of bf16 and f16 against
// the same implementation's f32; the roofline, copy and bound fractions; the focus when none
// is set.
void derive(Report& report);

// The built-in with the least geometric mean time over the groups it was measured in against
// the other built-ins; "" without one.
std::string fastest_built_in(const std::vector<Benchmark>& benchmarks);

// An accuracy report: accuracy entries and no benchmarks.
bool is_accuracy_report(const Report& report);
// "resnet50, N = 16, 3 repetitions of at least 0.1 s", or for an accuracy report
// "accuracy sweep, 2 cases per point, 2 channels, seed 1".
std::string suite_description(const Report& report);

// ---- JSON text and files (the typed functions above are built on these) ----------------------

// The bytes of `path`; refuses a folder or an unreadable file.
std::string read_report_file(const std::string& path);
// Parses and checks what every report has; the refusals parse_report describes.
nlohmann::json parse_report_json(const std::string& text, const std::string& name);
void validate_report(const nlohmann::json& report, const std::string& name);
// dump() of any value with invalid UTF-8 written as U+FFFD rather than aborting the dump.
std::string safe_dump(const nlohmann::json& value, int indent = -1);
// Writes to a temporary file in the same directory and renames it over `path`, so that a
// reader sees the old file or the new one, never half of one. Creates missing directories.
void write_text_atomically(const std::string& path, const std::string& text);

// The JSON conversions of every part (nlohmann::json(value), value.get<T>()).
void to_json(nlohmann::json& out, const CacheFacts& caches);
void from_json(const nlohmann::json& in, CacheFacts& caches);
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BandwidthProbe, threads, copy_gbps, triad_gbps, array_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MachineFacts, cpu, cores, caches, isa, cpu_has_avx512f,
                                                cpu_has_avx2, memory_bytes, os, bandwidth)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BuildFacts, compiler, flags, build_type, git_revision, libraries)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BenchmarkError, id, error, fault)
void to_json(nlohmann::json& out, const Suite& suite);
void from_json(const nlohmann::json& in, Suite& suite);
void to_json(nlohmann::json& out, const Benchmark& entry);
void from_json(const nlohmann::json& in, Benchmark& entry);
void to_json(nlohmann::json& out, const BoundMeasurement& bound);
void from_json(const nlohmann::json& in, BoundMeasurement& bound);
void to_json(nlohmann::json& out, const Report& report);
void from_json(const nlohmann::json& in, Report& report);

}  // namespace bnh::reports
