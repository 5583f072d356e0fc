#include <algorithm>
#include <functional>
#include <memory>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bnh/text.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/check_report.hpp"
#include "cli/output_files.hpp"
#include "cli/ranks.hpp"
#include "cli/targets.hpp"
#include "properties/conformance.hpp"
#include "properties/generators.hpp"
#include "properties/sync_conformance.hpp"

namespace bnh::cli {

namespace {

// The data dtypes users run, with f32 statistics for bf16 and f16 (the mode of oneDNN and of
// PyTorch's autocast); the pure modes are asked for by name. Without --dtype the realistic
// sizes run in f32 and f64 only: the small cases, spread over the four, cost what two did,
// while the 16-bit realistic sizes would more than double the run (asked for, they run).
const std::vector<std::string> default_dtypes{"f32", "f64", "bf16", "f16"};
const std::vector<DTypeChoice> default_realistic_dtypes{DType::f32, DType::f64};

// The shared target flags, with check's default placed under --impl, where it belongs.
std::string target_lines() {
  std::string lines = target_usage;
  const std::string note = "                     (default: every built-in); the synchronized ones run on\n"
                           "                     3 simulated ranks, and are the only default with\n"
                           "                     --ranks, --shards or --mpi\n";
  const auto after_impl = lines.find("  --plugin");
  if (after_impl == std::string::npos) return lines + "  with neither --impl nor --plugin: every built-in\n";
  return lines.insert(after_impl, note);
}

const std::string check_usage = R"(usage: bnh check [--impl NAME[,NAME...]] [--plugin PATH.so] [--ranks K | --mpi] [options]

Runs the conformance suite (docs/properties.md) on implementations: agreement of every output
of every operation with the 50-digit reference under the tolerance model (docs/tolerances.md),
and the mathematical properties batch norm and batch renorm must have. Cases are generated
and, on failure, shrunk to a small counterexample printed with the command that replays it.
What each verdict means: docs/verdicts.md.

A synchronized implementation (`--impl sync`, or a plugin with --ranks, --shards or --mpi)
runs on ranks, each with its shard of the batch; its results are compared on the whole batch,
and the split is part of each case (docs/sync.md).

options:
)" + target_lines() + ranks_usage + R"(  --property NAMES   properties to run (default: all)
  --ops LIST         only the properties that exercise nothing but these operations
                     (bn_forward_train, bn_forward_infer, bn_backward,
                     renorm_forward_train, renorm_backward)
  --dtype LIST       f32, f64, bf16, f16 (statistics in f32), bf16:bf16, f16:f16 (statistics
                     in the data dtype); a dtype an implementation lacks is left out for it.
                     The small cases are spread over the dtypes; the realistic ones run for
                     each. Default: f32,f64,bf16,f16, with the realistic sizes in f32 and
                     f64 only (--dtype bf16,f16 runs theirs; it takes about as long again)
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

// Runs the chosen properties on one given case: the replay of a reported counterexample.
int check_one_case(const std::vector<Property>& properties, const ConformanceOptions& options, const Case& test_case,
                   const std::function<CaseVerdict(const Property&)>& verdict_of) {
  using Outcome = CaseVerdict::Outcome;
  std::cout << "case: " << describe_case(test_case) << '\n';
  // As in a full run, input validation alone does not count as checking the numbers.
  bool failed = false, numbers_asked = false, checked_numbers = false, checked_any = false;
  for (const auto& property : properties) {
    const auto& names = options.properties;
    if (!names.empty() && std::find(names.begin(), names.end(), property.name) == names.end()) continue;
    const CaseVerdict verdict = verdict_of(property);
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
  for (const auto& name : arguments.list("--dtype", default_dtypes)) options.dtypes.push_back(DTypeChoice::parse(name));
  if (!arguments.has("--dtype")) options.realistic_dtypes = default_realistic_dtypes;
  options.layouts.clear();
  for (const auto& name : arguments.list("--layout", {"nchw", "nhwc"})) options.layouts.push_back(parse_layout(name));
  const std::vector<Property> every_property = sync_conformance_properties();
  for (const auto& name : arguments.list("--property", {})) {
    const auto known = std::find_if(every_property.begin(), every_property.end(),
                                    [&](const Property& property) { return name == property.name; });
    options.properties.push_back(known != every_property.end() ? known->name : find_property(name).name);
  }
  if (arguments.has("--ops")) {
    std::vector<Operation> operations;
    std::vector<std::string> selected;
    for (const auto& name : arguments.list("--ops", {})) operations.push_back(parse_operation(name));
    for (const auto& property : every_property) {
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
                                        "--max-size", "--case", "--json", "--ranks", "--shards"},
                                       {"--no-shrink", "--no-realistic", "--strict", "--mpi"}, check_usage);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;

  const ConformanceOptions options = parse_options(arguments);
  // Find out now, not after the whole run, that the report cannot be written.
  const std::string json_path = arguments.value("--json", "");
  if (arguments.has("--json")) check_writable(json_path);
  std::vector<Target> chosen = targets("check", arguments, true, true);
  RanksChoice choice = ranks_choice("check", arguments);
  // A bad spec is refused before anything is printed; its split and the ranks flags agree.
  CaseSpec spec;
  if (arguments.has("--case")) spec = fit_case_to_ranks("check", CaseSpec::parse(arguments.value("--case", "")), choice, arguments);
  std::unique_ptr<Ranks> ranks;
  if (std::any_of(chosen.begin(), chosen.end(), [](const Target& target) { return target.synchronized != nullptr; })) {
    ranks = make_ranks("check", choice);
    if (!spec.shards.empty() && static_cast<int>(spec.shards.size()) != ranks->size()) {
      throw UsageError("bnh check: the case has " + std::to_string(spec.shards.size()) + " shards but the MPI job has " +
                       std::to_string(ranks->size()) + " ranks");
    }
  }
  // "sync on 3 simulated ranks"; and the flags that replay it, ranks included.
  const auto name_of = [&](const Target& target) {
    return printable(target.name()) + (target.synchronized ? " on " + choice.describe(ranks->size()) : "");
  };
  const auto selector_of = [&](const Target& target) {
    return target.selector + (target.synchronized ? choice.replay_flags(ranks->size()) : "");
  };
  // Built-ins are strict; a plugin's silent acceptance of bad input is reported unless asked.
  const auto options_for = [&](const Target& target) {
    ConformanceOptions fixed = options;
    fixed.strict_input = arguments.has("--strict") || target.selector.rfind("--plugin", 0) != 0;
    return fixed;
  };

  if (arguments.has("--case")) {
    const Case test_case = make_case(spec);
    int status = exit_status::success;
    bool nothing = false;
    for (auto& target : chosen) {
      std::cout << name_of(target) << ":\n";
      const ConformanceOptions fixed = options_for(target);
      const int one = target.synchronized
                          ? check_one_case(sync_conformance_properties(), fixed, test_case, [&](const Property& property) {
                              return check_sync_case(*target.synchronized, *ranks, property, test_case, fixed);
                            })
                          : check_one_case(property_catalogue(), fixed, test_case, [&](const Property& property) {
                              return check_case(*target.implementation, property, test_case, fixed);
                            });
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
    const std::string name = name_of(target);
    const ConformanceOptions target_options = options_for(target);
    std::cout << "\n" << name << "\n";
    print_table_header();
    const auto show = [&](const PropertyResult& property) {
      if (terminal) std::cerr << "\r\033[K" << std::flush;
      print_row(property, target_options.strict_input);
    };
    const auto result = target.synchronized
                            ? run_sync_conformance(*target.synchronized, *ranks, target_options, choice.shards, show)
                            : run_conformance(*target.implementation, target_options, show);
    print_notes(result);
    std::cout << "  seed " << result.seed << '\n';
    report["implementations"].push_back(to_json(result, selector_of(target)));
    if (target.synchronized) report["implementations"].back()["ranks"] = ranks_json(choice, ranks->size());
    for (const auto& property : result.properties) {
      if (property.status == PropertyResult::Status::failed) {
        failures.push_back(describe_failure(target.name(), property, selector_of(target)));
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
