// The bad input of SPEC.md section 4, as a table, a way to present each entry to an
// implementation, and the input-validation verdict built on them: which bad inputs an
// implementation refused, which it accepted silently, and on which it misbehaved.
#pragma once

#include <string>
#include <vector>

#include "bnh/implementation.hpp"

namespace bnh {

struct BadInput {
  std::string label;            // what is wrong, e.g. "eps = nan", "running_var < 0"
  Operation operation;
  TensorDesc desc;
  Params params;
  const char* message;          // what the error must contain (for the built-in wording)
  double running_var = 1.0;     // every channel's running variance
  bool null_x = false;          // pass NULL for x
};

// Every bad input, for every operation it applies to, in f32 (callers may switch dtype).
std::vector<BadInput> bad_inputs();

// Calls the operation with buffers large enough for every valid shape in the table (the bad
// shapes must be refused before any buffer is touched). Throws what the implementation throws.
void present_bad_input(Implementation& implementation, const BadInput& bad);

// One bad input, named by operation and label, that was not refused as it must be.
struct BadInputFinding {
  Operation operation;
  std::string input;            // the BadInput label
  std::string message;          // for a fault: what the implementation did
};

// The name the catalogue gives the input-validation property.
inline constexpr const char* bad_input_property = "bad_input_refused";

struct InputValidation {
  int presented = 0;                       // calls made: each bad input in each dtype it has
  std::vector<BadInputFinding> accepted;   // ran without refusing (once per operation and label)
  std::vector<BadInputFinding> faulted;    // crashed, hung or wrote where it must not
                                           // (bnh::PluginFault): always a failure
  bool clean() const { return accepted.empty() && faulted.empty(); }
};

// Presents every bad input, in f32 and f64, to every operation and dtype the implementation
// has. A refusal is any bnh::Error other than bnh::PluginFault.
InputValidation check_input_validation(Implementation& implementation);

// "bn_forward_train: running_var < 0, eps = nan; bn_forward_infer: running_var < 0"
std::string by_operation(const std::vector<BadInputFinding>& findings);

// Why the validation fails, or "" when it does not: misbehaviour always; bad input accepted
// silently when `strict`.
std::string input_validation_failure(const InputValidation& validation, bool strict);

}  // namespace bnh
