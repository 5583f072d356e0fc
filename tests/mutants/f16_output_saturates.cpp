// f16 outputs saturate at +-65504 instead of overflowing to infinity (a conversion that clamps
// to the largest finite value "to avoid inf"). A y, dx or running variance whose exact value
// rounds past f16's range must be infinity; this one reports a finite number.
#include <algorithm>

#include "tests/mutants/mutant.hpp"

namespace bnh::mutants {
namespace {

struct F16OutputSaturates : Textbook<F16OutputSaturates> {
  static constexpr const char* name = "f16_output_saturates";

  template <typename E>
  static E stored(double value) {
    if constexpr (std::is_same_v<E, float16>) {
      if (std::isnan(value)) return Textbook::stored<E>(value);
      return Textbook::stored<E>(std::clamp(value, -float16_format.largest, float16_format.largest));
    } else {
      return Textbook::stored<E>(value);
    }
  }
};

}  // namespace

BNH_MUTANT_ON(F16OutputSaturates, "f16 outputs saturated at 65504 instead of overflowing to infinity",
              DType::f16, DTypeChoice(DType::f16, DType::f16));

}  // namespace bnh::mutants
