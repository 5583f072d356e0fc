// How `bnh check` shows a conformance result (properties/conformance.hpp): a table row per
// property, the notes under the table (refusals, input validation), each failure with the
// command that replays it, and the JSON of --json.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "properties/conformance.hpp"

namespace bnh::cli {

void print_table_header();
void print_row(const PropertyResult& property, bool strict_input);
// What the table does not show: refusals set aside, and the input-validation verdict.
void print_notes(const ConformanceResult& result);
// The failure, its counterexample and the command that replays it (`selector`: the flags that
// choose the implementation, and its ranks).
std::string describe_failure(const std::string& name, const PropertyResult& property, const std::string& selector);
// Text that may hold a plugin's words, line by line, each made safe for a terminal.
std::string printable_lines(const std::string& text, const std::string& indent);

nlohmann::json to_json(const ConformanceResult& result, const std::string& selector);

}  // namespace bnh::cli
