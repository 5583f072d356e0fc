#include "cli/check_report.hpp"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "bnh/text.hpp"

namespace bnh::cli {

namespace {

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

}  // namespace

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

void print_table_header() {
  std::cout << "  " << std::left << std::setw(40) << "property" << std::right << std::setw(7)
            << "cases" << std::setw(13) << "worst/bound" << std::setw(9) << "seconds" << "  verdict\n";
}

void print_row(const PropertyResult& property, bool strict_input) {
  std::cout << "  " << std::left << std::setw(40) << property.property << std::right
            << std::setw(7) << property.cases << std::setw(13)
            << (property.worst_bound_fraction > 0 ? format_fraction(property.worst_bound_fraction) : "-")
            << std::setw(9) << std::fixed << std::setprecision(2) << property.seconds
            << std::defaultfloat << "  " << row_verdict(property, strict_input) << '\n'
            << std::flush;
}

}  // namespace bnh::cli
