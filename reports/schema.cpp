#include "reports/schema.hpp"

#include <cmath>

#include "bnh/types.hpp"

namespace bnh {

void to_json(nlohmann::json& out, Role role) { out = to_string(role); }
void from_json(const nlohmann::json& in, Role& role) { role = parse_role(in.get<std::string>()); }

// An accuracy point as a report's entry: enums by name, an infinite error null, an empty error
// left out.
void to_json(nlohmann::json& out, const AccuracyPoint& point) {
  auto finite_or_null = [](double value) {
    return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
  };
  out = {{"implementation", point.implementation},
         {"operation", to_string(point.operation)},
         {"dtype", point.dtypes()},
         {"regime", to_string(point.regime)},
         {"kappa", point.kappa},
         {"m", point.m},
         {"shape", point.shape},
         {"max_ulp_error", finite_or_null(point.max_ulp_error)},
         {"max_scaled_error", finite_or_null(point.max_scaled_error)},
         {"bound", finite_or_null(point.bound)},
         {"worst_output", point.worst_output},
         {"cases", point.cases},
         {"failed_cases", point.failed_cases}};
  if (!point.error.empty()) out["error"] = point.error;
}

void from_json(const nlohmann::json& in, AccuracyPoint& point) {
  auto error_or_infinity = [&](const char* key) {
    const auto found = in.find(key);
    return found == in.end() || found->is_null() ? HUGE_VAL : found->get<double>();
  };
  point.implementation = in.at("implementation").get<std::string>();
  point.operation = parse_operation(in.at("operation").get<std::string>());
  const DTypeChoice dtypes = DTypeChoice::parse(in.at("dtype").get<std::string>());
  point.dtype = dtypes.data;
  point.stats = dtypes.stats;
  point.regime = parse_accuracy_regime(in.at("regime").get<std::string>());
  point.kappa = in.at("kappa").get<double>();
  point.m = in.value("m", std::int64_t{0});
  point.shape = in.value("shape", std::vector<std::int64_t>{});
  point.max_ulp_error = error_or_infinity("max_ulp_error");
  point.max_scaled_error = error_or_infinity("max_scaled_error");
  point.bound = error_or_infinity("bound");
  point.worst_output = in.value("worst_output", "");
  point.cases = in.value("cases", 0);
  point.failed_cases = in.value("failed_cases", 0);
  point.error = in.value("error", "");
}

}  // namespace bnh

namespace bnh::reports {


void to_json(nlohmann::json& out, const CacheFacts& caches) {
  out = {{"l1d", caches.l1d}, {"l2", caches.l2}, {"last_level", caches.last_level}, {"detected", caches.detected}};
}

void from_json(const nlohmann::json& in, CacheFacts& caches) {
  caches.l1d = in.value("l1d", std::int64_t{0});
  caches.l2 = in.value("l2", std::int64_t{0});
  // Older reports: "l3", 0 when the machine reported none.
  const std::int64_t l3 = in.value("l3", std::int64_t{0});
  caches.last_level = in.value("last_level", l3 > 0 ? l3 : caches.l2);
  caches.detected = in.value("detected", true);
}


// Only the keys a suite has: n for the suites --n sets, the sweep's for an accuracy report.
void to_json(nlohmann::json& out, const Suite& suite) {
  out = {{"name", suite.name}};
  if (suite.n) out["n"] = *suite.n;
  if (suite.cases) {
    out["cases"] = *suite.cases;
    out["channels"] = suite.channels;
    out["seed"] = suite.seed;
    return;
  }
  out["repetitions"] = suite.repetitions;
  out["min_time"] = suite.min_time;
  out["quick"] = suite.quick;
  out["clock"] = suite.clock;
  out["shapes"] = suite.shapes;
}

void from_json(const nlohmann::json& in, Suite& suite) {
  const Suite fallback;
  suite.name = in.value("name", fallback.name);
  suite.n = in.value("n", fallback.n);
  suite.repetitions = in.value("repetitions", fallback.repetitions);
  suite.min_time = in.value("min_time", fallback.min_time);
  suite.quick = in.value("quick", fallback.quick);
  suite.clock = in.value("clock", fallback.clock);
  suite.shapes = in.value("shapes", fallback.shapes);
  suite.cases = in.value("cases", fallback.cases);
  suite.channels = in.value("channels", fallback.channels);
  suite.seed = in.value("seed", fallback.seed);
}

namespace {

// A timing is written flat, beside the other keys of its benchmark or bound.
void put_timing(nlohmann::json& out, const Timing& timing) {
  out["repetitions"] = timing.repetitions;
  out["iterations"] = timing.iterations;
  out["clock"] = timing.clock;
  out["median_s"] = timing.median_s;
  out["min_s"] = timing.min_s;
  out["stddev_s"] = timing.stddev_s;
}

Timing get_timing(const nlohmann::json& in) {
  Timing timing;
  timing.repetitions = in.at("repetitions").get<std::vector<double>>();
  timing.iterations = in.value("iterations", timing.iterations);
  timing.clock = in.value("clock", timing.clock);
  timing.median_s = in.at("median_s").get<double>();
  timing.min_s = in.value("min_s", timing.median_s);
  timing.stddev_s = in.value("stddev_s", 0.0);
  return timing;
}

// Reports written before roles: the adapters were marked "peer", and naive was the baseline.
Role legacy_role(const nlohmann::json& in) {
  if (in.value("peer", false)) return Role::peer;
  return in.value("implementation", "") == "naive" ? Role::baseline : Role::built_in;
}

}  // namespace

void to_json(nlohmann::json& out, const Benchmark& entry) {
  out = {{"id", entry.id},
         {"implementation", entry.implementation},
         {"role", entry.role},
         {"peer", entry.role == Role::peer},  // for readers of reports without roles
         {"operation", entry.operation},
         {"layout", entry.layout},
         {"dtype", entry.dtype},
         {"shape", entry.shape},
         {"threads", entry.threads}};
  put_timing(out, entry.timing);
  out["bytes"] = entry.bytes;
  out["gbps"] = entry.gbps;
  out["elements_per_second"] = entry.elements_per_second;
  out["bound"] = entry.bound;
  out["speedup_vs_naive"] = entry.speedup_vs_naive;
  out["speedup_vs_best_peer"] = entry.speedup_vs_best_peer;
  if (entry.speedup_vs_f32) out["speedup_vs_f32"] = entry.speedup_vs_f32;
  out["best_peer"] = entry.best_peer;
  out["roofline_fraction"] = entry.roofline_fraction;
  out["copy_fraction"] = entry.copy_fraction;
  out["bound_fraction"] = entry.bound_fraction;
}

void from_json(const nlohmann::json& in, Benchmark& entry) {
  entry.id = in.at("id").get<std::string>();
  entry.implementation = in.at("implementation").get<std::string>();
  entry.role = in.contains("role") ? in.at("role").get<Role>() : legacy_role(in);
  entry.operation = in.at("operation").get<std::string>();
  entry.layout = in.at("layout").get<std::string>();
  entry.dtype = in.at("dtype").get<std::string>();
  entry.shape = in.at("shape").get<std::vector<std::int64_t>>();
  entry.threads = in.at("threads").get<int>();
  entry.timing = get_timing(in);
  entry.bytes = in.value("bytes", std::int64_t{0});
  entry.gbps = in.value("gbps", 0.0);
  entry.elements_per_second = in.value("elements_per_second", 0.0);
  entry.bound = in.value("bound", std::optional<std::string>{});
  entry.speedup_vs_naive = in.value("speedup_vs_naive", std::optional<double>{});
  entry.speedup_vs_best_peer = in.value("speedup_vs_best_peer", std::optional<double>{});
  entry.speedup_vs_f32 = in.value("speedup_vs_f32", std::optional<double>{});
  entry.best_peer = in.value("best_peer", std::optional<std::string>{});
  entry.roofline_fraction = in.value("roofline_fraction", std::optional<double>{});
  entry.copy_fraction = in.value("copy_fraction", std::optional<double>{});
  entry.bound_fraction = in.value("bound_fraction", std::optional<double>{});
}

void to_json(nlohmann::json& out, const BoundMeasurement& bound) {
  out = {{"id", bound.id}, {"kind", bound.kind}, {"dtype", bound.dtype}, {"shape", bound.shape},
         {"threads", bound.threads}};
  put_timing(out, bound.timing);
  out["bytes"] = bound.bytes;
  out["gbps"] = bound.gbps;
}

void from_json(const nlohmann::json& in, BoundMeasurement& bound) {
  bound.id = in.at("id").get<std::string>();
  bound.kind = in.value("kind", bound.id.substr(0, bound.id.find('/')));
  bound.dtype = in.at("dtype").get<std::string>();
  bound.shape = in.at("shape").get<std::vector<std::int64_t>>();
  bound.threads = in.at("threads").get<int>();
  bound.timing = get_timing(in);
  bound.bytes = in.value("bytes", std::int64_t{0});
  bound.gbps = in.value("gbps", 0.0);
}

void to_json(nlohmann::json& out, const Report& report) {
  out = {{"schema", report.schema},      {"version", report.version}, {"created", report.created},
         {"machine", report.machine},    {"build", report.build},     {"suite", report.suite},
         {"focus", report.focus},        {"benchmarks", report.benchmarks},
         {"bounds", report.bounds},      {"accuracy", report.accuracy}};
  if (!report.errors.empty()) out["errors"] = report.errors;
}

void from_json(const nlohmann::json& in, Report& report) {
  const Report fallback;
  report.schema = in.value("schema", fallback.schema);
  report.version = in.value("version", fallback.version);
  report.created = in.value("created", fallback.created);
  report.machine = in.value("machine", fallback.machine);
  report.build = in.value("build", fallback.build);
  report.suite = in.value("suite", fallback.suite);
  report.focus = in.value("focus", fallback.focus);
  report.benchmarks = in.value("benchmarks", fallback.benchmarks);
  // Older reports: the streaming copies alone, under "copies".
  report.bounds = in.contains("bounds") ? in.at("bounds").get<std::vector<BoundMeasurement>>()
                                        : in.value("copies", fallback.bounds);
  report.errors = in.value("errors", fallback.errors);
  report.accuracy = in.value("accuracy", fallback.accuracy);
}

Report parse_report(const std::string& text, const std::string& name) {
  const nlohmann::json document = parse_report_json(text, name);
  try {
    return document.get<Report>();
  } catch (const nlohmann::json::exception& error) {
    std::string message = error.what();
    message.erase(0, message.find("] ") == std::string::npos ? 0 : message.find("] ") + 2);
    throw Error(name + ": malformed report: " + message);
  } catch (const Error& error) {  // an unknown operation, dtype, role or regime
    throw Error(name + ": malformed report: " + error.what());
  }
}

Report read_report(const std::string& path) { return parse_report(read_report_file(path), path); }

std::string report_text(const Report& report) { return safe_dump(nlohmann::json(report), 1) + "\n"; }

void write_report(const std::string& path, const Report& report) {
  write_text_atomically(path, report_text(report));
}

}  // namespace bnh::reports
