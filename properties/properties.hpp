// The property catalogue (docs/properties.md). Each property is a named check that takes any
// implementation and one case, throws PropertyFailure naming what broke, and returns how close
// its comparisons came to their bounds; bnh::Unsupported from the implementation means the case
// does not apply. The conformance runner (properties/conformance.hpp) feeds them generated cases.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "properties/case.hpp"

namespace bnh {

// The largest error a check's comparisons under a tolerance saw, as a fraction of its bound
// (1: at the bound; a NaN error wins); 0 when it compared nothing under a tolerance.
class BoundFraction {
 public:
  BoundFraction() = default;
  explicit BoundFraction(double fraction) : worst_(fraction) {}
  void note(double fraction) {
    if (!(fraction <= worst_)) worst_ = fraction;
  }
  void note(BoundFraction other) { note(other.worst_); }
  double worst() const { return worst_; }

 private:
  double worst_ = 0;
};

class PropertyFailure : public std::runtime_error {
 public:
  // bound_fraction: that of the comparison that failed, when a tolerance was exceeded.
  explicit PropertyFailure(const std::string& message, BoundFraction bound_fraction = {})
      : std::runtime_error(message), bound_fraction_(bound_fraction) {}
  BoundFraction bound_fraction() const { return bound_fraction_; }

 private:
  BoundFraction bound_fraction_;
};

// A property's check of one case.
using PropertyCheck = BoundFraction(Implementation& implementation, const Case& test_case);

struct Property {
  const char* name;
  const char* targets;                  // the kind of bug it is there to catch
  std::vector<Operation> operations;    // what the implementation must provide
  PropertyCheck* check;
  bool generated = true;                // false: runs once, on no generated case
  // true: the property runs when the implementation provides any one of `operations` (it
  // checks whichever it has and throws bnh::Unsupported when a case leaves it nothing).
  bool any_operation = false;
  // Cases of realistic size (gen_realistic_case_spec) run per dtype and layout, beside the
  // small generated ones; 0 for none.
  int realistic_cases = 0;
};

const std::vector<Property>& property_catalogue();

// Throws bnh::Error naming the known properties when `name` is not one.
const Property& find_property(const std::string& name);

}  // namespace bnh
