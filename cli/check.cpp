#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bnh/text.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output_files.hpp"
#include "cli/targets.hpp"
#include "properties/conformance.hpp"
#include "properties/generators.hpp"

namespace bnh::cli {

namespace {

// The shared target flags, with check's default placed under --impl, where it belongs.
std::string target_lines() {
  std::string lines = target_usage;
  const std::string note = "                     (default: every built-in)\n";
  const auto after_impl = lines.find("  --plugin");
  if (after_impl == std::string::npos) return lines + "  with neither --impl nor --plugin: every built-in\n";
  return lines.insert(after_impl, note);
}

const std::string check_usage = R"(usage: bnh check [--impl NAME[,NAME...]] [--plugin PATH.so] [options]

Runs the conformance suite (docs/properties.md) on implementations: agreement of every output
of every operation with the 50-digit reference under the tolerance model (docs/tolerances.md),
and the mathematical properties batch norm and batch renorm must have. Cases are generated
and, on failure, shrunk to a small counterexample printed with the command that replays it.
What each verdict means: docs/verdicts.md.

options:
)" + target_lines() + R"(  --property NAMES   properties to run (default: all)
  --ops LIST         only the properties that exercise nothing but these operations
                     (bn_forward_train, bn_forward_infer, bn_backward,
                     renorm_forward_train, renorm_backward)
  --dtype LIST       f32,f64 (default: both)
  --layout LIST      nchw,nhwc (default: both)
  --seed N           seed of the generated cases (default: random, printed)
  --cases N          small generated cases per property (default: 100)
  --max-size N       largest tensor of the small cases, in elements (default: 4096)
  --no-realistic     skip the cases of realistic size (M up to 2^20, C up to about 2,100)
                     that follow the small ones; --max-size does not apply to them
  --strict           a plugin that accepts bad input silently fails (default: reported
                     under "input validation"; built-ins are always strict)
  --case SPEC        run the properties on this one case (as printed by a failure)
  --no-shrink        report the first failing case as found
  --json FILE        also write the verdicts as JSON
  --help             this text

A valid call that a plugin refuses sets its case aside (listed, not a failure); a crash, a
hang or a stray write is always a failure.

Exit status: 0 every property held; 1 a property failed, or a plugin crashed, hung or wrote
out of bounds (or, with --strict, accepted bad input); 2 bad usage; 3 nothing was checked
(every property skipped, or every case refused); 4 internal error.
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

// Text that may hold a plugin's words, line by line, each made safe for a terminal.
std::string printable_lines(const std::string& text, const std::string& indent) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find('\n', start), text.size());
    out += (start == 0 ? "" : "\n" + indent) + printable(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

nlohmann::json findings_json(const std::vector<BadInputFinding>& findings, bool with_message) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& finding : findings) {
    nlohmann::json entry{{"operation", to_string(finding.operation)}, {"input", finding.input}};
    if (with_message) entry["message"] = valid_utf8(finding.message);
    list.push_back(entry);
  }
  return list;
}

const char* outcome_name(const ConformanceResult& result) {
  if (!result.passed()) return "failed";
  return result.nothing_checked().empty() ? "passed" : "nothing_checked";
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
                          {"counterexample", valid_utf8(property.counterexample)},
                          {"failure", valid_utf8(property.failure)},
                          {"reproduce_rc_params", property.reproduce},
                          {"refusals", {{"count", property.refusals},
                                        {"first_case", property.first_refused_case},
                                        {"reason", valid_utf8(property.refusal_reason)}}}});
  }
  nlohmann::json validation = nullptr;
  if (const PropertyResult* checked = result.input_validation()) {
    validation = {{"calls", checked->cases},
                  {"accepted", findings_json(checked->accepted_bad_input, false)},
                  {"faulted", findings_json(checked->faulted_bad_input, true)},
                  {"strict", result.strict_input},
                  {"passed", checked->status != PropertyResult::Status::failed}};
  }
  const std::string nothing = result.nothing_checked();
  return {{"implementation", valid_utf8(result.implementation)},
          {"selector", valid_utf8(selector)},
          {"seed", result.seed},
          {"passed", result.passed()},
          {"outcome", outcome_name(result)},
          {"nothing_checked", nothing.empty() ? nlohmann::json(nullptr) : nlohmann::json(nothing)},
          {"input_validation", validation},
          {"properties", properties}};
}

std::string row_verdict(const PropertyResult& property, bool strict_input) {
  switch (property.status) {
    case PropertyResult::Status::skipped: return "skipped (" + printable(property.failure) + ")";
    case PropertyResult::Status::failed: return "FAIL";
    case PropertyResult::Status::passed: break;
  }
  if (!property.accepted_bad_input.empty() && !strict_input) return "accepts bad input (see below)";
  if (property.refusals > 0) return "pass (" + std::to_string(property.refusals) + " refused)";
  return "pass";
}

// What the table does not show: refusals set aside, and the input-validation verdict.
void print_notes(const ConformanceResult& result) {
  // Refusals, one entry per reason the implementation gave: usually one per operation.
  struct Refusal {
    std::string reason, first_case;
    int cases = 0, properties = 0;
  };
  std::vector<Refusal> refusals;
  int refused_cases = 0;
  for (const auto& property : result.properties) {
    if (property.refusals == 0) continue;
    auto same = std::find_if(refusals.begin(), refusals.end(),
                             [&](const Refusal& r) { return r.reason == property.refusal_reason; });
    if (same == refusals.end()) same = refusals.insert(refusals.end(), {property.refusal_reason, property.first_refused_case});
    same->cases += property.refusals;
    same->properties += 1;
    refused_cases += property.refusals;
  }
  if (!refusals.empty()) {
    std::cout << "  refused valid calls (cases set aside, not failures): " << refused_cases << " cases\n";
  }
  for (const auto& refusal : refusals) {
    std::cout << "    " << printable(refusal.reason) << "\n      " << refusal.cases << " cases in "
              << refusal.properties << (refusal.properties == 1 ? " property" : " properties")
              << ", first: " << refusal.first_case << '\n';
  }
  const PropertyResult* validation = result.input_validation();
  if (validation == nullptr) return;
  std::cout << "  input validation: ";
  if (!validation->faulted_bad_input.empty()) {
    std::cout << "misbehaved on bad input: " << printable(by_operation(validation->faulted_bad_input))
              << " (a failure)\n";
  }
  if (!validation->accepted_bad_input.empty()) {
    if (!validation->faulted_bad_input.empty()) std::cout << "  input validation: ";
    std::cout << "accepted " << validation->accepted_bad_input.size() << " bad inputs: "
              << printable(by_operation(validation->accepted_bad_input))
              << (result.strict_input ? " (a failure: strict)\n"
                                      : "\n    reported, not a failure (--strict makes it one)\n");
  }
  if (validation->faulted_bad_input.empty() && validation->accepted_bad_input.empty()) {
    std::cout << "every bad input refused (" << validation->cases << " calls)\n";
  }
}

std::string describe_failure(const std::string& name, const PropertyResult& property,
                             const std::string& selector) {
  std::ostringstream out;
  out << printable(name) << " fails " << property.property << " (it catches " << property.targets << ")";
  if (!property.counterexample.empty()) out << "\n  counterexample: " << printable(property.counterexample);
  out << "\n  " << printable_lines(property.failure, "  ") << "\n  reproduce: bnh check "
      << selector << " --property " << property.property;
  if (!property.counterexample.empty()) {
    out << " --case \"" << property.counterexample.substr(0, property.counterexample.find(" | ")) << "\"";
  }
  return out.str();
}

// Runs the chosen properties on one given case: the replay of a reported counterexample.
int check_one_case(Implementation& implementation, const ConformanceOptions& options,
                   const CaseSpec& spec) {
  using Outcome = CaseVerdict::Outcome;
  const Case test_case = make_case(spec);
  std::cout << "case: " << describe_case(test_case) << '\n';
  // As in a full run, input validation alone does not count as checking the numbers.
  bool failed = false, numbers_asked = false, checked_numbers = false, checked_any = false;
  for (const auto& property : property_catalogue()) {
    const auto& names = options.properties;
    if (!names.empty() && std::find(names.begin(), names.end(), property.name) == names.end()) continue;
    const CaseVerdict verdict = check_case(implementation, property, test_case, options);
    std::string text;
    switch (verdict.outcome) {
      case Outcome::held: text = verdict.message.empty() ? "holds" : "holds; " + verdict.message; break;
      case Outcome::does_not_apply: text = "does not apply: " + verdict.message; break;
      case Outcome::refused: text = "refused by the implementation (not a failure): " + verdict.message; break;
      case Outcome::failed: text = "FAILS\n    " + printable_lines(verdict.message, "    "); break;
    }
    failed = failed || verdict.outcome == Outcome::failed;
    const bool checked = verdict.outcome == Outcome::held || verdict.outcome == Outcome::failed;
    numbers_asked = numbers_asked || property.generated;
    checked_numbers = checked_numbers || (checked && property.generated);
    checked_any = checked_any || checked;
    std::cout << "  " << std::left << std::setw(40) << property.name
              << (verdict.outcome == Outcome::failed ? text : printable(text)) << '\n';
  }
  if (failed) return exit_status::check_failed;
  if (numbers_asked ? !checked_numbers : !checked_any) {
    std::cout << "nothing was checked: no property applies to this case, or every call was refused\n";
    return exit_status::nothing_checked;
  }
  return exit_status::success;
}

ConformanceOptions parse_options(const Arguments& arguments) {
  ConformanceOptions options;
  options.seed = arguments.unsigned_integer("--seed", 0);
  options.cases = static_cast<int>(arguments.integer("--cases", 100, 1, 10000000));
  options.max_elements = arguments.integer("--max-size", 4096, 2);
  options.shrink = !arguments.has("--no-shrink");
  options.realistic = !arguments.has("--no-realistic");
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
  return options;
}

}  // namespace

int run_check(const std::vector<std::string>& words) {
  const auto parsed = target_arguments("check", words,
                                       {"--property", "--ops", "--dtype", "--layout", "--seed", "--cases",
                                        "--max-size", "--case", "--json"},
                                       {"--no-shrink", "--no-realistic", "--strict"}, check_usage);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;

  const ConformanceOptions options = parse_options(arguments);
  // Find out now, not after the whole run, that the report cannot be written.
  const std::string json_path = arguments.value("--json", "");
  if (arguments.has("--json")) check_writable(json_path);
  std::vector<Target> chosen = targets("check", arguments, true);
  // Built-ins are strict; a plugin's silent acceptance of bad input is reported unless asked.
  const auto options_for = [&](const Target& target) {
    ConformanceOptions fixed = options;
    fixed.strict_input = arguments.has("--strict") || target.selector.rfind("--plugin", 0) != 0;
    return fixed;
  };

  if (arguments.has("--case")) {
    // A bad spec is refused before anything is printed.
    const CaseSpec spec = CaseSpec::parse(arguments.value("--case", ""));
    int status = exit_status::success;
    bool nothing = false;
    for (auto& target : chosen) {
      std::cout << printable(target.implementation->name()) << ":\n";
      const int one = check_one_case(*target.implementation, options_for(target), spec);
      if (one == exit_status::check_failed) status = one;
      nothing = nothing || one == exit_status::nothing_checked;
    }
    return status == exit_status::success && nothing ? exit_status::nothing_checked : status;
  }

  const bool terminal = isatty(fileno(stderr)) != 0;
  nlohmann::json report{{"command", "check"}, {"implementations", nlohmann::json::array()}};
  bool any_failed = false, any_accepted = false;
  std::vector<std::string> failures, nothing_checked;
  for (auto& target : chosen) {
    Implementation& implementation = *target.implementation;
    const std::string name = printable(implementation.name());
    const ConformanceOptions target_options = options_for(target);
    std::cout << "\n" << name << "\n";
    std::cout << "  " << std::left << std::setw(40) << "property" << std::right << std::setw(7)
              << "cases" << std::setw(13) << "worst/bound" << std::setw(9) << "seconds" << "  verdict\n";
    const auto result = run_conformance(implementation, target_options, [&](const PropertyResult& property) {
      if (terminal) std::cerr << "\r\033[K" << std::flush;
      std::cout << "  " << std::left << std::setw(40) << property.property << std::right
                << std::setw(7) << property.cases << std::setw(13)
                << (property.worst_bound_fraction > 0 ? format_fraction(property.worst_bound_fraction) : "-")
                << std::setw(9) << std::fixed << std::setprecision(2) << property.seconds
                << std::defaultfloat << "  " << row_verdict(property, target_options.strict_input) << '\n'
                << std::flush;
    });
    print_notes(result);
    std::cout << "  seed " << result.seed << '\n';
    report["implementations"].push_back(to_json(result, target.selector));
    for (const auto& property : result.properties) {
      if (property.status == PropertyResult::Status::failed) {
        failures.push_back(describe_failure(implementation.name(), property, target.selector));
      }
    }
    any_failed = any_failed || !result.passed();
    const PropertyResult* validation = result.input_validation();
    any_accepted = any_accepted || (validation != nullptr && !validation->accepted_bad_input.empty());
    if (!result.nothing_checked().empty()) nothing_checked.push_back(name + ": " + result.nothing_checked());
  }
  for (const auto& failure : failures) std::cout << '\n' << failure << '\n';
  int status = exit_status::success;
  if (any_failed) {
    std::cout << "\nsome properties FAILED\n";
    status = exit_status::check_failed;
  } else if (!nothing_checked.empty()) {
    std::cout << '\n';
    for (const auto& line : nothing_checked) std::cout << "nothing was checked: " << line << '\n';
    status = exit_status::nothing_checked;
  } else {
    std::cout << "\nall properties hold"
              << (any_accepted ? "; bad input accepted silently is reported above (input validation)" : "")
              << '\n';
  }
  report["outcome"] = status == exit_status::success ? "passed"
                      : status == exit_status::check_failed ? "failed" : "nothing_checked";
  report["exit_status"] = status;
  if (arguments.has("--json")) write_file(json_path, report.dump(2) + "\n");
  return status;
}

}  // namespace bnh::cli
