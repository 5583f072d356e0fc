#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/targets.hpp"
#include "properties/conformance.hpp"
#include "properties/generators.hpp"

namespace bnh::cli {

namespace {

const std::string check_usage = R"(usage: bnh check [--impl NAME[,NAME...]] [--plugin PATH.so] [options]

Runs the conformance suite (docs/properties.md) on implementations: agreement of every output
of every operation with the 50-digit reference under the tolerance model (docs/tolerances.md),
and the mathematical properties batch norm and batch renorm must have. Cases are generated
and, on failure, shrunk to a small counterexample printed with the command that replays it.

options:
)" + std::string(target_usage) + R"(                     (default: every built-in)
  --property NAMES   properties to run (default: all)
  --ops LIST         only the properties that exercise nothing but these operations
                     (bn_forward_train, bn_forward_infer, bn_backward,
                     renorm_forward_train, renorm_backward)
  --dtype LIST       f32,f64 (default: both)
  --layout LIST      nchw,nhwc (default: both)
  --seed N           seed of the generated cases (default: random, printed)
  --cases N          generated cases per property (default: 100)
  --max-size N       largest tensor generated, in elements (default: 4096)
  --case SPEC        run the properties on this one case (as printed by a failure)
  --no-shrink        report the first failing case as found
  --json FILE        also write the verdicts as JSON
  --help             this text

Exit status: 0 every property held, 1 a property failed, 2 bad usage.
)";

std::string format_fraction(double fraction) {
  std::ostringstream out;
  out << std::setprecision(3) << fraction;
  return out.str();
}

const char* status_name(PropertyResult::Status status) {
  switch (status) {
    case PropertyResult::Status::passed: return "passed";
    case PropertyResult::Status::failed: return "failed";
    case PropertyResult::Status::skipped: return "skipped";
  }
  return "unknown";
}

nlohmann::json to_json(const ConformanceResult& result, const std::string& selector) {
  nlohmann::json properties = nlohmann::json::array();
  for (const auto& property : result.properties) {
    properties.push_back({{"property", property.property},
                          {"targets", property.targets},
                          {"status", status_name(property.status)},
                          {"cases", property.cases},
                          {"worst_bound_fraction", property.worst_bound_fraction},
                          {"seconds", property.seconds},
                          {"counterexample", property.counterexample},
                          {"failure", property.failure},
                          {"reproduce_rc_params", property.reproduce}});
  }
  return {{"implementation", result.implementation}, {"selector", selector}, {"seed", result.seed},
          {"passed", result.passed()}, {"properties", properties}};
}

// Written whole to a temporary file first, so that a reader never sees half a file.
void write_json(const std::string& path, const nlohmann::json& value) {
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary);
    if (!out) throw Error("cannot write " + path);
    out << value.dump(2) << '\n';
    if (!out) throw Error("cannot write " + path);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) throw Error("cannot write " + path);
}

// Runs the chosen properties on one given case: the replay of a reported counterexample.
int check_one_case(Implementation& implementation, const std::vector<std::string>& properties,
                   const CaseSpec& spec) {
  const Case test_case = make_case(spec);
  std::cout << "case: " << describe_case(test_case) << '\n';
  bool all_held = true;
  for (const auto& property : property_catalogue()) {
    if (!properties.empty() && std::find(properties.begin(), properties.end(), property.name) == properties.end()) continue;
    std::string verdict = "holds";
    try {
      property.check(implementation, test_case);
    } catch (const Unsupported& why) {
      verdict = std::string("does not apply: ") + why.what();
    } catch (const PropertyFailure& failure) {
      verdict = std::string("FAILS\n  ") + failure.what();
      all_held = false;
    } catch (const std::exception& error) {
      verdict = std::string("FAILS on a valid call: ") + error.what();
      all_held = false;
    }
    std::cout << "  " << std::left << std::setw(40) << property.name << verdict << '\n';
  }
  return all_held ? 0 : 1;
}

}  // namespace

int run_check(const std::vector<std::string>& words) {
  if (words.size() == 1 && (words[0] == "--help" || words[0] == "-h")) {
    std::cout << check_usage;
    return 0;
  }
  std::set<std::string> value_flags{"--property", "--ops", "--dtype", "--layout", "--seed",
                                    "--cases", "--max-size", "--case", "--json"};
  value_flags.insert(target_value_flags.begin(), target_value_flags.end());
  std::set<std::string> switches{"--help", "--no-shrink"};
  switches.insert(target_switches.begin(), target_switches.end());
  Arguments arguments("check", words, value_flags, switches);
  if (arguments.has("--help")) {
    std::cout << check_usage;
    return 0;
  }

  ConformanceOptions options;
  options.seed = arguments.unsigned_integer("--seed", 0);
  options.cases = static_cast<int>(arguments.integer("--cases", 100, 1, 10000000));
  options.max_elements = arguments.integer("--max-size", 4096, 2);
  options.shrink = !arguments.has("--no-shrink");
  options.dtypes.clear();
  for (const auto& name : arguments.list("--dtype", {"f32", "f64"})) options.dtypes.push_back(parse_dtype(name));
  options.layouts.clear();
  for (const auto& name : arguments.list("--layout", {"nchw", "nhwc"})) options.layouts.push_back(parse_layout(name));
  for (const auto& name : arguments.list("--property", {})) options.properties.push_back(find_property(name).name);
  if (arguments.has("--ops")) {
    std::vector<Operation> operations;
    std::vector<std::string> selected;
    for (const auto& name : arguments.list("--ops", {})) operations.push_back(parse_operation(name));
    for (const auto& property : property_catalogue()) {
      const bool covered = std::all_of(property.operations.begin(), property.operations.end(), [&](Operation op) {
        return std::find(operations.begin(), operations.end(), op) != operations.end();
      });
      const bool named = options.properties.empty() ||
                         std::find(options.properties.begin(), options.properties.end(), property.name) != options.properties.end();
      if (covered && named) selected.push_back(property.name);
    }
    if (selected.empty()) throw UsageError("bnh check: no property exercises only the operations given to --ops");
    options.properties = selected;
  }

  std::vector<Target> chosen = targets("check", arguments, true);
  if (arguments.has("--json")) {
    // Find out now, not after the whole run, that the report cannot be written.
    const std::string probe = arguments.value("--json", "") + ".partial";
    if (!std::ofstream(probe)) throw Error("cannot write " + arguments.value("--json", ""));
    std::remove(probe.c_str());
  }

  if (arguments.has("--case")) {
    // A bad spec is refused before anything is printed.
    const CaseSpec spec = CaseSpec::parse(arguments.value("--case", ""));
    int status = 0;
    for (auto& target : chosen) {
      std::cout << target.implementation->name() << ":\n";
      status = std::max(status, check_one_case(*target.implementation, options.properties, spec));
    }
    return status;
  }

  const bool terminal = isatty(fileno(stderr)) != 0;
  nlohmann::json report{{"command", "check"}, {"implementations", nlohmann::json::array()}};
  bool all_passed = true;
  std::vector<std::string> failures;
  for (auto& target : chosen) {
    Implementation& implementation = *target.implementation;
    std::cout << "\n" << implementation.name() << "\n";
    std::cout << "  " << std::left << std::setw(40) << "property" << std::right << std::setw(7)
              << "cases" << std::setw(13) << "worst/bound" << std::setw(9) << "seconds" << "  verdict\n";
    const auto result = run_conformance(implementation, options, [&](const PropertyResult& property) {
      if (terminal) std::cerr << "\r\033[K" << std::flush;
      std::cout << "  " << std::left << std::setw(40) << property.property << std::right
                << std::setw(7) << property.cases << std::setw(13)
                << (property.worst_bound_fraction > 0 ? format_fraction(property.worst_bound_fraction) : "-")
                << std::setw(9) << std::fixed
                << std::setprecision(2) << property.seconds << std::defaultfloat << "  ";
      switch (property.status) {
        case PropertyResult::Status::passed: std::cout << "pass\n"; break;
        case PropertyResult::Status::skipped: std::cout << "skipped (" << property.failure << ")\n"; break;
        case PropertyResult::Status::failed: std::cout << "FAIL\n"; break;
      }
      std::cout << std::flush;
    });
    std::cout << "  seed " << result.seed << '\n';
    report["implementations"].push_back(to_json(result, target.selector));
    for (const auto& property : result.properties) {
      if (property.status != PropertyResult::Status::failed) continue;
      all_passed = false;
      std::ostringstream out;
      out << implementation.name() << " fails " << property.property << " (it catches "
          << property.targets << ")\n  counterexample: " << property.counterexample << "\n  "
          << property.failure << "\n  reproduce: bnh check " << target.selector << " --property "
          << property.property;
      const auto spec_end = property.counterexample.find(" | ");
      if (!property.counterexample.empty()) {
        out << " --case \"" << property.counterexample.substr(0, spec_end) << "\"";
      }
      failures.push_back(out.str());
    }
  }
  for (const auto& failure : failures) std::cout << '\n' << failure << '\n';
  std::cout << (all_passed ? "\nall properties hold\n" : "\nsome properties FAILED\n");
  if (arguments.has("--json")) write_json(arguments.value("--json", ""), report);
  return all_passed ? 0 : 1;
}

}  // namespace bnh::cli
