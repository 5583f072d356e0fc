// bnh accuracy: how an implementation's error against the reference grows as the data gets
// harder, i.e. as every channel's mean moves away from zero in units of its spread (kappa) and
// as a channel holds more values (M).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "bnh/text.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output_files.hpp"
#include "cli/targets.hpp"
#include "properties/accuracy_sweep.hpp"
#include "reports/render_markdown.hpp"
#include "reports/report.hpp"
#include "reports/schema.hpp"

namespace bnh::cli {

namespace {

const std::string accuracy_usage = R"(usage: bnh accuracy (--impl NAMES | --plugin PATH.so) [options]

Measures the error against the 50-digit reference as the data gets harder to normalize: every
channel's mean is moved to kappa standard deviations (kappa from 1 to 1e8, where the one-pass
variance E[x^2] - E[x]^2 loses every digit), for several counts M of values per channel, beside
standard-normal data. Prints, per operation, dtype and M, the worst error over the outputs in
the tolerance model's condition-normalized units (u x the output's scale, docs/tolerances.md;
'!' marks one beyond its bound) and in ULPs. Writes a report (docs/report-schema.md) that
'bnh report' renders as plots of error against kappa.

options:
)" + std::string(target_usage) + R"(  --ops LIST         operations (default: all five)
  --dtype LIST       f32, f64, bf16, f16 (default: f32,f64); bf16:bf16 and f16:f16 keep
                     the statistics in the data dtype (pure) instead of f32 (mixed)
  --kappas LIST      the ratios |mean| / std, each in (0, 1e12] (default: 1,10,100,...,1e8)
  --m LIST           values per channel (default: 16,256,4096,65536)
  --channels C       channels per case (default: 2, at most 16777216)
  --cases K          cases per point; layouts alternate NCHW, NHWC (default: 2, at most 1000)
  --seed S           seed of the data (default: 1)
  --output PATH      the report (default: out/accuracy.json, its folder created if
                     missing); checked to be writable before the run
  --help             this text

A dtype or operation the implementation does not support is skipped, with one line saying so.
A run that would need more than this machine's memory (the cases of every point of one M are
held at once: about 16 x cases x (1 + kappas) + 400 bytes a value) is refused before it starts.

Exit status: 0 every error within its bound, 1 some error beyond it or a call that failed,
2 bad usage, 3 nothing was measured (nothing asked for is supported).
)";

constexpr std::int64_t max_cases = 1000;
// u kappa is 1e-4 in f64 at 1e12; further out the data's spread nears the rounding of its mean
// and values overflow, where no implementation can be judged.
constexpr double max_kappa = 1e12;
constexpr std::int64_t max_channels = std::int64_t{1} << 24;
// Memory per value of a channel: each case holds x and dy in double; measuring one case takes
// the reference's and the implementation's buffers besides (measured near 280 bytes).
constexpr double case_bytes_per_value = 16;
constexpr double work_bytes_per_value = 400;

// Says, one line each, which dtypes and operations an implementation does not support, and drops
// those that none supports. False when nothing is left to measure.
bool announce_skipped(const std::vector<Implementation*>& implementations, AccuracyOptions& options) {
  auto supports = [](const Implementation& impl, const DTypeChoice& dtype, Layout layout) {
    TensorDesc desc;
    dtype.apply(desc);
    desc.layout = layout;
    return impl.supports(desc);
  };
  std::vector<DTypeChoice> dtypes;
  for (const DTypeChoice& dtype : options.dtypes) {
    bool anyone = false;
    for (const Implementation* impl : implementations) {
      const std::string name = printable(impl->name()), type = dtype.label();
      const bool nchw = supports(*impl, dtype, Layout::nchw), nhwc = supports(*impl, dtype, Layout::nhwc);
      if (!nchw && !nhwc) {
        std::cout << "skipped " << type << " for " << name << ": it does not support " << type << '\n';
      } else if (!nchw || !nhwc) {
        std::cout << "skipped the " << (nchw ? "nhwc" : "nchw") << " cases of " << type << " for " << name
                  << ": it supports " << type << " in " << (nchw ? "nchw" : "nhwc") << " only\n";
      }
      anyone = anyone || nchw || nhwc;
    }
    if (anyone) dtypes.push_back(dtype);
  }
  std::vector<Operation> operations;
  for (Operation operation : options.operations) {
    bool anyone = false;
    for (const Implementation* impl : implementations) {
      if (!impl->supports(operation)) {
        std::cout << "skipped " << to_string(operation) << " for " << printable(impl->name())
                  << ": it does not provide it\n";
      }
      anyone = anyone || impl->supports(operation);
    }
    if (anyone) operations.push_back(operation);
  }
  options.dtypes = dtypes;
  options.operations = operations;
  return !dtypes.empty() && !operations.empty();
}

std::string compact(double value) {
  std::ostringstream out;
  out << std::setprecision(2) << value;
  return out.str();
}

// An error that may be infinite (a non-finite output where the answer is finite), as text.
std::string error_text(double error) { return std::isfinite(error) ? compact(error) : "inf"; }

std::string column_of(const AccuracyPoint& point) {
  return point.regime == AccuracyRegime::normal ? "normal" : reports::format_kappa(point.kappa);
}

// Per implementation, dtype and operation: a row per M with the scaled error at each point,
// then a row per M with the ULP error.
void print_tables(const std::vector<AccuracyPoint>& points, const std::vector<double>& kappas) {
  using Block = std::tuple<std::string, std::string, Operation>;  // implementation, dtypes, operation
  std::vector<Block> order;
  std::map<Block, std::map<std::int64_t, std::map<std::string, const AccuracyPoint*>>> blocks;
  for (const auto& point : points) {
    const Block block{point.implementation, point.dtypes(), point.operation};
    if (blocks.find(block) == blocks.end()) order.push_back(block);
    blocks[block][point.m][column_of(point)] = &point;
  }
  std::vector<std::string> columns{"normal"};
  for (double kappa : kappas) columns.push_back(reports::format_kappa(kappa));
  constexpr int width = 9;
  for (const auto& block : order) {
    const auto& [impl, dtype, operation] = block;
    std::cout << '\n' << printable(impl) << "  " << to_string(operation) << "  " << dtype << '\n';
    std::cout << "  " << std::left << std::setw(14) << "" << std::setw(8) << "M" << std::right;
    for (const auto& column : columns) std::cout << std::setw(width) << (column == "normal" ? column : "k=" + column);
    std::cout << std::setw(width + 2) << "bound" << '\n';
    for (const bool scaled : {true, false}) {
      for (const auto& [m, cells] : blocks[block]) {
        std::cout << "  " << std::left << std::setw(14) << (scaled ? "scaled error" : "ulp") << std::setw(8) << m
                  << std::right;
        double bound = 0;
        for (const auto& column : columns) {
          const auto found = cells.find(column);
          std::string text = "-";
          if (found != cells.end()) {
            const AccuracyPoint& point = *found->second;
            bound = std::max(bound, point.bound);
            if (!point.error.empty()) {
              text = "failed";
            } else {
              text = error_text(scaled ? point.max_scaled_error : point.max_ulp_error);
              if (scaled && point.failed()) text += "!";
            }
          }
          std::cout << std::setw(width) << text;
        }
        if (scaled) std::cout << std::setw(width + 2) << compact(bound);
        std::cout << '\n';
      }
    }
  }
}

}  // namespace

int run_accuracy(const std::vector<std::string>& words) {
  const auto parsed = target_arguments(
      "accuracy", words, {"--ops", "--dtype", "--kappas", "--m", "--channels", "--cases", "--seed", "--output"}, {},
      accuracy_usage);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;

  AccuracyOptions options;
  for (const auto& name : arguments.list("--ops", {})) options.operations.push_back(parse_operation(name));
  if (options.operations.empty()) options.operations.assign(std::begin(all_operations), std::end(all_operations));
  options.dtypes.clear();
  options.dtypes = parse_dtype_choices(arguments.list("--dtype", {"f32", "f64"}));
  options.kappas = arguments.real_list("--kappas", {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}, 0);
  for (double kappa : options.kappas) {
    if (kappa > max_kappa) {
      std::ostringstream out;
      out << "bnh accuracy: --kappas must be at most 1e12 (past it the mean swamps the spread even in f64), got " << kappa;
      throw UsageError(out.str());
    }
  }
  std::sort(options.kappas.begin(), options.kappas.end());
  options.kappas.erase(std::unique(options.kappas.begin(), options.kappas.end()), options.kappas.end());
  const std::int64_t channels = arguments.integer("--channels", 2, 1, max_channels);
  const std::vector<std::int64_t> ms = arguments.integer_list("--m", {16, 256, 4096, 65536}, 2);
  options.cases = static_cast<int>(arguments.integer("--cases", 2, 1, max_cases));
  options.seed = arguments.unsigned_integer("--seed", 1);
  // Every point's cases of one dtype and M are held at once; refused before any is made.
  const double largest_m = static_cast<double>(*std::max_element(ms.begin(), ms.end()));
  const double points_per_m = 1 + static_cast<double>(options.kappas.size());
  require_memory("accuracy", "--m " + std::to_string(static_cast<std::int64_t>(largest_m)) + " with --channels " +
                                 std::to_string(channels) + " and --cases " + std::to_string(options.cases),
                 largest_m * static_cast<double>(channels) *
                     (case_bytes_per_value * points_per_m * options.cases + work_bytes_per_value));
  options.shapes.clear();
  for (std::int64_t m : ms) options.shapes.push_back(shape_with_m(m, channels));
  const std::string output = output_path(arguments, "out/accuracy.json");

  std::vector<Target> chosen = targets("accuracy", arguments, false);
  std::vector<Implementation*> implementations;
  for (auto& target : chosen) implementations.push_back(target.implementation.get());
  const bool measurable = announce_skipped(implementations, options);

  const bool terminal = isatty(fileno(stderr)) != 0;
  const auto started = std::chrono::steady_clock::now();
  int combinations = 0;
  const std::vector<AccuracyPoint> points = measure_accuracy(implementations, options, [&](int done, int total) {
    combinations = total;
    if (terminal) std::cerr << "\raccuracy: " << done << "/" << total << std::flush;
  });
  if (terminal) std::cerr << "\r\033[K" << std::flush;
  if (!measurable || points.empty()) {
    std::cout << "nothing was measured: the implementation supports none of the operations and dtypes asked for\n";
    return exit_status::nothing_checked;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cerr << "accuracy: " << combinations << " implementation x operation x dtype x M combinations against the "
            << "reference in " << std::fixed << std::setprecision(1) << seconds << " s" << std::defaultfloat << '\n';

  reports::Report report = reports::new_report(reports::describe_machine({}), reports::describe_build());
  report.suite.name = "accuracy";
  report.suite.cases = options.cases;
  report.suite.channels = static_cast<int>(channels);
  report.suite.seed = options.seed;
  report.accuracy = points;
  write_file(output, reports::report_text(report));

  std::cout << "Worst error against the 50-digit reference: condition-normalized (u x scale; '!' beyond the "
               "bound) and in ULPs.\nColumns: standard-normal data, then every channel's |mean| at k standard "
               "deviations.\n";
  print_tables(points, options.kappas);

  std::vector<std::string> failures;
  for (const auto& point : points) {
    if (!point.failed()) continue;
    std::ostringstream out;
    const std::string operation = to_string(point.operation), dtype = point.dtypes();
    const std::string selector =
        printable(chosen.size() == 1 ? chosen.front().selector : "--impl " + point.implementation);
    const std::string where = point.regime == AccuracyRegime::normal ? "standard-normal data"
                                                                     : "kappa " + reports::format_kappa(point.kappa);
    out << printable(point.implementation) << " " << operation << " " << dtype << ", M " << point.m << ", " << where
        << ": ";
    if (!point.error.empty()) {
      out << "a valid call failed: " << printable(point.error);
    } else {
      out << point.worst_output << " error " << error_text(point.max_scaled_error) << " > bound "
          << compact(point.bound) << " in " << point.failed_cases << " of " << point.cases << " cases";
    }
    out << "\n  reproduce: bnh accuracy " << selector << " --ops " << operation << " --dtype " << dtype << " --m "
        << point.m << " --channels " << channels << " --cases " << options.cases << " --seed " << options.seed;
    if (point.regime != AccuracyRegime::normal) out << " --kappas " << reports::format_kappa(point.kappa);
    failures.push_back(out.str());
  }
  for (const auto& failure : failures) std::cout << '\n' << failure << '\n';
  std::cout << '\n'
            << (failures.empty() ? "every error is within its bound"
                                 : std::to_string(failures.size()) + " point(s) failed: an error beyond its bound, or a call that failed")
            << "\nwrote " << output << " (" << points.size() << " entries; render it with bnh report "
            << output << ")\n";
  return failures.empty() ? exit_status::success : exit_status::check_failed;
}

}  // namespace bnh::cli
