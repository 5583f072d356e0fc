// The bad input of SPEC.md section 4, as a table, and a way to present each entry to an
// implementation. Shared by the tests and the bad_input_refused property.
#pragma once

#include <string>
#include <vector>

#include "bnh/implementation.hpp"

namespace bnh {

struct BadInput {
  const char* label;
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

}  // namespace bnh
