// The property catalogue (docs/properties.md). Each property is a named check that takes any
// implementation and one case, and throws PropertyFailure naming what broke; bnh::Unsupported
// from the implementation means the case does not apply. The conformance runner
// (properties/conformance.hpp) feeds them generated cases.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/case.hpp"

namespace bnh {

class PropertyFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Property {
  const char* name;
  const char* targets;                  // the kind of bug it is there to catch
  std::vector<Operation> operations;    // what the implementation must provide
  void (*check)(Implementation& implementation, const Case& test_case);
  bool generated = true;                // false: runs once, on no generated case
  // true: the property runs when the implementation provides any one of `operations` (it
  // checks whichever it has and throws bnh::Unsupported when a case leaves it nothing).
  bool any_operation = false;
  // Cases of realistic size (gen_realistic_case_spec) run per dtype and layout, beside the
  // small generated ones; 0 for none.
  int realistic_cases = 0;
};

const std::vector<Property>& property_catalogue();

// The largest error seen, as a fraction of its bound (1 = at the bound), by the tolerance-based
// checks of the properties since the last take. The runner reports it per property.
void note_bound_fraction(double fraction);
double take_worst_bound_fraction();
// Throws bnh::Error naming the known properties when `name` is not one.
const Property& find_property(const std::string& name);

}  // namespace bnh
